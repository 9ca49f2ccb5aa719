"""Figure helpers for report sections: PNG files drawn with matplotlib's Agg renderer.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through ``pyplot``:
no global figure registry, no backend switching, safe in threads and on machines without a
display. Class names and titles are drawn as plain text (no ``$...$`` math parsing), so any
user string is safe to pass.

>>> import numpy as np
>>> fig = confusion_matrix_figure(np.array([[5, 1], [2, 7]]), ["cat", "dog"], "test set")
>>> save_figure(fig, "runs/demo/figures/confusion.png")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from gaplens.core.errors import InputError
from gaplens.core.files import atomic_write
from gaplens.core.text import plain

__all__ = [
    "save_figure", "confusion_matrix_figure", "training_curves_figure", "accuracy_figure",
    "sample_grid_figure", "DPI",
]

#: Resolution of saved figures, in dots per inch.
DPI = 120
_MAX_LABEL = 24


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as a PNG at ``path`` (dpi 120, tight bounding box), atomically; close it.

    The PNG is rendered in memory and written with a temp file + rename, so a reader never sees
    a half-written image. Parent folders are created. The figure is closed afterwards (also on
    failure); a figure made through ``pyplot`` is removed from pyplot's registry.

    Returns the path written. Raises :class:`InputError` if ``path`` does not end in ``.png``.
    """
    target = Path(path)
    try:
        if not isinstance(fig, Figure):
            raise InputError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
        if target.suffix.lower() != ".png":
            raise InputError(f"figure path {str(path)!r} must end in .png")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
        return atomic_write(target, buf.getvalue())
    finally:
        _close(fig)


def _close(fig: Any) -> None:
    """Release a figure; only touches pyplot if pyplot is already loaded and manages ``fig``."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and isinstance(fig, Figure) and fig.canvas.manager is not None:
        pyplot.close(fig)
    elif isinstance(fig, Figure):
        fig.clear()


def _short(name: str) -> str:
    return name if len(name) <= _MAX_LABEL else name[: _MAX_LABEL - 1] + "\u2026"


def confusion_matrix_figure(
    confusion: Any, class_names: Sequence[str], title: str = "Confusion matrix"
) -> Figure:
    """Draw a confusion matrix: colours are row-normalized, cells show the counts.

    Args:
        confusion: ``(K, K)`` array-like (numpy, torch or nested lists) of non-negative counts;
            ``confusion[i, j]`` = number of images of true class ``i`` predicted as class ``j``.
        class_names: ``K`` names, in class-index order. Long names are shortened to 24 characters.
        title: Figure title.

    Returns:
        A :class:`matplotlib.figure.Figure` (not registered with pyplot); save it with
        :func:`save_figure`. The y axis is labelled ``"true class"``, the x axis
        ``"predicted class"``; the colour bar is the fraction of each true class (0 to 1).
        Readable up to K = 16 (the figure and fonts scale with K).
    """
    if hasattr(confusion, "detach"):
        confusion = confusion.detach().cpu().numpy()
    counts = np.asarray(confusion, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise InputError(f"confusion must be a non-empty (K, K) array, got shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise InputError("confusion must hold finite, non-negative counts")
    k = counts.shape[0]
    names = [str(n) for n in class_names]
    if len(names) != k:
        raise InputError(f"class_names has {len(names)} names for a {k}x{k} confusion matrix")

    row_sums = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)

    side = min(max(4.0, 0.5 * k + 2.5), 11.0)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("fraction of true class")

    labels = [_short(n) for n in names]
    label_size = 10 if k <= 8 else 8
    ax.set_xticks(range(k), labels, rotation=45, ha="right", rotation_mode="anchor",
                  fontsize=label_size, parse_math=False)
    ax.set_yticks(range(k), labels, fontsize=label_size, parse_math=False)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, parse_math=False)

    cell_size = 10 if k <= 6 else (8 if k <= 10 else 6.5)
    integral = np.all(counts == np.round(counts))
    for i in range(k):
        for j in range(k):
            text = f"{int(counts[i, j])}" if integral else f"{counts[i, j]:.3g}"
            color = "white" if frac[i, j] > 0.55 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=cell_size, color=color,
                    parse_math=False)
    return fig


def training_curves_figure(history: Sequence[dict], title: str = "Training") -> Figure:
    """Loss and accuracy per epoch from ``fit``'s history records (train, and val when present)."""
    epochs = [int(r["epoch"]) for r in history]
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in history], marker="o", color="tab:blue")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss (nats)", title="training loss")
    ax_acc.plot(epochs, [r["train_accuracy"] for r in history], marker="o", label="train")
    if any("val_accuracy" in r for r in history):
        ax_acc.plot(epochs, [r.get("val_accuracy", np.nan) for r in history], marker="s", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy", ylim=(0, 1.02), title="accuracy")
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(title, parse_math=False)
    return fig


def accuracy_figure(rows: Sequence[dict], title: str = "Accuracy (95% CI)") -> Figure:
    """Grouped bars: accuracy per test set (groups) and model (bars), Clopper-Pearson error bars.

    ``rows`` need ``model``, ``set``, ``accuracy``, ``ci_low``, ``ci_high``.
    """
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    sets = list(dict.fromkeys(str(r["set"]) for r in rows))
    if not models:
        raise InputError("accuracy_figure needs at least one row")
    table = {(str(r["model"]), str(r["set"])): r for r in rows}
    width = 0.8 / len(models)
    fig = Figure(figsize=(max(5.0, 1.3 * len(sets) * max(1, len(models) / 2)), 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(sets))
    for i, model in enumerate(models):
        acc = np.array([table[(model, s)]["accuracy"] if (model, s) in table else np.nan for s in sets])
        low = np.array([table[(model, s)]["ci_low"] if (model, s) in table else np.nan for s in sets])
        high = np.array([table[(model, s)]["ci_high"] if (model, s) in table else np.nan for s in sets])
        ax.bar(x + (i - (len(models) - 1) / 2) * width, acc, width, label=plain(_short(model)),
               yerr=np.vstack([acc - low, high - acc]), capsize=3)
    ax.set_xticks(x, [_short(s) for s in sets], parse_math=False)
    ax.set(ylabel="top-1 accuracy", ylim=(0, 1.05), xlabel="test set")
    ax.set_title(title, parse_math=False)
    ax.legend(fontsize="small", loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return fig


def sample_grid_figure(sets: dict[str, Any], per_set: int = 8, title: str = "Samples") -> Figure:
    """One row per dataset (objects with ``images`` (N, 3, H, W) in [0, 1], ``labels``, ``class_names``)."""
    if not sets:
        raise InputError("sample_grid_figure needs at least one set")
    fig = Figure(figsize=(1.2 * per_set, 1.35 * len(sets) + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(sets), per_set, squeeze=False))
    for row, (name, data) in enumerate(sets.items()):
        for col in range(per_set):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(data.labels):
                ax.axis("off")
                continue
            image = data.images[col].detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
            ax.imshow(image, interpolation="nearest")
            label = data.class_names[int(data.labels[col])]
            texture = getattr(data, "texture_labels", None)
            texture_names = getattr(data, "texture_names", None)
            if texture is not None and texture_names is not None:
                label = f"{label}\n{texture_names[int(texture[col])]}"
            ax.set_title(_short(label), fontsize=7, parse_math=False)
            if col == 0:
                ax.set_ylabel(_short(name), fontsize=8, parse_math=False)
    fig.suptitle(title + "  (title: shape / texture)", parse_math=False)
    return fig


def _short(text: str, limit: int = _MAX_LABEL) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
