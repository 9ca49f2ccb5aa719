"""Mode coverage on a Gaussian mixture (the ring benchmark of Metz et al. 2017 and Srivastava et al. 2017).

A sample is *high quality* when it lies within ``quality_stds`` standard deviations of its nearest
mode's mean; a mode is *covered* when it received at least ``min_share`` of its expected share
(``n * weight``) of high-quality samples. A collapsed generator covers few modes, however good
each of its samples looks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gaplens.core.errors import InputError
from gaplens.gan.toy import Mixture


@dataclass
class ModeCoverage:
    """Attributes: ``covered`` modes of ``modes``; ``high_quality`` fraction of samples; ``counts`` per mode
    ``(K,)`` of high-quality samples; ``reverse_kl``: KL(generated mode histogram || mixture weights), nats,
    over high-quality samples (0 when every mode gets its share)."""

    covered: int
    modes: int
    high_quality: float
    counts: torch.Tensor
    reverse_kl: float

    def record(self) -> dict:
        return {"modes_covered": self.covered, "modes": self.modes, "high_quality": self.high_quality,
                "mode_kl": self.reverse_kl}


def mode_coverage(samples: torch.Tensor, mixture: Mixture, quality_stds: float = 3.0,
                  min_share: float = 0.2) -> ModeCoverage:
    """Measure how many of ``mixture``'s modes ``samples (N, d)`` cover (see the module docstring)."""
    x = torch.as_tensor(samples, dtype=torch.float64)
    if x.dim() == 1:
        x = x[:, None]
    if x.dim() != 2 or x.shape[1] != mixture.dim or x.shape[0] == 0:
        raise InputError(f"samples {tuple(x.shape)}; expected (N, {mixture.dim}) with N >= 1")
    dist = torch.cdist(x, mixture.means)  # (N, K)
    nearest = dist.argmin(1)
    good = dist.gather(1, nearest[:, None]).squeeze(1) <= quality_stds * mixture.stds[nearest]
    counts = torch.bincount(nearest[good], minlength=len(mixture.weights))
    expected = x.shape[0] * mixture.weights
    covered = int((counts >= min_share * expected).sum())
    share = counts.double() / counts.sum().clamp_min(1)
    mask = share > 0
    kl = float((share[mask] * (share[mask] / mixture.weights[mask]).log()).sum()) if mask.any() else float("nan")
    return ModeCoverage(covered, len(mixture.weights), float(good.double().mean()), counts, kl)
