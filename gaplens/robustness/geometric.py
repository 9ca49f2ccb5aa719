"""``rotation``: exact rotations by multiples of 90 degrees (of the greyscale image, as published)."""

from __future__ import annotations

import torch

from gaplens.core.errors import InputError
from gaplens.robustness import colour
from gaplens.robustness.base import Distortion

__all__ = ["rotate"]


def rotate(images: torch.Tensor, degrees: int) -> torch.Tensor:
    """Rotate ``(N, C, H, W)`` images counter-clockwise by ``degrees`` (a multiple of 90), like ``numpy.rot90``."""
    k = (degrees // 90) % 4
    if k % 2 and images.shape[-1] != images.shape[-2]:
        raise InputError(f"rotation by {degrees} degrees needs square images (the output keeps the input's "
                         f"shape); got {images.shape[-2]}x{images.shape[-1]}")
    return torch.rot90(images, k, dims=(-2, -1)).contiguous()


def _parse(level: object) -> int:
    try:
        value = float(level)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(level, bool) or not value == value or value % 90 != 0:
        raise InputError(f"level={level!r} for rotation: expected a multiple of 90 degrees (0, 90, 180, 270)")
    return int(value) % 360


def _check_greyscale(value: object) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"greyscale={value!r}; expected True or False")
    return value


def _base(images: torch.Tensor, greyscale_first: bool) -> torch.Tensor:
    return colour.to_rgb(colour.greyscale(images)) if _check_greyscale(greyscale_first) else images.clone()


def _rotation(images: torch.Tensor, level: int, rng: object, greyscale: bool = True) -> torch.Tensor:
    if _check_greyscale(greyscale):
        return colour.to_rgb(rotate(colour.greyscale(images), level))
    return rotate(images, level)


ROTATION = Distortion(
    name="rotation",
    levels=(0, 90, 180, 270),
    description="greyscale (as published; greyscale=False keeps colour), rotated by 0, 90, 180 or 270 degrees",
    apply=_rotation,
    parse=_parse,
    clean_level=0,
    reference=lambda images, greyscale=True, **_: _base(images, greyscale),
    level_label="rotation (degrees)",
    options=("greyscale",),
)
