"""The adversarial losses: minimax, non-saturating, least-squares and Wasserstein with gradient penalty.

A discriminator returns one logit per sample, ``l`` (shape ``(N,)``), and ``D(x) = sigmoid(l)`` is
its probability that ``x`` is real. With ``log D = -softplus(-l)`` and ``log(1 - D) = -softplus(l)``
(exact and stable for any logit):

============== ============================================ ============================================
loss            discriminator minimizes                      generator minimizes
============== ============================================ ============================================
minimax         ``-E log D(x) - E log(1 - D(G(z)))``         ``E log(1 - D(G(z)))``  (Goodfellow et al. 2014)
nonsaturating   same                                         ``-E log D(G(z))``       (the paper's practical fix)
lsgan           ``(E (l_x - 1)^2 + E l_g^2) / 2``            ``E (l_g - 1)^2 / 2``    (Mao et al. 2017, a=0, b=c=1)
wgan-gp         ``E l_g - E l_x + lambda E (|grad| - 1)^2``  ``-E l_g``               (Gulrajani et al. 2017)
============== ============================================ ============================================

For lsgan and wgan-gp the output is a raw score, not a logit (``sigmoid`` of it means nothing).
In one dimension the two-sided gradient penalty can trap a critic whose slope starts with the
wrong sign: to flip it, ``|grad|`` must pass 0, where the penalty is ``lambda``; in two or more
dimensions the gradient can rotate instead.
The minimax discriminator loss is ``-V(D, G)``, the negated value of the game, so at the optimum
of both players it equals ``log 4``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.core.errors import InputError

LOSSES = ("minimax", "nonsaturating", "lsgan", "wgan-gp")
#: The losses whose discriminator output is a logit of the probability "real".
PROBABILISTIC = ("minimax", "nonsaturating")


def check_loss(loss: object) -> str:
    """``loss`` if it names one of :data:`LOSSES`, else an :class:`InputError` listing them."""
    if loss not in LOSSES:
        raise InputError(f"loss={loss!r}; expected one of {list(LOSSES)}")
    return str(loss)


def value(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The game's value ``V(D, G) = E log D(x) + E log(1 - D(G(z)))`` from logits ``(N,)`` and ``(M,)`` (nats)."""
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def discriminator_loss(loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss (a scalar) on the logits of real ``(N,)`` and generated ``(M,)`` samples.

    For ``"wgan-gp"`` this is the critic's loss without the gradient penalty (add
    :func:`gradient_penalty`).
    """
    loss = check_loss(loss)
    if loss in PROBABILISTIC:
        return -value(real_logits, fake_logits)
    if loss == "lsgan":
        return 0.5 * ((real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean())
    return fake_logits.mean() - real_logits.mean()


def generator_loss(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's loss (a scalar) on the discriminator's logits ``(M,)`` of generated samples."""
    loss = check_loss(loss)
    if loss == "minimax":
        return -F.softplus(fake_logits).mean()
    if loss == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if loss == "lsgan":
        return 0.5 * (fake_logits - 1).pow(2).mean()
    return -fake_logits.mean()


def gradient_penalty(discriminator: nn.Module | Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP's ``weight * E (||grad_x D(x_hat)||_2 - 1)^2`` at ``x_hat = e x + (1 - e) G(z)``, ``e ~ U[0, 1]``.

    ``real`` and ``fake`` have the same shape ``(N, ...)``; one ``e`` per sample (global RNG). The
    penalty is differentiable with respect to the discriminator's parameters.
    """
    if real.shape != fake.shape:
        raise InputError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = discriminator(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return weight * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
