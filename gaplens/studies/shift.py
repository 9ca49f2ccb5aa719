"""Study "shift": new test sets (Recht et al. 2019): accuracy drops, intervals and the linear fit.

:class:`ShiftEvaluate` evaluates each model on the original and the new set (one unit per model,
its per-example correctness saved as arrays), then one unit analyzes every planned model: the
fit, the hard-example check and the per-class drops. :class:`ShiftAnalyze` analyzes published or
precomputed counts from a CSV. Each comparison has its own name, so one run can hold several.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gaplens.core.errors import InputError
from gaplens.data.align import align_classes
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of
from gaplens.studies.evaluate import load_set
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.models import ModelRef, model_refs
from gaplens.studies.runner import Context

STUDY = "shift"
SETS = ("original", "new")


def _analysis_output(comparison: str, result, correct=None, labels=None, class_names=None) -> UnitOutput:
    from gaplens import shift

    out = UnitOutput()
    out.records += [{"comparison": comparison, "kind": "model", **row} for row in result.records]
    out.records.append({"comparison": comparison, "kind": "summary", "scale": result.scale, **result.summary,
                        "notes": "; ".join(result.notes)})
    out.records += [{"comparison": comparison, "kind": "fit", **row} for row in result.fit_records()]
    out.figures.append(("scatter", shift.shift_scatter_figure(result.records, result.fit),
                        "New vs. original accuracy (Recht et al., Fig. 1)"))
    if correct is not None:
        hard = shift.hard_example_check(correct, set_names=SETS)
        out.records += [{"comparison": comparison, "kind": "hard_examples", **row} for row in hard]
        out.figures.append(("hard", shift.hard_example_figure(hard), "Drop after leaving out hard examples"))
        classes = shift.per_class_drop(correct, labels=labels, class_names=class_names, set_names=SETS)
        out.records += [{"comparison": comparison, "kind": "per_class", **row} for row in classes]
        out.figures.append(("classes", shift.per_class_drop_figure(classes), "Drop per class"))
    return out


def _percent(level) -> str:
    return f"{100 * float(level):g}%" if level is not None and pd.notna(level) else "95%"


def shift_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    kind = df["kind"] if "kind" in df else pd.Series("", index=df.index)
    tables, findings = [], []
    evals = df[kind == "eval"]
    if len(evals):
        cols = [c for c in ("comparison", "model", "set", "n", "correct", "accuracy", "ci_low", "ci_high")
                if c in evals]
        tables.append(("Accuracy per model and set (Clopper-Pearson 95%)", evals[cols]))
    summary = df[kind == "summary"].dropna(axis=1, how="all")
    summary = summary.drop(columns=[c for c in ("kind", "study", "unit") if c in summary])
    models = df[kind == "model"]
    model_cols = [c for c in ("comparison", "model", "accuracy_original", "ci_low_original", "ci_high_original",
                              "accuracy_new", "ci_low_new", "ci_high_new", "drop", "drop_ci_low", "drop_ci_high",
                              "residual", "studentized_residual", "outlier") if c in models]
    fits = df[kind == "fit"].dropna(axis=1, how="all")
    fit_cols = [c for c in ("comparison", "scale", "primary", "slope", "slope_ci_low", "slope_ci_high", "intercept",
                            "intercept_ci_low", "intercept_ci_high", "r2", "level", "n_models", "n_outliers")
                if c in fits]
    if len(summary):
        tables.append(("Fit of new-set against original-set accuracy (primary scale)", summary))
        if len(fits):
            tables.append(("Linear and probit fits side by side (intercept in the fit's scale: accuracy for linear, "
                           "probit units for probit; bootstrap intervals over models)", fits[fit_cols]))
        tables.append(("Accuracy drop per model (Clopper-Pearson / MOVER 95% intervals; outlier: |studentized "
                       "residual| above the threshold)", models[model_cols]))
    hard = df[kind == "hard_examples"].dropna(axis=1, how="all")
    if len(hard):
        tables.append(("Drop after leaving out hard examples", hard.drop(columns=["kind", "study", "unit"])))
    for _, row in summary.iterrows():
        significant = models[(models["comparison"] == row["comparison"]) & (models["drop_ci_low"] > 0)]
        flagged = models[(models["comparison"] == row["comparison"])
                         & models.get("outlier", pd.Series(False, index=models.index)).fillna(False).astype(bool)]
        outliers = (f"; outlier model(s) off the {row['scale']} fit: {', '.join(map(str, flagged['model']))}"
                    if len(flagged) else "")
        findings.append(Finding(
            study=STUDY, measure=f"mean accuracy drop on the new set ({row['comparison']})", value=row["mean_drop"],
            verdict="fail" if len(significant) else "pass",
            detail=f"{len(significant)}/{int(row['n_models'])} models drop significantly "
            f"({_percent(row.get('level'))} interval above 0)"
            + outliers))
    return Section(
        title="New test sets",
        intro=("Each point is a model: its accuracy on the original test set (x) and on a new test set (y), "
               "with exact 95% intervals (Recht et al. 2019). Points on y = x lose nothing. The fitted line, "
               "in the chosen axis scaling, summarizes how the loss depends on original accuracy; its slope "
               "comes with a bootstrap interval over models. The linear and the probit fit are shown side by side: "
               "Recht et al. draw their main figure on linear axes with the linear fit (100,000 bootstrap "
               "resamples) and show in their appendix that the trend is closer to linear on probit axes. A model "
               "whose externally studentized residual exceeds the threshold (|t| > 3 by default) is flagged as an "
               "outlier; it stays in the fit, and the notes give the slope without it. The hard-example check "
               "recomputes the drop without the examples most models get wrong, to see whether a few hard "
               "examples explain it."),
        tables=tables, figures=figures_of(artifacts), findings=findings)


def _check_analysis(study) -> None:
    """Fail at construction (before any model is evaluated) on bad analysis options."""
    n_boot = study.n_boot
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise InputError(f"n_boot={n_boot!r}; expected a non-negative integer (0: no bootstrap intervals)")
    if isinstance(study.seed, bool) or not isinstance(study.seed, int):
        raise InputError(f"seed={study.seed!r}; expected an integer")
    alpha = study.alpha
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError(f"alpha={alpha!r}; expected a value in (0, 1), e.g. 0.05")
    threshold = study.outlier_threshold
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < float("inf"):
        raise InputError(f"outlier_threshold={threshold!r}; expected a positive number, e.g. 3")


@dataclass
class ShiftEvaluate(Study):
    """Every model on the original and the new test set, then the analysis.

    Args:
        models: specs, models or :class:`ModelRef` s (a factory ref trains a model only when needed).
        original, new: the two test sets (specs or datasets) with the same classes.
        scale: the fit's axis scaling: ``probit``, ``logit`` or ``linear``.
        comparison: the name of this comparison in the run (one per pair of sets).
        batch_size: images per forward pass.
        n_boot, seed, alpha, outlier_threshold: as in :func:`gaplens.shift.analyze` (bootstrap
            resamples and their seed, ``1 - alpha`` the level of every interval, the ``|t|``
            that flags an outlier model).
    """

    name = STUDY
    title = "New test sets"
    order = 10

    models: Any
    original: Any
    new: Any
    scale: str = "probit"
    comparison: str = "shift"
    batch_size: int = 256
    n_boot: int = 2000
    seed: int = 0
    alpha: float = 0.05
    outlier_threshold: float = 3.0

    def __post_init__(self) -> None:
        from gaplens.shift.fit import _check_scale

        self.refs: list[ModelRef] = model_refs(self.models)
        self.scale = _check_scale(self.scale)
        _check_analysis(self)
        self._sets = None

    def analysis_options(self) -> dict:
        return {"scale": self.scale, "n_boot": self.n_boot, "seed": self.seed, "alpha": self.alpha,
                "outlier_threshold": self.outlier_threshold}

    def sets(self) -> tuple[object, object]:
        if self._sets is None:
            self._sets = (load_set(self.original), load_set(self.new))
        return self._sets

    def units(self, ctx: Context) -> list[Unit]:
        data = {"original": data_digest(self.original), "new": data_digest(self.new)}
        units = [Unit(f"{self.comparison}/{ref.label}", {"model": ref.digest, **data},
                      scope=f"{self.comparison}/{ref.label}", payload=ref) for ref in self.refs]
        keys = tuple(u.key for u in units)
        units.append(Unit(f"{self.comparison}/analysis", self.analysis_options(), scope=f"{self.comparison}/analysis",
                          depends=keys, payload=keys))
        return units

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens import shift

        if isinstance(unit.payload, tuple):  # the analysis unit: keys of the model units
            rows = [r for r in ctx.store.records(self.name) if r["unit"] in unit.payload and r.get("kind") == "eval"]
            by = {(r["model"], r["set"]): r for r in rows}
            labels_of = [r["model"] for r in rows if r["set"] == "original"]
            table = pd.DataFrame([{"model": m, "correct_original": by[m, "original"]["correct"],
                                   "n_original": by[m, "original"]["n"], "correct_new": by[m, "new"]["correct"],
                                   "n_new": by[m, "new"]["n"]} for m in labels_of])
            result = shift.analyze(table, **self.analysis_options())
            correct, labels = {}, {}
            for key, model in zip(unit.payload, labels_of, strict=True):
                for s in SETS:
                    correct[model, s] = ctx.load_array(self.name, key, f"correct_{s}")
                    labels[s] = ctx.load_array(self.name, key, f"labels_{s}")
            names = next((r["class_names"].split("\t") for r in rows if r.get("class_names")), None)
            return _analysis_output(self.comparison, result, correct, labels, names)
        ref: ModelRef = unit.payload
        model = ref.load()
        original, new = (align_classes(data, model.class_names, what=f"{name} set")
                         for data, name in zip(self.sets(), SETS, strict=True))
        evaluation = shift.evaluate({ref.label: model}, original, new, batch_size=self.batch_size,
                                    set_names=SETS)
        names = "\t".join(evaluation.class_names) if evaluation.class_names else None
        records = [{"comparison": self.comparison, "kind": "eval", **row, "class_names": names}
                   for row in evaluation.records]
        arrays = []
        for s in SETS:
            arrays.append((f"correct_{s}", evaluation.correct[ref.label, s].numpy(), f"correct on {s}"))
            arrays.append((f"labels_{s}", evaluation.labels[s].numpy(), f"labels of {s}"))
        return UnitOutput(records=records, arrays=arrays)

    section = staticmethod(shift_section)


@dataclass
class ShiftAnalyze(Study):
    """Published or precomputed per-model counts from a CSV (``model, correct_original, n_original,
    correct_new, n_new``, or accuracies): drops with intervals, the fits and the figure.

    Args:
        csv: the table (see :func:`gaplens.shift.read_table`).
        scale: the primary fit's scale (the linear and probit fits are always both reported).
        n_boot, seed, alpha, outlier_threshold: as in :func:`gaplens.shift.analyze`.
        percent: the accuracy columns are in percent (0-100).
    """

    name = STUDY
    title = "New test sets"
    order = 10

    csv: str | Path
    scale: str = "probit"
    n_boot: int = 2000
    seed: int = 0
    alpha: float = 0.05
    percent: bool = False
    outlier_threshold: float = 3.0

    def __post_init__(self) -> None:
        from gaplens.shift.fit import _check_scale

        self.scale = _check_scale(self.scale)
        _check_analysis(self)

    def analysis_options(self) -> dict:
        return {"scale": self.scale, "n_boot": self.n_boot, "seed": self.seed, "alpha": self.alpha,
                "percent": self.percent, "outlier_threshold": self.outlier_threshold}

    def units(self, ctx: Context) -> list[Unit]:
        key = f"csv/{Path(self.csv).stem}"
        return [Unit(key, {"csv": data_digest(str(self.csv)), **self.analysis_options()}, scope=key)]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens import shift

        return _analysis_output(unit.key, shift.analyze(self.csv, **self.analysis_options()))

    section = staticmethod(shift_section)


register_section(STUDY, title="New test sets", order=10)(shift_section)
