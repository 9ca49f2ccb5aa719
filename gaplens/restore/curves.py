"""The prior experiment (the paper's Figure 2): how fast one network fits natural and unnatural images.

The same network (same initialization, same input ``z``) is fitted by plain reconstruction
(mean squared error to the image itself) to a natural image, the image plus Gaussian noise, its
pixels shuffled (same colours, no structure) and white noise. The natural image is fitted
first and the noise last: the network resists noise, which is why stopping early restores.

Example:
>>> import torch
>>> from gaplens.restore import FitSettings
>>> tiny = FitSettings(input_depth=4, down=(4, 4), up=(4, 4), skip=(2, 2), steps=3)
>>> curves = fit_curves({"flat": torch.full((3, 16, 16), 0.5)}, steps=3, settings=tiny, progress=False)
>>> curves["flat"].shape
torch.Size([3])
"""

from __future__ import annotations

import torch

from gaplens.core.errors import InputError
from gaplens.restore.fit import fit_prior
from gaplens.restore.settings import DEFAULTS, FitSettings
from gaplens.restore.tasks import add_noise, check_image

__all__ = ["fit_curves", "prior_images", "steps_to_reach", "PRIOR_SETTINGS"]

#: Settings of the prior experiment: the denoising defaults, input perturbation included (the
#: network and procedure that restore; the perturbation is part of why noise is fitted late).
PRIOR_SETTINGS = DEFAULTS["denoise"]


def prior_images(image: torch.Tensor, sigma: float = 25.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """The four images of Figure 2 from one ``(3, H, W)`` photograph.

    ``"natural"`` (the image), ``"natural + noise"`` (Gaussian noise of std ``sigma``/255),
    ``"shuffled pixels"`` (its pixels in a random order: the same colours without the structure)
    and ``"white noise"`` (independent ``U(0, 1)`` values).
    """
    image = check_image(image)
    generator = torch.Generator().manual_seed(seed)
    c, h, w = image.shape
    order = torch.randperm(h * w, generator=generator)
    shuffled = image.reshape(c, h * w)[:, order.to(image.device)].reshape(c, h, w)
    white = torch.rand((c, h, w), generator=generator).to(image.device)
    return {"natural": image, "natural + noise": add_noise(image, sigma, seed=seed + 1),
            "shuffled pixels": shuffled, "white noise": white}


def fit_curves(images: dict[str, torch.Tensor], steps: int = 600, seed: int = 0, settings: FitSettings | None = None,
               progress: bool = True) -> dict[str, torch.Tensor]:
    """Fit the same network to each image; ``name -> (steps,)`` MSE between its output and the image per step.

    Args:
        images: ``name -> (3, H, W)`` images in [0, 1].
        steps: Adam steps per image.
        seed: one initialization and one input for every image.
        settings: :data:`PRIOR_SETTINGS` if None.
    """
    if not images:
        raise InputError("images: expected at least one named (3, H, W) image")
    settings = PRIOR_SETTINGS if settings is None else settings
    if not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps={steps!r}; expected a positive integer")
    curves = {}
    for name, image in images.items():
        image = check_image(image, f"images[{name!r}]")
        target = image[None]

        def loss(out: torch.Tensor, target: torch.Tensor = target) -> torch.Tensor:
            return torch.mean((out - target) ** 2)

        fit = fit_prior(loss, tuple(image.shape[-2:]), settings, steps=steps, seed=seed, device=image.device,
                        progress=progress, desc=f"fitting {name}")
        curves[name] = torch.tensor([row["loss"] for row in fit.history])
    return curves


def steps_to_reach(curve: torch.Tensor, level: float) -> int | None:
    """The first step (1-based) whose loss is at most ``level``, or None if the curve never gets there."""
    below = (torch.as_tensor(curve) <= level).nonzero()
    return int(below[0, 0]) + 1 if len(below) else None
