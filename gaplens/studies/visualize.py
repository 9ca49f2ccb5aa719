"""Study "visualize": class models, channel visualizations and DeepDream of one model.

Three kinds of request share the study and its section: :class:`ClassModels` (one unit: every
class under each score, one figure side by side), :class:`Channels` (one unit per layer) and
:class:`DeepDream` (one unit per layer and photograph). Each kind keeps its own scope, so a new
class-model request replaces the old one but leaves the DeepDreams alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of, per_model
from gaplens.studies.fingerprint import data_digest
from gaplens.studies.models import ModelRef, model_refs
from gaplens.studies.runner import Context

STUDY = "visualize"


def _store_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows safe for the store: ``unit`` is a reserved key there (a network unit kind becomes ``unit_kind``)."""
    return [{("unit_kind" if k == "unit" else k): v for k, v in row.items()} for row in rows]


def _ref(model: Any) -> ModelRef:
    (ref,) = model_refs([model])
    return ref


def visualize_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
    tables = []
    findings = []
    classes = df[df["kind"] == "class_model"] if "kind" in df else df.iloc[:0]
    if len(classes):
        cols = [c for c in ("model", "objective_label", "class_name", "score", "top1_name", "target_probability",
                            "target_rank") if c in classes]
        tables.append(("Class models: is each image classified as its class?", classes[cols]))
        if "target_rank" in classes:
            top = int((classes["target_rank"] == 1).sum())
            per = {f"{m} ({label.removeprefix('maximize ')})": f"{int((p['target_rank'] == 1).sum())}/{len(p)}"
                   for (m, label), p in classes.groupby(["model", "objective_label"], sort=False)}
            findings.append(Finding(study=STUDY, measure="class models that the model classifies as their class",
                                    value=f"{top}/{len(classes)}", verdict="pass" if top == len(classes) else "warning",
                                    detail=per_model(per) if len(per) > 1 else ""))
    return Section(
        title="Feature visualization",
        intro=("Images made by gradient ascent on the input (Simonyan et al. 2013; Olah et al. 2017): class models "
               "maximize a class score minus an L2 penalty, starting from the model's zero colour. Maximizing "
               "the softmax probability instead of the logit can succeed by pushing the other classes down, "
               "which is why the two can be shown side by side. Channel visualizations maximize one channel's "
               "mean activation; DeepDream starts from a photograph and amplifies what a layer responds to."),
        tables=tables, figures=figures_of(artifacts), findings=findings)


@dataclass
class ClassModels(Study):
    """Class models (Simonyan et al. 2013) of every class, for each score, with their top-3 classes.

    ``options`` go to :func:`gaplens.visualize.class_model` (``steps``, ``l2``, ``classes``, ...).
    """

    name = STUDY
    title = "Feature visualization"
    order = 5

    model: Any
    scores: Sequence[str] = ("logit",)
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ref = _ref(self.model)

    def units(self, ctx: Context) -> list[Unit]:
        inputs = {"model": self.ref.digest, "scores": list(self.scores), "options": self.options}
        return [Unit(f"{self.ref.label}/classes", inputs, scope=f"{self.ref.label}/classes")]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.visualize import class_model, class_model_figure

        model = self.ref.load()
        results = {f"maximize {score}": class_model(model, score=score, **self.options) for score in self.scores}
        records = [{"model": self.ref.label, "kind": "class_model", "objective_label": label, **row}
                   for label, result in results.items() for row in _store_rows(result.records)]
        fig = class_model_figure(results, title=f"Class models of {self.ref.label} (Simonyan et al. 2013)")
        return UnitOutput(records=records, figures=[
            ("classes", fig, f"Class models of {self.ref.label}, with their top-3 classes")])

    section = staticmethod(visualize_section)


@dataclass
class Channels(Study):
    """Feature visualizations of a layer's channels (Fourier parameterization, Lucid's transforms)."""

    name = STUDY
    title = "Feature visualization"
    order = 5

    model: Any
    layer: str
    channels: Any = "all"
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ref = _ref(self.model)

    def units(self, ctx: Context) -> list[Unit]:
        inputs = {"model": self.ref.digest, "layer": self.layer, "channels": self.channels, "options": self.options}
        key = f"{self.ref.label}/units/{self.layer}"
        return [Unit(key, inputs, scope=key)]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.visualize import channel_grid_figure, channel_images

        result = channel_images(self.ref.load(), self.layer, self.channels, **self.options)
        records = [{"model": self.ref.label, "kind": "unit", **row} for row in _store_rows(result.records)]
        fig = channel_grid_figure(result, title=f"Channels of {self.layer} in {self.ref.label}")
        return UnitOutput(records=records, figures=[
            ("channels", fig, f"What the channels of {self.layer} respond to ({self.ref.label})")])

    section = staticmethod(visualize_section)


@dataclass
class DeepDream(Study):
    """DeepDream of one photograph (an image file or ``sample:NAME``) at ``layer``, with its octaves."""

    name = STUDY
    title = "Feature visualization"
    order = 5

    model: Any
    image: str
    layer: str
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ref = _ref(self.model)

    def units(self, ctx: Context) -> list[Unit]:
        inputs = {"model": self.ref.digest, "image": data_digest(self.image), "layer": self.layer,
                  "options": self.options}
        key = f"{self.ref.label}/dream/{self.layer}/{self.image}"
        return [Unit(key, inputs, scope=key)]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.data.spec import load_image_batch
        from gaplens.visualize import deepdream, deepdream_figure

        photo = load_image_batch(self.image, limit=1).images
        result = deepdream(self.ref.load(), photo, self.layer, **self.options)
        records = [{"model": self.ref.label, "kind": "deepdream", "photo": self.image, **row}
                   for row in _store_rows(result.records)]
        fig = deepdream_figure(result, title=f"DeepDream of {self.image} at {self.layer} ({self.ref.label})")
        return UnitOutput(records=records, figures=[
            ("dream", fig, f"DeepDream at {self.layer} of {self.ref.label}, octave by octave")])

    section = staticmethod(visualize_section)


register_section(STUDY, title="Feature visualization", order=5)(visualize_section)
