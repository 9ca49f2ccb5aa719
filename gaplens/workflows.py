"""Run one capability into a run folder: the functions the CLI commands call.

Each function loads what it needs, calls the capability (a plain Python function), and writes
records, figures and artifacts into ``runs/NAME`` through the store, one unit of work per
transaction, skipping units already recorded (re-running resumes).
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from gaplens.core.errors import InputError
from gaplens.core.model import Classifier, load_model
from gaplens.data.spec import ImageBatch, load_dataset, load_image_batch
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


def mask_fraction(attributions: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each image's rendered |attribution| mass inside its object mask: ``(N,)`` in [0, 1].

    Maps are rendered as in Adebayo et al. (channel sum of |a|, clipped at the 99th percentile);
    a method that ignores the object scores about the mask's area fraction.
    """
    from gaplens.explain import render

    heat = render(attributions, mode="abs")
    if heat.shape[-2:] != masks.shape[-2:]:
        heat = torch.nn.functional.interpolate(heat, size=masks.shape[-2:], mode="bilinear", align_corners=False)
    total = heat.flatten(1).sum(1)
    inside = (heat * masks.to(heat)).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp(min=1e-30), torch.zeros_like(total))


def explain_into_run(
    store: RunStore,
    model: Classifier,
    model_name: str,
    batch: ImageBatch,
    methods: Sequence[str] = ("all",),
    target: str | int = "pred",
    batch_size: int = 64,
    options: dict[str, dict] | None = None,
    figure: bool = True,
) -> dict[str, torch.Tensor]:
    """Attributions of each method for the batch, recorded as units ``MODEL/METHOD`` of study "explain".

    Maps are saved to ``RUN/maps/explain_MODEL_METHOD.npy``; records (one per image and method)
    hold the target, its logit, the completeness gap where defined (IG), the share of the map
    inside the object mask where masks are known, and the seconds the method took for the batch.
    Returns the maps computed or loaded, by method.
    """
    from gaplens.explain import METHODS, attribute
    from gaplens.explain.render import attribution_grid_figure

    names = METHODS.names() if list(methods) in (["all"], []) else list(methods)
    for name in names:
        METHODS[name]  # unknown names fail before any work
    options = options or {}
    if target == "pred":
        targets = None
    elif target == "label":
        if batch.labels is None:
            raise InputError("target='label' needs labelled images (an image folder or synthetic data)")
        targets = batch.labels
    else:
        targets = int(target)
    with torch.no_grad():
        logits = model(batch.images.to(next(model.parameters()).device)).cpu()
    resolved = logits.argmax(1) if targets is None else torch.as_tensor(targets).expand(len(batch))
    maps: dict[str, torch.Tensor] = {}
    for name in names:
        key = f"{model_name}/{name}"
        path = store.maps_dir / f"explain_{_safe(model_name)}_{name}.npy"
        if store.is_done("explain", key) and path.is_file():
            maps[name] = torch.from_numpy(np.load(path))
            continue
        started = time.perf_counter()
        result = attribute(model, batch.images, target=resolved, method=name, batch_size=batch_size,
                           **({"return_delta": True} if name == "integrated_gradients" else {}),
                           **options.get(name, {}))
        seconds = time.perf_counter() - started
        attr, delta = result if isinstance(result, tuple) else (result, None)
        maps[name] = attr
        fractions = mask_fraction(attr, batch.masks) if batch.masks is not None else None
        buffer = io.BytesIO()
        np.save(buffer, attr.numpy())
        with store.unit("explain", key) as unit:
            store.atomic_write_bytes(path.relative_to(store.run_dir), buffer.getvalue())
            for i, image_id in enumerate(batch.ids):
                t = int(resolved[i])
                row = {"model": model_name, "method": name, "image": image_id, "target": t,
                       "target_name": model.class_name(t), "logit": float(logits[i, t]),
                       "seconds": seconds / len(batch)}
                if delta is not None:
                    row["completeness_delta"] = float(delta[i])
                if fractions is not None:
                    row["mask_fraction"] = float(fractions[i])
                    row["mask_area"] = float(batch.masks[i].float().mean())
                unit.add(row)
            unit.artifact(kind="maps", path=path, title=f"{name} maps of {model_name}")
    grid_key = f"{model_name}/figure"
    if figure and not store.is_done("explain", grid_key):
        titles = [f"{model.class_name(int(resolved[i]))} ({float(logits[i, int(resolved[i])]):.1f})"
                  for i in range(len(batch))]
        fig = attribution_grid_figure(batch.images, maps, titles=titles, mode="abs",
                                      title=f"Attributions of {model_name} (target: {target})")
        with store.unit("explain", grid_key) as unit:
            path = figures.save_figure(fig, store.figures_dir / f"explain_{_safe(model_name)}.png")
            unit.artifact(kind="figure", path=path, title=f"Attribution maps of {model_name}")
    return maps


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def explain_command(model: str, images: str, out: str | Path, methods: Sequence[str] = ("all",),
                    target: str = "pred", limit: int = 8, batch_size: int = 64, device: str = "auto") -> list[dict]:
    """``gaplens explain``: attribution maps of a model for a few images into a run folder."""
    classifier = load_model(model, device=device)
    batch = load_image_batch(images, size=classifier.input_size, limit=limit)
    model_name = Path(model).name if Path(model).exists() else model
    with RunStore(out) as store:
        run_id = store.start_run("explain", {"model": model, "images": images, "methods": list(methods),
                                             "target": target, "limit": limit})
        explain_into_run(store, classifier, model_name, batch, methods, target, batch_size)
        store.finish_run(run_id)
        rows = [r for r in store.records("explain") if r.get("model") == model_name and "method" in r]
    summary: dict[str, dict] = {}
    for row in rows:
        entry = summary.setdefault(row["method"], {"method": row["method"], "images": 0, "seconds": 0.0})
        entry["images"] += 1
        entry["seconds"] += row["seconds"]
    return list(summary.values())


