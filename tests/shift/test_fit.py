"""linear_fit against scipy.stats.linregress and hand-made fits in probit/logit space."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special, stats

from gaplens.core.errors import InputError
from gaplens.shift import ClippedAccuracyWarning, linear_fit


@pytest.fixture
def accuracies():
    rng = np.random.default_rng(3)
    orig = rng.uniform(0.55, 0.95, 15)
    new = np.clip(stats.norm.cdf(1.1 * stats.norm.ppf(orig) - 0.35 + rng.normal(0, 0.05, 15)), 0, 1)
    return orig, new


def test_linear_matches_linregress(accuracies):
    orig, new = accuracies
    fit = linear_fit(orig, new, scale="linear", n_boot=500)
    ref = stats.linregress(orig, new)
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.r2 == pytest.approx(ref.rvalue**2, rel=1e-12)
    np.testing.assert_allclose(fit.residuals, new - (ref.intercept + ref.slope * orig), atol=1e-14)
    np.testing.assert_allclose(fit.predict(orig), ref.intercept + ref.slope * orig, atol=1e-14)
    assert fit.slope_ci[0] < fit.slope < fit.slope_ci[1]
    assert fit.n_models == 15 and fit.clipped == 0 and fit.record["slope"] == fit.slope


@pytest.mark.parametrize("scale, transform, inverse", [
    ("probit", stats.norm.ppf, stats.norm.cdf),
    ("logit", special.logit, special.expit),
])
def test_probit_and_logit_match_a_fit_by_hand(accuracies, scale, transform, inverse):
    orig, new = accuracies
    fit = linear_fit(orig, new, scale=scale, n_boot=0)
    x, y = transform(orig), transform(new)
    slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    intercept = y.mean() - slope * x.mean()
    r2 = 1 - np.sum((y - intercept - slope * x) ** 2) / np.sum((y - y.mean()) ** 2)
    assert fit.slope == pytest.approx(slope, rel=1e-10)
    assert fit.intercept == pytest.approx(intercept, rel=1e-10, abs=1e-12)
    assert fit.r2 == pytest.approx(r2, rel=1e-10)
    grid = np.array([0.3, 0.6, 0.9])
    np.testing.assert_allclose(fit.predict(grid), inverse(intercept + slope * transform(grid)), rtol=1e-10)
    assert np.isnan(fit.slope_ci).all()  # no bootstrap asked for
    assert np.isnan(fit.band(grid)[0]).all()
    if scale == "probit":  # the data were made with slope 1.1, intercept -0.35 in probit space
        assert abs(fit.slope - 1.1) < 0.15 and abs(fit.intercept + 0.35) < 0.15


def test_weighted_fit_matches_numpy_polyfit(accuracies):
    orig, new = accuracies
    w = np.linspace(1, 5, 15)
    fit = linear_fit(orig, new, scale="linear", weights=w, n_boot=0)
    slope, intercept = np.polyfit(orig, new, 1, w=np.sqrt(w))  # polyfit weights the unsquared residual
    assert fit.slope == pytest.approx(slope, rel=1e-10)
    assert fit.intercept == pytest.approx(intercept, rel=1e-10)


def test_bootstrap_is_seeded_and_band_brackets_the_line(accuracies):
    orig, new = accuracies
    a = linear_fit(orig, new, n_boot=300, seed=5)
    b = linear_fit(orig, new, n_boot=300, seed=5)
    c = linear_fit(orig, new, n_boot=300, seed=6)
    assert a.slope_ci == b.slope_ci != c.slope_ci
    grid = np.linspace(0.5, 0.97, 30)
    low, high = a.band(grid)
    line = a.predict(grid)
    assert np.all(low <= line + 1e-12) and np.all(line <= high + 1e-12) and np.all(high - low > 0)
    # a wider level gives a wider band
    low99, high99 = a.band(grid, level=0.99)
    assert np.all(low99 <= low) and np.all(high99 >= high)


@pytest.mark.parametrize("scale", ["probit", "logit"])
def test_zero_and_one_accuracies_are_clipped_with_a_warning(scale):
    orig = [0.0, 0.4, 0.7, 1.0]
    new = [0.0, 0.3, 0.6, 1.0]
    with pytest.warns(ClippedAccuracyWarning, match=f"{scale} scale; acc_orig: 2 value.*acc_new: 2 value"):
        fit = linear_fit(orig, new, scale=scale, n_boot=200)
    values = [fit.slope, fit.intercept, fit.r2, *fit.slope_ci, *fit.residuals]
    assert np.all(np.isfinite(values)) and fit.clipped == 4
    assert np.all(np.isfinite(fit.predict([0.0, 0.5, 1.0])))
    # with set sizes, the margin is 0.5 / n
    with pytest.warns(ClippedAccuracyWarning, match="0.5/n"):
        sized = linear_fit(orig, new, scale=scale, n_boot=0, n_orig=100, n_new=[50, 50, 50, 50])
    clipped = np.clip(np.array(orig), 0.005, 0.995)
    transform = stats.norm.ppf if scale == "probit" else special.logit
    assert sized.residuals[0] == pytest.approx(
        transform(0.01) - sized.intercept - sized.slope * transform(clipped[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        linear_fit(orig, new, scale="linear", n_boot=0)  # linear scale needs no clipping


def test_bad_inputs():
    with pytest.raises(InputError, match="scale"):
        linear_fit([0.5, 0.6], [0.4, 0.5], scale="log")
    with pytest.raises(InputError, match="at least 2"):
        linear_fit([0.5], [0.4])
    with pytest.raises(InputError, match="expected 2"):
        linear_fit([0.5, 0.6], [0.4])
    with pytest.raises(InputError, match="percentages"):
        linear_fit([50, 60], [0.4, 0.5])
    with pytest.raises(InputError, match="finite"):
        linear_fit([0.5, np.nan], [0.4, 0.5])
    with pytest.raises(InputError, match="all original accuracies are equal"):
        linear_fit([0.1, 0.1, 0.1], [0.4, 0.45, 0.5], scale="linear")
    with pytest.raises(InputError, match="weights"):
        linear_fit([0.5, 0.6], [0.4, 0.5], weights=[1, -1])
    with pytest.raises(InputError, match="n_boot"):
        linear_fit([0.5, 0.6], [0.4, 0.5], n_boot=-1)
