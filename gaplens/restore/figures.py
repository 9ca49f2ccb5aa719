"""Figures of Deep Image Prior: before / after / baselines, the fitting curves, the prior experiment.

Built without pyplot (:class:`matplotlib.figure.Figure`); save them with
:func:`gaplens.report.figures.save_figure` or ``fig.savefig``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from gaplens.core.errors import InputError
from gaplens.core.text import plain

__all__ = ["restoration_figure", "fit_history_figure", "prior_figure"]


def _rgb(image: torch.Tensor) -> np.ndarray:
    return image.detach().cpu().float().clamp(0, 1).permute(1, 2, 0).numpy()


def restoration_figure(panels: Sequence[tuple[str, torch.Tensor]], title: str = "Deep Image Prior") -> Figure:
    """One row of ``(caption, (3, H, W) image)`` panels (clean, corrupted, DIP, baselines, ...)."""
    if not panels:
        raise InputError("panels: expected at least one (caption, image) pair")
    n = len(panels)
    fig = Figure(figsize=(2.4 * n, 3.1))
    for k, (caption, image) in enumerate(panels):
        ax = fig.add_subplot(1, n, k + 1)
        ax.imshow(_rgb(image), interpolation="nearest")
        ax.set_title(plain(caption), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(plain(title), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def fit_history_figure(history: Sequence[Mapping], best_step: int | None = None, stopped_at: int | None = None,
                       title: str = "Fitting Deep Image Prior", baseline_psnr: float | None = None,
                       baseline_name: str = "best baseline") -> Figure:
    """Loss (log scale) and, with a clean image, PSNR against the step; the best and the chosen step marked."""
    if not history:
        raise InputError("history: expected at least one step")
    steps = np.array([r["step"] for r in history])
    has_psnr = history[0].get("psnr") is not None
    fig = Figure(figsize=(9 if has_psnr else 4.8, 3.4))
    ax = fig.add_subplot(1, 2 if has_psnr else 1, 1)
    ax.semilogy(steps, [r["loss"] for r in history], lw=1, color="tab:blue")
    ax.set_xlabel("step (Adam updates)")
    ax.set_ylabel("data term (MSE, [0,1] scale)")
    ax.set_title("loss")
    axes = [ax]
    if has_psnr:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(steps, [r["psnr"] for r in history], lw=1, color="tab:green", label="DIP result")
        if baseline_psnr is not None:
            ax2.axhline(baseline_psnr, color="tab:gray", ls=":", label=plain(baseline_name))
        ax2.set_xlabel("step (Adam updates)")
        ax2.set_ylabel("PSNR to the clean image (dB)")
        ax2.set_title("quality")
        axes.append(ax2)
    for a in axes:
        if best_step is not None:
            a.axvline(best_step, color="tab:green", ls="--", lw=1, label=f"best step {best_step}")
        if stopped_at is not None:
            a.axvline(stopped_at, color="tab:red", ls="--", lw=1, label=f"stopping rule {stopped_at}")
        a.grid(alpha=0.3)
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(plain(title), fontsize=10)
    fig.tight_layout()
    return fig


def prior_figure(curves: Mapping[str, Sequence[float]], level: float | None = None,
                 title: str = "The architecture is a prior: loss while fitting each image") -> Figure:
    """The paper's Figure 2: MSE against step, one line per image (log scale)."""
    if not curves:
        raise InputError("curves: expected at least one named curve")
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    for name, curve in curves.items():
        values = np.asarray(curve, dtype=float)
        ax.semilogy(np.arange(1, len(values) + 1), values, lw=1.2, label=plain(name))
    if level is not None:
        ax.axhline(level, color="black", ls=":", lw=1, label=f"level {level:g}")
    ax.set_xlabel("step (Adam updates)")
    ax.set_ylabel("MSE between output and image ([0,1] scale)")
    ax.set_title(plain(title), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