def shift_analysis_into_run(store: RunStore, result, evaluation=None, unit_name: str = "analysis") -> None:
    """Record a new-test-set analysis (study "shift_analysis"): per-model rows, the fit, figures.

    The unit is rewritten on every call (the set of models may have grown since the last run).
    Per-class drops and the hard-example check are added when the per-example evaluation is given.
    """
    from gaplens import shift

    with store.unit("shift_analysis", unit_name) as unit:
        for row in result.records:
            unit.add({"kind": "model", **row})
        unit.add({"kind": "summary", "scale": result.scale, **result.summary,
                  "notes": "; ".join(result.notes)})
        fig = shift.shift_scatter_figure(result.records, result.fit)
        path = figures.save_figure(fig, store.figures_dir / f"shift_{_safe(unit_name)}_scatter.png")
        unit.artifact(kind="figure", path=path, title="New vs. original accuracy (Recht et al., Fig. 1)")
        if evaluation is not None:
            hard = shift.hard_example_check(evaluation)
            for row in hard:
                unit.add({"kind": "hard_examples", **row})
            path = figures.save_figure(shift.hard_example_figure(hard),
                                       store.figures_dir / f"shift_{_safe(unit_name)}_hard.png")
            unit.artifact(kind="figure", path=path, title="Drop after leaving out hard examples")
            classes = shift.per_class_drop(evaluation)
            for row in classes:
                unit.add({"kind": "per_class", **row})
            path = figures.save_figure(shift.per_class_drop_figure(classes),
                                       store.figures_dir / f"shift_{_safe(unit_name)}_classes.png")
            unit.artifact(kind="figure", path=path, title="Drop per class")


def shift_evaluate_command(models: Sequence[str], original: str, new: str, out: str | Path, scale: str = "probit",
                           batch_size: int = 256, device: str = "auto") -> dict:
    """``gaplens shift evaluate``: every model on both sets (resumable per model), then the analysis."""
    from gaplens import shift

    if not models:
        raise InputError("--models: give at least one model spec")
    original_set, new_set = load_dataset(original), load_dataset(new)
    factories = {(Path(m).name if Path(m).exists() else m): (lambda m=m: load_model(m, device=device))
                 for m in models}
    with RunStore(out) as store:
        run_id = store.start_run("shift evaluate", {"models": list(models), "original": original, "new": new,
                                                    "scale": scale})
        evaluation = shift.evaluate(factories, original_set, new_set, batch_size=batch_size, store=store)
        result = shift.analyze(evaluation.table(), scale=scale)
        shift_analysis_into_run(store, result, evaluation)
        store.finish_run(run_id)
    return result.summary


