"""The two figures of the sanity checks, drawn from a :class:`~gaplens.sanity.result.SanityResult`.

- :func:`similarity_figure` (the paper's Figures 2 and 4, bottom): similarity of each method's
  map to its original map against the number of randomized blocks, mean +/- one standard
  deviation over the images, one line per method and one panel per metric; grouped bars in
  data-randomization mode.
- :func:`randomization_grid_figure` (the paper's Figures 2 and 4, top): the maps of each method
  (rows) as the randomization progresses (columns), for one or two images.

Figures are :class:`matplotlib.figure.Figure` objects built without pyplot; save them with
:func:`gaplens.report.figures.save_figure`. User strings (method and block names) are drawn as
plain text.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch.nn import functional as F

from gaplens.core.errors import InputError
from gaplens.core.text import plain
from gaplens.explain.render import BLEND_CMAP, DIVERGING_CMAP, render
from gaplens.sanity.result import SanityResult

__all__ = ["similarity_figure", "randomization_grid_figure", "METRIC_LABELS"]

#: Axis labels of the metrics.
METRIC_LABELS = {
    "spearman_abs": "Spearman rank corr. (|map|)",
    "spearman": "Spearman rank corr. (signed map)",
    "ssim": "SSIM (|map|)",
    "hog": "rank corr. of HOG features (|map|)",
}
_MAX_TICKS = 24
_MAX_COLUMNS = 14


def _short(text: str, limit: int = 22) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _check_result(result: SanityResult) -> None:
    if not isinstance(result, SanityResult):
        raise InputError(f"result must be a SanityResult, got {type(result).__name__}")
    if not result.records:
        raise InputError("result has no records to draw")


def similarity_figure(result: SanityResult, metrics: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Similarity to the original map vs. randomization step: one panel per metric, one line per method.

    Args:
        result: from :func:`~gaplens.sanity.model_randomization` (lines over ``layer_index``
            0..L, tick labels ``"original"`` and the block names) or
            :func:`~gaplens.sanity.data_randomization` (bars per method).
        metrics: the panels (default: every metric of ``result``).
        title: figure title (default: names the test).

    Returns:
        A :class:`~matplotlib.figure.Figure`. Lines are the mean over images, bands (error bars
        in data mode) one population standard deviation; the verdict threshold is drawn as a
        dashed line on the verdict metric's panel, which comes first (by default) with a bold
        frame and a title that says how the verdict reads it. Readable up to ~12 methods and
        ~40 blocks.
    """
    _check_result(result)
    verdict_metric = next(iter(result.verdicts.values()), {}).get("metric")
    if metrics is not None:
        metrics = list(metrics)
    else:  # the verdict's metric first: the panel the verdict was read from
        metrics = sorted(result.metrics, key=lambda m: m != verdict_metric)
    unknown = [m for m in metrics if m not in result.metrics]
    if not metrics or unknown:
        raise InputError(f"metrics={metrics}; expected a non-empty subset of the result's {result.metrics}")
    summary = result.summary()
    table = {(r["method"], r["metric"], r["layer_index"]): r for r in summary}
    data_mode = result.mode == "data"
    steps = sorted({r["layer_index"] for r in summary})
    width = 3.3 if data_mode else max(3.6, 0.22 * len(steps) + 1.5)
    fig = Figure(figsize=(width * len(metrics) + 1.8, 3.9), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    colors = [f"C{i % 10}" for i in range(len(result.methods))]
    handles = []
    for ax, metric in zip(axes, metrics, strict=True):
        lows = []
        if data_mode:
            x = np.arange(len(result.methods))
            means = np.array([table[(m, metric, 1)]["mean"] for m in result.methods])
            stds = np.array([table[(m, metric, 1)]["std"] for m in result.methods])
            ax.bar(x, means, yerr=stds, color=colors, capsize=3)
            ax.set_xticks(x, [_short(m) for m in result.methods], rotation=60, ha="right",
                          rotation_mode="anchor", fontsize=7, parse_math=False)
            ax.set_xlabel("method")
            lows.append(float((means - stds).min()))
        else:
            for method, color in zip(result.methods, colors, strict=True):
                rows = [table[(method, metric, k)] for k in steps]
                mean = np.array([r["mean"] for r in rows])
                std = np.array([r["std"] for r in rows])
                (line,) = ax.plot(steps, mean, marker="o", markersize=3, color=color, label=plain(method))
                ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
                lows.append(float((mean - std).min()))
                if ax is axes[0]:
                    handles.append(line)
            names = ["original"] + list(result.layers)
            every = max(1, int(np.ceil(len(steps) / _MAX_TICKS)))
            ticks = steps[::every]
            ax.set_xticks(ticks, [_short(names[k] if k < len(names) else str(k)) for k in ticks], rotation=70,
                          ha="right", rotation_mode="anchor", fontsize=7, parse_math=False)
            ax.set_xlabel("blocks randomized, cumulative from the logits" if result.mode == "cascading"
                          else "block randomized alone")
        if metric == verdict_metric:
            ax.axhline(result.threshold, color="0.3", linestyle="--", linewidth=1)
            for spine in ax.spines.values():
                spine.set_linewidth(1.6)
        ax.axhline(0.0, color="0.75", linewidth=0.8)
        ax.set_ylim(min(-0.1, min(lows) - 0.05), 1.05)
        ax.set_ylabel(METRIC_LABELS.get(metric, metric), parse_math=False)
        if metric == verdict_metric:
            check = next(iter(result.verdicts.values()), {}).get("check", "")
            how = next((f"{w} over steps" for w in ("median", "mean") if w in check), "final step")
            ax.set_title(f"{metric}: verdict ({how} > {result.threshold:g} = insensitive)", parse_math=False,
                         fontsize=9, fontweight="bold")
        else:
            ax.set_title(metric, parse_math=False)
        ax.grid(alpha=0.3)
    if handles:
        fig.legend(handles=handles, loc="outside right center", fontsize=8, title="method")
    default = {"cascading": "Cascading model randomization", "independent": "Independent layer randomization",
               "data": "Data randomization (random-label model)"}.get(result.mode, result.mode)
    fig.suptitle(title or f"{default}: similarity to the original map (mean \u00b1 std over images)",
                 parse_math=False)
    return fig


def _pick_steps(count: int, steps: Sequence[int] | None) -> list[int]:
    if steps is None:
        if count <= _MAX_COLUMNS:
            return list(range(count))
        return sorted(set(np.linspace(0, count - 1, _MAX_COLUMNS).round().astype(int).tolist()))
    chosen = [int(s) for s in steps]
    bad = [s for s in chosen if not 0 <= s < count]
    if not chosen or bad:
        raise InputError(f"steps={list(steps)}; expected step indices in 0..{count - 1}")
    return chosen


def randomization_grid_figure(
    result: SanityResult,
    images: int | Sequence[int] = 0,
    steps: Sequence[int] | None = None,
    mode: str = "abs",
    methods: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Maps of each method (rows) at each randomization step (columns), for one or two images.

    Args:
        result: a result with kept maps (``keep_images >= 1``).
        images: position(s) among the result's kept images (0 = the first kept image); up to two.
        steps: step indices to show (0 = original); default all, or 14 evenly spaced ones
            (first and last included) for deeper models.
        mode: ``"abs"`` (``inferno``, 0 to 1) or ``"diverging"`` (``bwr``, -1 to 1), normalized
            per map as :func:`gaplens.explain.render` does.
        methods: the rows (default: every method of the result).
        title: figure title.

    Returns:
        A :class:`~matplotlib.figure.Figure`: for each image a block of rows, one per method; the
        first column shows the input image, the others the maps, headed by the step names
        (``"original"``, then the randomized block, or ``"trained"`` / ``"random labels"``).
    """
    _check_result(result)
    if mode not in ("abs", "diverging"):
        raise InputError(f"mode={mode!r}; expected 'abs' or 'diverging'")
    if result.images is None or not result.maps:
        raise InputError("result kept no maps; run the check with keep_images >= 1")
    positions = [images] if isinstance(images, int) else list(images)
    kept = result.images.shape[0]
    if not positions or len(positions) > 2 or any(not 0 <= p < kept for p in positions):
        raise InputError(f"images={images!r}; expected one or two positions in 0..{kept - 1} (the kept images)")
    methods = list(methods) if methods is not None else list(result.methods)
    unknown = [m for m in methods if m not in result.maps]
    if not methods or unknown:
        raise InputError(f"methods={methods}; expected a non-empty subset of {list(result.maps)}")
    count = next(iter(result.maps.values())).shape[0]
    columns = _pick_steps(count, steps)
    names = result.step_names or [str(k) for k in range(count)]
    height, width = result.images.shape[-2:]

    rows = [(p, m) for p in positions for m in methods]
    cell = 1.05
    fig = Figure(figsize=(cell * (len(columns) + 1) + 1.4, (cell + 0.05) * len(rows) + 1.0), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    axes = fig.subplots(len(rows), len(columns) + 1, squeeze=False)
    cmap = DIVERGING_CMAP if mode == "diverging" else BLEND_CMAP
    norm = Normalize(-1.0, 1.0) if mode == "diverging" else Normalize(0.0, 1.0)
    shown = None
    for r, (position, method) in enumerate(rows):
        maps = result.maps[method][columns, position].float()  # (steps, C, h, w)
        pictures = render(maps, mode=mode)
        if pictures.shape[-2:] != (height, width):
            low = -1.0 if mode == "diverging" else 0.0
            pictures = F.interpolate(pictures, size=(height, width), mode="bilinear", align_corners=False)
            pictures = pictures.clamp(low, 1.0)
        ax = axes[r, 0]
        if method == methods[0]:
            ax.imshow(result.images[position].float().clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(f"image {result.image_indices[position]}", fontsize=7, parse_math=False)
        else:
            ax.axis("off")
        for c, step in enumerate(columns, start=1):
            ax = axes[r, c]
            shown = ax.imshow(pictures[c - 1, 0].numpy(), cmap=cmap, norm=norm, interpolation="nearest")
            if r == 0:
                label = "\n".join(textwrap.wrap(str(names[step]), 14)[:2])
                ax.set_title(label, fontsize=6.5, parse_math=False)
        axes[r, 1].set_ylabel(_short(method, 18), fontsize=7, parse_math=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes[:, 1:], fraction=0.1 / max(1, len(columns)), pad=0.01,
                           aspect=max(10.0, 8.0 * len(rows)))
        bar.set_label("|map| / p99, clipped" if mode == "abs" else "signed map / p99 of |map|, clipped", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    default = ("Maps of the trained and the random-label model" if result.mode == "data"
               else f"Maps under {result.mode} randomization (left to right)")
    fig.suptitle(title or default, parse_math=False)
    return fig


