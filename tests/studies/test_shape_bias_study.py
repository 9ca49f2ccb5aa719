"""Shape bias from recorded decisions as a study and a CLI mode: records equal the capability's, a re-run
skips, a changed file recomputes, the section renders, and --json carries the per-category counts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gaplens.bias import read_decisions, shape_bias_of_recorded
from gaplens.cli import app
from gaplens.report import render_report
from gaplens.store import records
from gaplens.studies import run_study
from gaplens.studies.shape_bias import ShapeBiasFromDecisions

HEADER = "subj,session,trial,rt,object_response,category,condition,imagename"
ROWS = [
    "subject-01,1,1,900,dog,dog,0,0001_cc_dnn_0_dog_00_dog1-bird2.png",  # shape
    "subject-01,1,2,800,bird,dog,0,0002_cc_dnn_0_dog_00_dog2-bird1.png",  # texture
    "subject-01,1,3,800,dog,dog,0,0003_cc_dnn_0_dog_00_dog2-dog1.png",  # excluded (no conflict)
    "subject-02,1,1,900,bird,bird,0,0004_cc_dnn_0_bird_00_bird1-dog2.png",  # shape
    "subject-02,1,2,900,na,bird,0,0005_cc_dnn_0_bird_00_bird2-dog1.png",  # no decision
]


def _file(tmp_path, rows=ROWS, name="raw.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _overall(df, model):
    return df[(df["study"] == "shape_bias") & (df["category"] == "all") & (df["model"] == model)].iloc[0]


def test_study_records_equal_the_capability_and_rerun_skips(tmp_path):
    path = _file(tmp_path)
    run = tmp_path / "run"
    result = run_study(ShapeBiasFromDecisions([path]), run, progress=False)
    assert result.ran == ["decisions"]
    expected = shape_bias_of_recorded(read_decisions([path]))
    df = records(run)
    for name, r in expected.items():
        row = _overall(df, name)
        assert (row["n_trials"], row["n_shape"], row["n_texture"]) == (r.n_trials, r.n_shape, r.n_texture)
        assert row["shape_bias"] == pytest.approx(r.shape_bias, abs=1e-15)
    # hand count: pooled 4 conflict trials, 2 shape, 1 texture
    assert tuple(_overall(df, "all subjects")[["n_trials", "n_shape", "n_texture"]]) == (4, 2, 1)
    again = run_study(ShapeBiasFromDecisions([path]), run, progress=False)
    assert again.ran == [] and again.skipped == ["decisions"]
    _file(tmp_path, ROWS[:-1])  # a changed file recomputes
    changed = run_study(ShapeBiasFromDecisions([path]), run, progress=False)
    assert changed.ran == ["decisions"]
    assert tuple(_overall(records(run), "subject-02")[["n_trials", "n_shape"]]) == (1, 1)
    page = render_report(run, strict=True).read_text()
    assert "Texture vs. shape" in page and "subject-02" in page


def test_cli_decisions_json_carries_per_category_counts(tmp_path):
    a = _file(tmp_path, ROWS[:3], "subject-01.csv")
    b = _file(tmp_path, ROWS[3:], "subject-02.csv")
    result = CliRunner().invoke(app, ["shape-bias", "--decisions", str(a), "--decisions", str(b),
                                      "--out", str(tmp_path / "run"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.output)}
    assert list(rows) == ["all subjects", "subject-01", "subject-02"]
    pooled = rows["all subjects"]
    assert (pooled["n_trials"], pooled["n_shape"], pooled["n_texture"], pooled["n_other"]) == (4, 2, 1, 1)
    assert pooled["per_category"]["dog"] == {"n_trials": 2, "n_shape": 1, "n_texture": 1, "n_other": 0,
                                             "shape_bias": 0.5, "ci_low": pytest.approx(0.0126, abs=1e-4),
                                             "ci_high": pytest.approx(0.9874, abs=1e-4)}
    assert pooled["per_category"]["bird"]["n_other"] == 1
    assert 0 < pooled["ci_low"] < pooled["shape_bias"] < pooled["ci_high"] <= 1
    both = CliRunner().invoke(app, ["shape-bias", "--decisions", str(a), "--models", "x", "--out",
                                    str(tmp_path / "r2")])
    assert both.exit_code == 2 and "not both" in both.output
    neither = CliRunner().invoke(app, ["shape-bias", "--out", str(tmp_path / "r3")])
    assert neither.exit_code == 2 and "--decisions" in neither.output
