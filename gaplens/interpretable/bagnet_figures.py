"""Figures of BagNet studies: evidence overlays, the top-patch grid, and attribution comparisons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from gaplens.interpretable.bagnet import TopPatches

__all__ = ["evidence_figure", "top_patches_figure", "comparison_figure", "accuracy_by_patch_figure",
           "logit_correlation_figure"]


def _rgb(image: torch.Tensor) -> np.ndarray:
    return image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()


def _signed(ax, image: torch.Tensor, heat: torch.Tensor, title: str) -> None:
    """The image in grey under a red (for) / blue (against) map, clipped at its 99th |percentile|."""
    heat = heat.detach().float().cpu().numpy()
    limit = float(np.percentile(np.abs(heat), 99)) or 1.0
    ax.imshow(_rgb(image).mean(2), cmap="gray", vmin=0, vmax=1)
    ax.imshow(heat, cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.7)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def evidence_figure(images: torch.Tensor, maps: torch.Tensor, class_names: Sequence[str],
                    *, title: str = "Class evidence (patch logits)") -> Figure:
    """One row per image: the image, then the evidence map of each class over it.

    Args:
        images: ``(N, 3, H, W)`` in ``[0, 1]``.
        maps: ``(N, K, H, W)`` evidence per class (logit units; red: for the class, blue: against).
        class_names: ``K`` names.
    """
    n, k = maps.shape[:2]
    fig = Figure(figsize=(1.4 * (k + 1), 1.5 * n + 0.5))
    axes = fig.subplots(n, k + 1, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(_rgb(images[i]))
        axes[i, 0].axis("off")
        for j in range(k):
            _signed(axes[i, j + 1], images[i], maps[i, j], f"{class_names[j]}: {maps[i, j].mean():.2f}")
    fig.suptitle(title + " (panel titles: class, mean of its map in logit units)", fontsize=9)
    fig.tight_layout()
    return fig


def top_patches_figure(top: TopPatches, class_names: Sequence[str], *,
                       title: str = "Most class-discriminative patches") -> Figure:
    """One row per class: its ``k`` highest-evidence patches (score: logit minus mean of the others)."""
    classes, k = top.scores.shape
    fig = Figure(figsize=(1.1 * k + 1.2, 1.2 * classes + 0.5))
    axes = fig.subplots(classes, k, squeeze=False)
    for j in range(classes):
        for i in range(k):
            ax = axes[j, i]
            ax.imshow(_rgb(top.patches[j, i]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{top.scores[j, i]:.2f}", fontsize=7)
        axes[j, 0].set_ylabel(class_names[j], fontsize=8)
    fig.suptitle(f"{title} ({top.patch_size} px)", fontsize=9)
    fig.tight_layout()
    return fig


def comparison_figure(images: torch.Tensor, maps: Mapping[str, torch.Tensor], *,
                      title: str = "BagNet evidence vs. a standard CNN's attributions") -> Figure:
    """One row per image, one column per map (``name -> (N, H, W)``), each over the grey image."""
    n = images.shape[0]
    fig = Figure(figsize=(1.6 * (len(maps) + 1), 1.6 * n + 0.5))
    axes = fig.subplots(n, len(maps) + 1, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(_rgb(images[i]))
        axes[i, 0].axis("off")
        for c, (name, m) in enumerate(maps.items(), start=1):
            _signed(axes[i, c], images[i], m[i], name)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def accuracy_by_patch_figure(rows: Sequence[Mapping], *, title: str = "Accuracy against patch size",
                             chance: float | None = None) -> Figure:
    """Test accuracy per model (x: BagNet patch size, then the CNN) and world (one line each).

    Args:
        rows: dicts with ``world``, ``model`` and ``accuracy`` (0-1), in the x order wanted.
        chance: the accuracy of guessing (``1 / K``), drawn as a dashed line when given.
    """
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig = Figure(figsize=(5, 3.4))
    ax = fig.add_subplot()
    for world in dict.fromkeys(r["world"] for r in rows):
        acc = {r["model"]: r["accuracy"] for r in rows if r["world"] == world}
        ax.plot(range(len(models)), [acc.get(m, np.nan) for m in models], marker="o", label=f"{world}-world")
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(models)), models, fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def logit_correlation_figure(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                             title: str = "BagNet logits vs. the CNN's") -> Figure:
    """Scatter of each BagNet's logits (y) against the CNN's (x) on the same images, one panel each."""
    fig = Figure(figsize=(3 * len(pairs), 3))
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (name, (cnn, bag)) in zip(axes, pairs.items(), strict=True):
        cnn, bag = np.ravel(cnn), np.ravel(bag)
        r = np.corrcoef(cnn, bag)[0, 1] if cnn.std() > 0 and bag.std() > 0 else np.nan
        ax.scatter(cnn, bag, s=3, alpha=0.4)
        ax.set_xlabel("CNN logit")
        ax.set_ylabel(f"{name} logit")
        ax.set_title(f"{name}: r = {r:.2f}", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
