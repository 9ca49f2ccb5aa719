"""Occlusion (Zeiler & Fergus 2014): grey out a sliding window and watch the target score drop.

For every window position the covered pixels (all three channels) are replaced by ``fill`` and
the drop of the target score, ``score(original) - score(occluded)``, is recorded; a pixel's
attribution is the mean drop over the windows that cover it (the same for its three channels).

Window positions follow Captum's ``Occlusion`` exactly: along a dimension of size ``S`` with
window ``w`` and stride ``s`` there are ``ceil((S - w) / s) + 1`` positions ``p = i * s``, and a
window that would reach past the edge is cropped to the image.

Evaluation is batched: the occluded copies of all images are built lazily, one chunk of at most
``batch_size`` (image, position) pairs at a time, and each chunk is one forward pass, so memory
is bounded by ``batch_size`` whatever the number of windows. By default a chunk is evaluated
incrementally (:mod:`gaplens.explain.incremental`): each layer recomputes only the region the
window changed, on crops of the unoccluded activations, which gives the same values (to float
rounding) for a fraction of the work; models that cannot be traced get whole-image passes.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gaplens.core.batching import check_batch_size, map_batches
from gaplens.core.device import model_device
from gaplens.core.errors import InputError
from gaplens.core.hooks import frozen
from gaplens.core.layout import LayoutForward
from gaplens.explain.base import check_inputs, model_dtype, register_method, select_scores

logger = logging.getLogger(__name__)


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """``value`` as ``(h, w)`` ints (Python or numpy); :class:`InputError` naming ``name`` otherwise."""
    message = f"{name}={value!r}; expected an int or a pair (h, w) of ints"
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(item, bool) for item in items):
        raise InputError(message)
    try:
        return operator.index(items[0]), operator.index(items[1])
    except TypeError:
        raise InputError(message) from None


@dataclass(frozen=True)
class _Grid:
    """Window positions over an ``H x W`` image: 1-D coverage masks per row and column position.

    ``rows[r, y]`` is True when the window at row position ``r`` covers image row ``y``;
    likewise ``cols[c, x]``. The window at ``(r, c)`` covers ``rows[r, :, None] & cols[c, None, :]``.
    """

    rows: torch.Tensor  # (R, H) bool
    cols: torch.Tensor  # (C, W) bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.shape[0], self.cols.shape[0]

    @property
    def size(self) -> int:
        return self.rows.shape[0] * self.cols.shape[0]

    def masks(self, positions: torch.Tensor) -> torch.Tensor:
        """``(B, H, W)`` bool masks of the windows at flat positions ``positions`` ``(B,)``."""
        n_cols = self.cols.shape[0]
        return self.rows[positions // n_cols][:, :, None] & self.cols[positions % n_cols][:, None, :]


def _axis_masks(size: int, window: int, stride: int, device: torch.device) -> torch.Tensor:
    """``(P, size)`` coverage of the ``P = ceil((size - window) / stride) + 1`` windows (cropped)."""
    count = math.ceil((size - window) / stride) + 1
    starts = torch.arange(count, device=device).view(-1, 1) * stride
    pixels = torch.arange(size, device=device).view(1, -1)
    return (pixels >= starts) & (pixels < starts + window)


def _grid(inputs: torch.Tensor, window: int | tuple[int, int], stride: int | tuple[int, int]) -> _Grid:
    """Validate ``window``/``stride`` against the image size (Captum's rules) and build the grid."""
    size = tuple(inputs.shape[-2:])
    win = _pair(window, "window")
    step = _pair(stride, "stride")
    if min(win) < 1:
        raise InputError(f"window={window!r}; expected sizes >= 1")
    if win[0] > size[0] or win[1] > size[1]:
        raise InputError(f"window={window!r} is larger than the images ({size[0]} x {size[1]}); "
                         f"expected at most {size}")
    if min(step) < 1:
        raise InputError(f"stride={stride!r}; expected a positive int or pair of positive ints")
    for w, s, n in zip(win, step, size, strict=True):
        # Captum's rule: a stride longer than the window would skip pixels, unless the window
        # spans the whole dimension (then there is a single position)
        if s > w and w < n:
            raise InputError(f"stride={stride!r} is larger than window={window!r}; expected stride <= window "
                             "(pixels between windows would never be occluded)")
    return _Grid(_axis_masks(size[0], win[0], step[0], inputs.device),
                 _axis_masks(size[1], win[1], step[1], inputs.device))


def _fill(fill: float | torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``fill`` as a tensor broadcast (not copied) to ``inputs``' shape, dtype and device."""
    if isinstance(fill, bool):
        raise InputError(f"fill={fill!r}; expected a float or a tensor broadcastable to (N, 3, H, W)")
    if isinstance(fill, (int, float)):
        value = torch.tensor(float(fill), dtype=inputs.dtype, device=inputs.device)
    elif isinstance(fill, torch.Tensor):
        value = fill.detach().to(device=inputs.device, dtype=inputs.dtype)
    else:
        raise InputError(f"fill has type {type(fill).__name__}; expected a float or a tensor broadcastable "
                         "to (N, 3, H, W)")
    try:
        shape = torch.broadcast_shapes(value.shape, inputs.shape)
    except RuntimeError:
        shape = None
    if shape != inputs.shape:
        raise InputError(f"fill has shape {tuple(value.shape)}; expected a float or a tensor broadcastable to "
                         f"the inputs' shape {tuple(inputs.shape)}, e.g. (3, 1, 1) or (3, H, W)")
    if not torch.isfinite(value).all():
        raise InputError("fill contains NaN or Inf")
    return value.expand(inputs.shape)


def _check_incremental(incremental: object) -> None:
    if incremental not in (True, False, "auto") or isinstance(incremental, int) and not isinstance(incremental, bool):
        raise InputError(f"incremental={incremental!r}; expected 'auto', True or False")


def _not_incremental(reason: str) -> InputError:
    return InputError(f"incremental=True, but this model cannot be evaluated incrementally: {reason}; "
                      "use incremental='auto' or False")


def _input_rects(inputs, fill, grid: _Grid, window: tuple[int, int], stride: tuple[int, int],
                 image: torch.Tensor, position: torch.Tensor):
    """The changed input of each (image, window): a window-sized rectangle inside the image.

    ``inputs`` and ``fill`` are the group's images and fill values as
    :class:`~gaplens.explain.incremental._Flat` maps. A window cropped at the image's edge is
    shifted inwards; its extra pixels keep their values.
    """
    from gaplens.explain.incremental import _gather, _Rect

    n_rows, n_cols = grid.rows.shape[1], grid.cols.shape[1]
    n_pos_cols = grid.cols.shape[0]
    top = (position // n_pos_cols) * stride[0]
    left = (position % n_pos_cols) * stride[1]
    y, x = top.clamp(max=n_rows - window[0]), left.clamp(max=n_cols - window[1])
    original = _gather(inputs, image, y, x, window[0], window[1], None)
    filled = _gather(fill, image, y, x, window[0], window[1], None)
    rows = y[:, None] + torch.arange(window[0], device=y.device)
    cols = x[:, None] + torch.arange(window[1], device=x.device)
    covered = ((rows >= top[:, None]) & (rows < top[:, None] + window[0]))[:, :, None] & (
        (cols >= left[:, None]) & (cols < left[:, None] + window[1]))[:, None, :]
    return _Rect(torch.where(covered[:, None], filled, original), y, x)


#: In :class:`~gaplens.explain.incremental.Cost` totals, an element written or gathered costs as
#: much as this many multiply-accumulates (measured on the CPU, float32; benchmarks/RESULTS.md).
ELEMENT_MACS = 16.0
#: ``incremental="auto"`` evaluates incrementally when that does at most this fraction of the work
#: of evaluating a whole image (both counted as ``macs + ELEMENT_MACS * elements``). On the ten
#: torchvision architectures of benchmarks/RESULTS.md the counted ratio was 0.20-0.72 where
#: incremental evaluation was faster and 0.86-1.0 elsewhere, where the engine's per-op overhead
#: (up to 1.6x on densenet121's 374 ops) can outweigh a small saving; 0.8 lies between.
MAX_WORK_RATIO = 0.8


@dataclass
class Evaluation:
    """How the occluded images were evaluated: ``"incremental"`` or ``"whole"``, and why.

    ``work_ratio`` is the work of one window evaluated incrementally over that of one whole image
    (see :data:`MAX_WORK_RATIO`) when ``incremental="auto"`` counted it, else ``None``.
    """

    mode: str
    reason: str
    work_ratio: float | None = None

    def as_dict(self) -> dict:
        out = {"evaluation": self.mode, "reason": self.reason}
        if self.work_ratio is not None:
            out["work_ratio"] = self.work_ratio
        return out


#: Rows (occluded images) per pass are capped where one row's largest full map times the rows
#: passes this many bytes, but at no fewer than :data:`MIN_ROWS`: on the CPU a batch whose maps
#: overflow the caches runs slower per image (resnet50 at 224 px, channels-last, per 169 images:
#: 9.4 s at 8 rows, 12.4 s at 64; Captum's own best is 8 perturbations per pass).
CACHE_BYTES = 16 * 2**20
MIN_ROWS = 8


def _cache_rows(row_bytes: float, batch_size: int) -> int:
    """Rows per pass: ``batch_size``, capped by :data:`CACHE_BYTES` / ``row_bytes`` (at least :data:`MIN_ROWS`)."""
    if row_bytes <= 0:
        return batch_size
    return min(batch_size, max(MIN_ROWS, int(CACHE_BYTES // row_bytes)))


def _probe(engine, rect, incremental: bool | str, batch_size: int) -> tuple[Evaluation, int]:
    """Window ``rect`` (of image 0) evaluated incrementally with its work counted: the evaluation
    and the rows per pass.

    Every window changes a rectangle of the same size in each map (windows at the border are
    shifted inwards), so one window's count holds for all; it costs about one occluded image.
    ``"auto"`` compares it with a whole image's (:data:`MAX_WORK_RATIO`).
    """
    from gaplens.explain.incremental import Cost

    cost = Cost()
    engine.logits(rect.y.new_zeros(1), rect, cost)
    whole = engine.cost_per_image
    whole_total = whole.total(ELEMENT_MACS)
    ratio = cost.total(ELEMENT_MACS) / whole_total if whole_total > 0 else math.inf
    if incremental is True:
        evaluation = Evaluation("incremental", "incremental=True", ratio)
    else:
        counted = (f"a window evaluated incrementally costs {ratio:.0%} of a whole image (multiply-accumulates "
                   f"and elements moved); incremental below {MAX_WORK_RATIO:.0%}")
        evaluation = Evaluation("incremental" if ratio <= MAX_WORK_RATIO else "whole", counted, ratio)
    largest = cost.largest_map if evaluation.mode == "incremental" else whole.largest_map
    return evaluation, _cache_rows(largest, batch_size)


def _occluded_outputs(
    model: nn.Module,
    inputs: torch.Tensor,
    grid: _Grid,
    fill: torch.Tensor,
    batch_size: int,
    reduce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]],
    incremental: bool | str = "auto",
    window: tuple[int, int] | None = None,
    stride: tuple[int, int] | None = None,
) -> tuple[tuple[torch.Tensor, ...], Evaluation]:
    """Run ``model`` on every (image, window) occlusion, ``batch_size`` occluded images per pass.

    ``reduce(logits, image_index)`` turns a chunk's logits ``(B, K)`` into per-row values
    ``(B,)`` (or a tuple of them); the results are returned as tensors ``(N, R, C)``, in image
    then row-major window order, with the :class:`Evaluation` used. Must be called under
    ``torch.no_grad()``.

    With ``incremental`` (``"auto"``: when the model allows it, and when it is cheaper), each
    chunk is evaluated by :class:`gaplens.explain.incremental.IncrementalOcclusion`, which
    recomputes only the activations a window changes; images are then taken in groups of
    ``max(4, batch_size // windows)``, whose unoccluded activations are kept for the group's
    chunks (chunks may span the images of a group, so few are left part-filled).

    ``"auto"`` decides from a count of the work, not from timings (which a loaded machine makes
    noisy): one window is evaluated incrementally while its multiply-accumulates and moved
    elements are counted (:func:`_probe`), the unoccluded pass counts those of a whole image, and
    the work goes incrementally only when a window costs at most :data:`MAX_WORK_RATIO` of a whole
    image. The decision costs about three image evaluations (the unoccluded pass both ways, one
    window). The same count sizes the passes (:data:`CACHE_BYTES`) when the model could be
    traced; otherwise they hold ``batch_size`` rows. Batches go to the model channels-last on the
    CPU (:mod:`gaplens.core.layout`).
    """
    from gaplens.explain.base import advance, declare_work
    from gaplens.explain.incremental import Unsupported, _Flat, incremental_engine

    n = inputs.shape[0]
    p = grid.size
    declare_work(n * p)
    forward = LayoutForward(model, inputs.device)
    engine, reason = incremental_engine(model) if incremental else (None, "incremental=False")
    if engine is None and incremental is True:
        raise _not_incremental(reason)
    probe = engine is not None
    evaluation = Evaluation("whole", reason)
    group = max(4, batch_size // p) if engine is not None else n
    step = batch_size  # rows per pass
    parts: list[tuple[torch.Tensor, ...]] = []
    first = 0
    while first < n:
        images, fills = inputs[first : first + group], fill[first : first + group]
        if engine is not None:
            try:  # the unoccluded pass, checked against the model's own output
                reference = forward(images.clone())  # a clone: the caller's images stay as they are
                engine.prepare(forward.place(images), reference)
            except Unsupported as exc:
                if incremental is True:
                    raise _not_incremental(str(exc)) from None
                engine, probe = None, False  # whole images from here on
                evaluation = Evaluation("whole", str(exc))
        if engine is not None:
            flat_images, flat_fills = _Flat.of(images), _Flat.of(fills)
            if probe:
                probe = False
                first_window = torch.zeros(1, dtype=torch.long, device=inputs.device)
                evaluation, step = _probe(engine, _input_rects(flat_images, flat_fills, grid, window, stride,
                                                               first_window, first_window), incremental, batch_size)
                if evaluation.mode == "whole":
                    engine = None  # this group and every later image: whole
        count = images.shape[0] * p
        for start in range(0, count, step):
            flat = torch.arange(start, min(start + step, count), device=inputs.device)
            image, position = flat // p, flat % p
            if engine is not None:
                logits = engine.logits(image, _input_rects(flat_images, flat_fills, grid, window, stride, image,
                                                           position))
            else:
                logits = _whole_logits(forward, grid, images, fills, image, position)
            parts.append(_as_tuple(reduce(logits, image + first)))
            advance(len(flat))
        first += images.shape[0]
        if engine is None:
            group = n  # whole images from here on: the remaining images in one group
    logger.info("occlusion: %s evaluation (%s)", evaluation.mode, evaluation.reason)
    return tuple(torch.cat(values).view(n, *grid.shape) for values in zip(*parts, strict=True)), evaluation


def _whole_logits(forward: LayoutForward, grid: _Grid, images, fills, image, position) -> torch.Tensor:
    mask = grid.masks(position)[:, None]  # (B, 1, H, W), the same for the 3 channels
    return forward(torch.where(mask, fills[image], images[image]))


def _as_tuple(out) -> tuple[torch.Tensor, ...]:
    return out if isinstance(out, tuple) else (out,)


@register_method("occlusion", default_score="probability",
                 description="Zeiler & Fergus 2014 occlusion: mean score drop of the windows covering a pixel")
def occlusion(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    score: str,
    batch_size: int,
    window: int | tuple[int, int] | None = None,
    stride: int | tuple[int, int] | None = None,
    fill: float | torch.Tensor = 0.5,
    incremental: bool | str = "auto",
) -> torch.Tensor:
    """Zeiler & Fergus 2014 occlusion sensitivity; equals Captum's ``Occlusion``.

    Args:
        model, inputs, target, score, batch_size: see :func:`gaplens.explain.base.attribute`.
        window: window size in pixels, an int or ``(h, w)``; at most the image size. ``None``
            (default) scales with the image: ``max(8, side // 8)`` for the shorter side (8 up
            to 64 px, 28 at 224 px), capped at the image size.
        stride: step between windows in pixels, an int or ``(h, w)``; ``1 <= stride <= window``;
            ``None`` (default): half the window (at least 1).
        fill: value of occluded pixels (image space, ``[0, 1]``): a float or a tensor
            broadcastable to ``(N, 3, H, W)`` (e.g. ``(3, 1, 1)`` per channel, ``(3, H, W)``).
        incremental: ``"auto"`` (default) evaluates occluded images incrementally, recomputing
            only the activations a window changes (:mod:`gaplens.explain.incremental`; the
            same values up to float rounding), when ``torch.fx`` can trace the model and a count
            of the work on the first chunk says a window costs at most
            :data:`MAX_WORK_RATIO` of a whole image (see :func:`_occluded_outputs`), and whole
            images otherwise; ``True`` requires it (error naming the obstacle); ``False``
            always evaluates whole images.

    Returns:
        ``(N, 3, H, W)``: for each pixel, the mean over the windows covering it of
        ``score(original) - score(occluded)`` (positive: occluding it lowers the score); the
        three channels are equal. ``result.details`` says how it was computed:
        ``{"evaluation": "incremental" | "whole", "reason": ..., "window": (h, w), "stride":
        (h, w), "work_ratio": ...}`` (the ratio only when ``"auto"`` counted it); the same line
        is logged at INFO level.
    """
    window, stride = default_window(inputs, window, stride)
    grid = _grid(inputs, window, stride)
    value = _fill(fill, inputs)
    check_batch_size(batch_size)
    _check_incremental(incremental)
    with torch.no_grad():
        base = map_batches(lambda images, targets: select_scores(model(images), targets, score), inputs, target,
                           batch_size=batch_size)
        (scores,), evaluation = _occluded_outputs(
            model, inputs, grid, value, batch_size, lambda logits, image: select_scores(logits, target[image], score),
            incremental, _pair(window, "window"), _pair(stride, "stride"))
        drops = base.view(-1, 1, 1) - scores  # (N, R, C)
        rows, cols = grid.rows.to(drops.dtype), grid.cols.to(drops.dtype)
        total = torch.einsum("ry,nrc,cx->nyx", rows, drops, cols)
        count = rows.sum(0)[:, None] * cols.sum(0)[None, :]
        attribution = total / count
    result = attribution[:, None].expand(-1, inputs.shape[1], -1, -1).contiguous()
    result.details = {**evaluation.as_dict(), "window": _pair(window, "window"), "stride": _pair(stride, "stride")}
    return result


def default_window(inputs: torch.Tensor, window, stride) -> tuple:
    """``(window, stride)`` with ``None`` replaced by the image-scaled defaults (see :func:`occlusion`)."""
    if window is None:
        side = min(inputs.shape[-2:])
        window = min(max(8, side // 8), side)
        if stride is None:
            stride = max(1, window // 2)
    elif stride is None:
        h, w = _pair(window, "window")
        stride = (max(1, h // 2), max(1, w // 2))
    return window, stride


def occlusion_top_class(
    model: nn.Module,
    inputs: torch.Tensor,
    window: int | tuple[int, int] | None = None,
    stride: int | tuple[int, int] | None = None,
    fill: float | torch.Tensor = 0.5,
    batch_size: int = 64,
    incremental: bool | str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The most probable class with the window at each position (the lecture's panel (d)).

    Windows are placed as in :func:`occlusion`. The model is run in eval mode; its modes and
    flags are restored afterwards, also on errors.

    Args:
        model: maps ``(N, 3, H, W)`` images in ``[0, 1]`` to logits ``(N, K)``.
        inputs: ``(N, 3, H, W)`` floats.
        window, stride, fill: as in :func:`occlusion`.
        batch_size: the most occluded images in one forward pass.
        incremental: as in :func:`occlusion`.

    Returns:
        ``(classes, probabilities)``: ``(N, R, C)`` int64 top classes and ``(N, R, C)`` their
        softmax probabilities, where ``R x C`` is the grid of window positions (row ``r`` is the
        window starting at pixel row ``r * stride``); on the inputs' device.

    >>> import torch
    >>> from gaplens.zoo import build
    >>> from gaplens.core.model import Classifier
    >>> model = Classifier(build("vgg", 3)).eval()
    >>> classes, probs = occlusion_top_class(model, torch.rand(2, 3, 32, 32), window=8, stride=4)
    >>> tuple(classes.shape), classes.dtype
    ((2, 7, 7), torch.int64)
    """
    check_inputs(inputs)
    check_batch_size(batch_size)
    device = model_device(model, default=inputs.device)
    x = inputs.detach().to(device=device, dtype=model_dtype(model, default=inputs.dtype))
    window, stride = default_window(x, window, stride)
    grid = _grid(x, window, stride)
    value = _fill(fill, x)
    _check_incremental(incremental)

    def top(logits: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs, classes = logits.softmax(1).max(1)
        return classes, probs

    with frozen(model):
        (classes, probs), _ = _occluded_outputs(model, x, grid, value, batch_size, top, incremental,
                                                _pair(window, "window"), _pair(stride, "stride"))
    return classes.to(inputs.device), probs.to(device=inputs.device, dtype=inputs.dtype)
