"""Figures of the distortion study: accuracy against level (one panel per distortion), and the stimulus sheet.

Built with :class:`matplotlib.figure.Figure` directly (never ``pyplot``); names are drawn as plain
text. Save them with :func:`gaplens.report.figures.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from gaplens.core.errors import InputError
from gaplens.core.text import plain
from gaplens.robustness.base import DISTORTIONS, check_images, distort, select_distortions
from gaplens.robustness.published import PUBLISHED_SPECTRUM_SIZE
from gaplens.robustness.spectral import mean_amplitude_spectrum

__all__ = ["accuracy_vs_level_figure", "stimulus_sheet_figure", "level_label"]

_MAX_LABEL = 24


def _short(text: object, limit: int = _MAX_LABEL) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def level_label(level: object) -> str:
    """Short text of a level for tick labels: ``0.05``, ``inf``, ``greyscale``, ``90``."""
    if isinstance(level, float):
        if math.isinf(level):
            return "inf"
        return f"{level:g}"
    return str(level)


def accuracy_vs_level_figure(records: Sequence[Mapping], title: str = "Accuracy under image distortions",
                             columns: int = 4) -> Figure:
    """One panel per distortion: accuracy (95% Clopper-Pearson bars) against level, one line per model.

    ``records`` are :func:`gaplens.robustness.sweep` records (``model``, ``distortion``, ``level``,
    ``level_index``, ``accuracy``, ``ci_low``, ``ci_high``, ``chance``), possibly of several models.
    Levels are placed in sweep order at equal spacing (the paper's level lists are not evenly
    spaced on any one scale). The dashed line is chance (1 / number of classes).
    """
    if not records:
        raise InputError("accuracy_vs_level_figure needs at least one record")
    needed = ("model", "distortion", "level", "level_index", "accuracy", "ci_low", "ci_high", "chance")
    for key in needed:
        if key not in records[0]:
            raise InputError(f"records need the key {key!r} (as made by gaplens.robustness.sweep)")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise InputError(f"columns={columns!r}; expected a positive integer")
    distortions = list(dict.fromkeys(str(r["distortion"]) for r in records))
    models = list(dict.fromkeys(str(r["model"]) for r in records))
    ncols = min(columns, len(distortions))
    nrows = math.ceil(len(distortions) / ncols)
    fig = Figure(figsize=(3.4 * ncols, 2.9 * nrows + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    colours = [f"C{i % 10}" for i in range(len(models))]
    for panel, name in enumerate(distortions):
        ax = axes[panel // ncols, panel % ncols]
        rows = [r for r in records if str(r["distortion"]) == name]
        positions = {int(r["level_index"]): r["level"] for r in rows}
        ticks = sorted(positions)
        for model, colour in zip(models, colours, strict=True):
            mine = sorted((r for r in rows if str(r["model"]) == model), key=lambda r: int(r["level_index"]))
            if not mine:
                continue
            x = np.array([int(r["level_index"]) for r in mine])
            acc = np.array([float(r["accuracy"]) for r in mine])
            err = np.vstack([acc - np.array([float(r["ci_low"]) for r in mine]),
                             np.array([float(r["ci_high"]) for r in mine]) - acc])
            ax.errorbar(x, acc, yerr=err, marker="o", markersize=3.5, capsize=2, color=colour,
                        label=plain(_short(model)))
        for chance in sorted({float(r["chance"]) for r in rows}):
            ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(ticks, [level_label(positions[t]) for t in ticks], rotation=45 if len(ticks) > 4 else 0,
                      fontsize=7, parse_math=False)
        label = DISTORTIONS[name].level_label if name in DISTORTIONS else "level"
        ax.set_xlabel(label, fontsize=8, parse_math=False)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(min(ticks) - 0.5, max(ticks) + 0.5)
        ax.set_title(name, fontsize=10, parse_math=False)
        ax.grid(alpha=0.3)
    for panel in range(len(distortions), nrows * ncols):
        axes[panel // ncols, panel % ncols].axis("off")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        from matplotlib.lines import Line2D

        handles = handles + [Line2D([], [], color="grey", linestyle="--")]
        labels = labels + ["chance"]
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), fontsize=8)
    fig.suptitle(title, parse_math=False)
    return fig


def stimulus_sheet_figure(images: torch.Tensor, which: int = 0, distortions: str | Sequence[str] = "all",
                          seed: int = 0, options: Mapping[str, Mapping[str, object]] | None = None,
                          title: str = "Distortions and their published levels") -> Figure:
    """Every distortion at every published level on one image (like Figure 2 of Geirhos et al. 2018).

    Args:
        images: ``(N, 3, H, W)`` in ``[0, 1]``; image ``which`` is shown. The others matter only for
            ``power_equalisation`` without a ``target_spectrum`` option on images that are not
            224 x 224: it then uses the mean amplitude spectrum of all ``images`` (with one image,
            equalising changes nothing); 224 x 224 images get the published ImageNet spectrum.
        distortions: as for :func:`gaplens.robustness.sweep`.
        seed: seed of the random distortions.
        options: dict distortion name -> options, as for :func:`gaplens.robustness.sweep`.
    """
    check_images(images)
    if isinstance(which, bool) or not isinstance(which, int) or not 0 <= which < images.shape[0]:
        raise InputError(f"which={which!r}; expected an image index in [0, {images.shape[0]})")
    names = select_distortions(distortions)
    options = dict(options or {})
    columns = max(len(DISTORTIONS[n].levels) for n in names)
    image = images[which:which + 1]
    fig = Figure(figsize=(1.25 * columns + 1.0, 1.4 * len(names) + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(names), columns, squeeze=False))
    for row, name in enumerate(names):
        opts = dict(options.get(name, {}))
        if name == "power_equalisation" and opts.get("target_spectrum") is None \
                and tuple(images.shape[-2:]) != PUBLISHED_SPECTRUM_SIZE:
            opts["target_spectrum"] = mean_amplitude_spectrum(images)
        for col in range(columns):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            levels = DISTORTIONS[name].levels
            if col >= len(levels):
                ax.axis("off")
                continue
            out = distort(image, name, levels[col], seed=seed, index=torch.tensor([which]), **opts)
            ax.imshow(out[0].detach().cpu().permute(1, 2, 0).float().numpy(), interpolation="nearest")
            ax.set_title(level_label(DISTORTIONS[name].parse(levels[col])), fontsize=7, parse_math=False)
            if col == 0:
                ax.set_ylabel(_short(name), fontsize=8, parse_math=False)
    fig.suptitle(title, parse_math=False)
    return fig
