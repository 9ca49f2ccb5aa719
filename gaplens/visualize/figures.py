"""Figures of feature visualizations: class-model grids, channel grids, DeepDream octaves.

Built with :class:`matplotlib.figure.Figure` (never ``pyplot``) and drawn as plain text (no
``$...$`` parsing), like :mod:`gaplens.report.figures`; save them with
``gaplens.report.figures.save_figure(fig, path)``.

>>> import torch
>>> from gaplens.visualize.optimize import VisResult
>>> result = VisResult(torch.rand(4, 3, 16, 16), torch.zeros(1, 4), "channel('layer1', [0, 1, 2, 3])",
...                    labels=["layer1:0", "layer1:1", "layer1:2", "layer1:3"])
>>> len(channel_grid_figure(result).axes)
4
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from gaplens.core.errors import InputError

__all__ = ["class_model_figure", "channel_grid_figure", "deepdream_figure"]

_GOOD, _BAD = "#1a7f37", "#c62828"


def _pictures(images: Tensor, what: str) -> np.ndarray:
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise InputError(f"{what} has shape {shape}; expected (N, 3, H, W) RGB images in [0, 1]")
    return images.detach().float().cpu().clamp(0.0, 1.0).permute(0, 2, 3, 1).numpy()


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _wrap(text: str, width: int) -> str:
    lines = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(lines) > 2:
        lines = [lines[0], _short(lines[1] + " " + lines[2], width)]
    return "\n".join(lines)


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def class_model_figure(
    results: object,
    k: int = 3,
    columns: int = 8,
    title: str = "Class models (Simonyan et al. 2013)",
) -> Figure:
    """A grid of class models, each with the model's top-``k`` classes and probabilities for it.

    Args:
        results: a :class:`~gaplens.visualize.optimize.ClassModelResult`, or a mapping
            ``label -> ClassModelResult`` drawn as blocks of rows, e.g.
            ``{"maximize logit": r_logit, "maximize softmax": r_softmax}`` side by side.
        k: how many top classes to list under each image (at most the number computed).
        columns: images per row.
        title: figure title.

    Each cell is titled with the class it maximizes; beneath it, the ``k`` classes the model
    gives the image, with their softmax probabilities, green when the top class is the target
    and red otherwise. Readable up to ~64 classes.
    """
    blocks = dict(results) if isinstance(results, Mapping) else {"": results}
    if not blocks:
        raise InputError("results is empty; expected a ClassModelResult or a dict of them")
    for name, res in blocks.items():
        if not hasattr(res, "top_classes") or not hasattr(res, "classes"):
            raise InputError(f"results[{name!r}] is a {type(res).__name__}; expected a ClassModelResult "
                             "(from class_model)")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise InputError(f"columns={columns!r}; expected a positive integer")
    columns = min(columns, max(len(r.classes) for r in blocks.values()))
    rows_of = {name: math.ceil(len(r.classes) / columns) for name, r in blocks.items()}
    rows = sum(rows_of.values())
    cell = 1.45
    fig = Figure(figsize=(cell * columns + (0.4 if any(blocks) else 0.1), (cell + 0.25 + 0.13 * k) * rows + 0.5),
                 layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, columns, squeeze=False))
    row0 = 0
    for name, res in blocks.items():
        pictures = _pictures(res.images, f"results[{name!r}].images")
        names = res.class_names or [str(i) for i in range(int(res.top_classes.max()) + 1)]
        shown = min(k, res.top_classes.shape[1])
        for i in range(rows_of[name] * columns):
            ax = axes[row0 + i // columns, i % columns]
            _blank(ax)
            if i >= len(res.classes):
                ax.set_visible(False)
                continue
            target = int(res.classes[i])
            ax.imshow(pictures[i], interpolation="nearest")
            ax.set_title(_short(names[target], 18), fontsize=8, fontweight="bold", parse_math=False)
            lines = [f"{_short(names[int(c)], 12)} {float(p):.2f}"
                     for c, p in zip(res.top_classes[i, :shown], res.top_scores[i, :shown], strict=True)]
            hit = int(res.top_classes[i, 0]) == target
            ax.set_xlabel("\n".join(lines), fontsize=7, color=_GOOD if hit else _BAD, labelpad=2, parse_math=False)
            if i % columns == 0 and name:
                ax.set_ylabel(_wrap(name, 16), fontsize=8, parse_math=False)
        row0 += rows_of[name]
    fig.suptitle(f"{title}\n(under each image: the model's top-{k} classes, softmax probability)",
                 fontsize=10, parse_math=False)
    return fig


def channel_grid_figure(result: object, columns: int = 8, title: str | None = None) -> Figure:
    """A grid of optimized images (one per channel or unit), each titled with its label.

    Args:
        result: a :class:`~gaplens.visualize.optimize.VisResult` (``channel_images``/``optimize``).
        columns: images per row.
        title: figure title (default: the objective's description).
    """
    if not hasattr(result, "images") or not hasattr(result, "labels"):
        raise InputError(f"result is a {type(result).__name__}; expected a VisResult")
    pictures = _pictures(result.images, "result.images")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise InputError(f"columns={columns!r}; expected a positive integer")
    n = pictures.shape[0]
    labels = list(result.labels) if len(result.labels) == n else [f"image {i}" for i in range(n)]
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    fig = Figure(figsize=(1.3 * columns + 0.1, 1.5 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        _blank(ax)
        if i >= n:
            ax.set_visible(False)
            continue
        ax.imshow(pictures[i], interpolation="nearest")
        ax.set_title(_short(labels[i], 18), fontsize=7, parse_math=False)
    fig.suptitle(_wrap(title if title is not None else str(result.objective), 90), fontsize=10, parse_math=False)
    return fig


def deepdream_figure(result: object, title: str = "DeepDream: octave progression",
                     octave_labels: Sequence[str] | None = None) -> Figure:
    """The photograph, then the dream after each octave (smallest first), one row per image.

    Args:
        result: a :class:`~gaplens.visualize.optimize.DreamResult`.
        title: figure title; the objective is added beneath it.
        octave_labels: optional column titles for the octaves (default ``"octave i (h x w px)"``).
    """
    if not hasattr(result, "octaves") or not hasattr(result, "original"):
        raise InputError(f"result is a {type(result).__name__}; expected a DreamResult (from deepdream)")
    original = _pictures(result.original, "result.original")
    levels = [_pictures(o, f"result.octaves[{i}]") for i, o in enumerate(result.octaves)]
    n = original.shape[0]
    heads = list(octave_labels) if octave_labels is not None else [
        f"octave {i + 1} ({lv.shape[1]}x{lv.shape[2]} px)" for i, lv in enumerate(levels)]
    if len(heads) != len(levels):
        raise InputError(f"octave_labels has {len(heads)} entries for {len(levels)} octaves")
    cols = 1 + len(levels)
    fig = Figure(figsize=(2.0 * cols, 2.1 * n + 0.5), layout="constrained")
    axes = fig.subplots(n, cols, squeeze=False)
    for row in range(n):
        axes[row, 0].imshow(original[row], interpolation="bilinear")
        for col, level in enumerate(levels, start=1):
            axes[row, col].imshow(level[row], interpolation="bilinear")
        for ax in axes[row]:
            _blank(ax)
    axes[0, 0].set_title("photograph", fontsize=8, parse_math=False)
    for col, head in enumerate(heads, start=1):
        axes[0, col].set_title(_short(head, 26), fontsize=8, parse_math=False)
    fig.suptitle(f"{title}\n{_short(str(result.objective), 80)}", fontsize=10, parse_math=False)
    return fig
