"""Grad-CAM (Selvaraju et al. 2017) and Guided Grad-CAM, on convolutional and transformer layers.

Grad-CAM weighs a layer's channels by the spatial mean of the score's gradient and sums them:
``relu(sum_k mean_ij(dS/dA_kij) * A_k)``, then upsamples bilinearly (``align_corners=False``)
to the input size.

Layers do not all lay their activations out as ``(N, C, H, W)``. Three layouts are mapped to
space (:func:`spatial_layout`), and nothing else is: an output that fits none of them, or more
than one, is refused with a message that says so (pass ``layout=`` to decide), never guessed:

- ``"nchw"``: convolutional feature maps ``(N, C, h, w)`` (ResNet, VGG, ConvNeXt's stages);
- ``"nhwc"``: channels-last maps ``(N, h, w, C)`` (Swin's stages, LayerNorm over channels);
- ``"tokens"``: token sequences ``(N, extra + h * w, C)`` (ViT, DeiT): the ``extra`` leading
  tokens (class and distillation tokens) are dropped and the rest read as a row-major grid.

A layout fits when its grid has the images' aspect ratio (the same downsampling along both
axes, up to rounding). The default layer (:func:`default_cam_layer`) is the last module, in
order of forward exit, whose output fits exactly one layout and whose spatial positions receive
a gradient from the score. For a CNN that is the last feature map before global pooling; for a
ViT whose head reads the class token it is the last block's first normalization (the tokens
after it reach the class token only through that block's attention, so later layers have zero
gradient at every patch).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.core.batching import map_batches
from gaplens.core.errors import InputError
from gaplens.core.hooks import capture, module_root, resolve_layer
from gaplens.explain.base import advance, declare_work, network_name, register_method, select_scores
from gaplens.explain.guided import check_relu_only, modified_relu_gradients

#: The layouts :func:`spatial_layout` knows; ``"auto"`` picks the one that fits.
LAYOUTS = ("auto", "nchw", "nhwc", "tokens")
#: The most leading non-spatial tokens (class, distillation, registers) a token layout may have.
MAX_EXTRA_TOKENS = 8


def _grid_fits(h: int, w: int, image: tuple[int, int], least: int = 1) -> bool:
    """``h x w`` positions downsample ``image`` (H, W) by about the same factor on both axes.

    ``least``: the fewest positions along each axis (2 for the layouts that are guessed from a
    shape alone: channels-last maps and tokens).
    """
    height, width = image
    if h < least or w < least or h * w < 2 or h > height or w > width:
        return False
    # one downsampling factor s for both axes, each size within about one position of H / s and
    # W / s (floor or ceil rounding of strided layers, kernels without padding), 5% slack
    lo = max((height - 1) / h, (width - 1) / w, 1e-9)
    hi = min((height + 1) / max(h - 1, 0.5), (width + 1) / max(w - 1, 0.5))
    return lo <= hi * 1.05


def _token_grid(tokens: int, image: tuple[int, int]) -> tuple[int, int, int] | None:
    """``(extra, h, w)``: the fewest leading tokens whose removal leaves a grid fitting ``image``."""
    height, width = image
    for extra in range(0, min(MAX_EXTRA_TOKENS, tokens - 2) + 1):
        n = tokens - extra
        # h / w = H / W: h = sqrt(n H / W)
        h = round(math.sqrt(n * height / width))
        for rows in (h - 1, h, h + 1):
            if rows >= 1 and n % rows == 0 and _grid_fits(rows, n // rows, image, least=2):
                return extra, rows, n // rows
    return None


def layout_candidates(shape: tuple[int, ...], image: tuple[int, int]) -> dict[str, tuple]:
    """Every layout that an activation of ``shape`` fits for ``image`` (H, W), with its geometry.

    Returns ``{layout: geometry}``: ``"nchw"``/``"nhwc"`` map to ``(h, w)``, ``"tokens"`` to
    ``(extra, h, w)``.
    """
    found: dict[str, tuple] = {}
    if len(shape) == 4:
        if _grid_fits(shape[2], shape[3], image):
            found["nchw"] = (shape[2], shape[3])
        if _grid_fits(shape[1], shape[2], image, least=2):
            found["nhwc"] = (shape[1], shape[2])
    elif len(shape) == 3:
        grid = _token_grid(shape[1], image)
        if grid is not None:
            found["tokens"] = grid
        # (N, C, h * w) (a flattened feature map) would fit as well: then the layout is ambiguous
        flat = _token_grid(shape[2], image)
        if flat is not None and flat[0] == 0:
            found["flattened"] = flat
    return found


_CHANNELS_FIRST_OPS = ("Convolution", "BatchNorm", "MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool",
                       "Upsample", "GroupNorm")
_CHANNELS_LAST_OPS = ("NativeLayerNorm", "Mm", "Addmm", "Bmm", "Baddbmm", "Matmul", "Linear")


def producer_hint(tensor: torch.Tensor, limit: int = 200) -> str | None:
    """``"first"`` or ``"last"``: where the channels are, judged by the op that made ``tensor``.

    Walks the autograd graph back along first inputs through element-wise ops, views and sums
    to the first op that decides: a convolution, BatchNorm or pooling works on channels-first
    maps; a LayerNorm or matrix product (``nn.Linear``) on channels-last ones; a permutation to
    or from channels-last says so itself. ``None`` when nothing decides (or no graph).
    """
    node = tensor.grad_fn
    for _ in range(limit):
        if node is None:
            return None
        name = type(node).__name__.removesuffix("Backward0").removesuffix("Backward1")
        if name.startswith(_CHANNELS_FIRST_OPS):
            return "first"
        if name in _CHANNELS_LAST_OPS:
            return "last"
        if name == "Permute":
            dims = tuple(getattr(node, "_saved_dims", ()))
            if dims == (0, 3, 1, 2):
                return "first"
            if dims == (0, 2, 3, 1):
                return "last"
        if name == "Transpose" and {getattr(node, "_saved_dim0", None), getattr(node, "_saved_dim1", None)} \
                in ({1, 2}, {1, -1}, {-2, -1}):
            return "last" if tensor.ndim == 3 else None
        nexts = [n for n, _ in node.next_functions if n is not None and type(n).__name__ != "AccumulateGrad"]
        node = nexts[0] if nexts else None
    return None


def spatial_layout(shape: tuple[int, ...], image: tuple[int, int], layout: str = "auto",
                   where: str = "the layer", tensor: torch.Tensor | None = None) -> tuple[str, tuple]:
    """The layout of an activation of ``shape`` for images of size ``image``: ``(layout, geometry)``.

    When several layouts fit (e.g. ``(N, 16, 16, 16)``), the op that made ``tensor`` decides
    (:func:`producer_hint`); an undecided tie is refused.

    Raises:
        InputError: the output cannot be mapped to space, or fits several layouts and
            ``layout="auto"`` and nothing decides, or does not fit the given ``layout``.
    """
    if layout not in LAYOUTS:
        raise InputError(f"layout={layout!r}; expected one of {list(LAYOUTS)}")
    found = layout_candidates(tuple(shape), image)
    if layout == "auto" and len(found) > 1 and tensor is not None:
        hint = producer_hint(tensor)
        chosen = {("first", 4): "nchw", ("last", 4): "nhwc", ("first", 3): "flattened", ("last", 3): "tokens"}.get(
            (hint, len(shape)))
        if chosen in found:
            found = {chosen: found[chosen]}
    size = f"{image[0]} x {image[1]} images"
    if layout != "auto":
        if layout not in found:
            raise InputError(f"{where} output has shape {tuple(shape)}, which does not fit layout={layout!r} for "
                             f"{size} (no grid with the images' aspect ratio)")
        return layout, found[layout]
    if len(found) == 1 and "flattened" not in found:
        ((name, geometry),) = found.items()
        return name, geometry
    if not found:
        raise InputError(
            f"{where} output has shape {tuple(shape)}, which Grad-CAM cannot map to space for {size}: it needs "
            "(N, C, h, w) feature maps, (N, h, w, C) channels-last maps or (N, tokens, C) patch tokens on a "
            "grid with the images' aspect ratio; pick a layer before global pooling (layer=NAME)")
    if set(found) == {"flattened"}:
        raise InputError(f"{where} output has shape {tuple(shape)}: a flattened (N, C, h * w) feature map; pick "
                         "the layer before the flatten")
    readable = ", ".join(sorted(found))
    raise InputError(f"{where} output has shape {tuple(shape)}, which fits several layouts ({readable}) for "
                     f"{size}; pass layout='nchw', 'nhwc' or 'tokens'")


def to_nchw(tensor: torch.Tensor, layout: str, geometry: tuple) -> torch.Tensor:
    """An activation (or its gradient) in ``layout`` as ``(N, C, h, w)``."""
    if layout == "nchw":
        return tensor
    if layout == "nhwc":
        return tensor.permute(0, 3, 1, 2)
    extra, h, w = geometry
    return tensor[:, extra:].reshape(tensor.shape[0], h, w, tensor.shape[2]).permute(0, 3, 1, 2)


def default_cam_layer(model: nn.Module, inputs: torch.Tensor) -> str:
    """The last module (forward exit order) with a spatial output that the score's gradient reaches.

    One forward and one backward pass of the first image (target: its top class), with every
    module's output recorded; see the module docstring for what "spatial" means.
    """
    root = module_root(model)
    names = {m: n for n, m in root.named_modules() if n}
    image = tuple(inputs.shape[-2:])
    outputs: list[tuple[str, torch.Tensor, str, tuple]] = []

    def hook(module, args, output):
        if isinstance(output, torch.Tensor) and output.ndim in (3, 4) and output.shape[0] == 1:
            try:
                layout, geometry = spatial_layout(tuple(output.shape), image, tensor=output)
            except InputError:
                return  # not spatial, or ambiguous: never a default
            outputs.append((names[module], output, layout, geometry))

    handles = [m.register_forward_hook(hook) for m in names]
    try:
        with torch.enable_grad():
            x = inputs[:1].detach().clone().requires_grad_(True)
            logits = model(x)
            candidates = [o for o in outputs if o[1].requires_grad]
            grads = torch.autograd.grad(logits[0].max(), [o[1] for o in candidates], allow_unused=True) \
                if candidates else ()
    finally:
        for handle in handles:
            handle.remove()
    for (name, _, layout, geometry), grad in zip(reversed(candidates), reversed(grads), strict=True):
        if grad is not None and to_nchw(grad, layout, geometry).abs().amax(dim=1).gt(0).sum() > 1:
            return name
    if candidates and not any(g is not None and bool(g.abs().max() > 0) for g in grads):
        raise InputError(
            f"{network_name(model)}: the score's gradient is zero at every layer Grad-CAM could map to space "
            f"({len(candidates)} of them), so none can be chosen; is the classifier head untrained (torchvision "
            "initializes a ViT's head to zeros)? Pass layer= explicitly or load trained weights"
        )
    raise InputError(
        f"{network_name(model)} has no layer whose output Grad-CAM can map to space (an (N, C, h, w) feature "
        "map, an (N, h, w, C) channels-last map or (N, tokens, C) patch tokens) and that the score's gradient "
        "reaches; pass layer= explicitly"
    )


def layer_cam(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
              layer: str, relu: bool, layout: str = "auto") -> torch.Tensor:
    """Grad-CAM maps at the layer's resolution: ``(N, 1, h, w)``."""
    resolve_layer(model, layer)
    if layout not in LAYOUTS:
        raise InputError(f"layout={layout!r}; expected one of {list(LAYOUTS)}")
    image = tuple(inputs.shape[-2:])
    declare_work(inputs.shape[0])

    def chunk_cam(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = images.detach().requires_grad_(True)
        with capture(model, layer, keep_graph=True) as cap, torch.enable_grad():
            scores = select_scores(model(x), targets, score)
            acts = cap.activations.get(layer)
            if acts is None:
                raise InputError(f"layer {layer!r} returned no tensor; Grad-CAM needs its activations")
            if acts.ndim not in (3, 4) or acts.shape[0] != x.shape[0]:
                raise InputError(f"layer {layer!r} output has shape {tuple(acts.shape)}; Grad-CAM needs a 4-D "
                                 "(N, C, H, W) or (N, H, W, C) map or (N, tokens, C) patch tokens")
            kind, geometry = spatial_layout(tuple(acts.shape), image, layout, where=f"layer {layer!r}",
                                            tensor=acts)
            (grads,) = torch.autograd.grad(scores.sum(), acts)
        acts_s, grads_s = to_nchw(acts.detach(), kind, geometry), to_nchw(grads, kind, geometry)
        cam = (grads_s.mean(dim=(2, 3), keepdim=True) * acts_s).sum(1, keepdim=True)
        advance(x.shape[0])
        return cam.clamp(min=0) if relu else cam

    return map_batches(chunk_cam, inputs, target, batch_size=batch_size)


def upsample_map(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (``align_corners=False``) of ``(N, 1, h, w)`` maps to ``size``."""
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


@register_method("grad_cam", needs_layer=True, output="map", description="Selvaraju et al. 2017 Grad-CAM")
def grad_cam(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
             layer: str | None = None, relu: bool = True, upsample: bool = True,
             layout: str = "auto") -> torch.Tensor:
    """Grad-CAM map ``(N, 1, H, W)`` (or the layer's ``(N, 1, h, w)`` with ``upsample=False``).

    ``layout`` is ``"auto"`` (detected; ambiguous shapes are refused), ``"nchw"``, ``"nhwc"`` or
    ``"tokens"`` (see the module docstring).
    """
    layer = layer or default_cam_layer(model, inputs)
    maps = layer_cam(model, inputs, target, score, batch_size, layer, relu, layout)
    return upsample_map(maps, tuple(inputs.shape[-2:])) if upsample else maps


@register_method("guided_grad_cam", needs_layer=True, description="Guided Backprop x upsampled Grad-CAM")
def guided_grad_cam(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int,
                    layer: str | None = None, layout: str = "auto", non_relu: str = "refuse") -> torch.Tensor:
    """Guided backprop ``(N, 3, H, W)`` times the rectified, bilinearly upsampled Grad-CAM map.

    Refused up front, like guided backprop, for models with activations other than ReLU.
    """
    check_relu_only(model, inputs, "guided", non_relu)
    declare_work(2 * inputs.shape[0])
    layer = layer or default_cam_layer(model, inputs)
    cam = upsample_map(layer_cam(model, inputs, target, score, batch_size, layer, relu=True, layout=layout),
                       tuple(inputs.shape[-2:]))
    return modified_relu_gradients(model, inputs, target, score, batch_size, "guided", checked=True) * cam
