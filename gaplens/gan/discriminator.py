"""Fit a discriminator against fixed real and fake samplers; measure the game's value on fresh samples.

Against a fixed generator the minimax discriminator converges to ``D*(x) = p_data / (p_data + p_g)``
(Goodfellow et al. 2014, Proposition 1), and when ``p_g = p_data`` to ``D = 1/2`` with value ``-log 4``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from gaplens.core.device import model_device
from gaplens.core.errors import InputError
from gaplens.gan.losses import PROBABILISTIC, check_loss, discriminator_loss, gradient_penalty, value
from gaplens.gan.samplers import as_sampler
from gaplens.gan.toy import js_from_value


@dataclass
class DiscriminatorFit:
    """The fitted discriminator (eval mode) and one record per ``log_every`` steps (mean loss over them)."""

    discriminator: nn.Module
    history: list[dict] = field(default_factory=list)

    @property
    def records(self) -> list[dict]:
        return self.history


def fit_discriminator(discriminator: nn.Module, real: object, fake: object, *, steps: int = 1000,
                      loss: str = "minimax", batch_size: int = 256, lr: float = 1e-3,
                      betas: tuple[float, float] = (0.9, 0.999), gp_weight: float = 10.0, seed: int = 0,
                      log_every: int = 50, progress: bool = False) -> DiscriminatorFit:
    """Train ``discriminator`` (in place, Adam) to tell ``real`` from ``fake`` samples, the generator fixed.

    Args:
        discriminator: maps ``(N, ...)`` samples to ``(N,)`` logits (or a logit map, averaged by the loss).
        real, fake: samplers ``n -> (n, ...)`` or tensors of samples ``(N, ...)`` (drawn with replacement).
        steps, batch_size, lr, betas: the optimization (``batch_size`` real and ``batch_size`` fake per step).
        loss: one of :data:`gaplens.gan.losses.LOSSES`; ``"wgan-gp"`` adds the gradient penalty.
        seed: seeds the draws (the global RNG is forked, so the caller's stream is untouched).

    Returns:
        :class:`DiscriminatorFit`; each record has ``step`` and ``d_loss`` (for the probabilistic
        losses also ``value`` = ``-d_loss`` and ``js_estimate``), averaged over the last ``log_every`` steps.
    """
    loss = check_loss(loss)
    for name, v in (("steps", steps), ("batch_size", batch_size), ("log_every", log_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{name}={v!r}; expected an integer >= 1")
    dev = model_device(discriminator)
    draw_real, draw_fake = as_sampler(real, "real", dev), as_sampler(fake, "fake", dev)
    opt = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    history: list[dict] = []
    from tqdm.auto import tqdm

    discriminator.train()
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        total = torch.zeros((), device=dev)
        for step in tqdm(range(steps), desc="discriminator", disable=not progress, unit="step"):
            x, g = draw_real(batch_size).to(dev), draw_fake(batch_size).to(dev)
            d_loss = discriminator_loss(loss, discriminator(x), discriminator(g))
            if loss == "wgan-gp":
                d_loss = d_loss + gradient_penalty(discriminator, x, g, gp_weight)
            opt.zero_grad(set_to_none=True)
            d_loss.backward()
            opt.step()
            total += d_loss.detach()
            if (step + 1) % log_every == 0 or step + 1 == steps:
                span = (step % log_every) + 1
                mean = float(total) / span
                record = {"step": step + 1, "d_loss": mean}
                if loss in PROBABILISTIC:
                    record.update(value=-mean, js_estimate=js_from_value(-mean))
                history.append(record)
                total.zero_()
    discriminator.eval()
    return DiscriminatorFit(discriminator, history)


def estimate_value(discriminator: nn.Module, real: object, fake: object, n: int = 10_000, seed: int = 0,
                   batch_size: int = 4096) -> float:
    """``V(D, G) = E log D(x) + E log(1 - D(G(z)))`` (nats) on ``n`` fresh samples of each (eval mode, no gradients).

    ``(V + log 4) / 2`` (:func:`gaplens.gan.toy.js_from_value`) estimates the Jensen-Shannon divergence.
    """
    dev = model_device(discriminator)
    draw_real, draw_fake = as_sampler(real, "real", dev), as_sampler(fake, "fake", dev)
    was_training = discriminator.training
    discriminator.eval()
    total, done = 0.0, 0
    try:
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(seed)
            while done < n:
                m = min(batch_size, n - done)
                total += float(value(discriminator(draw_real(m).to(dev)), discriminator(draw_fake(m).to(dev)))) * m
                done += m
    finally:
        discriminator.train(was_training)
    return total / n
