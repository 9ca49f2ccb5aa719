"""Figures of the GAN theory and of image GANs (matplotlib, Agg; callers save and close them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def optimal_discriminator_figure(x: torch.Tensor, fitted: torch.Tensor, closed_form: torch.Tensor,
                                 p_data: torch.Tensor, p_g: torch.Tensor, title: str = "Optimal discriminator"):
    """``D(x)`` fitted vs ``D*(x)`` on a 1-D grid ``x (N,)``, over the two densities (right axis)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(x, closed_form, color="black", lw=2, label="D*(x) = p_data / (p_data + p_g)")
    ax.plot(x, fitted, color="tab:red", lw=1.5, ls="--", label="fitted D(x) = sigmoid(logit)")
    ax.set_xlabel("x")
    ax.set_ylabel("probability that x is real")
    ax.set_ylim(-0.02, 1.02)
    twin = ax.twinx()
    twin.fill_between(x, p_data, color="tab:blue", alpha=0.2, label="p_data")
    twin.fill_between(x, p_g, color="tab:green", alpha=0.2, label="p_g")
    twin.set_ylabel("density")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def densities_over_training_figure(x: torch.Tensor, p_data: torch.Tensor,
                                   snapshots: Mapping[int, torch.Tensor], title: str = "p_g over training"):
    """``p_data`` on the grid ``x`` and a histogram of the generator's 1-D samples at each listed step."""
    plt = _plt()
    steps = list(snapshots)
    fig, axes = plt.subplots(1, len(steps), figsize=(2.6 * len(steps), 2.8), sharey=True, squeeze=False)
    lo, hi = float(x.min()), float(x.max())
    for ax, step in zip(axes[0], steps, strict=True):
        ax.plot(x, p_data, color="black", lw=1.5, label="p_data")
        ax.hist(snapshots[step].flatten().numpy(), bins=60, range=(lo, hi), density=True, color="tab:green",
                alpha=0.6, label="p_g (samples)")
        ax.set_title(f"step {step}", fontsize=9)
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("density")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def js_figure(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], title: str = "Jensen-Shannon divergence",
              reference: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None):
    """JS divergence (nats) against the generator step: one line per label; dotted ``reference`` lines."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, (steps, values) in curves.items():
        ax.plot(steps, values, lw=1.5, label=label)
    for label, (steps, values) in (reference or {}).items():
        ax.plot(steps, values, lw=1.2, ls=":", label=label)
    ax.axhline(np.log(2), color="grey", lw=0.8, ls="--", label="log 2 (disjoint supports)")
    ax.set_xlabel("generator step")
    ax.set_ylabel("JS divergence (nats)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def ring_figure(real: torch.Tensor, generated: Mapping[str, torch.Tensor], title: str = "Ring of Gaussians"):
    """Scatter plots: real samples, then each labelled set of generated 2-D samples ``(N, 2)``."""
    plt = _plt()
    panels = {"real": real, **generated}
    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 3.0), squeeze=False)
    lim = float(real.abs().max()) * 1.4
    for ax, (label, pts) in zip(axes[0], panels.items(), strict=True):
        pts = pts.detach().cpu().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="black" if label == "real" else "tab:red")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("x1")
    axes[0][0].set_ylabel("x2")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def saturation_figure(points: Mapping[str, tuple[float, float]], title: str = "Generator losses near D(G(z)) = 0"):
    """The two generator losses and the size of their gradient against ``D(G(z))``, with measured points.

    ``points``: label -> ``(mean D(G(z)), gradient norm)`` measured at the first generator step.
    """
    plt = _plt()
    d = np.linspace(1e-3, 1 - 1e-3, 400)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.4))
    left.plot(d, np.log(1 - d), label="minimax: log(1 - D)")
    left.plot(d, -np.log(d), label="non-saturating: -log D")
    left.set_xlabel("D(G(z))")
    left.set_ylabel("generator loss (nats)")
    left.legend(fontsize=8)
    left.set_title("loss vs D(G(z))", fontsize=9)
    # d loss / d logit: minimax -sigmoid(l) = -D, non-saturating -(1 - D)
    right.plot(d, d, label="minimax |dL/dlogit| = D")
    right.plot(d, 1 - d, label="non-saturating |dL/dlogit| = 1 - D")
    for label, (dx, grad) in points.items():
        right.scatter([dx], [grad], zorder=3, label=f"{label}: measured |grad|/|grad_ns|")
    right.set_xlabel("D(G(z))")
    right.set_ylabel("gradient size (relative)")
    right.set_yscale("log")
    right.legend(fontsize=7)
    right.set_title("gradient reaching the generator", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid_figure(images: torch.Tensor, title: str, nrow: int = 8):
    """A grid of images ``(N, 1|3, H, W)`` in ``[0, 1]``."""
    plt = _plt()
    n = images.shape[0]
    cols = min(nrow, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.1 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = images[i].detach().cpu().clamp(0, 1)
            ax.imshow(img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy(), cmap="gray",
                      vmin=0, vmax=1)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def translation_figure(rows: Mapping[str, torch.Tensor], title: str):
    """One row of images per label (``"input a"``, ``"L1"``, ``"target b"``, ...), each ``(N, 1|3, H, W)`` in [0, 1]."""
    plt = _plt()
    n = min(v.shape[0] for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n + 1.0, 1.3 * len(rows) + 0.4), squeeze=False)
    for r, (label, imgs) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            img = imgs[c].detach().cpu().clamp(0, 1)
            ax.imshow(img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy(), cmap="gray",
                      vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def points_figure(points: torch.Tensor, title: str):
    """Generated points: a histogram (1-D, ``(N, 1)``) or a scatter plot (2-D, ``(N, 2)``)."""
    plt = _plt()
    pts = points.detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(4.0, 3.4))
    if pts.shape[1] == 1:
        ax.hist(pts[:, 0], bins=60, density=True, color="tab:green")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
    else:
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="tab:red")
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def tile(images: torch.Tensor, nrow: int = 8, pad: int = 1) -> torch.Tensor:
    """Images ``(N, C, H, W)`` in ``[0, 1]`` as one grid ``(C, rows * (H + pad) + pad, cols * (W + pad) + pad)``."""
    n, c, h, w = images.shape
    cols = max(1, min(nrow, n))
    rows = -(-n // cols)
    out = torch.ones(c, rows * (h + pad) + pad, cols * (w + pad) + pad, dtype=images.dtype)
    for i in range(n):
        r, q = divmod(i, cols)
        out[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = images[i]
    return out
