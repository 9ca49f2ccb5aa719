"""Separable Gaussian blur in torch (for IG's "blur" baseline)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur ``(N, C, H, W)`` images with a Gaussian of std ``sigma`` pixels (reflect padding, 4-sigma support)."""
    if sigma <= 0:
        return images.clone()
    radius = max(1, int(4 * sigma + 0.5))
    radius = min(radius, images.shape[-1] - 1, images.shape[-2] - 1)
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    out = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
