"""The shape-bias figure, after Figure 4 of Geirhos et al. (ICLR 2019).

One row per shape category; for each decision maker a marker at its fraction of texture decisions
in that category (bottom axis; the top axis reads the same positions as the fraction of shape
decisions), a vertical line at its overall value, and a side panel with a small bar of its
fraction of cue-correct decisions (shape or texture). Published reference values can be drawn as
grey lines, for ImageNet models only (``reference=True``).

Built on :class:`matplotlib.figure.Figure` (no pyplot), all text drawn with ``parse_math=False``;
save with :func:`gaplens.report.figures.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from gaplens.bias.shape_bias import ShapeBiasResult
from gaplens.core.errors import InputError
from gaplens.core.text import plain

__all__ = ["REFERENCE_SHAPE_BIAS", "shape_bias_figure"]

#: Published shape biases on the 16-category cue-conflict stimuli (Geirhos et al., ICLR 2019):
#: for orientation when an ImageNet model is evaluated on those stimuli, not for synthetic data.
REFERENCE_SHAPE_BIAS: dict[str, float] = {
    "humans": 0.96,
    "ResNet-50, ImageNet": 0.22,  # reported as about 0.21-0.22
    "ResNet-50, Stylized-ImageNet": 0.81,
}
_REFERENCE_STYLES = (":", "--", "-.", (0, (1, 4)), (0, (6, 2, 1, 2, 1, 2)))

_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "h", "<", ">")
_MAX_LABEL = 24


def _short(text: str) -> str:
    text = str(text)
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "\u2026"


def shape_bias_figure(
    results: Mapping[str, ShapeBiasResult] | Sequence[ShapeBiasResult],
    reference: bool | Mapping[str, float] = False,
    title: str = "Shape vs texture decisions on cue-conflict stimuli",
) -> Figure:
    """Per-category fraction of texture (bottom) / shape (top) decisions, one marker per model.

    Args:
        results: name -> :class:`ShapeBiasResult`, or results (named by their ``.model``).
        reference: ``True`` draws :data:`REFERENCE_SHAPE_BIAS` (humans ~0.96, ResNet-50 ~0.22,
            Stylized-ImageNet ResNet-50 ~0.81) as grey vertical lines; a mapping draws those
            values instead. Off by default: the published values describe ImageNet models on
            the published stimuli and mean nothing for other data.
        title: figure title.

    Categories without conflict trials for a model get no marker for it. Categories are the
    union over the results, in the order of their ``class_names``.
    """
    items = list(results.items()) if isinstance(results, Mapping) else [(r.model, r) for r in results]
    if not items:
        raise InputError("shape_bias_figure needs at least one result")
    for name, result in items:
        if not isinstance(result, ShapeBiasResult):
            raise InputError(f"results[{name!r}] is a {type(result).__name__}, not a ShapeBiasResult")
    categories: list[str] = []
    for _, result in items:
        categories += [c for c in result.class_names if c in result.per_category and c not in categories]
    refs = dict(REFERENCE_SHAPE_BIAS) if reference is True else dict(reference) if reference else {}

    rows = len(categories)
    entries = len(items) + len(refs)
    ncol = 1 if entries < 4 else 2
    legend_height = 0.2 * math.ceil(entries / ncol)  # the legend sits below the panels
    fig = Figure(figsize=(8.0, 1.5 + 0.36 * max(rows, 3) + legend_height), layout="constrained")
    grid = fig.add_gridspec(1, 2, width_ratios=(4.0, 1.0))
    ax = fig.add_subplot(grid[0, 0])
    side = fig.add_subplot(grid[0, 1])
    colours = [f"C{i % 10}" for i in range(len(items))]

    y = np.arange(rows)
    for i, (name, result) in enumerate(items):
        texture_frac = [1.0 - result.per_category[c]["shape_bias"] if c in result.per_category else math.nan
                        for c in categories]
        overall = 1.0 - result.shape_bias
        label = f"{_short(name)} (shape bias {result.shape_bias:.2f})"
        ax.scatter(texture_frac, y, marker=_MARKERS[i % len(_MARKERS)], s=46, color=colours[i], alpha=0.85,
                   edgecolors="0.3", linewidths=0.5, label=plain(label), zorder=3)
        if math.isfinite(overall):
            ax.axvline(overall, color=colours[i], linewidth=1.6, zorder=2)
    for j, (name, value) in enumerate(refs.items()):
        ax.axvline(1.0 - float(value), color="0.3", linestyle=_REFERENCE_STYLES[j % len(_REFERENCE_STYLES)],
                   linewidth=1.2, zorder=1, label=plain(f"published: {name} ({float(value):.2f})"))

    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_yticks(y, [_short(c) for c in categories], parse_math=False)
    ax.set_xlabel("fraction of 'texture' decisions (of shape + texture decisions)")
    ax.set_ylabel("shape category")
    top = ax.secondary_xaxis("top", functions=(lambda v: 1.0 - v, lambda v: 1.0 - v))
    top.set_xlabel("fraction of 'shape' decisions")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize="small",
               ncol=ncol, frameon=False)

    fractions = [r.cue_correct_fraction for _, r in items]
    side.barh(np.arange(len(items)), fractions, color=colours, height=0.6)
    for i, value in enumerate(fractions):
        if math.isfinite(value):
            side.text(0.03, i, f"{value:.2f}", va="center", ha="left", fontsize="small", color="white",
                      parse_math=False)
    side.set_xlim(0.0, 1.0)
    side.set_xticks([0.0, 0.5, 1.0], ["0", "0.5", "1"])
    side.set_ylim(len(items) - 0.5, -0.5)
    side.set_yticks(np.arange(len(items)), [_short(n) for n, _ in items], fontsize="small", parse_math=False)
    side.yaxis.tick_right()
    side.set_xlabel("cue-correct\nfraction")
    side.set_title("shape or texture\ndecision", fontsize="small", parse_math=False)
    side.grid(axis="x", alpha=0.3)
    fig.suptitle(title, parse_math=False)
    return fig