def shift_analyze_command(csv: str | Path, out: str | Path, scale: str = "probit") -> dict:
    """``gaplens shift analyze``: published or precomputed per-model counts from a CSV."""
    from gaplens import shift

    result = shift.analyze(csv, scale=scale)
    with RunStore(out) as store:
        run_id = store.start_run("shift analyze", {"csv": str(csv), "scale": scale})
        shift_analysis_into_run(store, result, None, unit_name=Path(csv).stem)
        store.finish_run(run_id)
    return result.summary


def _store_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows safe for the store: ``unit`` is a reserved key there (a network unit kind becomes ``unit_kind``)."""
    return [{("unit_kind" if k == "unit" else k): v for k, v in row.items()} for row in rows]


def class_models_into_run(store: RunStore, model: Classifier, model_name: str, scores: Sequence[str] = ("logit",),
                          **options) -> None:
    """Class models (Simonyan et al.) for every class, one unit per score, and one figure side by side."""
    from gaplens.visualize import class_model, class_model_figure

    key = f"{model_name}/classes"
    if store.is_done("visualize", key):
        return
    results = {f"maximize {score}": class_model(model, score=score, **options) for score in scores}
    with store.unit("visualize", key) as unit:
        for label, result in results.items():
            unit.add_many({"model": model_name, "kind": "class_model", "objective_label": label, **row}
                          for row in _store_rows(result.records))
        fig = class_model_figure(results, title=f"Class models of {model_name} (Simonyan et al. 2013)")
        path = figures.save_figure(fig, store.figures_dir / f"class_models_{_safe(model_name)}.png")
        unit.artifact(kind="figure", path=path, title=f"Class models of {model_name}, with their top-3 classes")


def units_into_run(store: RunStore, model: Classifier, model_name: str, layer: str, channels="all",
                   **options) -> None:
    """Feature visualizations of a layer's channels (Fourier parameterization, transforms)."""
    from gaplens.visualize import channel_grid_figure, channel_images

    key = f"{model_name}/units/{layer}"
    if store.is_done("visualize", key):
        return
    result = channel_images(model, layer, channels, **options)
    with store.unit("visualize", key) as unit:
        unit.add_many({"model": model_name, "kind": "unit", **row} for row in _store_rows(result.records))
        fig = channel_grid_figure(result, title=f"Channels of {layer} in {model_name}")
        path = figures.save_figure(fig, store.figures_dir / f"units_{_safe(model_name)}_{_safe(layer)}.png")
        unit.artifact(kind="figure", path=path, title=f"What the channels of {layer} respond to ({model_name})")


def deepdream_into_run(store: RunStore, model: Classifier, model_name: str, image: str, layer: str,
                       **options) -> None:
    """DeepDream of one photograph (an image file or ``sample:NAME``) at ``layer``, with its octaves."""
    from gaplens.visualize import deepdream, deepdream_figure

    key = f"{model_name}/dream/{layer}/{image}"
    if store.is_done("visualize", key):
        return
    photo = load_image_batch(image, limit=1).images
    result = deepdream(model, photo, layer, **options)
    with store.unit("visualize", key) as unit:
        unit.add_many({"model": model_name, "kind": "deepdream", "photo": image, **row}
                      for row in _store_rows(result.records))
        fig = deepdream_figure(result, title=f"DeepDream of {image} at {layer} ({model_name})")
        path = figures.save_figure(fig, store.figures_dir / f"dream_{_safe(model_name)}_{_safe(layer)}.png")
        unit.artifact(kind="figure", path=path, title=f"DeepDream at {layer} of {model_name}, octave by octave")


def visualize_command(kind: str, model: str, out: str | Path, **options) -> Path:
    """``gaplens visualize class|unit|dream``: one visualization into a run folder; returns the run folder."""
    classifier = load_model(model, device=options.pop("device", "auto"))
    model_name = Path(model).name if Path(model).exists() else model
    with RunStore(out) as store:
        run_id = store.start_run(f"visualize {kind}", {"model": model, **{k: str(v) for k, v in options.items()}})
        if kind == "class":
            class_models_into_run(store, classifier, model_name, **options)
        elif kind == "unit":
            units_into_run(store, classifier, model_name, **options)
        else:
            deepdream_into_run(store, classifier, model_name, **options)
        store.finish_run(run_id)
        return store.run_dir


