"""The search-progress figure of a rule-list fit: best objective and lower bound over prefixes."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

__all__ = ["search_progress_figure"]


def search_progress_figure(history: np.ndarray, *, title: str = "Rule-list search") -> Figure:
    """Best objective found and the certified lower bound against prefixes expanded.

    Args:
        history: ``(T, 4)`` rows ``(prefixes expanded, seconds, best objective, lower bound)``
            (:attr:`SearchResult.history`; a NaN lower bound: not computed at that row).
        title: the figure title.

    Returns:
        A matplotlib figure (Agg); the gap between the two curves closes when the list is certified.
    """
    history = np.asarray(history, dtype=float).reshape(-1, 4)
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    nodes = np.maximum(history[:, 0], 1)
    ax.step(nodes, history[:, 2], where="post", label="best objective")
    known = np.isfinite(history[:, 3])
    ax.plot(nodes[known], history[known, 3], marker=".", label="lower bound")
    ax.set_xscale("log")
    ax.set_xlabel("prefixes expanded")
    ax.set_ylabel("objective (error rate + lambda x rules)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
