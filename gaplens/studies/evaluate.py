"""Study "evaluate": accuracy of models on test sets, with exact intervals and confusion matrices.

One unit per (model, set), in the model's scope, plus a summary figure over the planned units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gaplens.data.align import align_classes
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of, per_model
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.models import ModelRef, model_refs
from gaplens.studies.runner import Context


def set_label(spec: object, index: int = 0) -> str:
    """A short name of a test set: a folder's name, or the spec itself."""
    if isinstance(spec, str):
        return Path(spec).name if Path(spec).exists() else spec
    return f"set{index + 1}"


def load_set(data: object) -> object:
    """A dataset from a spec string, or the dataset itself."""
    from gaplens.data.spec import load_dataset

    return load_dataset(data) if isinstance(data, str) else data


def label_meaning(dataset: object) -> str:
    """What a set's labels are: the shape class of synthetic cue-conflict data, else the folder class."""
    return "shape class" if hasattr(dataset, "texture_labels") else "class"


@dataclass
class Evaluate(Study):
    """Accuracy of each model on each set.

    Args:
        models: specs, models or :class:`ModelRef` s (labels made unique).
        sets: ``name -> spec or dataset``, or a list of specs (named by folder or spec).
        batch_size: images per forward pass.
        confusion: save a confusion-matrix figure per (model, set).
    """

    name = "evaluate"
    title = "Evaluation"
    order = -10

    models: Any
    sets: Any
    batch_size: int = 256
    confusion: bool = True
    confusion_skip: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.refs: list[ModelRef] = model_refs(self.models)
        if isinstance(self.sets, dict):
            self.named_sets = dict(self.sets)
        else:
            self.named_sets = {set_label(s, i): s for i, s in enumerate(self.sets)}
        self._loaded: dict[str, object] = {}

    def _set(self, name: str) -> object:
        if name not in self._loaded:
            self._loaded[name] = load_set(self.named_sets[name])
        return self._loaded[name]

    def units(self, ctx: Context) -> list[Unit]:
        digests = {name: data_digest(spec) for name, spec in self.named_sets.items()}
        units = []
        for ref in self.refs:
            for set_name in self.named_sets:
                units.append(Unit(f"{ref.label}/{set_name}",
                                  {"model": ref.digest, "data": digests[set_name],
                                   "confusion": self.confusion and set_name not in self.confusion_skip},
                                  scope=ref.label, payload=(ref, set_name)))
        keys = tuple(u.key for u in units)
        units.append(Unit("summary", {}, scope="summary", depends=keys, payload=keys))
        return units

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.evaluate import evaluate
        from gaplens.report import figures

        if unit.key == "summary":
            rows = [r for r in ctx.store.records(self.name) if r["unit"] in unit.payload and r.get("class") == "all"]
            fig = figures.accuracy_figure(rows, title="Accuracy by model and test set (95% CI)")
            return UnitOutput(figures=[("accuracy", fig, "Accuracy by model and test set")])
        ref, set_name = unit.payload
        model = ref.load()
        dataset = align_classes(self._set(set_name), model.class_names, what=f"set {set_name!r}")
        result = evaluate(model, dataset, batch_size=self.batch_size, model_name=ref.label, set_name=set_name)
        meaning = label_meaning(dataset)
        out = UnitOutput(records=[{**row, "label_meaning": meaning} for row in result.records])
        if unit.inputs["confusion"]:
            fig = figures.confusion_matrix_figure(result.confusion, result.class_names,
                                                  title=f"{ref.label} on {set_name}")
            out.figures.append(("confusion", fig, f"Confusion matrix: {ref.label} on {set_name}"))
        return out

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        overall = df[df["class"] == "all"]
        table = overall[["model", "set", "n", "correct", "accuracy", "ci_low", "ci_high"]].rename(
            columns={"ci_low": "95% CI low", "ci_high": "95% CI high"})
        per_class = df[df["class"] != "all"].pivot_table(
            index="class", columns=["model", "set"], values="accuracy", sort=False)
        per_class.columns = [f"{m} / {s}" for m, s in per_class.columns]
        tables = [("Top-1 accuracy with Clopper-Pearson 95% intervals", table)]
        if len(per_class):
            tables.append(("Per-class accuracy", per_class))
        figs = sorted(figures_of(artifacts), key=lambda a: not str(a.get("path", "")).endswith("accuracy.png"))
        meanings = sorted(set(overall.get("label_meaning", pd.Series(dtype=str)).dropna()))
        intro = "Top-1 accuracy of each model on each set"
        intro += f", measured against each image's {' / '.join(meanings)}." if meanings else "."
        worst = overall.loc[overall["accuracy"].idxmin()]
        lowest = {m: f"{rows['accuracy'].min():.3g} on {rows.loc[rows['accuracy'].idxmin(), 'set']}"
                  for m, rows in overall.groupby("model", sort=False)}
        findings = [Finding(study="evaluate", measure=f"lowest accuracy: {worst['model']} on {worst['set']}",
                            value=worst["accuracy"], verdict="info",
                            detail=f"95% CI {worst['ci_low']:.3g}–{worst['ci_high']:.3g}"
                            + (f"; lowest per model: {per_model(lowest)}" if len(lowest) > 1 else ""))]
        return Section(title="Evaluation", intro=intro, tables=tables, figures=figs, findings=findings)


register_section(Evaluate.name, title=Evaluate.title, order=Evaluate.order)(Evaluate.section)