#: Fast settings of the stochastic and path methods for sanity sweeps (many attribution calls).
SANITY_OPTIONS = {"integrated_gradients": {"n_steps": 16}, "smoothgrad": {"n_samples": 16},
                  "smoothgrad_sq": {"n_samples": 16}, "vargrad": {"n_samples": 16}}


def sanity_into_run(store: RunStore, model: Classifier, model_name: str, images: torch.Tensor,
                    modes: Sequence[str] = ("cascading", "independent"), methods: Sequence[str] | None = None,
                    random_label_model: Classifier | None = None, method_options: dict | None = None,
                    batch_size: int = 64, progress: bool = True) -> dict:
    """Adebayo et al.'s checks into study "sanity": one unit per (model, test); returns verdicts by test.

    Each unit holds the tidy similarity rows (``kind="similarity"``), the edge-detector rows
    (``kind="edge"``), one verdict row per method (``kind="verdict"``) and the two figures.
    """
    from gaplens import sanity

    methods = list(methods or sanity.DEFAULT_METHODS)
    options = {**SANITY_OPTIONS, **(method_options or {})}
    tests = list(modes) + (["data"] if random_label_model is not None else [])
    verdicts = {}
    for test in tests:
        key = f"{model_name}/{test}"
        if store.is_done("sanity", key):
            verdicts[test] = {r["method"]: r for r in store.records("sanity")
                              if r.get("unit") == key and r.get("kind") == "verdict"}
            continue
        if test == "data":
            result = sanity.data_randomization(model, random_label_model, images, methods=methods,
                                               method_options=options, batch_size=batch_size, progress=progress)
        else:
            result = sanity.model_randomization(model, images, methods=methods, mode=test, method_options=options,
                                                batch_size=batch_size, progress=progress)
        with store.unit("sanity", key) as unit:
            unit.add_many({"model": model_name, "kind": "similarity", **row} for row in result.records)
            unit.add_many({"model": model_name, "kind": "edge", **row} for row in result.edge_records)
            for method, verdict in result.verdicts.items():
                unit.add({"model": model_name, "kind": "verdict", "mode": result.mode, "method": method,
                          **{k: v for k, v in verdict.items() if k != "method"}})
            name = f"sanity_{_safe(model_name)}_{test}"
            path = figures.save_figure(sanity.similarity_figure(result), store.figures_dir / f"{name}.png")
            unit.artifact(kind="figure", path=path, title=f"Similarity to the original maps: {test} ({model_name})")
            path = figures.save_figure(sanity.randomization_grid_figure(result), store.figures_dir / f"{name}_maps.png")
            unit.artifact(kind="figure", path=path, title=f"Maps under {test} randomization ({model_name})")
        verdicts[test] = result.verdicts
    return verdicts


def sanity_command(model: str, images: str, out: str | Path, methods: Sequence[str] = ("default",),
                   modes: Sequence[str] = ("cascading", "independent"), random_labels_model: str | None = None,
                   train_random_labels: str | None = None, limit: int = 8, epochs: int = 10,
                   batch_size: int = 64, device: str = "auto") -> list[dict]:
    """``gaplens sanity``: the randomization checks for a model spec; returns one verdict row per test and method."""
    classifier = load_model(model, device=device)
    batch = load_image_batch(images, size=classifier.input_size, limit=limit)
    model_name = Path(model).name if Path(model).exists() else model
    chosen = None if list(methods) in (["default"], ["all"], []) else list(methods)
    with RunStore(out) as store:
        run_id = store.start_run("sanity", {"model": model, "images": images, "methods": list(methods),
                                            "modes": list(modes), "random_labels_model": random_labels_model,
                                            "train_random_labels": train_random_labels})
        random_model = None
        if random_labels_model:
            random_model = load_model(random_labels_model, device=device)
        elif train_random_labels:
            arch = getattr(classifier.network, "gaplens_arch", None)
            if arch is None:
                raise InputError("--train-random-labels needs a gaplens zoo model (its architecture is rebuilt); "
                                 "pass --random-labels-model instead")
            random_model = train_into_run(store, f"{model_name}-random-labels", load_dataset(train_random_labels),
                                          arch=arch["name"], arch_kwargs=arch["kwargs"], epochs=epochs,
                                          random_labels=True, device=device)
        verdicts = sanity_into_run(store, classifier, model_name, batch.images, modes, chosen, random_model,
                                   batch_size=batch_size)
        store.finish_run(run_id)
    return [{"test": test, "method": method, "passed": bool(v["passed"]), "value": float(v["value"]),
             "threshold": float(v["threshold"])} for test, rows in verdicts.items() for method, v in rows.items()]


