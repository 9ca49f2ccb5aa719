"""Random transforms applied before every forward pass, and image regularizers.

Optimizing an image through a fixed network finds adversarial high-frequency patterns; making
the objective hold under small random translations, scalings and rotations (Mordvintsev et al.
2015; Olah et al. 2017) removes most of them. A transform is ``t(images, generator) -> images``
on ``(B, 3, H, W)`` tensors, differentiable, on the images' device; randomness comes from the
``torch.Generator`` passed in (a CPU generator seeded by ``optimize(seed=...)``), never from
global state. The size may change (padding, cropping, scaling): models with global pooling
accept that.

:data:`STANDARD` is Lucid's ``standard_transforms``: pad 12 px (grey), jitter 8, scale by one of
0.90..1.10, rotate by one of -10..10 degrees (0 five times more often), jitter 4. Those distances
suit 128-px images; ``"scaled"`` (:func:`scaled_standard`) scales them to the image's size, for
the small inputs of small models.

**Regularizers** are objectives on the optimized image itself (before transforms), returning a
penalty per image; subtract them from the goal::

    goal = class_logit(3) - 0.5 * l2() - 0.05 * total_variation()

- :func:`l2`: mean squared distance of the pixels to a centre (Simonyan et al. 2013's
  ``lambda ||I||^2``, with ``I`` measured from the centre: the mean colour, "zero" of the
  model's normalized input space);
- :func:`total_variation`: mean absolute difference of neighbouring pixels (Mahendran & Vedaldi
  2015, with beta = 1);
- :func:`blur`: half the mean squared difference between the image and a Gaussian-blurred copy
  that is held constant (Lucid's ``blur_input_each_step``): its gradient pulls each image
  towards its blur, as blurring every step does (Yosinski et al. 2015).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from gaplens.core.errors import InputError
from gaplens.core.registry import Registry
from gaplens.core.smoothing import gaussian_blur
from gaplens.visualize.objectives import Context, Objective

__all__ = [
    "Transform", "Pad", "Jitter", "RandomScale", "RandomRotate", "Resize", "Compose", "STANDARD", "TRANSFORM_SETS",
    "resolve_transforms", "scaled_standard", "l2", "total_variation", "blur", "REGULARIZERS",
]


def _choice(options: Sequence[float], generator: torch.Generator, n: int | None = None) -> Tensor:
    index = torch.randint(len(options), (1 if n is None else n,), generator=generator)
    return torch.as_tensor(options, dtype=torch.float64)[index]


class Transform:
    """Base class: ``transform(images (B, 3, H, W), generator) -> images``."""

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError


class Pad(Transform):
    """Pad ``width`` pixels on every side: ``mode="constant"`` with ``value`` (grey), or ``"reflect"``."""

    def __init__(self, width: int, mode: str = "constant", value: float = 0.5) -> None:
        if isinstance(width, bool) or not isinstance(width, int) or width < 0:
            raise InputError(f"Pad(width={width!r}); expected a number of pixels >= 0")
        if mode not in ("constant", "reflect", "replicate"):
            raise InputError(f"Pad(mode={mode!r}); expected 'constant', 'reflect' or 'replicate'")
        self.width, self.mode, self.value = width, mode, float(value)

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        if self.width == 0:
            return images
        if self.mode == "constant":
            return F.pad(images, [self.width] * 4, mode="constant", value=self.value)
        return F.pad(images, [self.width] * 4, mode=self.mode)

    def __repr__(self) -> str:
        extra = f", value={self.value:g}" if self.mode == "constant" else ""
        return f"Pad({self.width}, mode={self.mode!r}{extra})"


class Jitter(Transform):
    """Crop a random ``(H - d) x (W - d)`` window (Lucid's jitter: a translation by up to ``d`` px)."""

    def __init__(self, d: int) -> None:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise InputError(f"Jitter(d={d!r}); expected a number of pixels >= 1")
        self.d = d

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        height, width = images.shape[-2:]
        if self.d >= min(height, width):
            raise InputError(f"Jitter({self.d}) cannot crop a {height}x{width} image; use a smaller jitter")
        dy, dx = (int(v) for v in torch.randint(self.d + 1, (2,), generator=generator))
        return images[..., dy : dy + height - self.d, dx : dx + width - self.d]

    def __repr__(self) -> str:
        return f"Jitter({self.d})"


class RandomScale(Transform):
    """Resize (bilinear) by a factor drawn from ``scales`` (the same for the whole batch)."""

    def __init__(self, scales: Sequence[float]) -> None:
        values = [float(s) for s in scales]
        if not values or any(not math.isfinite(s) or s <= 0 for s in values):
            raise InputError(f"RandomScale(scales={list(scales)!r}); expected positive factors")
        self.scales = values

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        factor = float(_choice(self.scales, generator))
        height, width = images.shape[-2:]
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        if size == (height, width):
            return images
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False)

    def __repr__(self) -> str:
        return f"RandomScale({min(self.scales):g}..{max(self.scales):g}, {len(self.scales)} values)"


