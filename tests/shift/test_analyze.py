"""shift.analyze: per-model numbers, the fit, and clear errors for bad tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gaplens.core.errors import DataError, InputError
from gaplens.shift import analyze, clopper_pearson, drop_interval

GOOD = "model,correct_original,n_original,correct_new,n_new\na,930,1000,850,1000\nb,800,1000,650,1000\n" \
       "c,700,1000,520,1000\nd,960,1000,900,1000\n"


def test_numbers_and_fit_from_a_csv(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text(GOOD)
    result = analyze(path, scale="probit", n_boot=300)
    assert result.source == str(path) and [r["model"] for r in result.records] == list("abcd")
    a = result.records[0]
    assert (a["n_original"], a["correct_original"], a["accuracy_original"]) == (1000, 930, 0.93)
    assert (a["ci_low_original"], a["ci_high_original"]) == pytest.approx(clopper_pearson(930, 1000))
    assert (a["drop"], a["drop_ci_low"], a["drop_ci_high"]) == pytest.approx(drop_interval(930, 1000, 850, 1000))
    orig = np.array([0.93, 0.8, 0.7, 0.96])
    new = np.array([0.85, 0.65, 0.52, 0.9])
    ref = stats.linregress(stats.norm.ppf(orig), stats.norm.ppf(new))
    assert result.fit.slope == pytest.approx(ref.slope) and result.fit.scale == "probit"
    assert a["predicted_new"] == pytest.approx(stats.norm.cdf(ref.intercept + ref.slope * stats.norm.ppf(0.93)))
    assert a["residual"] == pytest.approx(0.85 - a["predicted_new"])
    summary = result.summary
    assert summary["n_models"] == 4 and summary["mean_drop"] == pytest.approx(np.mean(orig - new))
    assert summary["slope"] == result.fit.slope and len(result.frame()) == 4


def test_accuracy_columns_and_messy_headers():
    df = pd.DataFrame({" Model ": ["x", "y", "z"], "Accuracy_Original": [0.9, 0.8, 0.7], "n_original": [100] * 3,
                       "accuracy_new": [0.85, 0.7, 0.55], "N_NEW": [200] * 3, "notes": ["", "", ""]})
    result = analyze(df, scale="linear", n_boot=0)
    assert [r["correct_new"] for r in result.records] == [170, 140, 110]
    assert all(r["from_accuracy"] for r in result.records)
    assert result.fit.slope == pytest.approx(stats.linregress([0.9, 0.8, 0.7], [0.85, 0.7, 0.55]).slope)


def test_one_model_or_equal_accuracies_give_no_fit():
    one = analyze(pd.DataFrame({"model": ["a"], "correct_original": [5], "n_original": [10],
                                "correct_new": [4], "n_new": [10]}))
    assert one.fit is None and "at least 2" in one.notes[0] and "slope" not in one.summary
    same = analyze(pd.DataFrame({"model": ["a", "b"], "correct_original": [5, 5], "n_original": [10, 10],
                                 "correct_new": [4, 3], "n_new": [10, 10]}))
    assert same.fit is None and "same original-set accuracy" in same.notes[0]


@pytest.mark.parametrize("text, message", [
    ("model,correct_original,n_new\na,1,2\n",
     r"results.csv: missing column\(s\) n_original, correct_new \(or accuracy_new\); expected columns"),
    ("model,correct_original,n_original,correct_new,n_new\na,12,10,1,10\n",
     r"column 'correct_original' exceeds 'n_original' at row 1 \(model 'a'\) \(12 > 10\)"),
    ("model,correct_original,n_original,correct_new,n_new\na,1,10,1,10\nb,-2,10,1,10\n",
     r"column 'correct_original' holds negative counts at row 2 \(model 'b'\)"),
    ("model,correct_original,n_original,correct_new,n_new\na,0,0,1,10\n",
     r"column 'n_original' is 0 at row 1 \(model 'a'\)"),
    ("model,correct_original,n_original,correct_new,n_new\na,1,10,,10\n",
     r"column 'correct_new' must hold numbers; missing or not a number at row 1"),
    ("model,correct_original,n_original,correct_new,n_new\na,1.5,10,1,10\n",
     r"column 'correct_original' must hold whole counts"),
    ("model,correct_original,n_original,correct_new,n_new\na,1,10,1,10\na,2,10,1,10\n",
     r"column 'model' repeats \['a'\]"),
    ("model,accuracy_original,n_original,accuracy_new,n_new\na,93.5,10,80,10\n",
     r"column 'accuracy_original' must lie in \[0, 1\].*percentages"),
    ("model,correct_original,n_original,correct_new,n_new\n", "no rows"),
])
def test_errors_name_the_file_column_and_row(tmp_path, text, message):
    path = tmp_path / "results.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        analyze(path)
    assert str(path) in str(info.value)


def test_missing_file_and_bad_type(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        analyze(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="DataFrame or a CSV path"):
        analyze([1, 2, 3])
    with pytest.raises(InputError, match="scale"):
        analyze(pd.DataFrame(), scale="cubic")


# --------------------------------------------------------------------------------------------
# side-by-side fits, outliers, percent tables, bootstrap options


def _testbed(outlier_at: int | None = 4, m: int = 12) -> pd.DataFrame:
    """A Recht-like testbed: new = 1.1 * original - 0.2 with small noise; one model far below the trend."""
    orig = np.linspace(0.55, 0.80, m)
    new = 1.1 * orig - 0.2 + 0.006 * np.sin(2.5 * np.arange(m))  # small, bounded scatter about the trend
    if outlier_at is not None:
        new[outlier_at] -= 0.08
    n = 10_000
    return pd.DataFrame({"model": [f"m{i}" for i in range(m)], "correct_original": np.round(orig * n).astype(int),
                         "n_original": n, "correct_new": np.round(new * n).astype(int), "n_new": n})


def test_studentized_residuals_match_statsmodels_and_leave_one_out():
    sm = pytest.importorskip("statsmodels.api")
    from statsmodels.stats.outliers_influence import OLSInfluence

    from gaplens.shift.fit import studentized_residuals

    rng = np.random.default_rng(0)
    x = rng.random(15)
    y = 2 * x + rng.normal(0, 0.1, 15)
    y[3] += 1.0
    reference = OLSInfluence(sm.OLS(y, sm.add_constant(x)).fit()).resid_studentized_external
    np.testing.assert_allclose(studentized_residuals(x, y), reference, rtol=1e-10)
    # weighted: brute force, the prediction error of the fit without model i over its standard error
    w = rng.random(15) + 0.5
    design = np.c_[np.ones(15), x]
    brute = []
    for i in range(15):
        keep = np.arange(15) != i
        a = design[keep].T @ (w[keep, None] * design[keep])
        beta = np.linalg.solve(a, design[keep].T @ (w[keep] * y[keep]))
        s2 = np.sum(w[keep] * (y[keep] - design[keep] @ beta) ** 2) / (14 - 2)
        brute.append((y[i] - design[i] @ beta) / np.sqrt(s2 * (1 / w[i] + design[i] @ np.linalg.solve(a, design[i]))))
    np.testing.assert_allclose(studentized_residuals(x, y, w), brute, rtol=1e-10)
    assert np.isnan(studentized_residuals([0.1, 0.2, 0.3], [0.1, 0.3, 0.2])).all()  # M - 3 = 0 degrees of freedom


def test_linear_and_probit_fits_side_by_side():
    result = analyze(_testbed(None), scale="probit", n_boot=200, seed=5)
    assert set(result.fits) == {"linear", "probit"} and result.fit is result.fits["probit"]
    frame = _testbed(None)
    p1, p2 = frame["correct_original"] / 10_000, frame["correct_new"] / 10_000
    linear = stats.linregress(p1, p2)
    probit = stats.linregress(stats.norm.ppf(p1), stats.norm.ppf(p2))
    assert result.fits["linear"].slope == pytest.approx(linear.slope)
    assert result.fits["linear"].intercept == pytest.approx(linear.intercept)
    assert result.fits["probit"].slope == pytest.approx(probit.slope)
    rows = result.fit_records()
    assert [r["scale"] for r in rows] == ["probit", "linear"] and [r["primary"] for r in rows] == [True, False]
    assert all(r["n_outliers"] == 0 for r in rows)
    logit = analyze(_testbed(None), scale="logit", n_boot=0)
    assert set(logit.fits) == {"logit", "linear", "probit"} and logit.fit_records()[0]["scale"] == "logit"


def test_an_outlier_is_flagged_named_and_kept_in_the_fit():
    result = analyze(_testbed(4), scale="linear", n_boot=0)
    flagged = [r["model"] for r in result.records if r["outlier"]]
    assert flagged == ["m4"]
    t = {r["model"]: r["studentized_residual"] for r in result.records}
    assert t["m4"] < -3 and all(abs(v) < 3 for k, v in t.items() if k != "m4")
    # the reported fit keeps every model; the note gives the slope without the outlier
    frame = _testbed(4)
    p1, p2 = frame["correct_original"] / 10_000, frame["correct_new"] / 10_000
    assert result.fit.slope == pytest.approx(stats.linregress(p1, p2).slope)
    without = stats.linregress(p1.drop(4), p2.drop(4)).slope
    assert any("m4" in note and f"{without:.3f}" in note for note in result.notes)
    assert result.summary["n_outliers"] == 1
    assert not any(r["outlier"] for r in analyze(_testbed(4), scale="linear", n_boot=0,
                                                 outlier_threshold=50).records)
    with pytest.raises(InputError, match="outlier_threshold"):
        analyze(_testbed(4), outlier_threshold=0)


def test_percent_tables():
    df = pd.DataFrame({"model": ["x", "y", "z"], "accuracy_original": [76.13, 69.76, 80.1], "n_original": 50_000,
                       "accuracy_new": [63.2, 57.0, 68.4], "n_new": 10_000})
    as_fraction = df.assign(accuracy_original=df["accuracy_original"] / 100, accuracy_new=df["accuracy_new"] / 100)
    a = analyze(df, percent=True, n_boot=0)
    b = analyze(as_fraction, n_boot=0)
    assert [r["correct_original"] for r in a.records] == [38065, 34880, 40050]
    pd.testing.assert_frame_equal(a.frame(), b.frame())
    with pytest.raises(DataError, match=r"percentages\? pass percent=True"):
        analyze(df)
    with pytest.raises(DataError, match=r"must lie in \[0, 100\]"):
        analyze(df.assign(accuracy_new=[63.2, 157.0, 68.4]), percent=True)
    counts = _testbed(None)
    with pytest.raises(DataError, match="percent=True but the table gives counts"):
        analyze(counts, percent=True)


def test_bootstrap_options_reach_the_fits():
    a = analyze(_testbed(None), n_boot=300, seed=1, alpha=0.1)
    b = analyze(_testbed(None), n_boot=300, seed=2, alpha=0.1)
    assert a.fits["linear"].boot_slopes.shape == (300,) and a.fit.level == pytest.approx(0.9)
    assert a.fit.slope_ci != b.fit.slope_ci and a.fit.slope == b.fit.slope
    ok = np.isfinite(a.fits["linear"].boot_slopes)
    assert a.fits["linear"].slope_ci == pytest.approx(tuple(np.percentile(a.fits["linear"].boot_slopes[ok], [5, 95])))
    assert analyze(_testbed(None), n_boot=0).fit.slope_ci != analyze(_testbed(None), n_boot=0).fit.slope_ci  # NaNs
