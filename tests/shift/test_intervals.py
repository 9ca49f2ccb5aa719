"""Clopper-Pearson (re-exported) and the drop interval: oracles and coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from gaplens.core import stats as core_stats
from gaplens.core.errors import InputError
from gaplens.shift import clopper_pearson, drop_interval


def test_is_the_core_function_and_matches_statsmodels_at_the_edges():
    assert clopper_pearson is core_stats.clopper_pearson
    n = np.array([1, 9, 9, 9, 250, 250])
    k = np.array([0, 0, 4, 9, 0, 250])
    low, high = clopper_pearson(k, n)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="beta")
    np.testing.assert_allclose(low, np.nan_to_num(ref_low, nan=0.0), atol=1e-12)
    np.testing.assert_allclose(high, np.nan_to_num(ref_high, nan=1.0), atol=1e-12)


@pytest.mark.parametrize("n", [20, 200])
def test_clopper_pearson_coverage_by_simulation(n):
    rng = np.random.default_rng(n)
    reps = 200_000
    k = np.arange(n + 1)
    low, high = clopper_pearson(k, np.full(n + 1, n))  # the interval of every possible outcome
    for p in (0.02, 0.1, 0.3, 0.5, 0.75, 0.97):
        draws = rng.binomial(n, p, size=reps)
        covered = (low[draws] <= p) & (p <= high[draws])
        exact = stats.binom.pmf(k, n, p)[(low <= p) & (p <= high)].sum()
        assert exact >= 0.95
        # simulated coverage: at least 95% up to 3 standard errors of a 200k-draw mean
        assert covered.mean() >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps)
        assert abs(covered.mean() - exact) < 4 * np.sqrt(exact * (1 - exact) / reps) + 1e-9


def test_drop_interval_formula_and_scalars():
    d, low, high = drop_interval(90, 100, 80, 100)
    l1, u1 = clopper_pearson(90, 100)
    l2, u2 = clopper_pearson(80, 100)
    assert d == pytest.approx(0.1)
    assert low == pytest.approx(0.1 - np.hypot(0.9 - l1, u2 - 0.8))
    assert high == pytest.approx(0.1 + np.hypot(u1 - 0.9, 0.8 - l2))
    assert isinstance(low, float)
    # a model with no drop at all: 0 inside; identical sets give a symmetric interval
    d, low, high = drop_interval(50, 100, 50, 100)
    assert d == 0 and low == pytest.approx(-high)
    d, low, high = drop_interval(10, 10, 0, 10)  # k = n and k = 0
    assert d == 1 and np.isfinite(low) and high == pytest.approx(1.0)
    with pytest.raises(InputError):
        drop_interval(11, 10, 0, 10)


def test_drop_interval_coverage_by_simulation():
    rng = np.random.default_rng(1)
    reps = 20_000
    for (n1, p1), (n2, p2) in [((200, 0.8), (150, 0.7)), ((60, 0.95), (60, 0.9)), ((500, 0.5), (300, 0.5))]:
        _, low, high = drop_interval(rng.binomial(n1, p1, reps), n1, rng.binomial(n2, p2, reps), n2)
        covered = np.mean((low <= p1 - p2) & (p1 - p2 <= high))
        assert covered >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps)
