"""Turn attributions into pictures: normalized maps, heat-map overlays and comparison grids.

:func:`render` maps attributions ``(N, C, H, W)`` (``C = 3`` for input-space methods, ``1`` for
Grad-CAM maps) to displayable tensors on the attributions' device, without a numpy round trip:

- ``"abs"``: the channel sum of ``|a|``, clipped per image at its ``percentile``-th percentile
  and divided by it, so values lie in ``[0, 1]`` (the normalization of Adebayo et al., 2018,
  "Sanity Checks for Saliency Maps"). Clipping keeps a few extreme pixels from washing out the
  rest of the map.
- ``"diverging"``: the signed channel sum divided per image by the ``percentile``-th percentile
  of its absolute value and clipped to ``[-1, 1]``; the sign (evidence for / against) is kept.
- ``"blend"``: the ``"abs"`` map coloured with matplotlib's ``"inferno"`` colormap and
  alpha-blended over the images. Inferno is perceptually uniform and its lightness rises
  monotonically, so the overlay reads correctly in greyscale and for colour-blind readers,
  unlike ``"jet"``, whose lightness bands invent edges that are not in the map.

Percentiles use linear interpolation between order statistics (``torch.quantile``'s and
``numpy.percentile``'s default). ``torch.quantile`` refuses inputs of more than ``2**24``
elements; larger batches are handled with ``torch.kthvalue``, which gives the same values.

:func:`attribution_grid_figure` draws images against several methods' maps, one row per image.

>>> import torch
>>> attr = torch.randn(2, 3, 32, 32)
>>> render(attr).shape, render(attr, mode="diverging").shape
(torch.Size([2, 1, 32, 32]), torch.Size([2, 1, 32, 32]))
>>> render(attr, image=torch.rand(2, 3, 32, 32), mode="blend").shape
torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor
from torch.nn import functional as F

from gaplens.core.errors import InputError

__all__ = ["render", "attribution_grid_figure", "MODES", "BLEND_CMAP"]

#: The modes :func:`render` accepts.
MODES = ("abs", "diverging", "blend")
#: Colormap of ``"blend"`` overlays and ``"abs"`` grid cells (perceptually uniform, not "jet").
BLEND_CMAP = "inferno"
#: Colormap of ``"diverging"`` grid cells: blue negative, white zero, red positive.
DIVERGING_CMAP = "bwr"
# torch.quantile raises "input tensor is too large" above this many elements.
_QUANTILE_MAX = 2**24
_LUT_SIZE = 256


def render(
    attr: Tensor,
    image: Tensor | None = None,
    mode: str = "abs",
    percentile: float = 99.0,
    alpha: float = 0.5,
) -> Tensor:
    """Normalize attributions for display (see the module docstring for the three modes).

    Args:
        attr: ``(N, C, H, W)`` or ``(C, H, W)`` finite attributions (any ``C``; any device).
        image: ``(N, 3, H', W')`` (or ``(3, H', W')`` with a 3-D ``attr``) images in ``[0, 1]``;
            required for ``mode="blend"``, ignored otherwise. When ``(H', W')`` differs from the
            map's ``(H, W)`` (a low-resolution Grad-CAM), the normalized map is resized
            bilinearly to the image's size.
        mode: ``"abs"``, ``"diverging"`` or ``"blend"``.
        percentile: in ``(0, 100]``; the per-image value mapped to 1 (99 = 99th percentile).
            If an image's percentile is 0 (more than ``100 - percentile`` % of its map is zero)
            its maximum is used instead; an all-zero map stays all zero.
        alpha: in ``[0, 1]``; weight of the colour map in ``"blend"`` (0 = the image alone).

    Returns:
        On ``attr``'s device, float32 (float64 if ``attr`` is float64):

        - ``"abs"``: ``(N, 1, H, W)`` in ``[0, 1]``;
        - ``"diverging"``: ``(N, 1, H, W)`` in ``[-1, 1]``;
        - ``"blend"``: ``(N, 3, H', W')`` RGB in ``[0, 1]``.

        A 3-D ``attr`` gives a 3-D result (the batch dimension dropped again).

    Raises:
        InputError: bad mode, shape, non-finite values, percentile or alpha out of range, or a
            missing / mismatched ``image`` in ``"blend"`` mode.
    """
    if mode not in MODES:
        raise InputError(f"mode={mode!r}; expected one of {list(MODES)}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 0 < percentile <= 100:
        raise InputError(f"percentile={percentile!r}; expected a number in (0, 100]")
    squeeze = isinstance(attr, Tensor) and attr.ndim == 3
    a = _check_attr(attr)
    if mode == "diverging":
        signed = a.sum(dim=1, keepdim=True)
        scale = _scale(signed.abs(), percentile)
        out = (signed / scale).clamp(-1.0, 1.0)
    else:
        magnitude = a.abs().sum(dim=1, keepdim=True)
        out = (magnitude / _scale(magnitude, percentile)).clamp(0.0, 1.0)
        if mode == "blend":
            out = _blend(out, image, alpha, squeeze)
    return out.squeeze(0) if squeeze else out


def _check_attr(attr: Tensor) -> Tensor:
    """``attr`` as a float (N, C, H, W) tensor, validated."""
    if not isinstance(attr, Tensor):
        raise InputError(f"attr must be a torch.Tensor of shape (N, C, H, W), got {type(attr).__name__}")
    if attr.ndim == 3:
        attr = attr.unsqueeze(0)
    if attr.ndim != 4:
        raise InputError(f"attr has shape {tuple(attr.shape)}; expected (N, C, H, W) or (C, H, W)")
    if attr.numel() == 0:
        raise InputError(f"attr has shape {tuple(attr.shape)}; expected a non-empty (N, C, H, W) tensor")
    if attr.dtype == torch.bool or attr.is_complex():
        raise InputError(f"attr has dtype {attr.dtype}; expected real numbers")
    attr = attr.detach()
    if attr.dtype != torch.float64:
        attr = attr.float()
    finite = torch.isfinite(attr)
    if not finite.all():
        bad = (~finite).flatten(1).any(1).nonzero().flatten().tolist()
        raise InputError(f"attr contains NaN or Inf (images {bad[:10]})")
    return attr


def _scale(values: Tensor, percentile: float) -> Tensor:
    """Per-image divisor ``(N, 1, 1, 1)`` for non-negative ``values`` ``(N, 1, H, W)``.

    The ``percentile``-th percentile; where it is 0, the maximum; where that is 0 too, 1.
    """
    flat = values.flatten(1)
    q = _quantile(flat, percentile / 100.0)
    peak = flat.amax(dim=1)
    scale = torch.where(q > 0, q, torch.where(peak > 0, peak, torch.ones_like(peak)))
    return scale.view(-1, 1, 1, 1)


def _quantile(flat: Tensor, q: float) -> Tensor:
    """Row-wise ``q``-quantile ``(N,)`` of ``flat`` ``(N, M)`` with linear interpolation."""
    if flat.numel() <= _QUANTILE_MAX:
        return torch.quantile(flat, q, dim=1)
    # torch.quantile's size limit: the same order statistics from kthvalue (1-based k).
    m = flat.shape[1]
    position = q * (m - 1)
    lower = math.floor(position)
    upper = min(lower + 1, m - 1)
    low = flat.kthvalue(lower + 1, dim=1).values
    if upper == lower or position == lower:
        return low
    high = flat.kthvalue(upper + 1, dim=1).values
    return torch.lerp(low, high, position - lower)


def _colormap_lut(name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``(256, 3)`` RGB table of matplotlib colormap ``name``."""
    table = colormaps[name](np.linspace(0.0, 1.0, _LUT_SIZE))[:, :3]
    return torch.as_tensor(table, dtype=dtype, device=device)


