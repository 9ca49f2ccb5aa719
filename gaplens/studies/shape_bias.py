"""Study "shape_bias": texture vs. shape decisions on cue-conflict stimuli (Geirhos et al. 2019).

:class:`ShapeBias`: one unit per model (its records and its decisions as arrays), then one unit
that draws the per-category figure of every planned model from the saved decisions.
:class:`ShapeBiasFromDecisions`: the same analysis on recorded decisions (the published raw-data
files of human observers or models), one unit for the files, its decision makers in the same
section and table as the models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from gaplens.core.errors import DataError, InputError
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of, per_model, span
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.models import ModelRef, model_refs
from gaplens.studies.runner import Context


@dataclass
class ShapeBias(Study):
    """Shape bias of each model on cue-conflict ``stimuli``.

    Args:
        models: specs, models or :class:`ModelRef` s.
        stimuli: a cue-conflict folder (``dog10-bird2.png`` names), a manifest CSV, a
            ``synthetic:...,conflict=1`` spec, or a stimulus set.
        reference: draw the published values (humans, ResNet-50, SIN) in the figure.
    """

    name = "shape_bias"
    title = "Texture vs. shape"
    order = -5

    models: Any
    stimuli: Any
    reference: bool = False

    def __post_init__(self) -> None:
        self.refs: list[ModelRef] = model_refs(self.models)
        self._stimuli = None

    def stimulus_set(self):
        from gaplens.bias import load_stimuli
        from gaplens.data.spec import SYNTHETIC_PREFIX, load_dataset

        if self._stimuli is None:
            source = self.stimuli
            if isinstance(source, str) and source.startswith(SYNTHETIC_PREFIX):
                source = load_dataset(source)
            self._stimuli = load_stimuli(source)
        return self._stimuli

    def units(self, ctx: Context) -> list[Unit]:
        stimuli = data_digest(self.stimuli)
        units = [Unit(ref.label, {"model": ref.digest, "stimuli": stimuli}, scope=ref.label, payload=ref)
                 for ref in self.refs]
        keys = tuple(u.key for u in units)
        units.append(Unit("figure", {"reference": self.reference}, scope="figure", depends=keys, payload=keys))
        return units

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.bias import shape_bias, shape_bias_figure
        from gaplens.bias.shape_bias import shape_bias_from_decisions

        if unit.key == "figure":
            results = {}
            names = {r["unit"]: r["class_names"] for r in ctx.store.records(self.name)
                     if r.get("category") == "all" and "class_names" in r}
            for key in unit.payload:
                arrays = {n: torch.from_numpy(ctx.load_array(self.name, key, n))
                          for n in ("decisions", "shape_labels", "texture_labels")}
                results[key] = shape_bias_from_decisions(arrays["decisions"], arrays["shape_labels"],
                                                         arrays["texture_labels"], names[key].split("\t"), model=key)
            fig = shape_bias_figure(results, reference=self.reference)
            return UnitOutput(figures=[("categories", fig, "Shape vs. texture decisions per category")])
        ref: ModelRef = unit.payload
        result = shape_bias(ref.load(), self.stimulus_set(), model_name=ref.label)
        records = [{"model": ref.label, **row} for row in result.records]
        for row in records:
            if row.get("category") == "all":
                row["class_names"] = "\t".join(result.class_names)
        arrays = [(n, getattr(result, n).numpy(), n) for n in ("decisions", "shape_labels", "texture_labels")]
        return UnitOutput(records=records, arrays=arrays)

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        overall = df[df["category"] == "all"] if "category" in df else df.iloc[:0]
        hidden = ("study", "unit", "category", "class_names")
        cols = [c for c in overall.columns if c not in hidden and overall[c].notna().any()]
        rows = list(overall.iterrows())
        findings = []
        if rows:
            intervals = {str(r["model"]): f"{r['shape_bias']:.3g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]"
                         for _, r in rows}
            findings.append(Finding(
                study="shape_bias", measure="shape bias" + (f" of {rows[0][1]['model']}" if len(rows) == 1
                                                           else f" ({len(rows)} models)"),
                value=span(overall["shape_bias"]), verdict="info",
                detail=f"95% CI {per_model(intervals)}; humans about 0.96, ImageNet ResNet-50 about 0.22"))
        return Section(
            title="Texture vs. shape",
            intro=("Cue-conflict images carry the shape of one class and the texture of another (Geirhos et al. "
                   "2019). A decision is a shape decision when it names the shape's class and a texture decision "
                   "when it names the texture's class; shape bias = shape decisions / (shape + texture decisions), "
                   "with an exact 95% interval. Humans score about 0.96 on the published stimuli, an ImageNet "
                   "ResNet-50 about 0.22."),
            tables=[("Shape bias per model", overall[cols])], figures=figures_of(artifacts), findings=findings)


@dataclass
class ShapeBiasFromDecisions(Study):
    """Shape bias of recorded decisions: subjects pooled and each subject (its section is :class:`ShapeBias`').

    Args:
        decisions: raw-data CSV files in the published format (one row per trial: ``subj``,
            ``session``, ``object_response``, ``category``, ``imagename``; see
            :mod:`gaplens.bias.decisions`). All trials of all files are pooled: give the files of
            one group (e.g. the human observers).
        per_subject: also one result per subject.
        reference: draw the published values (humans, ResNet-50, SIN) in the figure.
    """

    name = "shape_bias"
    title = "Texture vs. shape"
    order = -5

    decisions: Any
    per_subject: bool = True
    reference: bool = False

    def __post_init__(self) -> None:
        files = [self.decisions] if isinstance(self.decisions, (str, Path)) else list(self.decisions or [])
        if not files:
            raise InputError("decisions: give at least one raw-data CSV file")
        self.files = [Path(f) for f in files]

    def _label(self) -> str:
        names = [f.name for f in self.files]
        return "decisions: " + (", ".join(names) if len(names) <= 3 else f"{names[0]} and {len(names) - 1} more")

    def units(self, ctx: Context) -> list[Unit]:
        digests = []
        for f in self.files:
            if not f.is_file():
                raise DataError(f"{f}: no such decision file")
            digests.append([f.name, hashlib.sha256(f.read_bytes()).hexdigest()[:16]])
        inputs = {"files": digests, "per_subject": self.per_subject, "reference": self.reference}
        return [Unit("decisions", inputs, scope="decisions")]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.bias import shape_bias_figure
        from gaplens.bias.decisions import POOLED, read_decisions, shape_bias_of_recorded

        recorded = read_decisions(self.files)
        results = shape_bias_of_recorded(recorded, stimuli=self._label(), per_subject=self.per_subject)
        records = [row for result in results.values() for row in result.records]
        pooled = results[POOLED]
        arrays = [(n, getattr(pooled, n).numpy(), n) for n in ("decisions", "shape_labels", "texture_labels")]
        fig = shape_bias_figure(results, reference=self.reference)
        return UnitOutput(records=records, arrays=arrays,
                          figures=[("decisions", fig, "Shape vs. texture decisions per category (recorded)")])

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        return ShapeBias.section(df, artifacts)


def decision_rows(records: Sequence[dict]) -> list[dict]:
    """One row per decision maker: overall counts, shape bias and interval, and ``per_category`` the same per category.

    ``shape_bias`` is ``None`` where no decision named either cue (JSON has no NaN).
    """
    keys = ("n_trials", "n_shape", "n_texture", "n_other", "shape_bias", "ci_low", "ci_high")

    def clean(row: dict) -> dict:
        out = {}
        for k in keys:
            value = row.get(k)
            out[k] = None if isinstance(value, float) and value != value else value
        return out

    rows: dict[str, dict] = {}
    for r in records:
        if r.get("category") == "all":
            rows[str(r["model"])] = {"model": str(r["model"]), **clean(r), "per_category": {}}
    for r in records:
        if r.get("category") not in (None, "all") and str(r.get("model")) in rows:
            rows[str(r["model"])]["per_category"][str(r["category"])] = clean(r)
    return list(rows.values())


register_section(ShapeBias.name, title=ShapeBias.title, order=ShapeBias.order)(ShapeBias.section)
