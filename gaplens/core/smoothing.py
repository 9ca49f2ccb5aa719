"""Separable Gaussian blur in torch, shared by explain (IG's "blur" baseline), visualize and robustness.

Two boundary modes:

- ``"reflect"`` (default): mirror padding without repeating the edge pixel (``torch``'s
  ``reflect``, scipy's ``mirror``); radius ``max(1, int(4 sigma + 0.5))``, clamped to the smaller
  image side minus one.
- ``"constant"``: the image is extended by ``cval`` on every side, exactly like
  ``scipy.ndimage.gaussian_filter(x, sigma, mode="constant", cval=cval, truncate=truncate)``:
  the same kernel (radius ``int(truncate * sigma + 0.5)``, weights ``exp(-x^2 / 2 sigma^2)``
  normalised to sum 1), the same padding, applied along the rows then the columns.

Small kernels are applied as shifted sums on cache-sized chunks of the batch; large kernels as one
matrix product per axis (the filter written as an ``(H, H)`` banded matrix with the padding folded
in), whose cost does not depend on sigma.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch.nn import functional as F

from gaplens.core.errors import InputError

__all__ = ["gaussian_blur", "gaussian_kernel1d"]

#: Radius (pixels) up to which the shifted-sum path is used; the matrix path above it.
_SHIFT_MAX_RADIUS = 10
#: Elements per chunk of the shifted-sum path (keeps each chunk in cache).
_CHUNK_ELEMENTS = 1 << 20


def gaussian_kernel1d(sigma: float, radius: int, dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """The normalised 1-D Gaussian ``exp(-x^2 / 2 sigma^2)`` on ``x = -radius..radius`` (sums to 1).

    Computed in float64 (as scipy does) and cast to ``dtype``.
    """
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def gaussian_blur(images: torch.Tensor, sigma: float, mode: str = "reflect", cval: float = 0.0,
                  truncate: float = 4.0) -> torch.Tensor:
    """Blur images with a Gaussian of standard deviation ``sigma`` pixels along the last two axes.

    Args:
        images: ``(..., H, W)`` floating tensor (typically ``(N, C, H, W)``), any device.
        sigma: standard deviation in pixels; ``sigma <= 0`` returns a copy.
        mode: ``"reflect"`` (mirror padding; radius ``max(1, int(4 sigma + 0.5))`` clamped to the
            smaller image side minus one) or ``"constant"`` (padding with ``cval``; radius
            ``int(truncate * sigma + 0.5)``, identical to ``scipy.ndimage.gaussian_filter``).
        cval: padding value of the ``"constant"`` mode.
        truncate: kernel half-width in standard deviations (``"constant"`` mode).

    Returns:
        A tensor of the input's shape, dtype and device.

    >>> x = torch.zeros(1, 1, 9, 9); x[..., 4, 4] = 1
    >>> round(float(gaussian_blur(x, 1.0, mode="constant").sum()), 4)
    1.0
    """
    if not isinstance(images, torch.Tensor) or images.ndim < 2 or not images.is_floating_point():
        raise InputError("images must be a floating tensor of shape (..., H, W)")
    if not math.isfinite(float(sigma)):
        raise InputError(f"sigma={sigma!r}; expected a finite number of pixels")
    if mode not in ("reflect", "constant"):
        raise InputError(f"mode={mode!r}; expected 'reflect' or 'constant'")
    if sigma <= 0:
        return images.clone()
    shape = images.shape
    h, w = shape[-2:]
    flat = images.reshape(-1, h, w)
    if mode == "reflect":
        if h < 2 or w < 2:
            raise InputError(f"images of size {h}x{w}: reflect padding needs at least 2x2 pixels")
        radius = min(max(1, int(4 * sigma + 0.5)), h - 1, w - 1)
        radii = (radius, radius)
    else:
        radius = int(truncate * sigma + 0.5)
        radii = (radius, radius)
    if max(radii) <= _SHIFT_MAX_RADIUS:
        out = _shifted_sums(flat, sigma, radii, mode, cval)
    else:
        out = _matrix_blur(flat, sigma, radii, mode, cval)
    return out.reshape(shape)


def _shifted_sums(x: torch.Tensor, sigma: float, radii: tuple[int, int], mode: str, cval: float) -> torch.Tensor:
    """Separable filtering as sums of shifted copies, chunk by chunk (``x`` is ``(B, H, W)``)."""
    b, h, w = x.shape
    rh, rw = radii
    kh = gaussian_kernel1d(sigma, rh, torch.float64).tolist()
    kw = gaussian_kernel1d(sigma, rw, torch.float64).tolist()
    chunk = max(1, _CHUNK_ELEMENTS // max(1, h * w))
    parts = []
    for start in range(0, b, chunk):
        part = x[start:start + chunk]
        # rows (axis H) first, then columns, as scipy.ndimage does
        padded = _pad(part, (0, 0, rh, rh), mode, cval)
        acc = padded[:, 0:h, :] * kh[0]
        for i in range(1, 2 * rh + 1):
            acc.add_(padded[:, i:i + h, :], alpha=kh[i])
        padded = _pad(acc, (rw, rw, 0, 0), mode, cval)
        out = padded[:, :, 0:w] * kw[0]
        for i in range(1, 2 * rw + 1):
            out.add_(padded[:, :, i:i + w], alpha=kw[i])
        parts.append(out)
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _pad(x: torch.Tensor, pad: tuple[int, int, int, int], mode: str, cval: float) -> torch.Tensor:
    if mode == "constant":
        return F.pad(x, pad, mode="constant", value=cval)
    return F.pad(x.unsqueeze(1), pad, mode="reflect").squeeze(1)


def _filter_matrix(n: int, sigma: float, radius: int, mode: str, dtype: torch.dtype,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, outside)``: ``A[i, j]`` = weight of input ``j`` in output ``i`` (padding folded in);
    ``outside[i]`` = total weight that falls on the constant padding (zero in reflect mode)."""
    matrix, outside = _filter_matrix64(n, float(sigma), radius, mode)
    return matrix.to(dtype=dtype, device=device), outside.to(dtype=dtype, device=device)


