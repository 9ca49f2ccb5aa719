"""The estimator: predictions follow rules_, antecedent mining, clear errors, COMPAS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaplens.core.errors import InputError
from gaplens.interpretable import RuleListClassifier, mine_antecedents

COMPAS = Path(__file__).parents[2] / ".." / "shared" / "data" / "compas"
LABEL = "recidivate-within-two-years"


def _table(seed: int = 0, n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], n), "size": rng.normal(10, 3, n).round(1),
                      "flag": rng.integers(0, 2, n)})
    y = np.where(((X["colour"] == "red") & (X["size"] > 11)) | (X["flag"] == 1) & (X["colour"] == "blue"), "yes", "no")
    flip = rng.random(n) < 0.1
    y[flip] = np.where(y[flip] == "yes", "no", "yes")
    return X, y


def _follow(rules, row: pd.Series) -> object:
    """The prediction of a rule list, read literally from rules_ for one row."""
    for rule in rules:
        if all(_holds(term, row) for term in rule.antecedent):
            return rule.prediction
    raise AssertionError("the default rule must catch every row")


def _holds(name: str, row: pd.Series) -> bool:
    if name.startswith("not "):
        return not _holds(name[4:], row)
    if "<=" in name:
        col, t = name.split("<=")
        return float(row[col]) <= float(t)
    if "=" in name:
        col, v = name.split("=", 1)
        return str(row[col]) == v
    return bool(row[name])


def test_predictions_follow_the_rules_exactly():
    X, y = _table()
    clf = RuleListClassifier(regularization=0.005, max_card=2, min_support=0.02).fit(X, y)
    assert clf.certified_ and len(clf.rules_) >= 2 and clf.rules_[-1].antecedent == ()
    Xn, _ = _table(seed=1, n=200)
    expected = [_follow(clf.rules_, row) for _, row in Xn.iterrows()]
    assert clf.predict(Xn).tolist() == expected
    assert set(clf.predict(Xn)) <= {"no", "yes"} and list(clf.classes_) == ["no", "yes"]
    proba = clf.predict_proba(Xn)
    assert proba.shape == (200, 2) and np.allclose(proba.sum(1), 1)
    assert ((proba[:, 1] >= 0.5) == (clf.predict(Xn) == "yes")).all()
    # the training error of the rules is the objective minus the rule cost
    error = 1 - clf.score(X, y)
    assert clf.objective_ == pytest.approx(error + 0.005 * (len(clf.rules_) - 1))
    text = str(clf)
    assert text.startswith("if ") and "else if" in text or text.count("\n") == 1
    assert clf.get_params()["regularization"] == 0.005
    assert clf.set_params(regularization=0.1).regularization == 0.1


def test_mining_items_thresholds_negations_conjunctions():
    X, _ = _table()
    ants = mine_antecedents(X, max_card=2, min_support=0.01, negations=True, n_thresholds=3)
    names = ants.names
    assert {("colour=red",), ("not colour=red",), ("flag",), ("not flag",)} <= set(names)
    assert any(n[0].startswith("size<=") for n in names) and any(n[0].startswith("not size<=") for n in names)
    assert all(len({t.column for t in term}) == len(term) for term in ants.terms)   # different columns
    support = ants.support()
    assert ((support >= 0.01) & (support <= 0.99)).all()
    assert len(np.unique(ants.bits, axis=0)) == len(ants)     # no duplicated truth tables
    # the packed bits are the truth of each antecedent on the data it was mined from
    from gaplens.interpretable.antecedents import unpack_bits

    assert (unpack_bits(ants.bits, len(X)) == ants.truth(X)).all()


def test_a_premined_01_matrix_is_used_as_given():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 2, (100, 5))
    ants = mine_antecedents(X, max_card=1, min_support=0.0, negations=False)
    assert ants.names == [(str(i),) for i in range(5)]
    ants = mine_antecedents(X, max_card=1, min_support=0.0, negations=True)
    assert len(ants) == 10 and ants.names[-1] == ("not 4",)


@pytest.mark.parametrize("y,match", [(np.arange(100) % 3, "exactly two"), (np.zeros(100), "exactly two")])
def test_a_label_that_is_not_binary_is_refused(y, match):
    X, _ = _table(n=100)
    with pytest.raises(InputError, match=match):
        RuleListClassifier().fit(X, y)


def test_a_column_with_one_value_is_refused():
    X, y = _table(n=100)
    X["constant"] = 7
    with pytest.raises(InputError, match="'constant' has a single value"):
        RuleListClassifier().fit(X, y)


def test_an_empty_antecedent_set_is_refused():
    X, y = _table(n=100)
    with pytest.raises(InputError, match="no antecedent"):
        RuleListClassifier(min_support=0.5, max_card=1, negations=False).fit(X[["colour"]], y)


def test_other_bad_input():
    X, y = _table(n=100)
    with pytest.raises(InputError, match="100 rows but y has 99"):
        RuleListClassifier().fit(X, y[:99])
    with pytest.raises(InputError, match="policy"):
        RuleListClassifier(policy="random").fit(X, y)
    with pytest.raises(InputError, match="not fitted"):
        RuleListClassifier().predict(X)
    clf = RuleListClassifier(regularization=0.05).fit(X, y)
    with pytest.raises(InputError, match="lacks the column"):
        clf.predict(X.drop(columns=["colour"]))


def _compas():
    if not (COMPAS / "compas_train.csv").is_file():
        pytest.skip(f"COMPAS data {COMPAS} is not available (needs the lab's shared/ folder)")
    return pd.read_csv(COMPAS / "compas_train.csv"), pd.read_csv(COMPAS / "compas_test.csv")


def test_compas_published_rule_list():
    """Angelino et al. 2018 / pycorels settings (lambda 0.01, max_card 2, min_support 0.01): about 0.66
    test accuracy with 3-4 rules on young men and prior offences. The C++ CORELS (pycorels 1.1.29,
    built here) certifies the same objective, 0.35809, with the same three rules."""
    train, test = _compas()
    clf = RuleListClassifier(regularization=0.01, max_card=2, min_support=0.01, policy="lower_bound")
    clf.fit(train.drop(columns=LABEL), train[LABEL])
    assert clf.certified_
    assert clf.objective_ == pytest.approx(0.3580936970257359, abs=1e-9)
    assert 3 <= len(clf.rules_) - 1 <= 4
    words = " ".join(" ".join(r.antecedent) for r in clf.rules_)
    assert "sex=Male" in words and "age=" in words and "priors=" in words
    accuracy = clf.score(test.drop(columns=LABEL), test[LABEL])
    assert 0.64 <= accuracy <= 0.72
