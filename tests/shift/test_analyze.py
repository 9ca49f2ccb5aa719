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
