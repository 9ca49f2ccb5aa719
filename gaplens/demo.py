"""``gaplens demo``: every study end to end on the embedded synthetic data, on a laptop CPU.

The foundation study: a "texture-world" model (texture always agrees with the class, the
ImageNet analogue: a texture shortcut exists) and a "shape-world" model (texture random, the
Stylized-ImageNet analogue: only shape predicts the class), both evaluated on the normal
texture-world and shape-world test sets, a cue-conflict set (shape of class i, texture of
class j != i) and a shifted set (other sizes, palette and texture frequencies). Later studies
add their sections to the same run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gaplens.data.spec import load_image_batch
from gaplens.data.synthetic import generate
from gaplens.report import figures, render_report
from gaplens.store import RunStore
from gaplens.workflows import (
    class_models_into_run,
    deepdream_into_run,
    evaluate_into_run,
    explain_into_run,
    sanity_into_run,
    shape_bias_into_run,
    sweep_into_run,
    train_into_run,
)


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; with the defaults, `make demo` takes about 4.5 minutes on two CPU cores."""

    classes: int = 8
    size: int = 64
    n_train: int = 2000
    n_test: int = 800
    epochs: int = 10
    arch: str = "resnet"
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    n_explain: int = 6
    testbed_size: int = 32
    testbed_n_train: int = 1200
    testbed_n_test: int = 500
    testbed_shift: float = 0.3
    vis_steps: int = 128
    n_sanity: int = 4
    n_robustness: int = 100
    random_labels_n_train: int = 1000
    dream_size: int = 256
    distortion_size: int = 32
    distortion_n_train: int = 1600
    distortion_n_test: int = 200
    distortion_epochs: int = 8


QUICK = DemoConfig(classes=4, size=32, n_train=400, n_test=100, epochs=2, n_explain=2, testbed_size=16,
                   testbed_n_train=200, testbed_n_test=100, vis_steps=8, dream_size=64, n_sanity=2, n_robustness=8,
                   random_labels_n_train=100, distortion_size=16, distortion_n_train=64, distortion_n_test=16,
                   distortion_epochs=1)

#: Geirhos et al. 2018's training protocol in the demo: model name -> distortions used as
#: augmentation (None: clean training). The held-out distortion is uniform noise.
DISTORTION_TRAINING = {"trained-clean": None, "trained-salt_and_pepper": "salt_and_pepper",
                       "trained-all-but-uniform_noise": "all-but:uniform_noise"}

#: The new-test-set testbed: (widths, epochs) of zoo ResNets that differ in capacity and training.
TESTBED = (((4, 8), 1), ((4, 8), 3), ((8, 16), 2), ((8, 16), 4), ((8, 16, 32), 2), ((8, 16, 32), 5),
           ((16, 32, 64), 3), ((16, 32, 64), 6))


def demo_sets(config: DemoConfig) -> dict[str, object]:
    """The demo's training and test sets, by name (each from its own seed)."""
    k, s, seed = config.classes, config.size, config.seed
    common = {"classes": k, "size": s}
    return {
        "train/texture-world": generate(config.n_train, texture_agreement=1.0, seed=seed, **common),
        "train/shape-world": generate(config.n_train, texture_agreement=1.0 / k, seed=seed + 1, **common),
        # a 50/50 mixture of the two worlds, image by image
        "train/mixed": generate(config.n_train, texture_agreement=(1.0 + 1.0 / k) / 2, seed=seed + 2, **common),
        "test/texture-world": generate(config.n_test, texture_agreement=1.0, seed=seed + 100, **common),
        "test/shape-world": generate(config.n_test, texture_agreement=1.0 / k, seed=seed + 101, **common),
        "test/cue-conflict": generate(config.n_test, conflict=True, seed=seed + 102, **common),
        "test/shifted": generate(config.n_test, texture_agreement=1.0, shift=True, seed=seed + 103, **common),
    }


