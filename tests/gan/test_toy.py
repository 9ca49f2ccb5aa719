"""Known densities against SciPy; D*, the JS divergence and mode coverage against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial.distance import jensenshannon

from gaplens.core.errors import InputError
from gaplens.gan.modes import mode_coverage
from gaplens.gan.toy import (
    Mixture,
    gaussian,
    histogram_density,
    js_divergence,
    js_from_value,
    optimal_discriminator,
    ring_of_gaussians,
)


def test_mixture_densities_match_scipy_in_1d_and_2d():
    p = Mixture([0.3, 0.7], [[-1.0], [2.0]], [0.5, 1.5])
    x = torch.linspace(-4, 5, 37)
    want = 0.3 * stats.norm.pdf(x.numpy(), -1, 0.5) + 0.7 * stats.norm.pdf(x.numpy(), 2, 1.5)
    np.testing.assert_allclose(p.density(x[:, None]).numpy(), want, rtol=1e-10)
    ring = ring_of_gaussians(modes=4, radius=2.0, std=0.3)
    pts = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    want = sum(0.25 * stats.multivariate_normal.pdf(pts.numpy(), mean=m, cov=0.09 * np.eye(2))
               for m in ring.means.numpy())
    np.testing.assert_allclose(ring.density(pts).numpy(), want, rtol=1e-10)


def test_samples_follow_the_mixture():
    p = Mixture([0.3, 0.7], [[-1.0], [2.0]], [0.5, 1.5])
    x = p.sample(20000, generator=torch.Generator().manual_seed(1)).flatten().numpy()
    cdf = lambda v: 0.3 * stats.norm.cdf(v, -1, 0.5) + 0.7 * stats.norm.cdf(v, 2, 1.5)  # noqa: E731
    assert stats.kstest(x, cdf).pvalue > 0.01


def test_optimal_discriminator_is_the_density_ratio():
    a, b = gaussian(0.0, 1.0), gaussian(1.0, 2.0)
    x = torch.linspace(-3, 3, 13)[:, None]
    pa, pb = stats.norm.pdf(x.numpy().ravel(), 0, 1), stats.norm.pdf(x.numpy().ravel(), 1, 2)
    np.testing.assert_allclose(optimal_discriminator(a, b, x).numpy(), pa / (pa + pb), rtol=1e-10)


def test_js_divergence_matches_scipy_and_the_value_identity():
    p, q = np.array([0.1, 0.4, 0.5, 0.0]), np.array([0.3, 0.3, 0.2, 0.2])
    assert js_divergence(torch.tensor(p), torch.tensor(q)) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-10)
    assert js_divergence(torch.tensor([1.0, 0]), torch.tensor([0, 1.0])) == pytest.approx(math.log(2))
    # V(D*, G) = -log 4 + 2 JS: on a grid, with D = D*, the value integral gives the JS back
    a, b = gaussian(0.0, 1.0), gaussian(1.5, 0.7)
    x = torch.linspace(-8, 9, 20001, dtype=torch.float64)[:, None]
    dx = 17 / 20000
    pa, pb, d = a.density(x), b.density(x), optimal_discriminator(a, b, x)
    log_d, log_1md = d.clamp_min(1e-300).log(), (1 - d).clamp_min(1e-300).log()  # 0 * log 0 = 0 in the tails
    v = float((pa * log_d + pb * log_1md).sum() * dx)
    assert js_from_value(v) == pytest.approx(js_divergence(pa, pb, dx), rel=1e-6)


def test_histogram_density_integrates_to_one():
    edges = torch.linspace(-5, 5, 51)
    dens = histogram_density(torch.randn(5000), edges)
    assert float((dens * 0.2).sum()) == pytest.approx(1.0, abs=1e-3)


def test_mode_coverage_of_the_ring_itself_and_of_a_collapsed_generator():
    ring = ring_of_gaussians(modes=8, radius=2.0, std=0.05)
    full = mode_coverage(ring.sample(8000, generator=torch.Generator().manual_seed(0)), ring)
    # 2-D Gaussian: P(|x - mu| <= 3 sigma) = 1 - exp(-9/2) (Rayleigh)
    assert full.covered == 8 and full.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert full.reverse_kl < 0.01
    few = Mixture([1.0] * 3, ring.means[:3], [0.05] * 3)
    collapsed = mode_coverage(few.sample(4000, generator=torch.Generator().manual_seed(0)), ring)
    assert collapsed.covered == 3 and collapsed.reverse_kl == pytest.approx(math.log(8 / 3), abs=0.02)
    assert mode_coverage(torch.zeros(100, 2), ring).high_quality == 0.0


def test_bad_mixtures_are_clear_errors():
    with pytest.raises(InputError, match="stds"):
        Mixture([1.0], [[0.0]], [0.0])
    with pytest.raises(InputError, match="expected K weights"):
        Mixture([0.5, 0.5], [[0.0]], [1.0])