@lru_cache(maxsize=32)
def _filter_matrix64(n: int, sigma: float, radius: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_filter_matrix` in float64 on the CPU, cached (sweeps reuse a few sizes and sigmas)."""
    kernel = gaussian_kernel1d(sigma, radius, torch.float64)
    rows = torch.arange(n).repeat_interleave(2 * radius + 1)
    cols = (torch.arange(n).unsqueeze(1) + torch.arange(-radius, radius + 1)).reshape(-1)
    weights = kernel.repeat(n)
    matrix = torch.zeros(n, n, dtype=torch.float64)
    if mode == "reflect":
        period = 2 * (n - 1)
        cols = torch.remainder(cols, period)
        cols = torch.where(cols >= n, period - cols, cols)
        matrix.index_put_((rows, cols), weights, accumulate=True)
        outside = torch.zeros(n, dtype=torch.float64)
    else:
        inside = (cols >= 0) & (cols < n)
        matrix.index_put_((rows[inside], cols[inside]), weights[inside], accumulate=True)
        outside = torch.zeros(n, dtype=torch.float64).index_add_(0, rows[~inside], weights[~inside])
    return matrix, outside


def _matrix_blur(x: torch.Tensor, sigma: float, radii: tuple[int, int], mode: str, cval: float) -> torch.Tensor:
    """Separable filtering as ``A_H @ x @ A_W^T`` (plus the padding's constant contribution)."""
    _, h, w = x.shape
    a_h, out_h = _filter_matrix(h, sigma, radii[0], mode, x.dtype, x.device)
    a_w, out_w = _filter_matrix(w, sigma, radii[1], mode, x.dtype, x.device)
    rows = torch.matmul(a_h, x)
    if mode == "constant" and cval != 0:
        rows = rows + cval * out_h.unsqueeze(1)
    out = torch.matmul(rows, a_w.T)
    if mode == "constant" and cval != 0:
        out = out + cval * out_w
    return out
