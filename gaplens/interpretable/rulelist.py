"""Certifiably optimal rule lists (CORELS, Angelino et al., JMLR 2018) as an sklearn-style estimator.

>>> import numpy as np
>>> from gaplens.interpretable import RuleListClassifier
>>> X = np.array([[1, 0], [1, 1], [0, 1], [0, 0]] * 5)
>>> y = np.array([1, 1, 0, 0] * 5)
>>> clf = RuleListClassifier(regularization=0.01, max_card=1).fit(X, y)
>>> clf.rules_
[Rule(antecedent=('0',), prediction=1), Rule(antecedent=(), prediction=0)]
>>> clf.certified_, clf.score(X, y)
(True, 1.0)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gaplens.core.errors import InputError
from gaplens.interpretable.antecedents import Antecedents, mine_antecedents, pack_bits
from gaplens.interpretable.search import BOUNDS, POLICIES, SearchResult, branch_and_bound

__all__ = ["Rule", "RuleListClassifier"]


@dataclass(frozen=True)
class Rule:
    """``if all of antecedent then prediction``; the default rule has ``antecedent=()``."""

    antecedent: tuple[str, ...]
    prediction: Any

    def __str__(self) -> str:
        return f"({' and '.join(self.antecedent)}) then {self.prediction}" if self.antecedent \
            else f"{self.prediction}"


class RuleListClassifier:
    """The rule list with the smallest ``errors / n + regularization * rules``, certified optimal.

    Args:
        regularization: lambda, the cost of one rule in misclassified fractions of the training set
            (0.01: a rule must fix 1% of the samples to be worth it).
        max_card: the most literals in one antecedent.
        min_support: antecedents hold on a fraction in ``[min_support, 1 - min_support]`` of the
            training samples.
        negations: mine ``not ITEM`` antecedents too.
        policy: queue order, one of ``"curious"``, ``"lower_bound"``, ``"objective"``, ``"bfs"``,
            ``"dfs"`` (the result is the same optimum; the time to reach it is not).
        max_nodes: stop after expanding this many prefixes (``None``: until certified).
        time_limit: stop after this many seconds (``None``: until certified).
        progress: show a progress bar.
        n_thresholds: numeric columns are cut at this many inner quantiles.
        bounds: the pruning bounds to use (all by default; for ablations).

    Each rule predicts the majority label of the training samples it captures, and the default
    rule the majority of the rest; a tie predicts the larger class label (``classes_[1]``), as
    CORELS does. The default rule is not counted in the objective.

    Attributes (after :meth:`fit`):
        rules_: the :class:`Rule` s in order, the default rule last.
        objective_: the training objective of ``rules_``.
        certified_: True when the search proved no rule list has a smaller objective.
        lower_bound_: no rule list has an objective below it (``== objective_`` when certified);
            ``objective_ - lower_bound_`` is the gap left by ``max_nodes`` / ``time_limit``.
        n_nodes_: prefixes expanded.
        classes_: the two labels, sorted; ``predict`` returns them.
        antecedents_: the mined :class:`Antecedents`.
        search_: the :class:`SearchResult` (history, timing, queue size).
        rule_proba_: training fraction of ``classes_[1]`` among the samples each rule captures.
    """

    def __init__(self, regularization: float = 0.01, max_card: int = 2, min_support: float = 0.01,
                 negations: bool = True, policy: str = "curious", max_nodes: int | None = None,
                 time_limit: float | None = None, progress: bool = False, n_thresholds: int = 9,
                 bounds: tuple[str, ...] = BOUNDS) -> None:
        self.regularization = regularization
        self.max_card = max_card
        self.min_support = min_support
        self.negations = negations
        self.policy = policy
        self.max_nodes = max_nodes
        self.time_limit = time_limit
        self.progress = progress
        self.n_thresholds = n_thresholds
        self.bounds = bounds

    # sklearn's estimator protocol, without depending on sklearn
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters
                if name != "self"}

    def set_params(self, **params: Any) -> RuleListClassifier:
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"unknown parameter {name!r}; known: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"RuleListClassifier({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def _check_params(self) -> None:
        if not (isinstance(self.regularization, (int, float)) and self.regularization >= 0):
            raise InputError(f"regularization must be a number >= 0, got {self.regularization!r}")
        if self.policy not in POLICIES:
            raise InputError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        unknown = set(self.bounds) - set(BOUNDS)
        if unknown:
            raise InputError(f"unknown bound(s) {sorted(unknown)}; known: {BOUNDS}")

    def fit(self, X: Any, y: Any) -> RuleListClassifier:
        """Mine antecedents from ``X`` and search for the optimal rule list.

        Args:
            X: ``(n, p)``: a DataFrame of categorical / numeric / 0-1 columns, or a 0-1 array.
            y: ``(n,)`` binary labels (any two values).

        Raises:
            InputError: ``y`` is not binary or its length differs from ``X``; a column of ``X`` has
                one value; no antecedent passes ``min_support``; a bad parameter.
        """
        self._check_params()
        labels = np.asarray(y).ravel()
        classes = np.unique(labels)
        if len(classes) != 2:
            raise InputError(f"y must have exactly two distinct labels (binary classification), got "
                             f"{len(classes)}: {classes[:5].tolist()}")
        n = len(X)
        if len(labels) != n:
            raise InputError(f"X has {n} rows but y has {len(labels)} labels")
        antecedents = mine_antecedents(X, max_card=self.max_card, min_support=self.min_support,
                                       negations=self.negations, n_thresholds=self.n_thresholds)
        positive = labels == classes[1]
        y_bits = pack_bits(positive)
        result = branch_and_bound(antecedents.bits, y_bits, n, float(self.regularization), policy=self.policy,
                                  bounds=tuple(self.bounds), max_nodes=self.max_nodes, time_limit=self.time_limit,
                                  progress=self.progress)
        self.classes_ = classes
        self.antecedents_: Antecedents = antecedents
        self.search_: SearchResult = result
        self.objective_ = result.objective
        self.certified_ = result.certified
        self.lower_bound_ = result.lower_bound
        self.n_nodes_ = result.n_nodes
        self._prefix = result.prefix
        truth = antecedents.truth(X, list(result.prefix))
        rule_of = self._first_rule(truth)
        names = antecedents.names
        rules, proba = [], []
        for k in range(len(result.prefix) + 1):
            mask = rule_of == k
            count, pos = int(mask.sum()), int(positive[mask].sum())
            rules.append(Rule(names[result.prefix[k]] if k < len(result.prefix) else (),
                              classes[1] if pos >= count - pos else classes[0]))
            proba.append(pos / count if count else 0.5)
        self.rules_ = [Rule(r.antecedent, r.prediction.item() if hasattr(r.prediction, "item") else r.prediction)
                       for r in rules]
        self.rule_proba_ = np.array(proba)
        return self

    @staticmethod
    def _first_rule(truth: np.ndarray) -> np.ndarray:
        """For each sample the index of the first rule that holds (``len(truth)``: the default)."""
        k, n = truth.shape
        if k == 0:
            return np.zeros(n, dtype=np.int64)
        hit = truth.any(axis=0)
        return np.where(hit, truth.argmax(axis=0), k)

    def _check_fitted(self) -> None:
        if not hasattr(self, "rules_"):
            raise InputError("this RuleListClassifier is not fitted yet; call fit(X, y) first")

    def apply(self, X: Any) -> np.ndarray:
        """Index of the rule that decides each sample (``len(rules_) - 1``: the default), ``(n,)``."""
        self._check_fitted()
        return self._first_rule(self.antecedents_.truth(X, list(self._prefix)))

    def predict(self, X: Any) -> np.ndarray:
        """The label of the first rule that holds on each sample, ``(n,)`` (values of ``classes_``)."""
        self._check_fitted()
        predictions = np.array([r.prediction for r in self.rules_])
        return predictions[self.apply(X)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)``: the training label frequencies of the rule that decides each sample."""
        p = self.rule_proba_[self.apply(X)]
        return np.stack([1 - p, p], axis=1)

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        return float(np.mean(self.predict(X) == np.asarray(y).ravel()))

    def __str__(self) -> str:
        if not hasattr(self, "rules_"):
            return repr(self)
        lines = []
        for k, rule in enumerate(self.rules_):
            if not rule.antecedent:
                lines.append(f"else {rule.prediction}" if k else f"{rule.prediction}")
            else:
                lines.append(f"{'if' if k == 0 else 'else if'} {' and '.join(rule.antecedent)} then {rule.prediction}")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The rules as a table: position, antecedent, prediction, training support and accuracy."""
        self._check_fitted()
        return pd.DataFrame({"position": range(len(self.rules_)),
                             "antecedent": [" and ".join(r.antecedent) or "(default)" for r in self.rules_],
                             "prediction": [r.prediction for r in self.rules_],
                             "positive_rate": self.rule_proba_})
