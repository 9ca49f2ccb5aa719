"""Additive noise: ``uniform_noise`` and ``salt_and_pepper`` (greyscale image at contrast 0.3).

Both first convert to greyscale and lower the contrast to 0.3 (the published setting), so the
noise-free image lies in ``[0.35, 0.65]``; a different ``contrast=`` can be passed.
"""

from __future__ import annotations

import torch

from gaplens.core.errors import InputError
from gaplens.robustness.base import Distortion, ImageRandom, numeric_level
from gaplens.robustness.colour import adjust_contrast, greyscale, to_rgb

__all__ = ["NOISE_CONTRAST", "add_uniform_noise", "add_salt_and_pepper"]

#: Contrast of the greyscale image before noise is added (Geirhos et al. 2018).
NOISE_CONTRAST = 0.3


def _base(images: torch.Tensor, contrast: object) -> torch.Tensor:
    if isinstance(contrast, bool) or not isinstance(contrast, (int, float)) or not 0 <= contrast <= 1:
        raise InputError(f"contrast={contrast!r}; expected a contrast level in [0, 1]")
    return adjust_contrast(greyscale(images), float(contrast))


def add_uniform_noise(grey: torch.Tensor, width: float, rng: ImageRandom) -> torch.Tensor:
    """``grey + U[-width, width)`` per pixel (``grey`` ``(N, 1, H, W)``); not clipped."""
    h, w = grey.shape[-2:]
    return grey + (rng.rand(1, h, w).to(grey.dtype) * 2 - 1) * width


def add_salt_and_pepper(grey: torch.Tensor, p: float, rng: ImageRandom) -> torch.Tensor:
    """Set a fraction ``p/2`` of the pixels to white and ``p/2`` to black (each pixel independently)."""
    h, w = grey.shape[-2:]
    u = rng.rand(1, h, w).to(grey.device)
    out = grey.clone()
    out[u >= 1 - p / 2] = 1.0
    out[u < p / 2] = 0.0
    return out


def _uniform(images: torch.Tensor, level: float, rng: ImageRandom, contrast: float = NOISE_CONTRAST) -> torch.Tensor:
    grey = _base(images, contrast)
    if level == 0:
        return to_rgb(grey)
    return to_rgb(add_uniform_noise(grey, level, rng).clamp_(0, 1))


def _salt(images: torch.Tensor, level: float, rng: ImageRandom, contrast: float = NOISE_CONTRAST) -> torch.Tensor:
    grey = _base(images, contrast)
    if level == 0:
        return to_rgb(grey)
    return to_rgb(add_salt_and_pepper(grey, level, rng))


UNIFORM_NOISE = Distortion(
    name="uniform_noise",
    levels=(0, 0.03, 0.05, 0.1, 0.2, 0.35, 0.6, 0.9),
    description="greyscale, contrast 0.3, plus uniform noise U[-w, w] per pixel, clipped",
    apply=_uniform,
    parse=numeric_level("uniform_noise", 0.0, unit=" (noise width)"),
    clean_level=0,
    reference=lambda images, contrast=NOISE_CONTRAST, **_: to_rgb(_base(images, contrast)),
    level_label="uniform noise width",
    options=("contrast",),
    random=True,
)

SALT_AND_PEPPER = Distortion(
    name="salt_and_pepper",
    levels=(0, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95),
    description="greyscale, contrast 0.3, then a fraction p/2 of the pixels white and p/2 black",
    apply=_salt,
    parse=numeric_level("salt_and_pepper", 0.0, 1.0, unit=" (fraction of pixels)"),
    clean_level=0,
    reference=lambda images, contrast=NOISE_CONTRAST, **_: to_rgb(_base(images, contrast)),
    level_label="fraction of pixels replaced",
    options=("contrast",),
    random=True,
)
