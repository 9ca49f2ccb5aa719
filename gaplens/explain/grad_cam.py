"""Grad-CAM (Selvaraju et al. 2017) and Guided Grad-CAM.

Grad-CAM weighs a layer's channels by the spatial mean of the score's gradient and sums them:
``relu(sum_k mean_ij(dS/dA_kij) * A_k)``, then upsamples bilinearly (``align_corners=False``)
to the input size. The default layer is the last module whose output is 4-D with more than one
spatial position (the last feature map before global pooling).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.core.batching import map_batches
from gaplens.core.errors import InputError
from gaplens.core.hooks import capture, module_root, resolve_layer
from gaplens.explain.base import register_method, select_scores
from gaplens.explain.guided import modified_relu_gradients


def default_cam_layer(model: nn.Module, inputs: torch.Tensor) -> str:
    """The last module (in order of forward exit) with a 4-D output of spatial size > 1."""
    root = module_root(model)
    names = {m: n for n, m in root.named_modules() if n}
    last: list[str] = []

    def hook(module, args, output):
        if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-1] * output.shape[-2] > 1:
            last.append(names[module])

    handles = [m.register_forward_hook(hook) for m in names]
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        for handle in handles:
            handle.remove()
    if not last:
        raise InputError(
            f"{type(root).__name__} has no layer with a 4-D (N, C, H, W) output of more than one position: "
            "Grad-CAM needs a convolutional feature map; pass layer= explicitly"
        )
    return last[-1]


def layer_cam(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
              layer: str, relu: bool) -> torch.Tensor:
    """Grad-CAM maps at the layer's resolution: ``(N, 1, h, w)``."""
    resolve_layer(model, layer)

    def chunk_cam(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = images.detach().requires_grad_(True)
        with capture(model, layer, keep_graph=True) as cap, torch.enable_grad():
            scores = select_scores(model(x), targets, score)
            acts = cap.activations.get(layer)
            if acts is None or acts.ndim != 4:
                shape = None if acts is None else tuple(acts.shape)
                raise InputError(f"layer {layer!r} output has shape {shape}; Grad-CAM needs a 4-D (N, C, H, W) output")
            (grads,) = torch.autograd.grad(scores.sum(), acts)
        cam = (grads.mean(dim=(2, 3), keepdim=True) * acts).sum(1, keepdim=True).detach()
        return cam.clamp(min=0) if relu else cam

    return map_batches(chunk_cam, inputs, target, batch_size=batch_size)


def upsample_map(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (``align_corners=False``) of ``(N, 1, h, w)`` maps to ``size``."""
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


@register_method("grad_cam", needs_layer=True, output="map", description="Selvaraju et al. 2017 Grad-CAM")
def grad_cam(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
             layer: str | None = None, relu: bool = True, upsample: bool = True) -> torch.Tensor:
    """Grad-CAM map ``(N, 1, H, W)`` (or the layer's ``(N, 1, h, w)`` with ``upsample=False``)."""
    layer = layer or default_cam_layer(model, inputs)
    maps = layer_cam(model, inputs, target, score, batch_size, layer, relu)
    return upsample_map(maps, tuple(inputs.shape[-2:])) if upsample else maps


@register_method("guided_grad_cam", needs_layer=True, description="Guided Backprop x upsampled Grad-CAM")
def guided_grad_cam(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
                    layer: str | None = None) -> torch.Tensor:
    """Guided backprop ``(N, 3, H, W)`` times the rectified, bilinearly upsampled Grad-CAM map."""
    layer = layer or default_cam_layer(model, inputs)
    cam = upsample_map(layer_cam(model, inputs, target, score, batch_size, layer, relu=True),
                       tuple(inputs.shape[-2:]))
    return modified_relu_gradients(model, inputs, target, score, batch_size, "guided") * cam
