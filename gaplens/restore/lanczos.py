"""The Lanczos downsampler of the super-resolution loss, as two differentiable matrix products.

Deep Image Prior fits ``x = f(z)`` so that ``d(x)`` matches the low-resolution image, ``d`` a
Lanczos downsampler. Here ``d(x) = A_h x A_w^T`` with one weight matrix per axis, built with the
resampling rule of Pillow's ``Image.resize(..., Image.LANCZOS)``: output pixel ``j`` is centred at
input coordinate ``(j + 0.5) * s`` (``s = in / out``), its weights are ``L((i + 0.5 - c) / s)``
over the input pixels ``i`` within ``a * s`` of the centre ``c``, clipped at the image border and
renormalized to sum to 1, with ``L(x) = sinc(x) sinc(x / a)`` on ``[-a, a)`` (``a = 3``, Pillow's
choice; the authors' notebook used ``a = 2`` with replicated borders). So the loss sees exactly the
downsampling that made the low-resolution image when it was made with Pillow, and
``tests/restore`` checks the two against each other.

Example:
>>> import torch
>>> lanczos_downsample(torch.rand(3, 64, 48), 4).shape
torch.Size([3, 16, 12])
"""

from __future__ import annotations

import torch

from gaplens.core.errors import InputError

__all__ = ["lanczos_matrix", "lanczos_downsample", "LanczosDownsampler"]


def _lanczos(x: torch.Tensor, support: int) -> torch.Tensor:
    inside = (x >= -support) & (x < support)
    return torch.where(inside, torch.sinc(x) * torch.sinc(x / support), torch.zeros_like(x))


def lanczos_matrix(size_in: int, size_out: int, support: int = 3, dtype: torch.dtype = torch.float64,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """The ``(size_out, size_in)`` matrix that resamples one axis from ``size_in`` to ``size_out`` pixels.

    Rows sum to 1. For a reduction (``size_out < size_in``) the kernel is stretched by the scale, as
    Pillow does (antialiasing); for an enlargement it is not.
    """
    if size_in < 1 or size_out < 1:
        raise InputError(f"size_in={size_in}, size_out={size_out}: sizes must be positive")
    if support < 1:
        raise InputError(f"support={support}; expected a positive number of lobes")
    scale = size_in / size_out
    stretch = max(scale, 1.0)
    centres = (torch.arange(size_out, dtype=torch.float64) + 0.5) * scale
    reach = support * stretch
    lo = torch.clamp((centres - reach + 0.5).floor(), min=0)
    hi = torch.clamp((centres + reach + 0.5).floor(), max=size_in)
    pixels = torch.arange(size_in, dtype=torch.float64)
    weights = _lanczos((pixels[None, :] - centres[:, None] + 0.5) / stretch, support)
    window = (pixels[None, :] >= lo[:, None]) & (pixels[None, :] < hi[:, None])
    weights = torch.where(window, weights, torch.zeros_like(weights))
    total = weights.sum(dim=1, keepdim=True)
    weights = torch.where(total != 0, weights / torch.where(total != 0, total, torch.ones_like(total)), weights)
    return weights.to(dtype=dtype, device=device)


def _out_size(size: int, factor: int) -> int:
    if size % factor:
        raise InputError(f"image side {size} is not a multiple of factor={factor}; crop it to "
                         f"{size - size % factor} first")
    return size // factor


def lanczos_downsample(image: torch.Tensor, factor: int, support: int = 3) -> torch.Tensor:
    """Downsample ``(..., H, W)`` by an integer ``factor`` (each side a multiple of it) with Lanczos weights."""
    if not isinstance(factor, int) or factor < 1:
        raise InputError(f"factor={factor!r}; expected a positive integer")
    h, w = image.shape[-2:]
    rows = lanczos_matrix(h, _out_size(h, factor), support, image.dtype, image.device)
    cols = lanczos_matrix(w, _out_size(w, factor), support, image.dtype, image.device)
    return rows @ image @ cols.T


class LanczosDownsampler(torch.nn.Module):
    """:func:`lanczos_downsample` with its two matrices built once for an input size ``(H, W)``."""

    def __init__(self, size: tuple[int, int], factor: int, support: int = 3) -> None:
        super().__init__()
        if not isinstance(factor, int) or factor < 1:
            raise InputError(f"factor={factor!r}; expected a positive integer")
        h, w = size
        self.register_buffer("rows", lanczos_matrix(h, _out_size(h, factor), support, torch.float32))
        self.register_buffer("cols_t", lanczos_matrix(w, _out_size(w, factor), support, torch.float32).T.contiguous())
        self.factor = factor

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``(..., H, W) -> (..., H / factor, W / factor)``."""
        return self.rows @ image @ self.cols_t

