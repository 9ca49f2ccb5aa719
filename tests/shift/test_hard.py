"""Hard-example check and per-class drops on constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.shift import hard_example_check, per_class_drop


@pytest.fixture
def constructed():
    """3 models; 10 original and 10 new examples.

    Original: examples 0-7 right for every model, 8-9 wrong for every model.
    New: examples 0-5 right for all; 6-7 wrong for all; 8 wrong for models a and b;
    9 wrong for model a only. So a: 6/10, b: 7/10, c: 8/10 on the new set; all 8/10 on the original.
    """
    orig = np.zeros((3, 10), dtype=bool)
    orig[:, :8] = True
    new = np.zeros((3, 10), dtype=bool)
    new[:, :6] = True
    new[2, 8] = True
    new[1:, 9] = True
    correct = {}
    for i, m in enumerate("abc"):
        correct[m, "original"] = torch.from_numpy(orig[i])
        correct[m, "new"] = torch.from_numpy(new[i])
    return correct


def test_known_answer(constructed):
    records = hard_example_check(constructed, threshold=[1.0, 2 / 3, 1 / 3])
    by = {(r["threshold"], r["model"]): r for r in records}
    assert [r["drop_all"] for r in records[:3]] == pytest.approx([0.2, 0.1, 0.0])
    # threshold 1: leave out what every model gets wrong: original 8-9, new 6-7
    r = by[1.0, "a"]
    assert (r["n_original"], r["n_new"], r["left_out_original"], r["left_out_new"]) == (8, 8, 2, 2)
    assert (r["accuracy_original"], r["accuracy_new"]) == (1.0, 6 / 8)
    assert [by[1.0, m]["drop"] for m in "abc"] == pytest.approx([0.25, 0.125, 0.0])
    # threshold 2/3 also drops new example 8 (wrong for 2 of 3 models)
    assert by[2 / 3, "a"]["n_new"] == 7 and by[2 / 3, "a"]["accuracy_new"] == pytest.approx(6 / 7)
    assert by[2 / 3, "b"]["accuracy_new"] == 1.0
    # threshold 1/3 drops every example any model misses: the drop vanishes
    assert [by[1 / 3, m]["drop"] for m in "abc"] == [0.0, 0.0, 0.0]
    assert by[1 / 3, "a"]["n_new"] == 6 and by[1 / 3, "a"]["criterion"] == "misclassified_fraction"
    assert by[1 / 3, "a"]["drop_ci_low"] <= 0 <= by[1 / 3, "a"]["drop_ci_high"]


def test_difficulty_scores(constructed):
    difficulty = {"original": np.arange(10), "new": np.arange(10)[::-1]}  # new: example 0 is the hardest
    records = hard_example_check(constructed, threshold=8, difficulty=difficulty)
    r = {x["model"]: x for x in records}
    # original leaves out 8, 9 (all wrong); new leaves out 0, 1 (all right): a keeps 2-5 right of 2-9
    assert (r["a"]["n_original"], r["a"]["accuracy_original"]) == (8, 1.0)
    assert r["a"]["accuracy_new"] == pytest.approx(4 / 8) and r["a"]["criterion"] == "difficulty"
    # low score = hard (e.g. selection frequency): leave out scores <= 1
    easy_first = hard_example_check(constructed, threshold=1, difficulty=difficulty, higher_is_harder=False)
    assert easy_first[0]["left_out_original"] == 2 and easy_first[0]["accuracy_original"] == pytest.approx(6 / 8)
    assert easy_first[0]["accuracy_new"] == pytest.approx(6 / 8)  # new leaves out 8, 9


def test_everything_left_out_gives_nan(constructed):
    all_wrong = {k: torch.zeros_like(v) for k, v in constructed.items()}
    r = hard_example_check(all_wrong, threshold=1.0)[0]
    assert r["n_original"] == 0 and np.isnan(r["drop"]) and np.isnan(r["accuracy_new"])


def test_bad_inputs(constructed):
    with pytest.raises(InputError, match="threshold"):
        hard_example_check(constructed, threshold=0)
    with pytest.raises(InputError, match="no entry for model 'c' on set 'new'"):
        hard_example_check({k: v for k, v in constructed.items() if k != ("c", "new")})
    with pytest.raises(InputError, match="difficulty has no scores for set 'new'"):
        hard_example_check(constructed, threshold=1, difficulty={"original": np.zeros(10)})
    with pytest.raises(InputError, match="9 examples"):
        hard_example_check({**constructed, ("b", "new"): torch.ones(9, dtype=torch.bool)})


def test_per_class_drop_known_answer(constructed):
    labels = {"original": torch.tensor([0, 1] * 5), "new": torch.tensor([0] * 5 + [1] * 5)}
    records = per_class_drop(constructed, labels, class_names=["cat", "dog", "emu"])
    assert [(r["model"], r["class"]) for r in records] == [(m, c) for m in "abc" for c in ("cat", "dog")]
    a_cat, a_dog = records[0], records[1]
    # original: cat = even examples 0..8 (8 wrong) -> 4/5; dog = odd 1..9 (9 wrong) -> 4/5
    assert (a_cat["correct_original"], a_cat["n_original"]) == (4, 5)
    # new: cat = 0-4 all right for a; dog = 5-9, a gets only 5 right
    assert (a_cat["correct_new"], a_dog["correct_new"]) == (5, 1)
    assert a_cat["drop"] == pytest.approx(-0.2) and a_dog["drop"] == pytest.approx(0.6)
    assert records[5]["correct_new"] == 3 and records[5]["class_index"] == 1
    with pytest.raises(InputError, match="needs labels"):
        per_class_drop(constructed)
