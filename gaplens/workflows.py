"""Run one capability into a run folder: the functions the CLI commands call.

Each function loads what it needs, calls the capability (a plain Python function), and writes
records, figures and artifacts into ``runs/NAME`` through the store, one unit of work per
transaction, skipping units already recorded (re-running resumes).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from gaplens.core.errors import InputError
from gaplens.core.model import Classifier, load_model
from gaplens.data.spec import load_dataset
from gaplens.evaluate import Evaluation, evaluate
from gaplens.report import figures
from gaplens.store import RunStore
from gaplens.train import FitResult, fit
from gaplens.zoo import build


def train_into_run(
    store: RunStore,
    name: str,
    train_set: object,
    arch: str = "resnet",
    val_set: object | None = None,
    arch_kwargs: dict | None = None,
    resume: bool = True,
    **fit_kwargs,
) -> Classifier:
    """Train architecture ``arch`` on ``train_set`` as model ``name`` of the run; returns the model.

    The checkpoint goes to ``RUN/models/NAME``; a model already recorded as trained is loaded
    instead of retrained; an interrupted training resumes from its last finished epoch.
    """
    folder = store.run_dir / "models" / name
    if store.is_done("train", name) and (folder / "model.safetensors").is_file():
        return load_model(folder, device=fit_kwargs.get("device", "auto"))
    names = getattr(train_set, "class_names", None)
    if names is None:
        raise InputError("train_set has no class_names")
    network = build(arch, num_classes=len(names), **(arch_kwargs or {}))
    started = time.perf_counter()
    result: FitResult = fit(network, train_set, val_set, checkpoint_dir=folder, resume=resume, **fit_kwargs)
    seconds = time.perf_counter() - started
    with store.unit("train", name) as unit:
        for row in result.history:
            unit.add({"model": name, "arch": arch, **row})
        unit.add({"model": name, "arch": arch, "epoch": "total", "seconds": seconds})
        fig = figures.training_curves_figure(result.history, title=f"Training of {name} ({arch})")
        path = figures.save_figure(fig, store.figures_dir / f"train_{name}.png")
        unit.artifact(kind="figure", path=path, title=f"Training curves: {name}")
        unit.artifact(kind="checkpoint", path=folder / "model.safetensors", title=name)
    return result.model


def evaluate_into_run(
    store: RunStore,
    model: Classifier,
    model_name: str,
    dataset: object,
    set_name: str,
    batch_size: int = 256,
    figure: bool = True,
) -> Evaluation | None:
    """Evaluate ``model`` on ``dataset`` and record it as unit ``MODEL/SET`` of study "evaluate".

    Returns the evaluation, or ``None`` when the unit was already recorded (resume).
    """
    key = f"{model_name}/{set_name}"
    if store.is_done("evaluate", key):
        return None
    result = evaluate(model, dataset, batch_size=batch_size, model_name=model_name, set_name=set_name)
    with store.unit("evaluate", key) as unit:
        unit.add_many(result.records)
        if figure:
            fig = figures.confusion_matrix_figure(
                result.confusion, result.class_names, title=f"{model_name} on {set_name}"
            )
            path = figures.save_figure(fig, store.figures_dir / f"confusion_{model_name}_{set_name}.png")
            unit.artifact(kind="figure", path=path, title=f"Confusion matrix: {model_name} on {set_name}")
    return result


def train_command(
    data: str,
    out: str | Path,
    arch: str = "resnet",
    name: str | None = None,
    val: str | None = None,
    resume: bool = False,
    **fit_kwargs,
) -> Path:
    """``gaplens train``: train on a dataset spec into a run folder; returns the checkpoint folder."""
    train_set = load_dataset(data)
    val_set = load_dataset(val) if val else None
    name = name or arch
    with RunStore(out) as store:
        run_id = store.start_run("train", {"data": data, "arch": arch, "name": name, "val": val, **fit_kwargs})
        if not resume and store.is_done("train", name):
            raise InputError(f"{out}: model {name!r} is already trained; pass --resume to reuse it or another --out")
        train_into_run(store, name, train_set, arch=arch, val_set=val_set, resume=resume, **fit_kwargs)
        store.finish_run(run_id)
        return store.run_dir / "models" / name


def evaluate_command(model: str, data: Sequence[str], out: str | Path, batch_size: int = 256,
                     device: str = "auto") -> list[dict]:
    """``gaplens evaluate``: evaluate a model spec on dataset specs; returns the overall records."""
    classifier = load_model(model, device=device)
    model_name = Path(model).name if Path(model).exists() else model
    rows = []
    with RunStore(out) as store:
        run_id = store.start_run("evaluate", {"model": model, "data": list(data)})
        for spec in data:
            set_name = Path(spec).name if Path(spec).exists() else spec
            evaluate_into_run(store, classifier, model_name, load_dataset(spec), set_name, batch_size)
        store.finish_run(run_id)
        for row in store.records("evaluate"):
            if row.get("class") == "all" and row.get("model") == model_name:
                rows.append({k: row[k] for k in ("model", "set", "n", "correct", "accuracy", "ci_low", "ci_high")})
    return rows
