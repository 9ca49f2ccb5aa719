"""Branch and bound against brute force over every rule list up to the maximum-length bound."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gaplens.interpretable import BOUNDS, POLICIES, PermutationMap, RuleListClassifier, branch_and_bound
from gaplens.interpretable.antecedents import pack_bits, popcount, unpack_bits
from gaplens.interpretable.search import minority_bits, rule_list_objective


def _problem(seed: int, n: int = 60, p: int = 7):
    """Random 0-1 features whose label depends on a few of them, with label noise."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n, p)) < rng.uniform(0.2, 0.8, p)).astype(int)
    X[0], X[1] = 0, 1      # no column with a single value
    y = ((X[:, 0] & X[:, 1]) | (X[:, 2] & ~X[:, 3] & 1)) ^ (rng.random(n) < 0.15)
    return X, y.astype(int)


def _brute_force(bits, y_bits, n, lam):
    """Smallest objective over every rule list of length <= R(empty) / lambda (Angelino et al.)."""
    positives = int(popcount(y_bits).sum())
    empty = min(positives, n - positives) / n
    longest = min(len(bits), int(math.floor(empty / lam + 1e-9)))
    best = empty
    for k in range(1, longest + 1):
        for prefix in itertools.permutations(range(len(bits)), k):
            best = min(best, rule_list_objective(bits, y_bits, n, prefix, lam))
    return best


@pytest.mark.parametrize("seed,lam", [(0, 0.02), (1, 0.05), (2, 0.03), (3, 0.08)])
def test_certified_objective_equals_brute_force(seed, lam):
    X, y = _problem(seed)
    clf = RuleListClassifier(regularization=lam, max_card=1, min_support=0.0, negations=False).fit(X, y)
    bits, y_bits = clf.antecedents_.bits, pack_bits(y == 1)
    assert clf.certified_ and clf.lower_bound_ == clf.objective_
    assert clf.objective_ == pytest.approx(_brute_force(bits, y_bits, len(y), lam), abs=1e-12)
    # the reported objective is the objective of the reported rules
    assert clf.objective_ == pytest.approx(rule_list_objective(bits, y_bits, len(y), clf.search_.prefix, lam))


@pytest.mark.parametrize("seed", [4, 5])
def test_conjunctions_and_negations_match_brute_force(seed):
    X, y = _problem(seed, n=50, p=4)
    clf = RuleListClassifier(regularization=0.1, max_card=2, min_support=0.05, negations=False).fit(X, y)
    bits = clf.antecedents_.bits
    assert 4 < len(bits) <= 10 and max(len(t) for t in clf.antecedents_.terms) == 2
    assert clf.objective_ == pytest.approx(_brute_force(bits, pack_bits(y == 1), len(y), 0.1), abs=1e-12)


@pytest.mark.parametrize("off", BOUNDS)
def test_each_bound_off_keeps_the_optimum_and_explores_no_fewer_nodes(off):
    X, y = _problem(6, n=80, p=8)
    clf = RuleListClassifier(regularization=0.015, max_card=1, min_support=0.0, negations=True).fit(X, y)
    bits, y_bits = clf.antecedents_.bits, pack_bits(y == 1)
    full = branch_and_bound(bits, y_bits, len(y), 0.015, policy="lower_bound")
    ablated = branch_and_bound(bits, y_bits, len(y), 0.015, policy="lower_bound",
                               bounds=tuple(b for b in BOUNDS if b != off))
    assert ablated.certified and full.certified
    assert ablated.objective == pytest.approx(full.objective, abs=1e-12)
    assert ablated.n_nodes >= full.n_nodes


def test_bounds_prune_something_on_this_problem():
    X, y = _problem(6, n=80, p=8)
    clf = RuleListClassifier(regularization=0.015, max_card=1, min_support=0.0).fit(X, y)
    bits, y_bits = clf.antecedents_.bits, pack_bits(y == 1)
    full = branch_and_bound(bits, y_bits, len(y), 0.015, policy="lower_bound").n_nodes
    none = branch_and_bound(bits, y_bits, len(y), 0.015, policy="lower_bound", bounds=()).n_nodes
    assert none > 2 * full


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_certifies_the_same_optimum(policy):
    X, y = _problem(7)
    ref = RuleListClassifier(regularization=0.02, max_card=1, min_support=0.0).fit(X, y)
    clf = RuleListClassifier(regularization=0.02, max_card=1, min_support=0.0, policy=policy).fit(X, y)
    assert clf.certified_ and clf.objective_ == pytest.approx(ref.objective_, abs=1e-12)


def test_permutation_map_keeps_one_permutation_per_rule_set():
    X, y = _problem(8, n=80, p=8)
    clf = RuleListClassifier(regularization=0.01, max_card=1, min_support=0.0).fit(X, y)
    bits, y_bits = clf.antecedents_.bits, pack_bits(y == 1)
    pmap = PermutationMap()
    branch_and_bound(bits, y_bits, len(y), 0.01, policy="bfs", permutation_map=pmap)
    kept = pmap.prefixes()
    assert len(kept) > 10
    for key, prefix in kept.items():
        assert key == sum(1 << r for r in prefix) and len(set(prefix)) == len(prefix)
    # one prefix per set, and it is the best permutation: no permutation has a smaller lower bound
    assert len({frozenset(p) for p in kept.values()}) == len(kept)


def test_permutation_map_unit():
    pmap = PermutationMap()

    class Node:
        dead = False

    a, b, c = Node(), Node(), Node()
    assert pmap.insert(0b11, 0.3, a)
    assert not pmap.insert(0b11, 0.3, b)        # a tie keeps the first
    assert pmap.insert(0b11, 0.2, c) and a.dead  # a better permutation replaces (and kills) it
    assert len(pmap) == 1


def test_limits_report_a_gap():
    X, y = _problem(9, n=120, p=10)
    clf = RuleListClassifier(regularization=0.002, max_card=1, min_support=0.0, max_nodes=5).fit(X, y)
    assert not clf.certified_ and clf.n_nodes_ == 5 and clf.search_.stopped == "max_nodes"
    assert clf.lower_bound_ <= clf.objective_
    full = RuleListClassifier(regularization=0.002, max_card=1, min_support=0.0).fit(X, y)
    assert clf.lower_bound_ <= full.objective_ + 1e-12 <= clf.objective_ + 1e-12


def test_minority_points_are_those_no_list_can_fix():
    X = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1]])
    y = np.array([1, 1, 0, 0, 1])
    bits = pack_bits(X.T.astype(bool))
    m = unpack_bits(minority_bits(bits, pack_bits(y == 1), 5)[None], 5)[0]
    assert m.tolist() == [False, False, True, False, True]   # group 1: a 0 among 1s; group 2: a tie
