"""Study "data": what the datasets of a run are (sizes, classes, how texture relates to shape), with samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from gaplens.report.html import Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.runner import Context


@dataclass
class DataSummary(Study):
    """One record per dataset and a grid of samples of the sets named ``show`` (default: all)."""

    name = "data"
    title = "Data"
    order = -30

    sets: dict[str, Any]
    show: tuple[str, ...] | None = None

    def units(self, ctx: Context) -> list[Unit]:
        return [Unit("samples", {name: data_digest(data) for name, data in self.sets.items()}, scope="samples")]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.report import figures
        from gaplens.studies.evaluate import load_set

        loaded = {name: load_set(data) for name, data in self.sets.items()}
        records = []
        for name, data in loaded.items():
            row = {"set": name, "n": len(data.labels) if hasattr(data, "labels") else len(data),
                   "classes": len(getattr(data, "class_names", []) or [])}
            images = getattr(data, "images", None)
            if images is not None:
                row["size"] = int(images.shape[-1])
            if hasattr(data, "texture_labels"):
                row.update({"texture_agreement": data.texture_agreement, "conflict": data.conflict,
                            "shift": float(data.shift),
                            "texture_matches_shape": float((data.texture_labels == data.shape_labels).float().mean())})
            records.append(row)
        shown = {n: loaded[n] for n in (self.show or loaded) if hasattr(loaded[n], "images")}
        out = UnitOutput(records=records)
        if shown:
            fig = figures.sample_grid_figure(shown, per_set=8, title="Samples of each set (label above each image)")
            out.figures.append(("samples", fig, "Samples of each set"))
        return out

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        cols = [c for c in ("set", "n", "classes", "size", "texture_agreement", "conflict", "shift",
                            "texture_matches_shape") if c in df]
        synthetic = "texture_matches_shape" in df and df["texture_matches_shape"].notna().any()
        intro = "The datasets of this run."
        if synthetic:
            intro += (" Synthetic cue-conflict images: the class is the silhouette's shape; the texture inside it "
                      "matches the class with probability texture_agreement (1 = a texture shortcut exists; 1/K = "
                      "texture carries no information). Cue-conflict images have a texture of another class; "
                      "shifted images come from other size, colour and texture-frequency ranges.")
        return Section(title="Data", intro=intro, tables=[("Datasets", df[cols])], figures=figures_of(artifacts))


register_section(DataSummary.name, title=DataSummary.title, order=DataSummary.order)(DataSummary.section)
