"""When to stop fitting without a clean image: the running variance of the outputs (ES-EMV).

Deep Image Prior's weakness is the number of steps: fitted long enough, the network reproduces
the corruption too, and the best step depends on the image and the corruption. Wang et al.
("Early stopping for deep image prior", TMLR 2023) observed that the variance of the
reconstructions over recent steps falls while the network fits the image's structure and rises
again when it starts fitting the noise: its minimum sits near the step of best quality, and it
needs nothing but the outputs.

:class:`VarianceStop` keeps an exponentially weighted mean ``m`` and variance ``v`` of the raw
outputs (per pixel; ``d = x_t - m``, ``m += (1 - beta) d``, ``v = beta (v + (1 - beta) d^2)``),
scores each step by the mean of ``v`` over the pixels, and stops when the score has not reached
a new minimum for ``patience`` steps; the restored image is the one of the step with the lowest
score. The defaults (``beta = 0.9``: an average over ~10 steps; ``patience``: an eighth of the
run, at least 20 steps; the first 50 steps ignored) were chosen on one 128x128 denoising run
(``benchmarks/RESULTS.md``); the study measures how far the chosen step is from the best step
whenever a clean image is known.

:class:`DiscrepancyStop` is the classic alternative for denoising with a known (or estimated)
noise level ``sigma``: stop at the first step where the loss (the mean squared difference to the
noisy image) falls to ``sigma ** 2`` (Morozov's discrepancy principle).
"""

from __future__ import annotations

import torch

from gaplens.core.errors import InputError

__all__ = ["VarianceStop", "DiscrepancyStop", "StoppingRule"]


class StoppingRule:
    """Base class: :meth:`update` sees each step's output and loss and says whether to stop.

    Once a rule has fired it keeps answering True and its :attr:`chosen` step no longer changes.

    After the run, :attr:`chosen` is the step (1-based) whose image should be returned, or
    ``None`` when the rule never fired; :attr:`fired` the step at which it fired.
    """

    name = "none"

    def __init__(self) -> None:
        self.chosen: int | None = None
        self.fired: int | None = None

    def update(self, step: int, output: torch.Tensor, loss: float) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def score(self) -> float | None:
        """The rule's current score (recorded in the history), or ``None``."""
        return None

    def describe(self) -> dict:
        return {"rule": self.name}


class VarianceStop(StoppingRule):
    """Stop ``patience`` steps after the running variance of the outputs reached its minimum.

    Args:
        beta: weight of the exponential averages (0 < beta < 1).
        patience: steps without a new minimum after which the rule fires.
        start: steps ignored at the start (the variance of the first outputs is not yet defined).
    """

    name = "variance"

    def __init__(self, beta: float = 0.9, patience: int = 200, start: int = 50) -> None:
        super().__init__()
        if not 0.0 < beta < 1.0 or patience < 1 or start < 0:
            raise InputError(f"beta={beta}, patience={patience}, start={start}: expected 0 < beta < 1, "
                             "patience >= 1, start >= 0")
        self.beta, self.patience, self.start = beta, patience, start
        self._mean: torch.Tensor | None = None
        self._var: torch.Tensor | None = None
        self._score: float | None = None
        self.best_score = float("inf")

    def update(self, step: int, output: torch.Tensor, loss: float) -> bool:
        if self.fired is not None:
            return True
        x = output.detach()
        if self._mean is None:
            self._mean, self._var = x.clone(), torch.zeros_like(x)
            return False
        delta = x - self._mean
        self._mean.add_(delta, alpha=1 - self.beta)
        self._var.addcmul_(delta, delta, value=1 - self.beta).mul_(self.beta)
        self._score = float(self._var.mean())
        if step <= self.start:
            return False
        if self._score < self.best_score:
            self.best_score, self.chosen = self._score, step
            return False
        if self.chosen is not None and step - self.chosen >= self.patience:
            self.fired = step
            return True
        return False

    @property
    def score(self) -> float | None:
        return self._score

    def describe(self) -> dict:
        return {"rule": self.name, "beta": self.beta, "patience": self.patience, "start": self.start}


class DiscrepancyStop(StoppingRule):
    """Stop at the first step whose loss is at most ``sigma ** 2`` (denoising; ``sigma`` on the [0, 1] scale)."""

    name = "discrepancy"

    def __init__(self, sigma: float) -> None:
        super().__init__()
        if not sigma > 0:
            raise InputError(f"sigma={sigma}; the discrepancy rule needs a positive noise level")
        self.sigma = float(sigma)

    def update(self, step: int, output: torch.Tensor, loss: float) -> bool:
        if self.fired is not None:
            return True
        if loss <= self.sigma**2:
            self.chosen = self.fired = step
            return True
        return False

    def describe(self) -> dict:
        return {"rule": self.name, "sigma": self.sigma}
