"""Image quality against a clean reference: PSNR and SSIM, in torch, as scikit-image computes them.

Both take images in ``[0, 1]`` of shape ``(C, H, W)`` (or ``(N, C, H, W)``: one number per
image) and use a data range of 1.

- :func:`psnr`: ``10 log10(1 / MSE)`` in dB (``skimage.metrics.peak_signal_noise_ratio`` with
  ``data_range=1``); ``inf`` for identical images.
- :func:`ssim`: the structural similarity of Wang et al. 2004 with scikit-image's defaults
  (``structural_similarity(..., data_range=1, channel_axis=0)``): a 7x7 uniform window, sample
  covariances (``N / (N - 1)``), ``K1 = 0.01``, ``K2 = 0.03``, the mean over the windows that lie
  wholly inside the image, averaged over channels.

Example:
>>> import torch
>>> x = torch.rand(3, 32, 32)
>>> float(ssim(x, x)), float(psnr(x, (x + 0.1).clamp(0, 1))) > 20
(1.0, True)
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gaplens.core.errors import InputError

__all__ = ["psnr", "ssim"]

SSIM_WINDOW = 7
K1, K2 = 0.01, 0.03


def _pair(x: torch.Tensor, y: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    if x.shape != y.shape:
        raise InputError(f"{what}: image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.dim() not in (3, 4):
        raise InputError(f"{what}: expected (C, H, W) or (N, C, H, W) images, got shape {tuple(x.shape)}")
    single = x.dim() == 3
    x, y = (x[None], y[None]) if single else (x, y)
    return x.double(), y.double(), single


def psnr(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB (data range 1): a scalar for ``(C, H, W)``, ``(N,)`` for a batch."""
    x, y, single = _pair(image, reference, "psnr")
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    value = 10 * torch.log10(1.0 / mse)
    return value[0] if single else value


def ssim(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean structural similarity (scikit-image's defaults, data range 1): scalar or ``(N,)``."""
    x, y, single = _pair(image, reference, "ssim")
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise InputError(f"ssim: images of size {tuple(x.shape[-2:])} are smaller than the {SSIM_WINDOW}x"
                         f"{SSIM_WINDOW} window")
    n = x.shape[0]
    flat = torch.stack([x, y, x * x, y * y, x * y], dim=1).flatten(0, 2).unsqueeze(1)  # (N*5*C, 1, H, W)
    means = F.avg_pool2d(flat, SSIM_WINDOW, stride=1).view(n, 5, x.shape[1], -1)
    ux, uy, uxx, uyy, uxy = means.unbind(dim=1)
    cov = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)
    vx, vy, vxy = cov * (uxx - ux * ux), cov * (uyy - uy * uy), cov * (uxy - ux * uy)
    c1, c2 = K1**2, K2**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    value = s.flatten(1).mean(dim=1)
    return value[0] if single else value
