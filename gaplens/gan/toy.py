"""Data with known densities: Gaussian mixtures in 1-D and 2-D, the ring of Gaussians, and the closed forms.

With both densities known, the theory of Goodfellow et al. (2014) is checkable: the optimal
discriminator is ``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` and the game's value at ``D*`` is
``-log 4 + 2 JS(p_data || p_g)``.

>>> p = Mixture(weights=[0.5, 0.5], means=[[-1.0], [1.0]], stds=[0.3, 0.3])
>>> x = torch.tensor([[0.0]])
>>> float(optimal_discriminator(p, p, x))
0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gaplens.core.errors import InputError


@dataclass(frozen=True)
class Mixture:
    """An isotropic Gaussian mixture in ``d`` dimensions.

    Attributes:
        weights: ``(K,)`` mixing weights (normalized on construction).
        means: ``(K, d)`` component means.
        stds: ``(K,)`` standard deviations (the same in every dimension of a component).
    """

    weights: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor

    def __init__(self, weights: Sequence[float] | torch.Tensor, means: Sequence[Sequence[float]] | torch.Tensor,
                 stds: Sequence[float] | torch.Tensor) -> None:
        w = torch.as_tensor(weights, dtype=torch.float64).flatten()
        m = torch.as_tensor(means, dtype=torch.float64)
        s = torch.as_tensor(stds, dtype=torch.float64).flatten()
        if m.dim() == 1:
            m = m[:, None]
        if m.dim() != 2 or not (len(w) == len(m) == len(s)) or len(w) == 0:
            raise InputError(f"Mixture: weights {tuple(w.shape)}, means {tuple(m.shape)} and stds {tuple(s.shape)}; "
                             "expected K weights, K x d means and K stds (K >= 1)")
        if not (torch.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
            raise InputError(f"Mixture: weights={w.tolist()}; expected finite non-negative numbers, not all 0")
        if not (torch.isfinite(s).all() and (s > 0).all() and torch.isfinite(m).all()):
            raise InputError("Mixture: means must be finite and stds finite and > 0")
        object.__setattr__(self, "weights", w / w.sum())
        object.__setattr__(self, "means", m)
        object.__setattr__(self, "stds", s)

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples ``(n, d)`` float32 (the global RNG unless ``generator`` is given)."""
        component = torch.multinomial(self.weights.float(), n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.means[component] + noise * self.stds[component, None]).float()

    def __call__(self, n: int) -> torch.Tensor:
        """A sampler: ``p(n)`` is ``p.sample(n)``."""
        return self.sample(n)

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` for points ``(N, d)`` (or ``(N,)`` in 1-D), float64 ``(N,)``."""
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.dim() == 1 and self.dim == 1:
            x = x[:, None]
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise InputError(f"points of shape {tuple(x.shape)}; expected (N, {self.dim})")
        sq = (x[:, None, :] - self.means[None]).pow(2).sum(-1)  # (N, K)
        var = self.stds.pow(2)[None]
        log_comp = -0.5 * sq / var - 0.5 * self.dim * torch.log(2 * math.pi * var)
        return torch.logsumexp(log_comp + self.weights.log()[None], dim=1)

    def density(self, x: torch.Tensor) -> torch.Tensor:
        """``p(x)`` for points ``(N, d)``, float64 ``(N,)``."""
        return self.log_density(x).exp()


def gaussian(mean: float | Sequence[float], std: float) -> Mixture:
    """One Gaussian component (a mixture with K = 1)."""
    return Mixture([1.0], [mean if isinstance(mean, Sequence) else [mean]], [std])


def ring_of_gaussians(modes: int = 8, radius: float = 2.0, std: float = 0.05) -> Mixture:
    """``modes`` equally weighted 2-D Gaussians evenly spaced on a circle (the mode-collapse benchmark)."""
    if modes < 1 or radius <= 0 or std <= 0:
        raise InputError(f"ring_of_gaussians(modes={modes}, radius={radius}, std={std}); expected positive values")
    angle = torch.arange(modes, dtype=torch.float64) * 2 * math.pi / modes
    return Mixture([1.0] * modes, torch.stack([radius * angle.cos(), radius * angle.sin()], 1), [std] * modes)


def optimal_discriminator(p_data: Mixture, p_g: Mixture, x: torch.Tensor) -> torch.Tensor:
    """``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` at points ``(N, d)``, float64 ``(N,)`` (0.5 where both are 0)."""
    a, b = p_data.log_density(x), p_g.log_density(x)
    out = torch.sigmoid(a - b)
    return torch.where(torch.isneginf(a) & torch.isneginf(b), torch.full_like(out, 0.5), out)


def js_divergence(p: torch.Tensor, q: torch.Tensor, dx: float = 1.0) -> float:
    """Jensen-Shannon divergence (nats, in ``[0, log 2]``) of two densities tabulated on one grid of cell size ``dx``.

    ``p`` and ``q`` are non-negative; each is normalized to integrate to 1 over the grid.
    """
    p = torch.as_tensor(p, dtype=torch.float64).flatten().clamp_min(0)
    q = torch.as_tensor(q, dtype=torch.float64).flatten().clamp_min(0)
    if p.shape != q.shape or p.sum() <= 0 or q.sum() <= 0:
        raise InputError("js_divergence: p and q must be non-negative tables of one shape, neither all 0")
    p, q = p / (p.sum() * dx), q / (q.sum() * dx)
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor) -> torch.Tensor:
        mask = a > 0
        return (a[mask] * (a[mask] / m[mask]).log()).sum() * dx

    return float(0.5 * kl(p) + 0.5 * kl(q))


def js_from_value(game_value: float) -> float:
    """The JS divergence implied by a value of the game: ``(V + log 4) / 2``.

    Exact at the optimal discriminator; for any other discriminator ``V(D, G) <= V(D*, G)``, so
    this is a lower bound on ``JS(p_data || p_g)`` up to sampling error.
    """
    return (float(game_value) + math.log(4.0)) / 2.0


def histogram_density(samples: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """A 1-D density estimate: the histogram of ``samples (N,)`` or ``(N, 1)`` over ``edges (B + 1,)``, ``(B,)``."""
    samples = torch.as_tensor(samples, dtype=torch.float64).flatten()
    edges = torch.as_tensor(edges, dtype=torch.float64)
    counts = torch.histogram(samples, bins=edges).hist
    widths = edges[1:] - edges[:-1]
    return counts / (max(len(samples), 1) * widths)
