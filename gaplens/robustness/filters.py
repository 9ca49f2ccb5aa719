"""Spatial-frequency filters: ``low_pass`` and ``high_pass`` (Gaussian, on the greyscale image).

Both pad the image with a constant mean grey (``grey_mean``, 0.4423 by default: the mean pixel
value of ImageNet that the published code uses), exactly as
``scipy.ndimage.gaussian_filter(x, std, mode="constant", cval=grey_mean)`` does.
"""

from __future__ import annotations

import math

import torch

from gaplens.core.errors import InputError
from gaplens.core.smoothing import gaussian_blur
from gaplens.robustness.base import MAX_PIXEL_LEVEL, Distortion, numeric_level
from gaplens.robustness.colour import greyscale, to_rgb

__all__ = ["GREY_MEAN", "low_pass", "high_pass"]

#: Mean grey value of ImageNet images used by the published code for padding and high-pass offset.
GREY_MEAN = 0.4423


def _check_grey_mean(grey_mean: object) -> float:
    if isinstance(grey_mean, bool) or not isinstance(grey_mean, (int, float)) or not 0 <= grey_mean <= 1:
        raise InputError(f"grey_mean={grey_mean!r}; expected a grey value in [0, 1]")
    return float(grey_mean)


def low_pass(grey: torch.Tensor, std: float, grey_mean: float = GREY_MEAN) -> torch.Tensor:
    """Gaussian blur of std ``std`` pixels with constant padding at ``grey_mean``; no clipping."""
    if std == 0:
        return grey.clone()
    return gaussian_blur(grey, std, mode="constant", cval=grey_mean)


def high_pass(grey: torch.Tensor, std: float, grey_mean: float = GREY_MEAN) -> torch.Tensor:
    """``x - lowpass(x)``, shifted so that each image's mean is ``grey_mean``; no clipping.

    ``std = inf`` means no filtering (the greyscale image itself, the paper's first level).
    """
    if math.isinf(std):
        return grey.clone()
    detail = grey - gaussian_blur(grey, std, mode="constant", cval=grey_mean)
    return detail + (grey_mean - detail.mean(dim=(-2, -1), keepdim=True))


def _low(images: torch.Tensor, level: float, rng: object, grey_mean: float = GREY_MEAN) -> torch.Tensor:
    grey_mean = _check_grey_mean(grey_mean)
    return to_rgb(low_pass(greyscale(images), level, grey_mean).clamp_(0, 1))


def _high(images: torch.Tensor, level: float, rng: object, grey_mean: float = GREY_MEAN) -> torch.Tensor:
    grey_mean = _check_grey_mean(grey_mean)
    return to_rgb(high_pass(greyscale(images), level, grey_mean).clamp_(0, 1))


LOW_PASS = Distortion(
    name="low_pass",
    levels=(0, 1, 3, 5, 7, 10, 15, 40),
    description="greyscale, Gaussian blur of std L pixels (constant padding at the mean grey), clipped",
    apply=_low,
    parse=numeric_level("low_pass", 0.0, MAX_PIXEL_LEVEL, unit=" (std in pixels)"),
    clean_level=0,
    reference=lambda images, **_: to_rgb(greyscale(images)),
    level_label="filter standard deviation (pixels)",
    options=("grey_mean",),
)

HIGH_PASS = Distortion(
    name="high_pass",
    levels=(math.inf, 3, 1.5, 1, 0.7, 0.55, 0.45, 0.4),
    description="greyscale, x - Gaussian blur of std L pixels, shifted to the mean grey, clipped (inf: unfiltered)",
    apply=_high,
    parse=numeric_level("high_pass", 1e-6, MAX_PIXEL_LEVEL, allow_inf=True, unit=" (std in pixels, or inf)"),
    clean_level=math.inf,
    reference=lambda images, **_: to_rgb(greyscale(images)),
    level_label="filter standard deviation (pixels)",
    options=("grey_mean",),
)
