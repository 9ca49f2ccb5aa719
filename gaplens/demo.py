"""``gaplens demo``: every study end to end on the embedded synthetic data, on a laptop CPU.

A "texture-world" model (texture always agrees with the class, the ImageNet analogue: a texture
shortcut exists), a "shape-world" model (texture random, the Stylized-ImageNet analogue: only
shape predicts the class) and a model on their mixture, evaluated on texture-world, shape-world,
cue-conflict and shifted test sets; then shape bias, explanations, sanity checks, class models
and a DeepDream, a new-test-set testbed, Geirhos et al.'s distortion protocol, BagNets against a
CNN, the Deep Image Prior experiment with one restoration, and the GAN theory on known densities. The demo is a
list of study calls on one :class:`~gaplens.studies.Runner`: re-running it resumes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from gaplens.data.spec import load_image_batch
from gaplens.data.synthetic import generate
from gaplens.studies import (
    ClassModels,
    DataSummary,
    DeepDream,
    Evaluate,
    Explain,
    GanTheory,
    ModelRef,
    Restore,
    Runner,
    Sanity,
    ShapeBias,
    ShiftEvaluate,
    Sweep,
    Train,
)
from gaplens.studies.bagnet import BagNetStudy
from gaplens.studies.executors import Executor
from gaplens.studies.fingerprint import data_digest


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; with the defaults, `make demo` takes about 4 minutes on two CPU cores, set-up included."""

    classes: int = 8
    size: int = 48
    n_train: int = 2000
    n_test: int = 800
    epochs: int = 8
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
    n_sanity: int = 3
    n_robustness: int = 64
    random_labels_n_train: int = 600
    dream_size: int = 256
    distortion_size: int = 32
    distortion_n_train: int = 1200
    distortion_n_test: int = 200
    distortion_epochs: int = 8
    restore_steps: int = 120
    restore_prior_steps: int = 80
    gan_d_steps: int = 200
    gan_game_steps: int = 240
    gan_ring_steps: int = 400
    bagnet_n_train: int = 512
    bagnet_epochs: int = 5


QUICK = DemoConfig(classes=4, size=32, n_train=400, n_test=100, epochs=2, n_explain=2, testbed_size=16,
                   testbed_n_train=200, testbed_n_test=100, vis_steps=8, dream_size=64, n_sanity=2, n_robustness=8,
                   random_labels_n_train=100, distortion_size=16, distortion_n_train=64, distortion_n_test=16,
                   distortion_epochs=1, restore_steps=10, restore_prior_steps=10, gan_d_steps=20, gan_game_steps=20,
                   gan_ring_steps=20, bagnet_n_train=64, bagnet_epochs=1)

#: Geirhos et al. 2018's training protocol in the demo: model name -> distortions used as
#: augmentation (None: clean training). The held-out distortion is uniform noise.
DISTORTION_TRAINING = {"trained-clean": None, "trained-salt_and_pepper": "salt_and_pepper",
                       "trained-all-but-uniform_noise": "all-but:uniform_noise"}

DISTORTION_PROTOCOL = (
    "Models named trained-* follow the paper's training protocol on one training set: trained clean, with "
    "salt-and-pepper noise, or with every distortion but uniform noise as augmentation (half of the images "
    "distorted). Uniform noise is held out: compare its curve with those of the trained distortions to see "
    "whether the learned robustness carries over.")

#: The new-test-set testbed: (widths, epochs) of zoo ResNets that differ in capacity and training.
TESTBED = (((4, 8), 1), ((4, 8), 3), ((8, 16), 2), ((8, 16), 4), ((8, 16, 32), 2), ((8, 16, 32), 5),
           ((16, 32, 64), 3), ((16, 32, 64), 6))

