"""Study "robustness": accuracy under the 12 distortions of Geirhos et al. 2018, at every level.

One unit per (model, distortion), in the model's scope: all levels of a distortion are evaluated
in one pass over the set, so each image is read once per distortion. Then one figure unit per
sweep. A killed sweep resumes at the first distortion it had not finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gaplens.data.align import align_classes
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of, per_model
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.models import ModelRef, model_refs
from gaplens.studies.runner import Context


@dataclass
class Sweep(Study):
    """Accuracy of each model on ``data`` under every distortion and level.

    Args:
        models: specs, models or :class:`ModelRef` s.
        data: the test set (spec or dataset).
        distortions: ``"all"``, ``"all-but:NAME"``, a comma list or a list of names.
        batch_size: images per forward pass (does not change results).
        seed: seed of the random distortions (image ``i`` uses ``(seed, i)``).
        figure: name of the sweep's figure unit (one per sweep of a run).
        protocol: a sentence on how the models were trained, shown in the report (optional).
    """

    name = "robustness"
    title = "Distortion robustness"
    order = 8

    models: Any
    data: Any
    distortions: str | Sequence[str] = "all"
    batch_size: int = 128
    seed: int = 0
    figure: str = "robustness"
    protocol: str = ""

    def __post_init__(self) -> None:
        from gaplens.robustness.base import resolve_levels, select_distortions

        self.refs: list[ModelRef] = model_refs(self.models)
        self.names = select_distortions(self.distortions)
        self.levels = resolve_levels(self.names, "published")
        self._data = None

    def dataset(self):
        from gaplens.studies.evaluate import load_set

        if self._data is None:
            self._data = load_set(self.data)
        return self._data

    def units(self, ctx: Context) -> list[Unit]:
        data = data_digest(self.data)
        units = []
        for ref in self.refs:
            for name in self.names:
                units.append(Unit(f"{ref.label}/{name}", {"model": ref.digest, "data": data, "distortion": name,
                                                          "levels": self.levels[name], "seed": self.seed},
                                  scope=ref.label, payload=(ref, name)))
        keys = tuple(u.key for u in units)
        units.append(Unit(f"figure/{self.figure}", {"protocol": self.protocol}, scope=f"figure/{self.figure}",
                          depends=keys, payload=keys))
        return units

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.robustness import accuracy_vs_level_figure, sweep

        if unit.key.startswith("figure/"):
            rows = [r for r in ctx.store.records(self.name) if r["unit"] in unit.payload]
            return UnitOutput(figures=[(self.figure, accuracy_vs_level_figure(rows),
                                        "Accuracy against distortion level (95% CI)")])
        ref, name = unit.payload
        model = ref.load()
        dataset = align_classes(self.dataset(), model.class_names, what=f"test set of {ref.label!r}")
        rows = sweep(model, dataset, distortions=[name], levels={name: self.levels[name]},
                     batch_size=self.batch_size, seed=self.seed, model_name=ref.label)
        records = [{**row, "sweep": self.figure, "protocol": self.protocol} for row in rows]
        return UnitOutput(records=records)

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        rows = df[df["distortion"].notna()].astype({"level": str})
        table = rows.pivot_table(index=["distortion", "level"], columns="model", values="accuracy", sort=False)
        table = table.reset_index()
        means = rows.pivot_table(index="model", columns="distortion", values="accuracy", aggfunc="mean", sort=False)
        intro = ("Accuracy under the 12 image distortions of Geirhos et al. (2018) at their published levels, with "
                 "Clopper-Pearson 95% intervals in the figures (one line per model, chance level dashed).")
        protocols = [p for p in dict.fromkeys(rows.get("protocol", pd.Series(dtype=str)).dropna()) if p]
        if protocols:
            intro += "\n\n" + "\n\n".join(protocols)
        findings = []
        if len(rows):
            # the distortion whose mean accuracy over its levels is lowest, for each model
            mean = rows.groupby(["model", "distortion"], sort=False)["accuracy"].mean()
            hardest = {str(m): f"{d} {mean[m, d]:.3g}" for m, d in
                       mean.groupby(level="model", sort=False).idxmin().str[1].items()}
            worst_model, worst = mean.idxmin()
            chance = float(rows["chance"].iloc[0]) if "chance" in rows else float("nan")
            findings.append(Finding(
                study="robustness", measure=f"hardest distortion: {worst} ({worst_model})",
                value=float(mean[worst_model, worst]), verdict="info",
                detail=f"mean accuracy over its levels; chance {chance:.3g}"
                + (f"; hardest per model: {per_model(hardest)}" if len(hardest) > 1 else "")))
        return Section(
            title="Distortion robustness", intro=intro,
            tables=[("Mean accuracy over each distortion's levels", means.reset_index()),
                    ("Accuracy by distortion and level", table)],
            figures=figures_of(artifacts), findings=findings)


register_section(Sweep.name, title=Sweep.title, order=Sweep.order)(Sweep.section)
