"""The adversarial losses against values computed by hand (Python's math) on fixed logits."""

from __future__ import annotations

import math

import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.gan.losses import LOSSES, discriminator_loss, generator_loss, gradient_penalty, value

REAL = [2.0, -1.0, 0.25]
FAKE = [0.5, -3.0]


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_value_and_the_probabilistic_losses_by_hand():
    v = _mean(math.log(_sig(r)) for r in REAL) + _mean(math.log(1 - _sig(f)) for f in FAKE)
    assert float(value(_t(REAL), _t(FAKE))) == pytest.approx(v, rel=1e-12)
    for loss in ("minimax", "nonsaturating"):
        assert float(discriminator_loss(loss, _t(REAL), _t(FAKE))) == pytest.approx(-v, rel=1e-12)
    assert float(generator_loss("minimax", _t(FAKE))) == pytest.approx(_mean(math.log(1 - _sig(f)) for f in FAKE))
    assert float(generator_loss("nonsaturating", _t(FAKE))) == pytest.approx(-_mean(math.log(_sig(f)) for f in FAKE))


def test_least_squares_and_wasserstein_by_hand():
    ls_d = 0.5 * (_mean((r - 1) ** 2 for r in REAL) + _mean(f ** 2 for f in FAKE))
    assert float(discriminator_loss("lsgan", _t(REAL), _t(FAKE))) == pytest.approx(ls_d)
    assert float(generator_loss("lsgan", _t(FAKE))) == pytest.approx(0.5 * _mean((f - 1) ** 2 for f in FAKE))
    assert float(discriminator_loss("wgan-gp", _t(REAL), _t(FAKE))) == pytest.approx(_mean(FAKE) - _mean(REAL))
    assert float(generator_loss("wgan-gp", _t(FAKE))) == pytest.approx(-_mean(FAKE))


def test_the_losses_are_stable_for_extreme_logits():
    big = _t([200.0, -200.0])
    for loss in LOSSES:
        assert torch.isfinite(discriminator_loss(loss, big, big)) and torch.isfinite(generator_loss(loss, big))
    # log(1 - sigmoid(200)) = -200 exactly in the limit: no log(0)
    assert float(generator_loss("minimax", _t([200.0]))) == pytest.approx(-200.0)


def test_gradient_penalty_of_a_linear_critic_is_weight_times_norm_minus_one_squared():
    w = torch.tensor([2.0, 1.0, 2.0])  # |w| = 3: the critic's gradient is w everywhere
    critic = lambda x: x @ w  # noqa: E731
    real, fake = torch.randn(16, 3), torch.randn(16, 3)
    assert float(gradient_penalty(critic, real, fake, weight=10.0)) == pytest.approx(10.0 * (3.0 - 1.0) ** 2)


def test_unknown_loss_is_a_clear_error():
    with pytest.raises(InputError, match="loss='hinge'.*minimax"):
        discriminator_loss("hinge", _t(REAL), _t(FAKE))