def run_demo(out: str | os.PathLike = "runs/demo", config: DemoConfig | None = None,
             device: str = "auto", progress: bool = True) -> Path:
    """Run the demo into ``out`` (resumable: finished units are skipped); returns report.html."""
    config = config or DemoConfig()
    if device == "auto" and not torch.cuda.is_available():
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    sets = demo_sets(config)
    tests = {name.split("/", 1)[1]: data for name, data in sets.items() if name.startswith("test/")}
    with RunStore(out) as store:
        run_id = store.start_run("demo", dict(config.__dict__))
        if not store.is_done("data", "samples"):
            with store.unit("data", "samples") as unit:
                for name, data in sets.items():
                    unit.add({"set": name, "n": len(data.labels), "classes": config.classes,
                              "size": config.size, "texture_agreement": data.texture_agreement,
                              "conflict": data.conflict, "shift": data.shift,
                              "texture_matches_shape": _fraction(data.texture_labels == data.shape_labels)})
                fig = figures.sample_grid_figure({n: sets[n] for n in sets if n.startswith("test/")},
                                                 per_set=8, title="Synthetic test sets (label = shape class)")
                path = figures.save_figure(fig, store.figures_dir / "data_samples.png")
                unit.artifact(kind="figure", path=path, title="Samples of each test set")
        models = {}
        for world in ("texture-world", "shape-world", "mixed"):
            models[world] = train_into_run(
                store, world, sets[f"train/{world}"], arch=config.arch, epochs=config.epochs,
                batch_size=config.batch_size, lr=config.lr, seed=config.seed, device=device,
                progress=progress,
            )
        for world, model in models.items():
            for set_name, data in tests.items():
                evaluate_into_run(store, model, world, data, set_name, figure=set_name != "cue-conflict")
        shape_bias_into_run(store, models, tests["cue-conflict"])
        models.pop("mixed")  # the other studies look at the two extreme worlds
        explain_images = load_image_batch(f"synthetic:n={config.n_explain},classes={config.classes},"
                                          f"size={config.size},seed={config.seed + 200}", limit=config.n_explain)
        for world, model in models.items():
            explain_into_run(store, model, world, explain_images, batch_size=128,
                             options={"integrated_gradients": {"n_steps": 32}, "smoothgrad": {"n_samples": 32},
                                      "smoothgrad_sq": {"n_samples": 32}, "vargrad": {"n_samples": 32}})
        sanity_study(store, config, models["shape-world"], sets["train/shape-world"], device, progress)
        for world, model in models.items():
            scores = ("logit", "softmax") if world == "texture-world" else ("logit",)
            class_models_into_run(store, model, world, scores=scores, steps=config.vis_steps)
        deepdream_into_run(store, models["texture-world"], "texture-world", "sample:astronaut", "layer3",
                           size=config.dream_size, steps_per_octave=20, step_size=4.0)
        new_test_set_study(store, config, device)
        robust = generate(config.n_robustness, classes=config.classes, size=config.size,
                          texture_agreement=1.0 / config.classes, seed=config.seed + 500)
        sweep_into_run(store, models, robust)
        distortion_training_study(store, config, device, progress)
        if not store.is_done("evaluate", "summary"):
            rows = [r for r in store.records("evaluate") if r.get("class") == "all"]
            with store.unit("evaluate", "summary") as unit:
                fig = figures.accuracy_figure(rows, title="Accuracy by model and test set (95% CI)")
                path = figures.save_figure(fig, store.figures_dir / "accuracy.png")
                unit.artifact(kind="figure", path=path, title="Accuracy by model and test set")
        store.finish_run(run_id)
    return render_report(out)


def sanity_study(store: RunStore, config: DemoConfig, model, train_set, device: str, progress: bool) -> None:
    """Adebayo et al.'s checks on the shape-world model; the random-label twin is trained here."""
    random_model = train_into_run(
        store, "shape-world-random-labels", train_set.subset(slice(0, config.random_labels_n_train)),
        arch=config.arch, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
        device=device, progress=progress, random_labels=True)
    images = load_image_batch(f"synthetic:n={config.n_sanity},classes={config.classes},size={config.size},"
                              f"seed={config.seed + 400}", limit=config.n_sanity).images
    sanity_into_run(store, model, "shape-world", images, random_label_model=random_model, progress=progress)


def distortion_training_study(store: RunStore, config: DemoConfig, device: str, progress: bool) -> None:
    """Geirhos et al. 2018's protocol, small: train clean, on one distortion, on all but one; sweep all three.

    Each distortion-trained model sees half of its training images clean and half distorted
    (a random distortion of its list, at a random non-zero published level). Uniform noise is
    the held-out distortion: its curve shows whether robustness to the trained distortions
    (salt-and-pepper noise among them) carries over to a noise the model never saw.
    """
    from gaplens.robustness import distortion_augment

    common = {"classes": config.classes, "size": config.distortion_size, "texture_agreement": 1.0}
    train = generate(config.distortion_n_train, seed=config.seed + 600, **common)
    test = generate(config.distortion_n_test, seed=config.seed + 601, **common)
    models = {}
    for name, distortions in DISTORTION_TRAINING.items():
        augment = None if distortions is None else distortion_augment(distortions, clean_fraction=0.5)
        models[name] = train_into_run(store, name, train, arch=config.arch, epochs=config.distortion_epochs,
                                      batch_size=config.batch_size, lr=config.lr, seed=config.seed, device=device,
                                      progress=progress, augment=augment)
    sweep_into_run(store, models, test, batch_size=256, figure_name="robustness_training")


def new_test_set_study(store: RunStore, config: DemoConfig, device: str = "auto") -> None:
    """Recht et al.'s analysis on a testbed of small models: original test set vs. a mildly shifted one."""
    from gaplens import shift
    from gaplens.train import fit
    from gaplens.workflows import shift_analysis_into_run
    from gaplens.zoo import build

    if store.is_done("shift_analysis", "testbed"):
        return
    common = {"classes": config.classes, "size": config.testbed_size, "texture_agreement": 1.0}
    train = generate(config.testbed_n_train, seed=config.seed + 300, **common)
    original = generate(config.testbed_n_test, seed=config.seed + 301, **common)
    new = generate(config.testbed_n_test, seed=config.seed + 302, shift=config.testbed_shift, **common)

    def trained(widths, epochs):
        def make():
            torch.manual_seed(config.seed)
            net = build("resnet", config.classes, widths=widths, blocks=(1,) * len(widths))
            return fit(net, train, epochs=epochs, lr=3e-3, device=device, progress=False).model
        return make

    models = {f"resnet{'-'.join(map(str, w))}/e{e}": trained(w, e) for w, e in TESTBED}
    evaluation = shift.evaluate(models, original, new, store=store, study="shift_testbed")
    result = shift.analyze(evaluation.table(), scale="probit")
    shift_analysis_into_run(store, result, evaluation, unit_name="testbed")


def _fraction(mask: torch.Tensor) -> float:
    return float(mask.float().mean())