def shape_bias_into_run(store: RunStore, models: dict[str, Classifier], stimuli: object,
                        reference: bool = False) -> dict[str, float]:
    """Shape bias of each model on cue-conflict stimuli (study "shape_bias"), plus the Figure-4-style plot."""
    from gaplens.bias import load_stimuli, shape_bias, shape_bias_figure

    stimuli = load_stimuli(stimuli) if isinstance(stimuli, (str, Path)) else stimuli
    results = {}
    for name, model in models.items():
        result = shape_bias(model, stimuli, model_name=name)
        results[name] = result
        if not store.is_done("shape_bias", name):
            with store.unit("shape_bias", name) as unit:
                unit.add_many({"model": name, **row} for row in result.records)
    if not store.is_done("shape_bias", "figure"):
        with store.unit("shape_bias", "figure") as unit:
            path = figures.save_figure(shape_bias_figure(results, reference=reference),
                                       store.figures_dir / "shape_bias.png")
            unit.artifact(kind="figure", path=path, title="Shape vs. texture decisions per category")
    return {name: r.shape_bias for name, r in results.items()}


def shape_bias_command(models: Sequence[str], stimuli: str, out: str | Path, reference: bool = False,
                       device: str = "auto") -> list[dict]:
    """``gaplens shape-bias``: shape bias of model specs on a cue-conflict folder, manifest or synthetic spec."""
    loaded = {(Path(m).name if Path(m).exists() else m): load_model(m, device=device) for m in models}
    source = load_dataset(stimuli) if stimuli.startswith("synthetic:") else stimuli
    with RunStore(out) as store:
        run_id = store.start_run("shape-bias", {"models": list(models), "stimuli": stimuli})
        biases = shape_bias_into_run(store, loaded, source, reference)
        store.finish_run(run_id)
    return [{"model": name, "shape_bias": value} for name, value in biases.items()]


def sweep_into_run(store: RunStore, models: dict[str, Classifier], dataset: object, distortions="all",
                   batch_size: int = 128, seed: int = 0, figure_name: str = "robustness") -> list[dict]:
    """Accuracy vs. distortion level for each model (study "robustness", resumable) and the figure."""
    from gaplens.robustness import accuracy_vs_level_figure, sweep

    rows = []
    for name, model in models.items():
        rows += sweep(model, dataset, distortions=distortions, batch_size=batch_size, seed=seed, store=store,
                      model_name=name)
    with store.unit("robustness", f"figure/{figure_name}") as unit:
        path = figures.save_figure(accuracy_vs_level_figure(rows), store.figures_dir / f"{_safe(figure_name)}.png")
        unit.artifact(kind="figure", path=path, title="Accuracy against distortion level (95% CI)")
    return rows


