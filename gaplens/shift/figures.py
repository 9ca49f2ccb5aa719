"""Figures of the new-test-set analysis, in the style of Recht et al. (2019), Figure 1.

Built with :class:`matplotlib.figure.Figure` directly (never ``pyplot``); model and class names are
drawn as plain text (no ``$...$`` parsing). Save them with
:func:`gaplens.report.figures.save_figure`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from gaplens.core.errors import InputError
from gaplens.core.text import plain
from gaplens.shift.fit import Fit

__all__ = ["shift_scatter_figure", "per_class_drop_figure", "hard_example_figure"]

_MAX_LABEL = 24
_MAX_ANNOTATED = 20


def _short(text: object, limit: int = _MAX_LABEL) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _column(records: Sequence[Mapping], key: str) -> np.ndarray:
    try:
        return np.array([float(r[key]) for r in records])
    except KeyError:
        raise InputError(f"records need the key {key!r} (as made by gaplens.shift.analyze)") from None


def shift_scatter_figure(
    records: Sequence[Mapping],
    fit: Fit | None = None,
    title: str = "Accuracy on the new vs. the original test set",
    annotate: bool | None = None,
) -> Figure:
    """New-set accuracy against original-set accuracy, one point per model (Recht et al., Fig. 1).

    Args:
        records: per-model records of :func:`gaplens.shift.analyze` (``model``,
            ``accuracy_original``, ``ci_low_original``, ``ci_high_original`` and the same for
            ``new``).
        fit: draws the fitted line (in its scale, mapped back to accuracy axes) with its bootstrap
            confidence band; the legend gives the slope with its interval.
        annotate: write model names beside the points (default: up to 20 models).

    Both axes show top-1 accuracy (fraction correct) over the same range, so the dashed ``y = x``
    line (no drop) is the diagonal; error bars are the Clopper-Pearson intervals of each set.
    Models whose record has ``outlier`` true are circled.
    """
    if not records:
        raise InputError("shift_scatter_figure needs at least one model record")
    x, y = _column(records, "accuracy_original"), _column(records, "accuracy_new")
    xl, xh = _column(records, "ci_low_original"), _column(records, "ci_high_original")
    yl, yh = _column(records, "ci_low_new"), _column(records, "ci_high_new")
    lo, hi = float(min(xl.min(), yl.min())), float(max(xh.max(), yh.max()))
    pad = max(0.02, 0.05 * (hi - lo))
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)

    fig = Figure(figsize=(5.6, 5.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([lo, hi], [lo, hi], linestyle="--", color="0.45", linewidth=1, label="y = x (no drop)")
    if fit is not None:
        grid = np.linspace(lo, hi, 200)
        band_low, band_high = fit.band(grid)
        if np.isfinite(band_low).all():
            level = round(100 * fit.level)
            ax.fill_between(grid, band_low, band_high, color="tab:red", alpha=0.15, linewidth=0,
                            label=f"{level}% confidence band (bootstrap)")
        slope = f"slope {fit.slope:.2f}"
        if np.all(np.isfinite(fit.slope_ci)):
            slope += f" [{fit.slope_ci[0]:.2f}, {fit.slope_ci[1]:.2f}]"
        ax.plot(grid, fit.predict(grid), color="tab:red", linewidth=1.5,
                label=f"linear fit, {fit.scale} scale: {slope}, R\u00b2 {fit.r2:.2f}")
    ax.errorbar(x, y, xerr=np.vstack([x - xl, xh - x]), yerr=np.vstack([y - yl, yh - y]), fmt="o",
                markersize=4, color="tab:blue", ecolor="tab:blue", elinewidth=0.8, capsize=2,
                label="model (95% Clopper-Pearson intervals)")
    flagged = np.array([bool(r.get("outlier", False)) for r in records])
    if flagged.any():
        ax.scatter(x[flagged], y[flagged], s=90, facecolors="none", edgecolors="tab:orange", linewidths=1.5,
                   zorder=3, label="outlier (|studentized residual| above the threshold)")
    if annotate if annotate is not None else len(records) <= _MAX_ANNOTATED:
        for r, xi, yi in zip(records, x, y, strict=True):
            ax.annotate(_short(r.get("model", "")), (xi, yi), xytext=(4, -9), textcoords="offset points",
                        fontsize=7, color="0.25", parse_math=False)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("original test set: top-1 accuracy (fraction correct)")
    ax.set_ylabel("new test set: top-1 accuracy (fraction correct)")
    ax.set_title(title, parse_math=False)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def per_class_drop_figure(
    records: Sequence[Mapping], title: str = "Accuracy drop per class", limit: int = 30
) -> Figure:
    """Drop (original - new accuracy) per class: bars = mean over models, dots = single models.

    Args:
        records: :func:`gaplens.shift.per_class_drop` records (``model``, ``class``, ``drop``;
            with one model, its ``drop_ci_low``/``drop_ci_high`` are drawn as error bars).
        limit: show at most this many classes, those with the largest mean drop.

    Classes are sorted by mean drop, largest first (at the top).
    """
    if not records:
        raise InputError("per_class_drop_figure needs at least one record")
    classes = list(dict.fromkeys(str(r["class"]) for r in records))
    models = list(dict.fromkeys(str(r["model"]) for r in records))
    drops = np.full((len(models), len(classes)), np.nan)
    for r in records:
        drops[models.index(str(r["model"])), classes.index(str(r["class"]))] = float(r["drop"])
    with np.errstate(all="ignore"):
        counts = np.isfinite(drops).sum(0)
        mean = np.where(counts > 0, np.nansum(drops, 0) / np.maximum(counts, 1), np.nan)
    order = [i for i in np.argsort(-np.nan_to_num(mean, nan=-np.inf), kind="stable")][:limit]
    order = order[::-1]  # largest drop at the top
    height = max(2.5, 0.32 * len(order) + 1.2)
    fig = Figure(figsize=(6.4, height), layout="constrained")
    ax = fig.add_subplot()
    pos = np.arange(len(order))
    xerr = None
    if len(models) == 1:
        by_class = {str(r["class"]): r for r in records}
        low = np.array([mean[i] - float(by_class[classes[i]]["drop_ci_low"]) for i in order])
        high = np.array([float(by_class[classes[i]]["drop_ci_high"]) - mean[i] for i in order])
        xerr = np.vstack([low, high])
    label = "mean over models" if len(models) > 1 else f"{_short(models[0])} (95% interval)"
    ax.barh(pos, mean[order], xerr=xerr, color="tab:orange", alpha=0.7, capsize=2, label=plain(label))
    if len(models) > 1:
        for j in range(len(models)):
            ax.plot(drops[j, order], pos, "o", markersize=3, color="0.2", alpha=0.6,
                    label="single model" if j == 0 else None)
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_yticks(pos, [_short(classes[i]) for i in order], fontsize=8, parse_math=False)
    ax.set_xlabel("accuracy drop: original - new (fraction correct)")
    ax.set_ylabel("class")
    ax.set_title(title, parse_math=False)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return fig


def hard_example_figure(records: Sequence[Mapping], title: str = "Drop after leaving out hard examples") -> Figure:
    """Mean drop over models against the threshold of :func:`gaplens.shift.hard_example_check`.

    One line per model (thin) and their mean (thick); the dashed level is the mean drop on all
    examples. Each tick shows how many examples of each set were left out.
    """
    if not records:
        raise InputError("hard_example_figure needs at least one record")
    thresholds = list(dict.fromkeys(float(r["threshold"]) for r in records))
    models = list(dict.fromkeys(str(r["model"]) for r in records))
    drops = np.full((len(models), len(thresholds)), np.nan)
    left = {}
    for r in records:
        j = thresholds.index(float(r["threshold"]))
        drops[models.index(str(r["model"])), j] = float(r["drop"])
        left[j] = (int(r["left_out_original"]), int(r["left_out_new"]))
    drop_all = float(np.mean([float(r["drop_all"]) for r in records]))
    pos = np.arange(len(thresholds))
    fig = Figure(figsize=(max(4.8, 1.1 * len(thresholds) + 2.5), 3.6), layout="constrained")
    ax = fig.add_subplot()
    for j in range(len(models)):
        ax.plot(pos, drops[j], color="tab:blue", alpha=0.35, linewidth=0.8)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a threshold that leaves no example: NaN mean
        ax.plot(pos, np.nanmean(drops, 0), "o-", color="tab:blue", linewidth=2, label="mean over models")
    ax.axhline(drop_all, color="0.4", linestyle="--", linewidth=1, label="all examples (mean)")
    ax.axhline(0, color="0.3", linewidth=0.6)
    criterion = str(records[0].get("criterion", ""))
    what = "hard: misclassified by >= this fraction of models" if criterion == "misclassified_fraction" \
        else "hard: difficulty beyond this threshold"
    ax.set_xticks(pos, [f"{t:g}\n({left[j][0]} / {left[j][1]} out)" for j, t in enumerate(thresholds)], fontsize=8)
    ax.set_xlabel(f"threshold ({what}; examples left out: original / new)")
    ax.set_ylabel("accuracy drop (fraction correct)")
    ax.set_title(title, parse_math=False)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
