"""Study "rules": a certifiably optimal rule list (CORELS) fitted to a table, with its certificate.

One unit per training table: fit :class:`gaplens.interpretable.RuleListClassifier`, record the
rules (one record each), a summary (objective, certificate, lower bound, training and test
accuracy, search size and time) and the search progress, and draw the progress figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaplens.core.errors import InputError
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of
from gaplens.studies.fingerprint import data_digest, digest
from gaplens.studies.runner import Context

__all__ = ["RuleList"]


def _table(source: str | Path | pd.DataFrame, what: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{what} table {str(path)!r} does not exist")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{what} table {str(path)!r} is not a readable CSV: {err}") from None


def _digest(source: str | Path | pd.DataFrame | None) -> str | None:
    if source is None:
        return None
    if isinstance(source, pd.DataFrame):
        return digest(pd.util.hash_pandas_object(source, index=False).to_numpy())
    return data_digest(str(source))


def _split(frame: pd.DataFrame, label: str, what: str) -> tuple[pd.DataFrame, pd.Series]:
    if label not in frame.columns:
        raise InputError(f"{what} table has no label column {label!r}; its columns: {list(frame.columns)}")
    return frame.drop(columns=[label]), frame[label]


@dataclass
class RuleList(Study):
    """A certifiably optimal rule list for ``label`` from the other columns of ``train``.

    Args:
        train: a CSV path or a DataFrame (categorical, numeric or 0-1 columns and the label).
        label: the binary label column.
        test: an optional held-out table with the same columns.
        regularization, max_card, min_support, negations, policy, max_nodes, time_limit: as
            :class:`gaplens.interpretable.RuleListClassifier`.
    """

    name = "rules"
    title = "Rule lists"
    order = 20

    train: Any
    label: str
    test: Any = None
    regularization: float = 0.01
    max_card: int = 2
    min_support: float = 0.01
    negations: bool = True
    policy: str = "curious"
    max_nodes: int | None = None
    time_limit: float | None = None

    def _key(self) -> str:
        return f"fit/{Path(self.train).stem}" if isinstance(self.train, (str, Path)) else "fit/table"

    def units(self, ctx: Context) -> list[Unit]:
        inputs = {"train": _digest(self.train), "test": _digest(self.test), "label": self.label,
                  "regularization": self.regularization, "max_card": self.max_card,
                  "min_support": self.min_support, "negations": self.negations, "policy": self.policy,
                  "max_nodes": self.max_nodes, "time_limit": self.time_limit}
        return [Unit(self._key(), inputs, scope="rules")]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.interpretable import RuleListClassifier, search_progress_figure

        X, y = _split(_table(self.train, "training"), self.label, "training")
        clf = RuleListClassifier(regularization=self.regularization, max_card=self.max_card,
                                 min_support=self.min_support, negations=self.negations, policy=self.policy,
                                 max_nodes=self.max_nodes, time_limit=self.time_limit, progress=ctx.progress)
        clf.fit(X, y)
        decided = clf.apply(X)
        truth = np.asarray(y) == clf.predict(X)
        records = []
        for k, rule in enumerate(clf.rules_):
            mask = decided == k
            records.append({"kind": "rule", "position": k, "antecedent": " and ".join(rule.antecedent) or "(default)",
                            "prediction": str(rule.prediction), "support": float(mask.mean()),
                            "accuracy": float(truth[mask].mean()) if mask.any() else None})
        summary = {"kind": "summary", "label": self.label, "n_rules": len(clf.rules_) - 1,
                   "objective": clf.objective_, "certified": bool(clf.certified_), "lower_bound": clf.lower_bound_,
                   "train_accuracy": float(truth.mean()), "test_accuracy": None, "n_train": len(X),
                   "n_antecedents": len(clf.antecedents_), "nodes": clf.n_nodes_, "seconds": clf.search_.elapsed,
                   "stopped": clf.search_.stopped, "regularization": self.regularization, "text": str(clf)}
        if self.test is not None:
            Xt, yt = _split(_table(self.test, "test"), self.label, "test")
            summary["test_accuracy"] = clf.score(Xt, yt)
            summary["n_test"] = len(Xt)
        records.append(summary)
        records += [{"kind": "progress", "nodes": int(row[0]), "seconds": float(row[1]), "best": float(row[2]),
                     "bound": None if np.isnan(row[3]) else float(row[3])} for row in clf.search_.history]
        fig = search_progress_figure(clf.search_.history, title=f"Rule-list search, lambda = {self.regularization:g}")
        return UnitOutput(records=records, figures=[("search", fig, "Best objective and lower bound over the search")])

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        kind = df["kind"] if "kind" in df else pd.Series([], dtype=str)
        rules = df[kind == "rule"][["position", "antecedent", "prediction", "support", "accuracy"]] \
            if (kind == "rule").any() else df.iloc[:0]
        findings = []
        for _, s in df[kind == "summary"].iterrows():
            gap = s["objective"] - s["lower_bound"]
            accuracy = s["test_accuracy"] if pd.notna(s.get("test_accuracy")) else s["train_accuracy"]
            where = (f"test accuracy on {int(s['n_test'])} held-out rows" if pd.notna(s.get("test_accuracy"))
                     else f"training accuracy on {int(s['n_train'])} rows")
            certificate = ("certified optimal" if s["certified"]
                           else f"not certified ({s['stopped']}): gap {gap:.4f}")
            findings.append(Finding(
                study="rules", measure=f"{where} of a {int(s['n_rules'])}-rule list for {s['label']}",
                value=accuracy, verdict="pass" if s["certified"] else "warning",
                detail=f"objective {s['objective']:.4f}, {certificate} after {int(s['nodes'])} prefixes in "
                       f"{s['seconds']:.1f} s; training accuracy {s['train_accuracy']:.3g}"))
        return Section(
            title="Rule lists",
            intro=("A certifiably optimal rule list (CORELS, Angelino et al. 2018): among all ordered lists of "
                   "mined antecedents, the one with the smallest training error + lambda x (number of rules), "
                   "found by branch and bound; 'certified' means the search proved that no list does better. "
                   "Each rule predicts the majority label of the rows it captures; support and accuracy are "
                   "over the training rows each rule decides."),
            tables=[("The rule list", rules)], figures=figures_of(artifacts), findings=findings)


register_section(RuleList.name, title=RuleList.title, order=RuleList.order)(RuleList.section)