#: Faster settings of the path and sampling methods for the demo's explanations.
EXPLAIN_OPTIONS = {"integrated_gradients": {"n_steps": 32}, "smoothgrad": {"n_samples": 32},
                   "smoothgrad_sq": {"n_samples": 32}, "vargrad": {"n_samples": 32}}


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
             device: str = "auto", progress: bool = True, fresh: bool = False,
             executor: str | Executor | None = None) -> Path:
    """Run the demo into ``out`` (resumable: finished units are skipped); returns report.html.

    ``executor``: where units run (:func:`gaplens.studies.executors.make_executor`; default local)."""
    config = config or DemoConfig()
    if device == "auto" and not torch.cuda.is_available():
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    sets = demo_sets(config)
    tests = {name.split("/", 1)[1]: data for name, data in sets.items() if name.startswith("test/")}
    fit = {"epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed}
    with Runner(out, "demo", asdict(config), fresh=fresh, device=device, progress=progress,
                executor=executor) as runner:
        runner.run(DataSummary(sets, show=tuple(n for n in sets if n.startswith("test/"))))
        worlds = {}
        for world in ("texture-world", "shape-world", "mixed"):
            train = Train(world, sets[f"train/{world}"], arch=config.arch, fit=fit)
            runner.run(train)
            worlds[world] = train.model(runner.out, device)
        runner.run(Evaluate(list(worlds.values()), tests, confusion_skip=("cue-conflict",)))
        runner.run(ShapeBias(list(worlds.values()), tests["cue-conflict"]))
        texture, shape = worlds["texture-world"], worlds["shape-world"]
        explain_images = load_image_batch(f"synthetic:n={config.n_explain},classes={config.classes},"
                                          f"size={config.size},seed={config.seed + 200}", limit=config.n_explain)
        runner.run(Explain([texture, shape], explain_images, batch_size=128, options=EXPLAIN_OPTIONS))
        random_labels = Train("shape-world-random-labels",
                              sets["train/shape-world"].subset(slice(0, config.random_labels_n_train)),
                              arch=config.arch, fit={**fit, "random_labels": True})
        runner.run(random_labels)
        sanity_images = load_image_batch(f"synthetic:n={config.n_sanity},classes={config.classes},"
                                         f"size={config.size},seed={config.seed + 400}", limit=config.n_sanity)
        runner.run(Sanity(shape, sanity_images, random_label_model=random_labels.model(runner.out, device)))
        runner.run(ClassModels(texture, scores=("logit", "softmax"), options={"steps": config.vis_steps}))
        runner.run(ClassModels(shape, scores=("logit",), options={"steps": config.vis_steps}))
        runner.run(DeepDream(texture, "sample:astronaut", "layer3",
                             options={"size": config.dream_size, "steps_per_octave": 20, "step_size": 4.0}))
        runner.run(new_test_set_study(config, device))
        robust = generate(config.n_robustness, classes=config.classes, size=config.size,
                          texture_agreement=1.0 / config.classes, seed=config.seed + 500)
        runner.run(Sweep([texture, shape], robust))
        distortion_training_study(runner, config, device)
        # interpretable by design: bag-of-local-features nets against a CNN, texture- vs shape-world
        runner.run(BagNetStudy.demo(n_train=config.bagnet_n_train,
                                    fit={"epochs": config.bagnet_epochs, "lr": 1e-2, "batch_size": 32,
                                         "seed": config.seed}))
        # the lecture's generative half, small: the architecture as a prior, and the GAN game's theory
        runner.run(Restore.demo(steps=config.restore_steps, prior_steps=config.restore_prior_steps))
        runner.run(GanTheory.quick(seed=config.seed, d_steps=config.gan_d_steps, game_steps=config.gan_game_steps,
                                   ring_steps=config.gan_ring_steps))
    return runner.report_path


def distortion_training_study(runner: Runner, config: DemoConfig, device: str) -> None:
    """Geirhos et al. 2018's protocol, small: train clean, on one distortion, on all but one; sweep all three.

    Each distortion-trained model sees half of its training images clean and half distorted
    (a random distortion of its list, at a random non-zero published level). Uniform noise is
    the held-out distortion: its curve shows whether robustness to the trained distortions
    (salt-and-pepper noise among them) carries over to a noise the model never saw.
    """
    common = {"classes": config.classes, "size": config.distortion_size, "texture_agreement": 1.0}
    train_set = generate(config.distortion_n_train, seed=config.seed + 600, **common)
    test = generate(config.distortion_n_test, seed=config.seed + 601, **common)
    fit = {"epochs": config.distortion_epochs, "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed}
    models = []
    for name, distortions in DISTORTION_TRAINING.items():
        train = Train(name, train_set, arch=config.arch, fit=fit, augment=distortions,
                      clean_fraction=0.5 if distortions else 0.0)
        runner.run(train)
        models.append(train.model(runner.out, device))
    runner.run(Sweep(models, test, batch_size=256, figure="robustness_training", protocol=DISTORTION_PROTOCOL))


def new_test_set_study(config: DemoConfig, device: str = "auto") -> ShiftEvaluate:
    """Recht et al.'s analysis on a testbed of small models: original test set vs. a mildly shifted one.

    The testbed's models are trained only when their units must run (a resumed demo trains none).
    """
    from gaplens.train import fit
    from gaplens.zoo import build

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

    train_digest = data_digest(train)
    models = [ModelRef(f"resnet{'-'.join(map(str, w))}-e{e}", factory=trained(w, e), device=device,
                       identity={"arch": "resnet", "widths": w, "epochs": e, "lr": 3e-3, "seed": config.seed,
                                 "train": train_digest})
              for w, e in TESTBED]
    return ShiftEvaluate(models, original, new, scale="probit", comparison="testbed")