def read_spectrum(path: str | Path) -> np.ndarray:
    """A target amplitude spectrum ``(H, W)`` from a ``.npy`` file (never unpickled)."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"--spectrum {str(path)!r}: no such file; expected a .npy array (H, W) of amplitudes")
    try:
        spectrum = np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise InputError(f"--spectrum {str(path)!r}: not a plain .npy array ({exc})") from None
    spectrum = np.squeeze(spectrum)
    if spectrum.ndim != 2:
        raise InputError(f"--spectrum {str(path)!r}: array of shape {spectrum.shape}; expected (H, W), a centred "
                         "|fftshift(fft2(grey))| amplitude spectrum")
    return spectrum


def distort_command(images: str, out: str | Path, distortion: str | None = None, level: str | None = None,
                    sheet: bool = False, limit: int = 8, seed: int = 0, spectrum: str | Path | None = None,
                    size: int | None = None) -> Path:
    """``gaplens distort``: distorted copies of images as PNGs, or the stimulus sheet of one image.

    ``spectrum`` (a ``.npy`` file) is the target of power equalisation, e.g. the published
    ImageNet spectrum (224 x 224: give ``size=224``); without it, the mean spectrum of the
    loaded images is used, which leaves a single image unchanged.
    """
    from gaplens.core.image_io import write_png
    from gaplens.robustness import DISTORTIONS, distort, stimulus_sheet_figure

    batch = load_image_batch(images, size=None if size is None else (size, size), limit=limit)
    folder = Path(out)
    options = {"power_equalisation": {"target_spectrum": read_spectrum(spectrum)}} if spectrum is not None else {}
    if spectrum is not None and options["power_equalisation"]["target_spectrum"].shape != batch.images.shape[-2:]:
        raise InputError(f"--spectrum {str(spectrum)!r} is {options['power_equalisation']['target_spectrum'].shape}"
                         f" but the images are {tuple(batch.images.shape[-2:])}; give --size to resize them")
    if sheet:
        fig = stimulus_sheet_figure(batch.images, seed=seed, options=options)
        return figures.save_figure(fig, folder / "stimulus_sheet.png")
    if distortion is None or level is None:
        raise InputError("give --distortion and --level (or --sheet)")
    spec = DISTORTIONS[distortion]
    value = next((lv for lv in spec.levels if str(lv) == level), None)
    if value is None:
        try:
            value = float(level)
        except ValueError:
            raise InputError(f"--level {level!r}: expected one of {list(spec.levels)} or a number") from None
    result = distort(batch.images, distortion, value, seed=seed, **options.get(distortion, {}))
    for image_id, image in zip(batch.ids, result, strict=True):
        write_png(folder / f"{_safe(Path(image_id).stem)}_{distortion}_{_safe(str(level))}.png", image)
    return folder


def sweep_command(models: Sequence[str], data: str, out: str | Path, distortions: str = "all",
                  batch_size: int = 128, device: str = "auto") -> Path:
    """``gaplens robustness sweep``: accuracy of model specs under every distortion and level."""
    loaded = {(Path(m).name if Path(m).exists() else m): load_model(m, device=device) for m in models}
    chosen = distortions if distortions == "all" else [d.strip() for d in distortions.split(",")]
    with RunStore(out) as store:
        run_id = store.start_run("robustness sweep", {"models": list(models), "data": data,
                                                      "distortions": distortions})
        sweep_into_run(store, loaded, load_dataset(data), chosen, batch_size)
        store.finish_run(run_id)
        return store.run_dir / "report.html"


def robustness_train_command(data: str, out: str | Path, distortions: str, test: str, arch: str = "resnet",
                             name: str | None = None, epochs: int = 10, device: str = "auto") -> Path:
    """``gaplens robustness train``: train with distortions as augmentation, then sweep every distortion."""
    from gaplens.robustness import distortion_augment

    augment = distortion_augment(distortions)
    name = name or f"{arch}-{_safe(distortions)}"
    with RunStore(out) as store:
        run_id = store.start_run("robustness train", {"data": data, "distortions": distortions, "arch": arch})
        model = train_into_run(store, name, load_dataset(data), arch=arch, epochs=epochs, augment=augment,
                               device=device)
        sweep_into_run(store, {name: model}, load_dataset(test), figure_name=f"robustness_{name}")
        store.finish_run(run_id)
        return store.run_dir / "models" / name


def _require_files(*options: tuple[str, str | Path]) -> None:
    """:class:`InputError` naming the first ``(option, path)`` whose path is not a file."""
    for option, path in options:
        if not Path(path).is_file():
            raise InputError(f"{option} {str(path)!r}: no such file")


def _require_image_folders(*options: tuple[str, str | Path]) -> None:
    """:class:`InputError` naming the first ``(option, path)`` whose path is not a folder."""
    for option, folder in options:
        if not Path(folder).is_dir():
            raise InputError(f"{option} {str(folder)!r}: expected a folder of images")


def _encoder_from_spec(spec: str):
    """``random`` / ``random:SEED`` (the offline random-weight encoder) or a weights file."""
    from gaplens.bias import load_encoder, random_encoder

    if spec == "random" or spec.startswith("random:"):
        seed_text = spec.partition(":")[2] or "0"
        try:
            return random_encoder(seed=int(seed_text))
        except ValueError:
            raise InputError(f"--encoder {spec!r}: expected 'random', 'random:SEED' (an int) "
                             "or a weights file") from None
    if not Path(spec).is_file():
        raise InputError(f"--encoder {spec!r}: no such file; expected vgg_normalized.pth, an encoder.safetensors "
                         "or 'random'")
    return load_encoder(spec)


def stylizer_from_files(weights: str | Path | None = None, encoder: str | Path | None = None,
                        decoder: str | Path | None = None):
    """The Stylizer of a weights folder (``encoder.safetensors`` + ``decoder.safetensors``) or of two files."""
    from gaplens.bias import load_adain_weights

    if weights is not None:
        if encoder is not None or decoder is not None:
            raise InputError("give either --weights DIR or --encoder FILE with --decoder FILE, not both")
        folder = Path(weights)
        missing = [n for n in ("encoder.safetensors", "decoder.safetensors") if not (folder / n).is_file()]
        if missing:
            raise InputError(f"--weights {str(weights)!r}: expected a folder with {' and '.join(missing)} "
                             "(written by 'gaplens stylize train-decoder' or 'convert-weights')")
        return load_adain_weights(folder / "encoder.safetensors", folder / "decoder.safetensors")
    if encoder is None or decoder is None:
        raise InputError("give --weights DIR, or --encoder FILE and --decoder FILE (e.g. the released "
                         "vgg_normalized.pth and decoder.pth)")
    _require_files(("--encoder", encoder), ("--decoder", decoder))
    return load_adain_weights(encoder, decoder)


def stylize_command(content: str | Path, style: str | Path, out: str | Path, *, weights=None, encoder=None,
                    decoder=None, alpha: float = 1.0, size: int | None = None, batch_size: int = 16,
                    seed: int = 0, device: str = "auto") -> dict:
    """``gaplens stylize``: a Stylized-ImageNet-style copy of ``content`` (resumable), with its manifest."""
    from gaplens.bias import stylize_folder
    from gaplens.core.device import resolve_device

    _require_image_folders(("--content", content), ("--style", style))
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"--alpha {alpha}: expected a number in [0, 1]")
    stylizer = stylizer_from_files(weights, encoder, decoder).to(resolve_device(device))
    result = stylize_folder(content, style, out, stylizer=stylizer, alpha=alpha, seed=seed,
                            batch_size=batch_size, size=size)
    return {"out": str(result.out_dir), "written": result.written, "skipped": result.skipped,
            "manifest": str(result.manifest)}


def train_decoder_command(content: str | Path, style: str | Path, out: str | Path, *, encoder: str = "random",
                          steps: int = 1000, batch_size: int = 8, lr: float = 1e-4, style_weight: float = 10.0,
                          size: int | None = 64, seed: int = 0, checkpoint_every: int = 100,
                          device: str = "auto") -> dict:
    """``gaplens stylize train-decoder``: train an AdaIN decoder into ``out`` (re-running resumes).

    Writes ``decoder_state.pt`` (the resumable state), ``encoder.safetensors`` and
    ``decoder.safetensors`` (for ``gaplens stylize --weights OUT``) and ``history.csv``.
    """
    import csv

    from gaplens.bias import train_decoder
    from gaplens.core.files import atomic_write

    _require_image_folders(("--content", content), ("--style", style))
    result = train_decoder(_encoder_from_spec(encoder), Path(content), Path(style), steps, batch_size=batch_size,
                           lr=lr, style_weight=style_weight, size=size, seed=seed, checkpoint_dir=out,
                           resume=True, checkpoint_every=checkpoint_every, device=device)
    text = io.StringIO()
    if result.history:
        writer = csv.DictWriter(text, fieldnames=list(result.history[0]))
        writer.writeheader()
        writer.writerows(result.history)
    atomic_write(Path(out) / "history.csv", text.getvalue().encode())
    last = result.history[-1] if result.history else {}
    return {"out": str(out), "steps": steps, "loss": last.get("loss"), "content_loss": last.get("content_loss"),
            "style_loss": last.get("style_loss")}


def convert_weights_command(encoder: str | Path, decoder: str | Path, out: str | Path) -> dict:
    """``gaplens stylize convert-weights``: check the released AdaIN weights, rewrite them as safetensors."""
    from gaplens.bias import convert_adain_weights

    _require_files(("--encoder", encoder), ("--decoder", decoder))
    enc_path, dec_path = convert_adain_weights(encoder, decoder, out)
    return {"encoder": str(enc_path), "decoder": str(dec_path)}