def _blend(heat: Tensor, image: Tensor | None, alpha: float, three_d: bool) -> Tensor:
    """Colour ``heat`` (N, 1, H, W) in [0, 1] with :data:`BLEND_CMAP` and blend it over ``image``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise InputError(f"alpha={alpha!r}; expected a number in [0, 1]")
    n = heat.shape[0]
    expected = "(3, H, W)" if three_d else f"({n}, 3, H, W)"
    if image is None:
        raise InputError(f"mode='blend' needs image: {expected} RGB images in [0, 1] to draw the map over")
    if not isinstance(image, Tensor):
        raise InputError(f"image must be a torch.Tensor of shape {expected}, got {type(image).__name__}")
    img = image.unsqueeze(0) if three_d and image.ndim == 3 else image
    if img.ndim != 4 or img.shape[0] != n or img.shape[1] != 3 or img.numel() == 0:
        raise InputError(f"image has shape {tuple(image.shape)}; expected {expected} to match attr")
    img = img.detach().to(device=heat.device, dtype=heat.dtype)
    if not torch.isfinite(img).all() or img.min() < -1e-3 or img.max() > 1 + 1e-3:
        raise InputError("image must hold finite values in [0, 1]")
    img = img.clamp(0.0, 1.0)
    if heat.shape[-2:] != img.shape[-2:]:
        heat = F.interpolate(heat, size=img.shape[-2:], mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    index = (heat.squeeze(1) * (_LUT_SIZE - 1)).round().long()
    colour = _colormap_lut(BLEND_CMAP, heat.device, heat.dtype)[index].permute(0, 3, 1, 2)
    return ((1.0 - alpha) * img + alpha * colour).clamp(0.0, 1.0)


def attribution_grid_figure(
    images: Tensor,
    maps: dict[str, Tensor],
    titles: Sequence[str] | None = None,
    mode: str = "abs",
    scores: dict[str, Sequence[float]] | None = None,
    title: str = "Attributions",
) -> Figure:
    """A grid of images (rows) against attribution methods (columns).

    Args:
        images: ``(N, 3, H, W)`` images in ``[0, 1]``.
        maps: method name -> its attributions ``(N, C, h, w)``; channel counts and sizes may
            differ between methods (Grad-CAM ``(N, 1, 7, 7)`` beside gradients ``(N, 3, H, W)``).
            Maps are rendered with :func:`render` and resized bilinearly to ``(H, W)``.
        titles: ``N`` row labels drawn above each image, e.g. ``"cat (logit 3.2)"``.
        mode: ``"abs"`` (``inferno``, 0 to 1), ``"diverging"`` (``bwr``, -1 to 1) or ``"blend"``
            (maps drawn over the images).
        scores: optional method name -> ``N`` numbers printed under that method's cells (e.g. a
            per-image sanity-check similarity); methods not named get none.
        title: figure title.

    Returns:
        A :class:`matplotlib.figure.Figure` (not registered with pyplot) with ``N x (1 + M)``
        image axes in row-major order (plus a colour bar axis for ``"abs"`` and
        ``"diverging"``); save it with :func:`gaplens.report.figures.save_figure`. Column headers
        are the method names; all user strings are drawn as plain text (no ``$`` math).
        Readable up to 12 methods x 8 images.
    """
    if mode not in MODES:
        raise InputError(f"mode={mode!r}; expected one of {list(MODES)}")
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise InputError(f"images has shape {shape}; expected (N, 3, H, W) RGB images in [0, 1]")
    n, _, height, width = images.shape
    if not maps:
        raise InputError("maps is empty; expected a dict of method name -> (N, C, H, W) attributions")
    for name, value in maps.items():
        if not isinstance(value, Tensor) or value.ndim != 4 or value.shape[0] != n:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise InputError(f"maps[{name!r}] has shape {shape}; expected ({n}, C, H, W) for {n} images")
    labels = [str(t) for t in titles] if titles is not None else [""] * n
    if len(labels) != n:
        raise InputError(f"titles has {len(labels)} entries for {n} images; expected {n}")
    scores = dict(scores or {})
    for name, values in scores.items():
        if name not in maps:
            raise InputError(f"scores names method {name!r}, which is not in maps {list(maps)}")
        if len(values) != n:
            raise InputError(f"scores[{name!r}] has {len(values)} values for {n} images; expected {n}")

    pictures = images.detach().float().cpu()
    rendered = {}
    for name, value in maps.items():
        if mode == "blend":
            cell = render(value.detach().cpu(), image=pictures, mode="blend")
        else:
            cell = render(value.detach().cpu(), mode=mode)
            if cell.shape[-2:] != (height, width):
                low = -1.0 if mode == "diverging" else 0.0
                cell = F.interpolate(cell, size=(height, width), mode="bilinear", align_corners=False)
                cell = cell.clamp(low, 1.0)
        rendered[name] = cell.permute(0, 2, 3, 1).numpy()
    pictures = pictures.clamp(0.0, 1.0).permute(0, 2, 3, 1).numpy()

    methods = list(maps)
    cols = 1 + len(methods)
    cell_in = 1.35 if cols <= 6 else 1.1
    font = 8 if cols <= 6 else 7
    # characters per title line that fit a cell at that font size (column headers are bold)
    chars, head_chars = (22, 20) if cols <= 6 else (20, 15)
    bar = mode != "blend"
    fig = Figure(figsize=(cell_in * cols + (0.8 if bar else 0.2), (cell_in + 0.25) * n + 0.6), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    axes = fig.subplots(n, cols, squeeze=False)
    cmap = DIVERGING_CMAP if mode == "diverging" else BLEND_CMAP
    norm = Normalize(-1.0, 1.0) if mode == "diverging" else Normalize(0.0, 1.0)
    shown = None
    for row in range(n):
        ax = axes[row, 0]
        ax.imshow(pictures[row], interpolation="nearest")
        ax.set_title(_wrap(labels[row], chars), fontsize=font, parse_math=False)
        for col, name in enumerate(methods, start=1):
            ax = axes[row, col]
            cell = rendered[name][row]
            if mode == "blend":
                ax.imshow(cell, interpolation="nearest")
            else:
                shown = ax.imshow(cell[..., 0], cmap=cmap, norm=norm, interpolation="nearest")
            if row == 0:
                ax.set_title(_wrap(name, head_chars), fontsize=font, fontweight="bold", parse_math=False)
            if name in scores:
                ax.set_xlabel(f"{float(scores[name][row]):.3g}", fontsize=font - 1, labelpad=1)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if bar and shown is not None:
        colorbar = fig.colorbar(shown, ax=axes[:, 1:], fraction=0.12 / (cell_in * len(methods)), pad=0.01,
                                aspect=max(10.0, 12.0 * n))
        label = ("|attribution| / per-image p99, clipped" if mode == "abs"
                 else "signed attribution / per-image p99 of |.|, clipped")
        colorbar.set_label(label, fontsize=font)
        colorbar.ax.tick_params(labelsize=font - 1)
    fig.suptitle(title, parse_math=False)
    return fig


def _wrap(text: str, width: int) -> str:
    """``text`` on at most two lines of ``width`` characters, shortened with an ellipsis."""
    lines = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)
    if len(lines) > 2:
        lines = [lines[0], lines[1][: width - 1] + "\u2026"]
    return "\n".join(lines)
