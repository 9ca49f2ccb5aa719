"""Study "sanity": Adebayo et al.'s randomization checks, one unit per (model, test).

Each unit holds the similarity rows (``kind="similarity"``), the edge-detector rows
(``kind="edge"``), one verdict row per method (``kind="verdict"``) and the paper's two figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gaplens.core.errors import InputError
from gaplens.report.html import Finding, Section, register_section, verdict_matrix
from gaplens.sanity.result import VERDICT_RATIONALE
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of
from gaplens.studies.explain import load_batch
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.models import ModelRef, model_refs
from gaplens.studies.runner import Context

#: Fast settings of the stochastic and path methods for sanity sweeps (many attribution calls).
SANITY_OPTIONS = {"integrated_gradients": {"n_steps": 16}, "smoothgrad": {"n_samples": 16},
                  "smoothgrad_sq": {"n_samples": 16}, "vargrad": {"n_samples": 16}}

MODES = ("cascading", "independent")


@dataclass
class Sanity(Study):
    """Model randomization (``modes``) and, with ``random_label_model``, data randomization.

    Args:
        model: a spec, a model or a :class:`ModelRef`.
        images: an image spec, an ImageBatch or an ``(N, 3, H, W)`` tensor.
        modes: model randomization modes (``cascading``, ``independent``).
        methods: attribution methods (``None``: :data:`gaplens.sanity.DEFAULT_METHODS`).
        random_label_model: the same architecture trained on random labels (spec, model or ref).
        method_options: per-method options, over :data:`SANITY_OPTIONS`.
        limit: at most this many images of a spec.
        batch_size: bound on the inputs per forward pass (does not change results).
        verdict_metric, verdict_step, threshold: how the verdict reads the similarities (see
            :func:`gaplens.sanity.model_randomization`); the defaults (signed Spearman, median over
            the cascade steps, 0.5) are argued in :data:`gaplens.sanity.VERDICT_RATIONALE`.
    """

    name = "sanity"
    title = "Sanity checks"
    order = 1

    model: Any
    images: Any
    modes: Sequence[str] = MODES
    methods: Sequence[str] | None = None
    random_label_model: Any = None
    method_options: dict = field(default_factory=dict)
    limit: int = 8
    batch_size: int = 64
    verdict_metric: str | None = None
    verdict_step: str = "median"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        from gaplens import sanity

        (self.ref,) = model_refs([self.model])
        self.random_ref: ModelRef | None = None
        if self.random_label_model is not None:
            (self.random_ref,) = model_refs({f"{self.ref.label}-random-labels": self.random_label_model})
        bad = [m for m in self.modes if m not in MODES]
        if bad:
            raise InputError(f"modes {bad}: expected among {list(MODES)}")
        if self.verdict_step not in sanity.randomization.VERDICT_STEPS:
            raise InputError(f"verdict_step={self.verdict_step!r}: expected one of "
                             f"{list(sanity.randomization.VERDICT_STEPS)}")
        if self.verdict_metric is not None and self.verdict_metric not in sanity.METRICS:
            raise InputError(f"verdict_metric={self.verdict_metric!r}: expected one of {sanity.METRICS.names()}")
        self.method_list = list(self.methods) if self.methods else list(sanity.DEFAULT_METHODS)
        self.options = {**SANITY_OPTIONS, **self.method_options}
        self._batch = None

    def batch(self):
        if self._batch is None:
            self._batch = load_batch(self.images, self.ref.load(), self.limit)
        return self._batch

    def units(self, ctx: Context) -> list[Unit]:
        common = {"model": self.ref.digest, "images": data_digest(self.batch().images), "methods": self.method_list,
                  "options": {m: self.options.get(m, {}) for m in self.method_list},
                  "verdict": {"metric": self.verdict_metric, "step": self.verdict_step, "threshold": self.threshold}}
        tests = list(self.modes) + (["data"] if self.random_ref is not None else [])
        units = []
        for test in tests:
            inputs = {**common, "test": test}
            if test == "data":
                inputs["random_label_model"] = self.random_ref.digest
            units.append(Unit(f"{self.ref.label}/{test}", inputs, scope=self.ref.label, payload=test))
        return units

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens import sanity

        test = unit.payload
        images = self.batch().images
        model = self.ref.load()
        common = {"methods": self.method_list, "method_options": self.options, "batch_size": self.batch_size,
                  "progress": ctx.progress, "verdict_metric": self.verdict_metric, "threshold": self.threshold}
        if test == "data":
            result = sanity.data_randomization(model, self.random_ref.load(), images, **common)
        else:
            result = sanity.model_randomization(model, images, mode=test, verdict_step=self.verdict_step, **common)
        label = self.ref.label
        records = [{"model": label, "kind": "similarity", **row} for row in result.records]
        records += [{"model": label, "kind": "edge", **row} for row in result.edge_records]
        for method, verdict in result.verdicts.items():
            records.append({"model": label, "kind": "verdict", "mode": result.mode, "method": method,
                            **{k: v for k, v in verdict.items() if k != "method"}})
        return UnitOutput(records=records, figures=[
            ("similarity", sanity.similarity_figure(result), f"Similarity to the original maps: {test} ({label})"),
            ("maps", sanity.randomization_grid_figure(result), f"Maps under {test} randomization ({label})")])

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        verdicts = df[df["kind"] == "verdict"]
        tables = []
        findings = []
        for model, part in verdicts.groupby("model", sort=False):
            prefix = f"{model}: " if verdicts["model"].nunique() > 1 else ""
            tables.append((f"{prefix}verdicts (✓: the maps changed enough when the model or data was randomized)",
                           verdict_matrix(part, rows="method", columns="mode", default_check="≤")))
        if len(verdicts):
            passed = verdicts["passed"].astype(bool)
            counts = {f"{mode}": f"{int(passed[rows.index].sum())}/{len(rows)}"
                      for mode, rows in verdicts.groupby("mode", sort=False)}
            tested = verdicts[verdicts["method"] != "edge"]  # the edge control is expected to fail
            sensitive = sorted(set(tested["method"]) - set(tested.loc[~tested["passed"].astype(bool), "method"]))
            failing = sorted(set(tested.loc[~tested["passed"].astype(bool), "method"]))
            findings.append(Finding(
                study="sanity", measure="methods whose maps change when the model or data is randomized",
                value=", ".join(f"{k} {v}" for k, v in counts.items()),
                verdict="pass" if not failing else ("fail" if not sensitive else "warning"),
                detail=(f"insensitive: {', '.join(failing)}" if failing else "every method is sensitive")
                + (f"; sensitive to all tests: {', '.join(sensitive)}" if sensitive and failing else "")))
        # the curves the verdict came from: its metric, mean over images, per step (columns 0..L)
        for (model, mode), part in verdicts.groupby(["model", "mode"], sort=False):
            metric = part["metric"].iloc[0]
            rows = df[(df["kind"] == "similarity") & (df["model"] == model) & (df["mode"] == mode)
                      & (df["metric"] == metric)]
            if not len(rows):
                continue
            curve = rows.pivot_table(index="method", columns="layer_index", values="value", aggfunc="mean", sort=False)
            curve.columns = [f"step {int(c)}" for c in curve.columns]
            curve = curve.reset_index()
            curve["verdict value"] = curve["method"].map(dict(zip(part["method"], part["value"], strict=True)))
            prefix = f"{model}: " if verdicts["model"].nunique() > 1 else ""
            tables.append((f"{prefix}{mode}: {metric} similarity to the original map per step (mean over images; "
                           f"step 0 = original model), the curve the verdict reads ({part['check'].iloc[0]})", curve))
        edge = df[(df["kind"] == "edge") & (df["layer_index"] == 0)]
        if len(edge):
            tables.append(("Similarity of each method's original map to the input's Sobel edge map",
                           edge.groupby(["model", "method", "metric"], sort=False)["value"].mean().unstack()
                           .reset_index()))
        return Section(
            title="Sanity checks",
            intro=("Adebayo et al. (2018): an explanation that should explain the model must change when the model's "
                   "weights are re-initialized (cascading: from the logits down; independent: one block at a time) "
                   "and when the model is trained on random labels. Similarity to the original map is measured on "
                   "absolute maps (Spearman rank correlation, SSIM, HOG) and on signed maps (Spearman). The edge "
                   "control does not depend on the model at all and scores 1 at every step: it is the reference for "
                   "an insensitive method. " + VERDICT_RATIONALE + " Verdicts read with another metric or step say "
                   "so in their check column; the figure's framed panel is the metric the verdict read."),
            tables=tables, figures=figures_of(artifacts), findings=findings)


register_section(Sanity.name, title=Sanity.title, order=Sanity.order)(Sanity.section)
