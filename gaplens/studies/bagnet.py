"""Study "bagnet": bag-of-local-features networks against patch size on the embedded data (issue 17).

For each world (``texture``: texture agreement 1, a local texture shortcut exists; ``shape``:
agreement 1/K, only the silhouette is predictive) it trains one BagNet per patch size and one
standard CNN (the zoo ResNet) on the same synthetic images, then measures each model's test
accuracy, its shape bias on cue-conflict images (shape of one class, texture of another) and,
for each BagNet, the correlation of its logits with the CNN's on the same test images (Brendel &
Bethge's Figure 3 analogue). A last unit per world draws evidence overlays, the top-patch grid
and the comparison with the CNN's attribution maps from the saved checkpoints.

Units: ``WORLD/MODEL`` (train + evaluate; the checkpoint goes to ``RUN/models/bagnet-WORLD-MODEL``)
and ``WORLD/figures`` (depends on that world's model units).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from gaplens.core.errors import InputError
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of
from gaplens.studies.runner import Context

WORLDS = ("texture", "shape")
CNN = "cnn"


def _label(patch_size: int | None) -> str:
    return CNN if patch_size is None else f"bagnet-{patch_size}"


@dataclass
class BagNetStudy(Study):
    """BagNets of several patch sizes and a standard CNN on texture-world and shape-world data.

    Args:
        patch_sizes: BagNet receptive fields (each one of ``gaplens.zoo.bagnet.PATCH_SIZES``).
        worlds: ``"texture"`` and/or ``"shape"``.
        classes, size: synthetic classes ``K`` and image size (px; ``>= max(patch_sizes)``).
        n_train, n_test, n_conflict: training, test and cue-conflict images per world.
        width: BagNet block width; cnn_widths: the ResNet's stage widths.
        fit: keyword arguments of :func:`gaplens.train.fit` (epochs, lr, batch_size, seed, ...).
        seed: data seed (train, test and conflict sets use ``seed``, ``seed + 1``, ``seed + 2``).

    Sizes: at 40 px the silhouettes are 20-34 px across, so a 9 px patch sees a piece of edge or of
    texture, a 17 px patch about one corner and a 33 px patch most of the shape. Shape-world accuracy
    needs many more training steps than the texture shortcut: with 4 classes, 1500 images and 8
    epochs (12k image-steps per model) the BagNets separate by patch size on shape-world data; at
    half that budget every model stays near 0.5 (benchmarks/RESULTS.md has both).
    """

    name = "bagnet"
    title = "Bag-of-local-features networks (BagNet)"
    order = 8

    patch_sizes: tuple[int, ...] = (9, 17, 33)
    worlds: tuple[str, ...] = WORLDS
    classes: int = 4
    size: int = 40
    n_train: int = 1500
    n_test: int = 256
    n_conflict: int = 256
    width: int = 8
    cnn_widths: tuple[int, ...] = (8, 16, 32, 64)
    fit: dict = field(default_factory=lambda: {"epochs": 8, "lr": 3e-3, "batch_size": 32, "seed": 0})
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> BagNetStudy:
        """A reduced size (about a minute of one CPU core): all three patch sizes on 36 px images, 512
        training images, narrow nets, 5 epochs at a higher learning rate. It checks the pipeline and
        learns the texture shortcut; shape-world models stay near chance at this size. (At 32 steps
        instead of 80 the BatchNorm running statistics lag the weights and eval-mode accuracy falls to
        chance even where the training loss is low.)"""
        settings = dict(size=36, n_train=512, n_test=128, n_conflict=64, width=4, cnn_widths=(8, 16, 32, 64),
                        fit={"epochs": 5, "lr": 1e-2, "batch_size": 32, "seed": 0})
        settings.update(overrides)
        return cls(**settings)

    @classmethod
    def demo(cls, **overrides: Any) -> BagNetStudy:
        """The demo's size (about 20-30 s on one busy core): BagNet-9 and BagNet-17 (width 4) and a small
        ResNet on 20 px images, 512 training images, 5 epochs at a higher learning rate; enough for the
        texture-world vs. shape-world contrast, not for shape-world accuracy to grow with patch size."""
        settings = dict(patch_sizes=(9, 17), size=20, n_train=512, n_test=128, n_conflict=64, width=4,
                        cnn_widths=(8, 16, 32), fit={"epochs": 5, "lr": 1e-2, "batch_size": 32, "seed": 0})
        settings.update(overrides)
        return cls(**settings)

    def __post_init__(self) -> None:
        from gaplens.zoo.bagnet import PATCH_SIZES

        self.patch_sizes = tuple(int(p) for p in self.patch_sizes)
        self.worlds = tuple(self.worlds)
        self.cnn_widths = tuple(int(w) for w in self.cnn_widths)
        bad = [p for p in self.patch_sizes if p not in PATCH_SIZES]
        if bad or not self.patch_sizes:
            raise InputError(f"patch_sizes={list(self.patch_sizes)}; each must be one of {list(PATCH_SIZES)}")
        if not self.worlds or any(w not in WORLDS for w in self.worlds):
            raise InputError(f"worlds={list(self.worlds)}; expected some of {list(WORLDS)}")
        if self.size < max(self.patch_sizes):
            raise InputError(f"size={self.size} is smaller than patch size {max(self.patch_sizes)}: "
                             "the BagNet would have no whole patch to classify")

    def _data(self, world: str):
        from gaplens.data.synthetic import generate

        agreement = 1.0 if world == "texture" else 1.0 / self.classes
        common = {"classes": self.classes, "size": self.size}
        return (generate(self.n_train, texture_agreement=agreement, seed=self.seed, **common),
                generate(self.n_test, texture_agreement=agreement, seed=self.seed + 1, **common),
                generate(self.n_conflict, conflict=True, seed=self.seed + 2, **common))

    def _arch(self, patch_size: int | None) -> tuple[str, dict]:
        if patch_size is None:
            return "resnet", {"widths": list(self.cnn_widths), "blocks": [1] * len(self.cnn_widths)}
        return "bagnet", {"patch_size": patch_size, "width": self.width}

    def folder(self, ctx: Context, world: str, label: str):
        return ctx.run_dir / "models" / f"bagnet-{world}-{label}"

    def units(self, ctx: Context) -> list[Unit]:
        units, every = [], []
        fit = {k: v for k, v in self.fit.items() if k not in ("progress", "device")}
        for world in self.worlds:
            data = {"world": world, "classes": self.classes, "size": self.size, "n_train": self.n_train,
                    "n_test": self.n_test, "n_conflict": self.n_conflict, "seed": self.seed}
            keys = []
            for patch_size in (*self.patch_sizes, None):
                arch, kwargs = self._arch(patch_size)
                key = f"{world}/{_label(patch_size)}"
                units.append(Unit(key, {**data, "arch": arch, "arch_kwargs": kwargs, "fit": fit}, scope=world,
                                  payload=(world, patch_size)))
                keys.append(key)
            every += keys
            # the last world's figures also draw accuracy against patch size over every world
            depends = tuple(every) if world == self.worlds[-1] else tuple(keys)
            units.append(Unit(f"{world}/figures", {"world": world}, scope=world, depends=depends,
                              payload=(world, None)))
        return units

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        world, patch_size = unit.payload
        if unit.key.endswith("/figures"):
            return self._figures(world, ctx)
        from gaplens.train import fit
        from gaplens.zoo import build

        train, test, conflict = self._data(world)
        arch, kwargs = self._arch(patch_size)
        label = _label(patch_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.fit.get("seed", 0)))
            network = build(arch, num_classes=self.classes, **kwargs)
        folder = self.folder(ctx, world, label)
        options = {"device": ctx.device, "progress": False, **self.fit}
        result = fit(network, train, checkpoint_dir=folder, **options)
        model = result.model
        with torch.no_grad():
            device = next(model.parameters()).device
            logits = torch.cat([model(b.to(device)).cpu() for b in test.images.split(128)])
            decisions = torch.cat([model(b.to(device)).argmax(1).cpu() for b in conflict.images.split(128)])
        accuracy = float((logits.argmax(1) == test.labels).float().mean())
        shape = int((decisions == conflict.shape_labels).sum())
        texture = int((decisions == conflict.texture_labels).sum())
        record = {"world": world, "model": label, "patch_size": patch_size, "accuracy": accuracy,
                  "classes": self.classes, "n_test": len(test),
                  "shape_decisions": shape, "texture_decisions": texture,
                  "shape_bias": shape / (shape + texture) if shape + texture else None,
                  "train_loss": float(result.history[-1]["train_loss"]) if result.history else None}
        return UnitOutput(records=[record], arrays=[("logits", logits.numpy(), f"test logits of {label} ({world})")],
                          files=[("checkpoint", folder / "model.safetensors", f"{label} ({world})")])

    def _figures(self, world: str, ctx: Context) -> UnitOutput:
        from gaplens.core.model import load_model
        from gaplens.explain import attribute
        from gaplens.interpretable import bagnet_figures as figs
        from gaplens.interpretable.bagnet import evidence, top_patches

        _, test, _ = self._data(world)
        cnn_logits = ctx.load_array(self.name, f"{world}/{CNN}", "logits")
        records, pairs = [], {}
        for p in self.patch_sizes:
            label = _label(p)
            bag = ctx.load_array(self.name, f"{world}/{label}", "logits")
            a, b = cnn_logits - cnn_logits.mean(1, keepdims=True), bag - bag.mean(1, keepdims=True)
            r = float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) if a.std() > 0 and b.std() > 0 else None
            records.append({"world": world, "model": label, "patch_size": p, "logit_correlation": r})
            pairs[label] = (a, b)
        largest = _label(max(self.patch_sizes))
        bagnet = load_model(self.folder(ctx, world, largest), device="cpu")
        cnn = load_model(self.folder(ctx, world, CNN), device="cpu")
        names = test.class_names
        shown = test.images[:3]
        maps = torch.stack([evidence(bagnet, shown, target=j, border="zeros") for j in range(self.classes)], 1)
        top = top_patches(bagnet, test.images, k=min(6, len(test)))
        targets = test.labels[:3]
        compare = {f"{largest} evidence": evidence(bagnet, shown, target=targets, border="zeros"),
                   "CNN gradient x input": attribute(cnn, shown, target=targets, method="input_x_gradient").sum(1),
                   "CNN Grad-CAM": attribute(cnn, shown, target=targets, method="grad_cam")[:, 0]}
        title = f"{world}-world"
        figures = [
            ("evidence", figs.evidence_figure(shown, maps, names, title=f"{largest} class evidence, {title}"),
             f"{largest} evidence per class ({title})"),
            ("top_patches", figs.top_patches_figure(top, names, title=f"{largest}: top patches per class, {title}"),
             f"Most class-discriminative patches ({title})"),
            ("compare", figs.comparison_figure(shown, compare, title=f"BagNet evidence vs. CNN attributions, {title}"),
             f"BagNet evidence vs. CNN attributions ({title})"),
            ("correlation", figs.logit_correlation_figure(pairs, title=f"BagNet vs. CNN logits, {title}"),
             f"Logit correlation with the CNN ({title})"),
        ]
        accuracy = [r for r in ctx.store.records(self.name) if r.get("accuracy") is not None]
        if world == self.worlds[-1] and accuracy:
            order = [*[_label(p) for p in self.patch_sizes], CNN]
            rows = sorted(accuracy, key=lambda r: (order.index(r["model"]) if r["model"] in order else 99))
            figures.append(("accuracy", figs.accuracy_by_patch_figure(rows, chance=1 / self.classes),
                            "Accuracy against patch size"))
        return UnitOutput(records=records, figures=figures)

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        models = df[df["accuracy"].notna()] if "accuracy" in df else df.iloc[:0]
        table = models.pivot_table(index="model", columns="world", values="accuracy", sort=False) \
            if len(models) else pd.DataFrame()
        extra = []
        if "logit_correlation" in df:
            corr = df[df["logit_correlation"].notna()]
            if len(corr):
                extra.append(("Correlation of BagNet logits with the CNN's (centred per image)",
                              corr.pivot_table(index="model", columns="world", values="logit_correlation", sort=False)))
        if len(models):
            extra.append(("Shape bias on cue-conflict images (shape / (shape + texture) decisions)",
                          models.pivot_table(index="model", columns="world", values="shape_bias", sort=False)))
        return Section(
            title=BagNetStudy.title,
            intro=("A BagNet classifies every patch of p x p pixels on its own and averages the patch logits "
                   "(Brendel & Bethge 2019), so its evidence maps are its decision. Texture-world data has a "
                   "local texture shortcut (texture agreement 1); shape-world data has none (agreement 1/K), so "
                   "only the silhouette predicts the class. Accuracies are fractions of the test images; the CNN "
                   "is the zoo ResNet trained on the same images with the same settings. " + _summary(models)).strip(),
            tables=[("Test accuracy", table), *extra], figures=figures_of(artifacts), findings=_findings(models))


def _by_patch(models: pd.DataFrame, world: str) -> list[tuple[str, float]]:
    """``(model, accuracy)`` of one world: the BagNets by patch size, then the CNN."""
    rows = models[models["world"] == world]
    bags = rows[rows["patch_size"].notna()].sort_values("patch_size")
    out = [(str(r["model"]), float(r["accuracy"])) for _, r in bags.iterrows()]
    return out + [(CNN, float(a)) for a in rows[rows["model"] == CNN]["accuracy"]]


def _listing(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"{m} {a:.2f}" for m, a in pairs)


def _noise(a: float, b: float, n: int | None) -> float | None:
    """Two standard errors of the difference of two accuracies on ``n`` test images each (binomial)."""
    if not n:
        return None
    return 2 * ((a * (1 - a) + b * (1 - b)) / n) ** 0.5


def _summary(models: pd.DataFrame) -> str:
    """What the records show, in words: accuracies per world, the trend with patch size (against the
    sampling noise of the test sets), the most accurate model, shape bias."""
    if not len(models):
        return ""
    first = models.iloc[0]
    n = int(first["n_test"]) if "n_test" in models and pd.notna(first.get("n_test")) else None
    parts = []
    if "classes" in models and pd.notna(first.get("classes")):
        parts.append(f"Chance is {1 / float(first['classes']):.2f}" + (f"; {n} test images per world." if n else "."))
    for world in WORLDS:
        pairs = _by_patch(models, world)
        if not pairs:
            continue
        text = f"{world.capitalize()}-world: {_listing(pairs)}."
        bags = [a for m, a in pairs if m != CNN]
        if len(bags) >= 2:
            change, noise = round(bags[-1] - bags[0], 2) + 0.0, _noise(bags[0], bags[-1], n)  # + 0.0: no "-0.00"
            text += f" From the smallest to the largest patch, BagNet accuracy changes by {change:+.2f}"
            if noise is not None:
                text += f" (two standard errors: {noise:.2f}; {'beyond' if abs(change) > noise else 'within'} noise)"
            rising = all(b > a for a, b in zip(bags, bags[1:], strict=False))
            text += f"; it {'rises' if rising else 'does not rise'} with every step in patch size."
        best = max(pairs, key=lambda p: p[1])
        close = [m for m, a in pairs if m != best[0] and n and best[1] - a <= _noise(a, best[1], n)]
        text += f" Most accurate: {best[0]}" + (f" ({', '.join(close)} within noise of it)." if close else ".")
        parts.append(text)
    bias = models[models["shape_bias"].notna()] if "shape_bias" in models else models.iloc[:0]
    for world in WORLDS:
        values = bias[bias["world"] == world]["shape_bias"]
        if len(values):
            parts.append(f"Shape bias of the {world}-world models on cue-conflict images: "
                         f"{values.min():.2f}-{values.max():.2f}.")
    return " ".join(parts)


def _findings(models: pd.DataFrame) -> list[Finding]:
    """One finding, as every study gives: the shape-world gain from the smallest to the largest patch,
    its detail naming the most accurate shape-world model and the texture-world spread over patch sizes."""
    shape = _by_patch(models, "shape") if len(models) else []
    texture = [(m, a) for m, a in (_by_patch(models, "texture") if len(models) else []) if m != CNN]
    bags = [(m, a) for m, a in shape if m != CNN]
    if not bags:
        return []
    (small, a_small), (large, a_large) = bags[0], bags[-1]
    n = int(models["n_test"].iloc[0]) if "n_test" in models and pd.notna(models["n_test"].iloc[0]) else None
    noise = _noise(a_small, a_large, n)
    best = max(shape, key=lambda p: p[1])
    detail = _listing(shape) + ("" if noise is None else f"; two standard errors {noise:.2f}")
    detail += f"; most accurate on shape-world: {best[0]} ({best[1]:.3g})"
    if texture:
        accs = [a for _, a in texture]
        detail += (f"; texture-world: every BagNet >= {min(accs):.3g}, spread over patch sizes "
                   f"{max(accs) - min(accs):.3g}")
    return [Finding(study="bagnet", measure=f"shape-world accuracy, {large} minus {small}",
                    value=a_large - a_small, verdict="info", detail=detail)]


register_section(BagNetStudy.name, title=BagNetStudy.title, order=BagNetStudy.order)(BagNetStudy.section)


@dataclass
class BagNetEvidence(Study):
    """Class-evidence maps of BagNet models for a few images, and their most discriminative patches.

    Args:
        models: specs, models or :class:`ModelRef` s (each a BagNet, or a Classifier wrapping one).
        images: an image spec (``synthetic:...``, folder, file, ``sample:NAME``), an ImageBatch or a tensor.
        limit: at most this many images of a spec.
        border: ``"zeros"`` (one value per pixel, the authors' padding) or ``"valid"`` (whole windows
            only; the map's mean is the logit), see :func:`gaplens.interpretable.evidence`.
        top_k: patches per class in the top-patch grid (at most the number of images).
    """

    name = "bagnet_evidence"
    title = "BagNet class evidence"
    order = 9

    models: Any
    images: Any
    limit: int = 8
    border: str = "zeros"
    top_k: int = 6

    def __post_init__(self) -> None:
        from gaplens.interpretable.bagnet import BORDERS
        from gaplens.studies.models import model_refs

        self.refs = model_refs(self.models if isinstance(self.models, (list, tuple, dict)) else [self.models])
        if self.border not in BORDERS:
            raise InputError(f"border={self.border!r}; expected one of {list(BORDERS)}")
        if self.limit < 1 or self.top_k < 1:
            raise InputError(f"limit={self.limit}, top_k={self.top_k}; each must be at least 1")
        self._batches: dict[str, Any] = {}

    def _batch(self, ref):
        from gaplens.studies.explain import load_batch

        if ref.label not in self._batches:
            self._batches[ref.label] = load_batch(self.images, ref.load(), self.limit)
        return self._batches[ref.label]

    def units(self, ctx: Context) -> list[Unit]:
        from gaplens.studies.fingerprint import data_digest

        return [Unit(ref.label, {"model": ref.digest, "images": data_digest(self._batch(ref).images),
                                 "border": self.border, "top_k": self.top_k}, scope=ref.label, payload=ref)
                for ref in self.refs]

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.interpretable import bagnet_figures as figs
        from gaplens.interpretable.bagnet import bagnet_of, evidence, top_patches

        ref = unit.payload
        model = ref.load()
        net, _ = bagnet_of(model)
        batch = self._batch(ref)
        device = next(model.parameters()).device
        images = batch.images.to(device)
        with torch.no_grad():
            logits = model(images).float().cpu()
        predicted = logits.argmax(1)
        maps = evidence(model, images, target=predicted, border=self.border).float().cpu()
        names = [model.class_name(j) if hasattr(model, "class_name") else str(j) for j in range(net.num_classes)]
        records = [{"model": ref.label, "image": batch.ids[i], "predicted": names[int(predicted[i])],
                    "logit": float(logits[i, predicted[i]]), "evidence_max": float(maps[i].max()),
                    "evidence_min": float(maps[i].min()), "positive_fraction": float((maps[i] > 0).float().mean()),
                    "patch_size": net.patch_size, "border": self.border} for i in range(len(predicted))]
        shown = images[:4].cpu()
        per_class = torch.stack([evidence(model, shown, target=j, border=self.border).float().cpu()
                                 for j in range(net.num_classes)], 1)
        figures = [("evidence", figs.evidence_figure(shown, per_class, names, title=f"{ref.label}: class evidence"),
                    f"Class evidence of {ref.label}")]
        if net.patch_size <= min(images.shape[-2:]):
            top = top_patches(model, images, k=min(self.top_k, len(images)))
            figures.append(("top_patches", figs.top_patches_figure(top, names, title=f"{ref.label}: top patches"),
                            f"Most class-discriminative patches of {ref.label}"))
        return UnitOutput(records=records, figures=figures,
                          arrays=[("maps", maps.numpy(), f"evidence of the predicted class, {ref.label}")])

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        findings = []
        if len(df):
            findings.append(Finding(study="bagnet_evidence", measure="image area with evidence for the predicted class",
                                    value=float(df["positive_fraction"].mean()), verdict="info",
                                    detail=f"mean over {len(df)} images; the rest of the image argues against it"))
        cols = [c for c in ("model", "image", "predicted", "logit", "evidence_min", "evidence_max",
                            "positive_fraction") if c in df]
        return Section(title=BagNetEvidence.title,
                       intro=("Each map is the predicted class's logit for the patch centred at each pixel (red: "
                              "for the class, blue: against); a BagNet's logit is the mean of these patch logits."),
                       tables=[("Evidence per image", df[cols])], figures=figures_of(artifacts), findings=findings)


register_section(BagNetEvidence.name, title=BagNetEvidence.title, order=BagNetEvidence.order)(BagNetEvidence.section)
