"""The rule-list study: records against the estimator, resume by fingerprint, the report section."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gaplens.core.errors import InputError
from gaplens.interpretable import RuleListClassifier
from gaplens.studies import run_study
from gaplens.studies.report import render_report
from gaplens.studies.rules import RuleList


def _tables(tmp_path):
    rng = np.random.default_rng(0)

    def make(n):
        X = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], n), "big": rng.integers(0, 2, n),
                          "age": rng.integers(18, 70, n)})
        y = ((X["colour"] == "red") & (X["big"] == 1)) | (X["age"] < 25)
        flip = rng.random(n) < 0.1
        X["outcome"] = np.where(y ^ flip, "yes", "no")
        return X

    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    make(400).to_csv(train, index=False)
    make(150).to_csv(test, index=False)
    return train, test


def test_records_match_the_estimator_and_rerun_skips(tmp_path):
    train, test = _tables(tmp_path)
    study = RuleList(str(train), "outcome", test=str(test), regularization=0.01)
    result = run_study(study, tmp_path / "run", progress=False)
    assert result.ran == ["fit/train"]
    frame = pd.read_csv(train)
    clf = RuleListClassifier(regularization=0.01).fit(frame.drop(columns="outcome"), frame["outcome"])
    rules = [r for r in result.records if r["kind"] == "rule"]
    summary = next(r for r in result.records if r["kind"] == "summary")
    assert [r["antecedent"] for r in rules] == [" and ".join(r.antecedent) or "(default)" for r in clf.rules_]
    assert summary["objective"] == pytest.approx(clf.objective_) and summary["certified"]
    held = pd.read_csv(test)
    assert summary["test_accuracy"] == pytest.approx(clf.score(held.drop(columns="outcome"), held["outcome"]))
    assert sum(r["support"] for r in rules) == pytest.approx(1.0)
    again = run_study(RuleList(str(train), "outcome", test=str(test), regularization=0.01), tmp_path / "run",
                      progress=False)
    assert again.skipped == ["fit/train"] and not again.ran
    changed = run_study(RuleList(str(train), "outcome", test=str(test), regularization=0.05), tmp_path / "run",
                        progress=False)
    assert changed.ran == ["fit/train"]
    page = render_report(tmp_path / "run", strict=True).read_text()
    assert "Rule lists" in page and "certified optimal" in page and "test accuracy" in page


def test_a_missing_label_column_is_a_clear_error(tmp_path):
    train, _ = _tables(tmp_path)
    with pytest.raises(InputError, match="no label column 'target'"):
        run_study(RuleList(str(train), "target"), tmp_path / "run", progress=False)


def test_cli_rules_fit(tmp_path):
    from typer.testing import CliRunner

    from gaplens.cli import app

    train, test = _tables(tmp_path)
    result = CliRunner().invoke(app, ["rules", "fit", "--csv", str(train), "--label", "outcome", "--test", str(test),
                                      "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["certified"] and summary["n_rules"] >= 1 and 0.5 < summary["test_accuracy"] <= 1
    assert (tmp_path / "run" / "report.html").is_file()
