"""Study "train": fit a zoo architecture into ``RUN/models/NAME`` (one unit per model).

The unit's fingerprint covers the training data, the architecture and every fit setting, so
re-running the same command reuses the model and changing any of them trains it again from
scratch (an interrupted training of the *same* settings resumes from its last finished epoch).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from gaplens.core.errors import InputError
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of, per_model, span
from gaplens.studies.fingerprint import data_digest, digest
from gaplens.studies.models import ModelRef
from gaplens.studies.runner import Context

FINGERPRINT_FILE = "fingerprint.txt"


@dataclass
class Train(Study):
    """Train architecture ``arch`` on ``data`` (a spec or a dataset) as model ``model_name`` of the run.

    Args:
        model_name: the model's label, and its folder ``RUN/models/NAME``.
        data: a dataset spec (``synthetic:...``, an image folder) or a dataset object.
        arch, arch_kwargs: a registered zoo architecture and its keyword arguments.
        val: an optional validation set (spec or dataset).
        fit: keyword arguments of :func:`gaplens.train.fit` (epochs, lr, seed, random_labels, ...).
        augment: ``None``, or distortions to train with (``"all-but:uniform_noise"``, ...).
        clean_fraction: share of clean images in each batch when ``augment`` is given.
    """

    name = "train"
    title = "Training"
    order = -20

    model_name: str
    data: Any
    arch: str = "resnet"
    arch_kwargs: dict = field(default_factory=dict)
    val: Any = None
    fit: dict = field(default_factory=dict)
    augment: str | None = None
    clean_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.model_name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.model_name):
            raise InputError(f"model name {self.model_name!r}: expected letters, digits, '-', '_' and '.' "
                             "(it names a folder inside the run), starting with a letter or digit")

    def folder(self, run_dir: Path) -> Path:
        return run_dir / "models" / self.model_name

    def units(self, ctx: Context) -> list[Unit]:
        inputs = {"data": data_digest(self.data), "val": None if self.val is None else data_digest(self.val),
                  "arch": self.arch, "arch_kwargs": self.arch_kwargs, "augment": self.augment,
                  "clean_fraction": self.clean_fraction,
                  "fit": {k: v for k, v in self.fit.items() if k not in ("progress", "device")}}
        return [Unit(self.model_name, inputs, scope=self.model_name)]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.data.spec import load_dataset
        from gaplens.report import figures
        from gaplens.train import STATE_FILE, fit
        from gaplens.zoo import build

        train_set = load_dataset(self.data) if isinstance(self.data, str) else self.data
        val_set = load_dataset(self.val) if isinstance(self.val, str) else self.val
        names = getattr(train_set, "class_names", None)
        if names is None:
            raise InputError(f"train data {self.data!r} has no class names")
        folder = self.folder(ctx.run_dir)
        folder.mkdir(parents=True, exist_ok=True)
        wanted = digest(unit.inputs)
        marker = folder / FINGERPRINT_FILE
        if not marker.is_file() or marker.read_text().strip() != wanted:
            (folder / STATE_FILE).unlink(missing_ok=True)  # other settings: never resume their state
            marker.write_text(wanted + "\n")
        augment = None
        if self.augment is not None:
            from gaplens.robustness import distortion_augment

            augment = distortion_augment(self.augment, clean_fraction=self.clean_fraction)
        with torch.random.fork_rng(devices=[]):  # the same seed gives the same initial weights
            torch.manual_seed(int(self.fit.get("seed", 0)))
            network = build(self.arch, num_classes=len(names), **self.arch_kwargs)
        options = {"device": ctx.device, "progress": ctx.progress, **self.fit}
        started = time.perf_counter()
        result = fit(network, train_set, val_set, checkpoint_dir=folder, resume=True, augment=augment, **options)
        seconds = time.perf_counter() - started
        records = [{"model": self.model_name, "arch": self.arch, **row} for row in result.history]
        records.append({"model": self.model_name, "arch": self.arch, "epoch": "total", "seconds": seconds})
        fig = figures.training_curves_figure(result.history, title=f"Training of {self.model_name} ({self.arch})")
        return UnitOutput(records=records, figures=[("curves", fig, f"Training curves: {self.model_name}")],
                          files=[("checkpoint", folder / "model.safetensors", self.model_name)])

    def model(self, run_dir: Path, device: str = "auto") -> ModelRef:
        """The trained model (after :meth:`Runner.run`) as a :class:`ModelRef` labelled ``model_name``."""
        from gaplens.core.model import load_model

        return ModelRef(self.model_name, model=load_model(self.folder(run_dir), device=device))

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        epochs = df[df["epoch"].astype(str) != "total"]
        last = epochs.groupby("model", sort=False).tail(1)
        totals = df[df["epoch"].astype(str) == "total"].set_index("model")["seconds"]
        cols = [c for c in ("model", "arch", "epoch", "train_loss", "train_accuracy", "val_accuracy") if c in last]
        summary = last[cols].copy()
        summary["training seconds"] = summary["model"].map(totals)
        accuracy = dict(zip(last["model"].astype(str), last["train_accuracy"], strict=True))
        findings = [Finding(study="train", measure=f"final training accuracy ({len(accuracy)} models)"
                            if len(accuracy) > 1 else f"final training accuracy of {next(iter(accuracy))}",
                            value=span(accuracy.values()), verdict="info",
                            detail=per_model({k: f"{v:.3g}" for k, v in accuracy.items()}) if len(accuracy) > 1
                            else "")]
        return Section(title="Training", intro="The last epoch of each model trained in this run.",
                       tables=[("Models", summary)], figures=figures_of(artifacts), findings=findings)


register_section(Train.name, title=Train.title, order=Train.order)(Train.section)
