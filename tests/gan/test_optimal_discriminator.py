"""fit_discriminator against a fixed generator approaches D* (Goodfellow et al. 2014, Proposition 1)."""

from __future__ import annotations

import math

import pytest
import torch

from gaplens.gan import Mixture, build_network, estimate_value, fit_discriminator, gaussian, optimal_discriminator

P_DATA = Mixture([0.5, 0.5], [[-1.5], [1.0]], [0.5, 0.8])
P_G = gaussian(0.0, 1.2)
#: Mean absolute error of sigmoid(D) against D* over the support, where (p_data + p_g) / 2 > 0.01.
DSTAR_TOLERANCE = 0.05


def _support_grid():
    x = torch.linspace(-5, 5, 1001)[:, None]
    mask = (P_DATA.density(x) + P_G.density(x)) / 2 > 0.01
    return x, mask


def test_the_fitted_discriminator_approaches_the_closed_form():
    torch.manual_seed(0)
    d = build_network("mlp_discriminator", dim=1, hidden=64, depth=2)
    fit = fit_discriminator(d, P_DATA, P_G, steps=400, batch_size=512, lr=3e-3, seed=0)
    x, mask = _support_grid()
    with torch.no_grad():
        fitted = torch.sigmoid(d(x)).double()
    closed = optimal_discriminator(P_DATA, P_G, x)
    assert float((fitted - closed)[mask].abs().mean()) < DSTAR_TOLERANCE
    # the loss fell from log 4 (D = 1/2) towards -V(D*, G) = log 4 - 2 JS
    assert fit.history[-1]["d_loss"] < fit.history[0]["d_loss"]


def test_the_value_approaches_minus_log_4_when_p_g_equals_p_data():
    torch.manual_seed(0)
    d = build_network("mlp_discriminator", dim=1)
    fit_discriminator(d, P_DATA, P_DATA, steps=300, batch_size=512, lr=1e-3, seed=1)
    assert estimate_value(d, P_DATA, P_DATA, n=20000, seed=2) == pytest.approx(-math.log(4), abs=0.01)
    x, mask = _support_grid()
    with torch.no_grad():
        assert float((torch.sigmoid(d(x)) - 0.5)[mask].abs().mean()) < 0.05


def test_tensors_of_samples_work_as_samplers_and_the_caller_rng_is_untouched():
    torch.manual_seed(3)
    before = torch.get_rng_state()
    d = build_network("mlp_discriminator", dim=1)
    real, fake = P_DATA.sample(500), P_G.sample(500)
    state = torch.get_rng_state()
    fit_discriminator(d, real, fake, steps=5, batch_size=64)
    assert torch.equal(torch.get_rng_state(), state) and not torch.equal(before, state)
