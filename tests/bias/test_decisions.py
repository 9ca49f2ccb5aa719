"""Shape bias from recorded decisions in the published raw-data format, against a hand count."""

from __future__ import annotations

import pytest
from scipy.stats import beta

from gaplens.bias import read_decisions, shape_bias_of_recorded
from gaplens.bias.decisions import POOLED, texture_of_image_name
from gaplens.core.errors import DataError, InputError

HEADER = "subj,session,trial,rt,object_response,category,condition,imagename"
# subject-01: 6 trials, one of them without conflict (cat shape, cat texture)
SUBJECT_01 = [
    "subject-01,1,1,900,airplane,airplane,0,0001_cc_dnn_0_airplane_00_airplane1-bicycle2.png",  # shape
    "subject-01,1,2,800,bicycle,airplane,0,0002_cc_dnn_0_airplane_00_airplane2-bicycle1.png",  # texture
    "subject-01,1,3,700,airplane,airplane,0,0003_cc_dnn_0_airplane_00_airplane3-cat1.png",  # shape
    "subject-01,1,4,750,na,cat,0,0004_cc_dnn_0_cat_00_cat1-airplane3.png",  # no decision
    "subject-01,1,5,650,cat,cat,0,0005_cc_dnn_0_cat_00_cat2-cat1.png",  # excluded: no conflict
    "subject-01,1,6,600,bicycle,cat,0,0006_cc_dnn_0_cat_00_cat3-airplane1.png",  # other
]
SUBJECT_02 = [
    "subject-02,1,1,900,cat,cat,0,0007_cc_dnn_0_cat_00_cat1-bicycle3.png",  # shape
    "subject-02,1,2,800,bicycle,cat,0,0008_cc_dnn_0_cat_00_cat1-bicycle3.png",  # texture
    "subject-02,2,3,700,airplane,bicycle,0,0009_cc_dnn_0_bicycle_00_bicycle1-airplane2.png",  # texture
    "subject-02,2,4,700,bicycle,bicycle,0,0010_cc_dnn_0_bicycle_00_bicycle2-bicycle1.png",  # excluded
]


def _write(tmp_path, name, rows, header=HEADER):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _interval(k: int, n: int) -> tuple[float, float]:
    low = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
    high = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
    return float(low), float(high)


def test_published_image_names_parse():
    assert texture_of_image_name("0001_s5n_dnn_0_airplane_00_airplane1-bicycle2.png") == ("airplane", "bicycle")
    assert texture_of_image_name("raw/knife10-elephant3.png") == ("knife", "elephant")
    with pytest.raises(DataError, match="cue-conflict"):
        texture_of_image_name("0001_s5n_dnn_0_airplane_00_airplane.png")


def test_shape_bias_pooled_and_per_subject_equals_the_hand_count(tmp_path):
    files = [_write(tmp_path, "subject-01.csv", SUBJECT_01), _write(tmp_path, "subject-02.csv", SUBJECT_02)]
    decisions = read_decisions(files)
    assert decisions.class_names == ["airplane", "bicycle", "cat"]
    assert decisions.subject_names() == ["subject-01", "subject-02"]
    assert decisions.decisions.tolist()[3] == -1  # "na"
    results = shape_bias_of_recorded(decisions)
    assert list(results) == [POOLED, "subject-01", "subject-02"]

    # hand count: subject-01 5 conflict trials, 2 shape, 1 texture; subject-02 3 trials, 1 shape, 2 texture
    expected = {POOLED: (8, 3, 3, 2), "subject-01": (5, 2, 1, 1), "subject-02": (3, 1, 2, 1)}
    for name, (trials, shape, texture, excluded) in expected.items():
        r = results[name]
        assert (r.n_trials, r.n_shape, r.n_texture, r.n_excluded) == (trials, shape, texture, excluded)
        assert r.shape_bias == pytest.approx(shape / (shape + texture), abs=1e-15)
        assert r.interval == pytest.approx(_interval(shape, shape + texture), abs=1e-9)
        assert r.records[0]["model"] == name and r.records[0]["category"] == "all"

    # per shape category (pooled): airplane 3 trials (2 shape, 1 texture), bicycle 1 (0, 1), cat 4 (1, 1; na, other)
    per = results[POOLED].per_category
    assert {c: (v["n_trials"], v["n_shape"], v["n_texture"]) for c, v in per.items()} == {
        "airplane": (3, 2, 1), "bicycle": (1, 0, 1), "cat": (4, 1, 1)}
    assert per["cat"]["n_other"] == 2 and per["cat"]["shape_bias"] == 0.5
    assert per["bicycle"]["ci_low"] == 0.0 and per["bicycle"]["ci_high"] == pytest.approx(0.975)
    # a subject's categories are those of its own conflict trials
    assert sorted(results["subject-01"].per_category) == ["airplane", "cat"]


def test_model_vs_human_rule_na_and_headers(tmp_path):
    """Headers in any case; an 'na' is a trial with no decision (in n_trials, in neither count)."""
    rows = ["s1,1,NA_ignored,cat,a_cat1-dog1.png"]
    path = _write(tmp_path, "upper.csv", ["S1,1,na,cat,a_cat1-dog1.png", "S1,1,dog,cat,a_cat2-dog2.png"],
                  header="Subj,Session,Object_Response,Category,ImageName")
    (result,) = [r for n, r in shape_bias_of_recorded(read_decisions(path), per_subject=False).items()]
    assert (result.n_trials, result.n_shape, result.n_texture) == (2, 0, 1)
    assert result.shape_bias == 0.0
    # a response outside the shape and texture categories is kept as a category of its own ("other")
    odd = _write(tmp_path, "odd.csv", rows, header="subj,session,object_response,category,imagename")
    assert read_decisions(odd).class_names == ["NA_ignored", "cat", "dog"]


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="at least one"):
        read_decisions([])
    with pytest.raises(DataError, match="no such"):
        read_decisions(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="object_response"):
        read_decisions(_write(tmp_path, "cols.csv", ["s,1,cat"], header="subj,session,category"))
    with pytest.raises(DataError, match="line 3"):
        read_decisions(_write(tmp_path, "name.csv", [SUBJECT_01[0], "subject-01,1,2,1,cat,cat,0,plain.png"]))
    with pytest.raises(DataError, match="no trials"):
        read_decisions(_write(tmp_path, "empty.csv", []))
    with pytest.raises(DataError, match="pooled"):
        shape_bias_of_recorded(read_decisions(_write(tmp_path, "p.csv", [SUBJECT_01[0].replace("subject-01",
                                                                                                 POOLED)])))