class RandomRotate(Transform):
    """Rotate each image by its own angle (degrees) drawn from ``angles``; edges extended."""

    def __init__(self, angles: Sequence[float]) -> None:
        values = [float(a) for a in angles]
        if not values or any(not math.isfinite(a) for a in values):
            raise InputError(f"RandomRotate(angles={list(angles)!r}); expected finite angles in degrees")
        self.angles = values

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        b, _, height, width = images.shape
        radians = torch.deg2rad(_choice(self.angles, generator, b)).to(device=images.device, dtype=images.dtype)
        if not bool(radians.any()):
            return images
        cos, sin = torch.cos(radians), torch.sin(radians)
        zero = torch.zeros_like(cos)
        # rotation in pixel units, written in affine_grid's normalized coordinates (non-square safe)
        theta = torch.stack([torch.stack([cos, -sin * height / width, zero], 1),
                             torch.stack([sin * width / height, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, [b, 3, height, width], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def __repr__(self) -> str:
        return f"RandomRotate({min(self.angles):g}..{max(self.angles):g} degrees)"


class Resize(Transform):
    """Resize (bilinear) to a fixed ``size`` (``H = W`` or ``(H, W)``): Lucent's ``fixed_image_size``
    / its upsampling of small images to 224 px for ImageNet models."""

    def __init__(self, size: int | Sequence[int]) -> None:
        hw = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
        if len(hw) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in hw):
            raise InputError(f"Resize(size={size!r}); expected a positive int or (H, W)")
        self.size = hw

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        if tuple(images.shape[-2:]) == self.size:
            return images
        return F.interpolate(images, size=self.size, mode="bilinear", align_corners=False)

    def __repr__(self) -> str:
        return f"Resize({self.size[0]}x{self.size[1]})"


class Compose(Transform):
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[Tensor, torch.Generator], Tensor]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        for transform in self.transforms:
            images = transform(images, generator)
        return images

    def __repr__(self) -> str:
        return "[" + ", ".join(map(repr, self.transforms)) + "]" if self.transforms else "none"


#: Lucid's ``standard_transforms`` (pixels and degrees).
STANDARD: tuple[Transform, ...] = (
    Pad(12, mode="constant", value=0.5),
    Jitter(8),
    RandomScale([1 + (i - 5) / 50.0 for i in range(11)]),
    RandomRotate(list(range(-10, 11)) + 5 * [0]),
    Jitter(4),
)



def scaled_standard(size: int | Sequence[int]) -> tuple[Transform, ...]:
    """Lucid's standard list with its pixel distances scaled to an image of ``size`` (vs. 128 px).

    Lucid's pad 12 / jitter 8 / jitter 4 were chosen for 128-px images (Lucent's default size);
    on the 32-64 px images of small models they cover a large part of the picture. Scale factors
    and angles are kept. At 128 px this is :data:`STANDARD`; at 64 px pad 6, jitter 4, jitter 2.
    """
    side = min(size) if not isinstance(size, int) else size
    k = side / 128.0
    return (
        Pad(max(1, round(12 * k)), mode="constant", value=0.5),
        Jitter(max(1, round(8 * k))),
        STANDARD[2],
        STANDARD[3],
        Jitter(max(1, round(4 * k))),
    )


#: Named transform lists accepted by ``optimize(transforms=...)`` (``"scaled"``: :func:`scaled_standard`).
TRANSFORM_SETS: dict[str, tuple[Transform, ...] | None] = {"standard": STANDARD, "scaled": None, "none": ()}


def resolve_transforms(spec: str | None | Sequence[Callable] | Callable,
                       size: int | Sequence[int] | None = None) -> Compose:
    """``"standard"``, ``"scaled"``, ``"none"``/``None``, a list of transforms, or one transform -> a Compose.

    ``size`` (the image's ``(H, W)``) is needed for ``"scaled"``.
    """
    if spec is None:
        return Compose([])
    if isinstance(spec, str):
        if spec not in TRANSFORM_SETS:
            raise InputError(f"transforms={spec!r}; expected one of {sorted(TRANSFORM_SETS)}, None or a list")
        if spec == "scaled":
            if size is None:
                raise InputError("transforms='scaled' needs the image size")
            return Compose(scaled_standard(size))
        return Compose(TRANSFORM_SETS[spec])
    if isinstance(spec, Compose):
        return spec
    if callable(spec):
        return Compose([spec])
    items = list(spec)
    bad = [t for t in items if not callable(t)]
    if bad:
        raise InputError(f"transforms: {bad[0]!r} is not callable; expected transform(images, generator)")
    return Compose(items)


# -- regularizers ---------------------------------------------------------------------------------

#: Regularizer factories by name; each returns an :class:`Objective` holding a penalty per image.
REGULARIZERS: Registry[Callable[..., Objective]] = Registry("regularizer")


@REGULARIZERS.register("l2")
def l2(center: float | Sequence[float] | Tensor = 0.5) -> Objective:
    """Mean over pixels and channels of ``(image - center)^2``; ``center`` a value or 3 (RGB)."""
    c = torch.as_tensor(center, dtype=torch.float32).detach()
    if c.numel() not in (1, 3):
        raise InputError(f"l2(center={center!r}); expected one value or three (RGB)")
    c = c.reshape(1, -1, 1, 1)

    def fn(ctx: Context) -> Tensor:
        return (ctx.images - c.to(ctx.images)).pow(2).flatten(1).mean(1)

    shown = f"{float(c.flatten()[0]):g}" if c.numel() == 1 else "[" + ", ".join(f"{v:.3g}" for v in c.flatten()) + "]"
    return Objective(fn, f"l2(center={shown})")


@REGULARIZERS.register("total_variation")
def total_variation() -> Objective:
    """Mean absolute difference between horizontally and vertically neighbouring pixels."""

    def fn(ctx: Context) -> Tensor:
        x = ctx.images
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
        return dx + dy

    return Objective(fn, "total_variation()")


@REGULARIZERS.register("blur")
def blur(sigma: float = 1.0) -> Objective:
    """``0.5 * mean((image - stopgrad(blur_sigma(image)))^2)``: pulls the image towards its blur."""
    if not math.isfinite(sigma) or sigma <= 0:
        raise InputError(f"blur(sigma={sigma!r}); expected a positive width in pixels")

    def fn(ctx: Context) -> Tensor:
        x = ctx.images
        target = gaussian_blur(x.detach(), sigma)
        return 0.5 * (x - target).pow(2).flatten(1).mean(1)

    return Objective(fn, f"blur(sigma={sigma:g})")
