"""Figures of the shift analysis: what is drawn, labelled and saved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from gaplens.core.errors import InputError
from gaplens.report.figures import save_figure
from gaplens.shift import (
    analyze,
    hard_example_check,
    hard_example_figure,
    per_class_drop,
    per_class_drop_figure,
    shift_scatter_figure,
)


@pytest.fixture
def result():
    df = pd.DataFrame({"model": ["small", "mid", "$big$"], "correct_original": [700, 820, 930],
                       "n_original": [1000] * 3, "correct_new": [520, 690, 860], "n_new": [1000] * 3})
    return analyze(df, scale="probit", n_boot=200)


def test_scatter_figure_like_recht_figure_1(result, tmp_path):
    fig = shift_scatter_figure(result.records, result.fit, title="shift $x$")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlim() == ax.get_ylim() and ax.get_title() == "shift $x$"
    assert "original" in ax.get_xlabel() and "new" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    lo, hi = result.fit.slope_ci
    assert any(f"linear fit, probit scale: slope {result.fit.slope:.2f} [{lo:.2f}, {hi:.2f}]" in t for t in legend)
    assert any("y = x" in t for t in legend) and any("confidence band" in t for t in legend)
    assert [t.get_text() for t in ax.texts] == ["small", "mid", "$big$"]
    # the fitted line goes through the fit's predictions, in accuracy space
    line = next(ln for ln in ax.lines if ln.get_color() == "tab:red")
    x, y = line.get_data()
    np.testing.assert_allclose(y, result.fit.predict(x))
    path = save_figure(fig, tmp_path / "shift.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_scatter_without_fit_and_errors(result):
    fig = shift_scatter_figure(result.records[:1])
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    with pytest.raises(InputError):
        shift_scatter_figure([])
    with pytest.raises(InputError, match="accuracy_original"):
        shift_scatter_figure([{"model": "a"}])


def _correct():
    rng = np.random.default_rng(0)
    return {(m, s): rng.random(40) < p for m, p in (("a", 0.9), ("b", 0.6)) for s in ("original", "new")}


def test_per_class_and_hard_example_figures(tmp_path):
    correct = _correct()
    labels = {"original": np.arange(40) % 4, "new": np.arange(40) % 4}
    records = per_class_drop(correct, labels, class_names=["cat", "dog", "$emu$", "fox"])
    fig = per_class_drop_figure(records)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(ticks) == sorted(["cat", "dog", "$emu$", "fox"])
    means = pd.DataFrame(records).groupby("class")["drop"].mean()
    assert ticks[-1] == means.idxmax()  # largest drop at the top
    save_figure(fig, tmp_path / "classes.png")
    single = per_class_drop_figure([r for r in records if r["model"] == "a"])
    assert single.axes[0].get_legend().get_texts()[0].get_text().startswith("a (95% interval)")
    hard = hard_example_figure(hard_example_check(correct, threshold=[1.0, 0.5]))
    assert len(hard.axes[0].get_xticklabels()) == 2
    save_figure(hard, tmp_path / "hard.png")
