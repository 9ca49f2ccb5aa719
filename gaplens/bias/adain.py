"""Adaptive instance normalization (AdaIN; Huang & Belongie, ICCV 2017).

AdaIN gives the content features the channel-wise statistics of the style features::

    AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)

with ``mu`` and ``sigma`` the mean and standard deviation of each channel of each image over its
spatial positions. ``alpha`` blends the result with the content features (``alpha * AdaIN(x, y)
+ (1 - alpha) * x``), the paper's content-style trade-off.

Conventions (fixed here, used by the style loss of :mod:`gaplens.bias.stylize` too):
``sigma = sqrt(var + eps)`` with the *population* variance (divide by ``H * W``), so a 1x1
feature map gives ``sigma = sqrt(eps)`` instead of NaN. With ``eps = 0`` the output's channel
means and standard deviations equal the style's exactly (up to float rounding); with the default
``eps = 1e-5`` they differ by about ``eps / (2 * var)`` relative, negligible for features whose
variance is not tiny.

>>> x, y = torch.randn(2, 8, 5, 5), 3.0 + 2.0 * torch.randn(2, 8, 7, 7)
>>> out = adain(x, y, eps=0.0)
>>> torch.allclose(channel_mean_std(out, eps=0.0)[1], channel_mean_std(y, eps=0.0)[1], atol=1e-5)
True
"""

from __future__ import annotations

import math

import torch

from gaplens.core.errors import InputError

__all__ = ["adain", "channel_mean_std"]


def channel_mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and ``sqrt(population variance + eps)``.

    Args:
        features: ``(N, C, H, W)`` (or ``(N, C, *spatial)``) floats.
        eps: added to the variance before the square root (>= 0).

    Returns:
        ``mean, std``, each ``(N, C, 1, 1)`` (one trailing 1 per spatial dimension), in the
        dtype and device of ``features``.
    """
    if not isinstance(features, torch.Tensor) or features.dim() < 3:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise InputError(f"features: expected a tensor (N, C, H, W); got {shape}")
    if not features.is_floating_point():
        raise InputError(f"features: expected floating point values; got dtype {features.dtype}")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise InputError(f"eps={eps!r}; expected a finite number >= 0")
    dims = tuple(range(2, features.dim()))
    var, mean = torch.var_mean(features, dim=dims, correction=0, keepdim=True)
    return mean, (var + eps).sqrt()


def adain(
    content_features: torch.Tensor,
    style_features: torch.Tensor,
    alpha: float = 1.0,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Transfer the channel-wise mean and standard deviation of ``style_features`` to ``content_features``.

    Args:
        content_features: ``(N, C, H, W)`` floats (encoder output of the content images).
        style_features: ``(N, C, H', W')`` or ``(1, C, H', W')`` (one style for every content
            image); the spatial size may differ from the content's.
        alpha: content-style trade-off in ``[0, 1]``: ``0`` returns the content features
            unchanged (the same values, a new tensor), ``1`` the full AdaIN output.
        eps: added to the variances before the square root (see the module docstring).

    Returns:
        ``(N, C, H, W)``: ``alpha * (sigma_s * (x - mu_c) / sigma_c + mu_s) + (1 - alpha) * x``.
        Differentiable in both inputs.

    Raises:
        InputError: ranks, batch sizes or channel counts do not match, or ``alpha`` is outside
            ``[0, 1]``.
    """
    for name, tensor in (("content_features", content_features), ("style_features", style_features)):
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise InputError(f"{name}: expected a tensor (N, C, H, W); got {shape}")
    n, c = content_features.shape[:2]
    if style_features.shape[1] != c:
        raise InputError(
            f"style_features has {style_features.shape[1]} channels, content_features {c}; they must match"
        )
    if style_features.shape[0] not in (1, n):
        raise InputError(
            f"style_features has batch size {style_features.shape[0]}; expected {n} (one style per "
            "content image) or 1 (one style for all)"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha={alpha!r}; expected a number in [0, 1]")
    if alpha == 0:
        return content_features.clone()
    content_mean, content_std = channel_mean_std(content_features, eps)
    style_mean, style_std = channel_mean_std(style_features.to(content_features.dtype), eps)
    out = (content_features - content_mean) * (style_std / content_std) + style_mean
    if alpha == 1:
        return out
    return alpha * out + (1.0 - alpha) * content_features
