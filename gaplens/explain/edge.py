"""An edge detector posing as an attribution method: the model-independent control.

Adebayo et al. (2018) showed that some saliency maps look like edge maps of the input and do not
change when the model is randomized. This "method" is such an edge map, the Sobel gradient
magnitude of each channel, so the sanity checks can show what a map that ignores the model
looks like (and that it passes no model-randomization test).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.core.batching import map_batches
from gaplens.explain.base import register_method


def sobel_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Per-channel Sobel gradient magnitude ``sqrt(gx^2 + gy^2)`` of ``(N, C, H, W)`` images.

    Equals ``np.hypot(scipy.ndimage.sobel(x, axis=0), scipy.ndimage.sobel(x, axis=1))`` for each
    channel, with scipy's default boundary mode ``"reflect"`` (half-sample symmetric: the edge
    pixel is repeated, which for a one-pixel border is torch's ``"replicate"``).

    Returns:
        ``(N, C, H, W)`` non-negative magnitudes, in the units of the input per pixel.
    """
    n, c, h, w = images.shape
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=images.dtype, device=images.device)
    diff = torch.tensor([-1.0, 0.0, 1.0], dtype=images.dtype, device=images.device)
    kernels = torch.stack([torch.outer(diff, smooth), torch.outer(smooth, diff)])  # d/dy, d/dx
    padded = F.pad(images.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    grads = F.conv2d(padded, kernels[:, None])  # (N*C, 2, H, W)
    return torch.hypot(grads[:, 0], grads[:, 1]).view(n, c, h, w)


@register_method("edge", model_independent=True,
                 description="Sobel gradient magnitude of the input (model-independent control)")
def edge(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int) -> torch.Tensor:
    """Sobel gradient magnitude of the input (model-independent control); ``model`` is ignored.

    Returns:
        ``(N, 3, H, W)``: :func:`sobel_magnitude` of each channel, computed ``batch_size`` images
        at a time.
    """
    return map_batches(sobel_magnitude, inputs, batch_size=batch_size)
