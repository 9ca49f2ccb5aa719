"""Study "gan": the theory of Goodfellow et al. (2014) checked on data with known densities (issue 19).

Units:

- ``optimal-discriminator``: a discriminator fitted against a fixed generator (two known 1-D
  densities) against the closed form ``D* = p_data / (p_data + p_g)`` (mean absolute error over
  the support), and one fitted with ``p_g = p_data``, whose value on fresh samples should be
  ``-log 4``;
- ``game/LOSS`` (minimax and non-saturating, one initial generator): the game on a 1-D mixture,
  with the Jensen-Shannon divergence over training twice: from histograms of the generator's
  samples against the known density, and from the discriminator (``(V + log 4) / 2``, a lower
  bound);
- ``early-steps`` (reads the game units): the gradient each generator loss sends back when the
  discriminator confidently rejects the first samples (minimax saturates), and the JS curves of
  both losses;
- ``ring``: a GAN on a ring of Gaussians, with the modes covered and the fraction of
  high-quality samples over training (mode collapse, measured).

:meth:`GanTheory.quick` is the size of ``gaplens demo`` (about 15 s on one busy CPU core).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from gaplens.core.errors import InputError
from gaplens.report.html import Finding, Section, register_section
from gaplens.studies.base import Study, Unit, UnitOutput, figures_of
from gaplens.studies.runner import Context

LOSSES = ("minimax", "nonsaturating")
#: Mean absolute error of the fitted D against D* over the support ((p_data + p_g) / 2 > 0.01) that passes.
DSTAR_TOLERANCE = 0.05


@contextmanager
def _threads(n: int):
    """Tiny MLPs run fastest on one thread; the caller's setting is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _densities():
    from gaplens.gan.toy import Mixture, gaussian

    return Mixture([0.3, 0.7], [[-1.0], [1.5]], [0.3, 0.5]), gaussian(0.0, 1.2)


@dataclass
class GanTheory(Study):
    """The optimal discriminator, the value at the optimum, the game and mode collapse, on known densities.

    Args:
        d_steps: discriminator steps of the D* fits; game_steps: generator steps of each 1-D game;
        ring_steps: of the ring game; batch_size: per step; hidden: width of the MLPs (2 hidden layers);
        ring_modes: Gaussians on the ring (radius 2, std 0.05); lr: Adam's (betas 0.5, 0.999);
        snapshots: sample snapshots per game; seed: everything (initial weights, draws).
    """

    name = "gan"
    title = "GANs: the optimal discriminator and the game"
    order = 30

    d_steps: int = 800
    game_steps: int = 1500
    ring_steps: int = 2000
    batch_size: int = 256
    hidden: int = 64
    ring_modes: int = 8
    lr: float = 2e-3
    snapshots: int = 6
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> GanTheory:
        """The demo's size: about 15 s on one busy CPU core."""
        settings = dict(d_steps=200, game_steps=240, ring_steps=400, batch_size=128, snapshots=4)
        settings.update(overrides)
        return cls(**settings)

    def __post_init__(self) -> None:
        for name in ("d_steps", "game_steps", "ring_steps", "batch_size", "hidden", "ring_modes", "snapshots"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name}={v!r}; expected an integer >= 1")
        if not 0 < self.lr < math.inf:
            raise InputError(f"lr={self.lr!r}; expected a finite number > 0")

    def units(self, ctx: Context) -> list[Unit]:
        common = {"batch_size": self.batch_size, "hidden": self.hidden, "lr": self.lr, "seed": self.seed}
        units = [Unit("optimal-discriminator", {**common, "d_steps": self.d_steps}, scope="gan")]
        games = []
        for loss in LOSSES:
            units.append(Unit(f"game/{loss}", {**common, "steps": self.game_steps, "snapshots": self.snapshots,
                                                "loss": loss}, scope="gan"))
            games.append(f"game/{loss}")
        units.append(Unit("early-steps", {**common, "d_steps": self.d_steps}, scope="gan", depends=tuple(games)))
        units.append(Unit("ring", {**common, "steps": self.ring_steps, "modes": self.ring_modes,
                                   "snapshots": self.snapshots}, scope="gan"))
        return units

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        with _threads(1):
            if unit.key == "optimal-discriminator":
                return self._optimal(ctx)
            if unit.key.startswith("game/"):
                return self._game(unit.key.split("/", 1)[1], ctx)
            if unit.key == "early-steps":
                return self._early(ctx)
            return self._ring(ctx)

    def _nets(self, dim: int, seed: int):
        from gaplens.gan.networks import build_network

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return (build_network("mlp_generator", z_dim=2, dim=dim, hidden=self.hidden),
                    build_network("mlp_discriminator", dim=dim, hidden=self.hidden))

    def _optimal(self, ctx: Context) -> UnitOutput:
        from gaplens.gan import estimate_value, fit_discriminator, optimal_discriminator
        from gaplens.gan.figures import optimal_discriminator_figure

        p_data, p_g = _densities()
        _, d = self._nets(1, self.seed)
        fit_discriminator(d, p_data, p_g, steps=self.d_steps, batch_size=self.batch_size * 2, lr=self.lr,
                          seed=self.seed, progress=ctx.progress)
        x = torch.linspace(-5, 5, 1001)[:, None]
        pd_, pg_ = p_data.density(x), p_g.density(x)
        support = (pd_ + pg_) / 2 > 0.01
        with torch.no_grad():
            fitted = torch.sigmoid(d(x)).double()
        closed = optimal_discriminator(p_data, p_g, x)
        error = (fitted - closed)[support].abs()
        _, same = self._nets(1, self.seed + 1)
        fit_discriminator(same, p_data, p_data, steps=max(1, self.d_steps // 2), batch_size=self.batch_size * 2,
                          lr=self.lr / 2, seed=self.seed + 1)
        v_same = estimate_value(same, p_data, p_data, n=20000, seed=self.seed + 2)
        v_star = estimate_value(d, p_data, p_g, n=20000, seed=self.seed + 3)
        record = {"kind": "optimal", "mae": float(error.mean()), "max_error": float(error.max()),
                  "tolerance": DSTAR_TOLERANCE, "value_fitted": v_star, "value_equal": v_same,
                  "minus_log_4": -math.log(4), "value_error": v_same + math.log(4)}
        fig = optimal_discriminator_figure(x.flatten(), fitted.flatten(), closed, pd_, pg_,
                                           title=f"Fitted D vs closed-form D* (MAE {record['mae']:.3f})")
        table = torch.stack([x.flatten().double(), fitted.flatten(), closed, pd_, pg_]).numpy()
        return UnitOutput(records=[record], figures=[("optimal_discriminator", fig,
                                                      "The fitted discriminator against D* = p_data / (p_data + p_g)")],
                          arrays=[("dstar", table, "x, fitted D, closed-form D*, p_data, p_g on the grid (5, 1001)")])

    def _game(self, loss: str, ctx: Context) -> UnitOutput:
        from gaplens.gan import js_divergence, train_gan
        from gaplens.gan.figures import densities_over_training_figure
        from gaplens.gan.toy import histogram_density

        p_data, _ = _densities()
        g, d = self._nets(1, self.seed + 10)  # one initial pair for both losses
        edges = torch.linspace(-4, 4, 81)
        target = p_data.density(((edges[1:] + edges[:-1]) / 2)[:, None])
        every = max(1, self.game_steps // self.snapshots)
        with torch.no_grad():
            start = g(torch.randn(4000, 2, generator=torch.Generator().manual_seed(self.seed + 1)))
        run = train_gan(g, d, p_data, steps=self.game_steps, loss=loss, batch_size=self.batch_size, lr=self.lr,
                        seed=self.seed, sample_every=every, log_every=max(1, every // 4), n_samples=4000,
                        device="cpu", progress=ctx.progress)
        records = [{"kind": "game", "loss": loss, "step": 0, "js_samples": js_divergence(
            histogram_density(start, edges), target, 0.1), "js_estimate": None}]
        records += [{"kind": "game", "loss": loss, "step": step, "js_samples": js_divergence(
            histogram_density(s, edges), target, 0.1), "js_estimate": None} for step, s in run.samples.items()]
        records += [{"kind": "game", "loss": loss, "step": h["step"], "js_samples": None,
                     "js_estimate": h["js_estimate"], "d_real": h["d_real"], "d_fake": h["d_fake"]}
                    for h in run.history]
        grid = torch.linspace(-4, 4, 401)
        shown = {0: start, **run.samples}
        fig = densities_over_training_figure(grid, p_data.density(grid[:, None]), shown,
                                             title=f"p_g over training ({loss} generator loss)")
        return UnitOutput(records=records, figures=[(f"densities_{loss}", fig,
                                                     f"Generator density over training, {loss} loss")])

    def _early(self, ctx: Context) -> UnitOutput:
        from gaplens.gan import fit_discriminator, generator_loss
        from gaplens.gan.figures import js_figure, saturation_figure
        from gaplens.gan.samplers import generator_sampler

        p_data, _ = _densities()
        g, d = self._nets(1, self.seed + 10)
        fit_discriminator(d, p_data, generator_sampler(g, 2), steps=self.d_steps, batch_size=self.batch_size,
                          lr=self.lr, seed=self.seed)
        z = torch.randn(4096, 2, generator=torch.Generator().manual_seed(self.seed + 5))
        norms = {}
        for loss in LOSSES:
            g.zero_grad()
            generator_loss(loss, d(g(z))).backward()
            norms[loss] = float(torch.cat([p.grad.flatten() for p in g.parameters()]).norm())
        with torch.no_grad():
            d_fake = float(torch.sigmoid(d(g(z))).mean())
        record = {"kind": "early", "d_fake": d_fake, "grad_minimax": norms["minimax"],
                  "grad_nonsaturating": norms["nonsaturating"], "ratio": norms["minimax"] / norms["nonsaturating"]}
        games = [r for r in ctx.store.records(self.name) if r.get("kind") == "game"]
        curves, estimates = {}, {}
        for loss in LOSSES:
            rows = [r for r in games if r["loss"] == loss and r.get("js_samples") is not None]
            curves[f"{loss}: JS from samples"] = ([r["step"] for r in rows], [r["js_samples"] for r in rows])
            rows = [r for r in games if r["loss"] == loss and r.get("js_estimate") is not None]
            estimates[f"{loss}: (V + log 4) / 2 from D"] = ([r["step"] for r in rows],
                                                             [max(r["js_estimate"], 0.0) for r in rows])
        figures = [("saturation", saturation_figure(
            {"minimax": (d_fake, record["ratio"]), "non-saturating": (d_fake, 1.0)},
            title=f"First generator step against a confident D (mean D(G(z)) = {d_fake:.3f})"),
            "Minimax vs non-saturating generator loss at the first step")]
        if games:
            figures.append(("js", js_figure(curves, title="Jensen-Shannon divergence over training (1-D mixture)",
                                            reference=estimates), "JS divergence over training, both losses"))
        return UnitOutput(records=[record], figures=figures)

    def _ring(self, ctx: Context) -> UnitOutput:
        from gaplens.gan import mode_coverage, ring_of_gaussians, train_gan
        from gaplens.gan.figures import ring_figure

        ring = ring_of_gaussians(self.ring_modes, 2.0, 0.05)
        g, d = self._nets(2, self.seed + 20)
        every = max(1, self.ring_steps // self.snapshots)
        run = train_gan(g, d, ring, steps=self.ring_steps, loss="nonsaturating", batch_size=self.batch_size,
                        lr=self.lr / 2, seed=self.seed, sample_every=every, log_every=every, n_samples=2000,
                        device="cpu", progress=ctx.progress)
        records = [{"kind": "ring", "step": step, **mode_coverage(s, ring).record()} for step, s in run.samples.items()]
        real = ring.sample(2000, generator=torch.Generator().manual_seed(self.seed))
        fig = ring_figure(real, {f"step {k}": v for k, v in run.samples.items()},
                          title=f"Ring of {self.ring_modes} Gaussians: real and generated samples")
        return UnitOutput(records=records, figures=[("ring", fig, "Generated samples on the ring over training")])

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        kind = df["kind"] if "kind" in df else pd.Series([], dtype=str)
        tables, findings, notes = [], [], []
        optimal = df[kind == "optimal"]
        if len(optimal):
            o = optimal.iloc[-1]
            tables.append(("Optimal discriminator and the value at p_g = p_data", optimal[
                ["mae", "max_error", "tolerance", "value_fitted", "value_equal", "minus_log_4", "value_error"]]))
            notes.append(f"with p_g = p_data the fitted value is {o['value_equal']:.4f} nats (-log 4 = "
                         f"{-math.log(4):.4f})")
        games = df[(kind == "game")]
        if len(games) and "js_samples" in games:
            rows = games[games["js_samples"].notna()]
            table = rows.pivot_table(index="step", columns="loss", values="js_samples", sort=True)
            tables.append(("JS divergence (nats) of p_g from p_data, from histograms of 4000 samples", table))
            for loss in table.columns:
                col = table[loss].dropna()
                if len(col) >= 2:
                    notes.append(f"{loss}: JS {col.iloc[0]:.3f} -> {col.iloc[-1]:.3f}")
        early = df[kind == "early"]
        if len(early):
            e = early.iloc[-1]
            tables.append(("Gradient reaching the generator at the first step", early[
                ["d_fake", "grad_minimax", "grad_nonsaturating", "ratio"]]))
            notes.append(f"first-step gradient minimax / non-saturating = {e['ratio']:.3g} at D(G(z)) = "
                         f"{e['d_fake']:.3f}")
        ring = df[kind == "ring"]
        if len(ring):
            tables.append(("Mode coverage on the ring (within 3 std of a mode = high quality)",
                           ring[["step", "modes_covered", "modes", "high_quality", "mode_kl"]]))
            last = ring.iloc[-1]
            notes.append(f"ring: {int(last['modes_covered'])}/{int(last['modes'])} modes covered at step "
                         f"{int(last['step'])}, {last['high_quality']:.0%} high-quality samples")
        if len(optimal):
            o = optimal.iloc[-1]
            findings.append(Finding(study="gan", measure="fitted discriminator vs closed-form D*, mean absolute error",
                                    value=float(o["mae"]), verdict="pass" if o["mae"] <= o["tolerance"] else "warning",
                                    detail=f"tolerance {o['tolerance']:g}; " + "; ".join(notes)))
        return Section(
            title=GanTheory.title,
            intro=("Goodfellow et al. (2014) on densities we know. Against a fixed generator the best discriminator "
                   "is D*(x) = p_data(x) / (p_data(x) + p_g(x)); at D* the value of the game is "
                   "-log 4 + 2 JS(p_data || p_g), so it is -log 4 exactly when p_g = p_data. The discriminator is an "
                   "MLP fitted by Adam; its error against D* is measured where the average density exceeds 0.01. "
                   "The game then trains a generator on a 1-D mixture with each generator loss from one "
                   "initialization; the JS divergence is measured from histograms of the samples (bins of 0.1) and, "
                   "as a lower bound, from the discriminator's value. When the discriminator rejects the first "
                   "samples confidently, the minimax loss log(1 - D(G(z))) sends back almost no gradient, the "
                   "non-saturating -log D(G(z)) a large one. On a ring of Gaussians, a mode counts as covered when it "
                   "holds at least a fifth of its share of high-quality samples."),
            tables=tables, figures=figures_of(artifacts), findings=findings)


register_section(GanTheory.name, title=GanTheory.title, order=GanTheory.order)(GanTheory.section)


@dataclass
class GanImages(Study):
    """DCGAN on synthetic shapes (and scikit-learn's digits), pix2pix's ablation on silhouette -> textured pairs.

    A zoo ResNet trained on real images judges both (``judge`` unit): its accuracy and
    classifier-based score on generated or translated images, and a classifier two-sample test of
    DCGAN's samples against held-out real images (0.5 = indistinguishable).

    Args:
        datasets: ``"shapes"`` and/or ``"digits"`` (needs scikit-learn) for DCGAN.
        classes, size: the synthetic data (DCGAN and pix2pix images are ``size`` px; digits are
            upsampled to ``size``); n_train, n_test: images per set.
        dcgan_steps, width: DCGAN's generator steps and base channels (z: 64, batch 64).
        pix2pix_epochs, pix2pix_width: per ablation variant (batch 4).
        judge_epochs: the judge ResNet's; seed: everything.
    """

    name = "gan_images"
    title = "GANs on images: DCGAN and the pix2pix ablation"
    order = 31

    datasets: tuple[str, ...] = ("shapes",)
    classes: int = 4
    size: int = 32
    n_train: int = 1000
    n_test: int = 200
    dcgan_steps: int = 1500
    width: int = 32
    pix2pix_epochs: int = 5
    pix2pix_width: int = 16
    judge_epochs: int = 20
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> GanImages:
        """A pipeline check (about a minute on 2 CPU cores): few images and steps."""
        settings = dict(size=32, n_train=192, n_test=64, dcgan_steps=60, width=8, pix2pix_epochs=1,
                        pix2pix_width=8, judge_epochs=3)
        settings.update(overrides)
        return cls(**settings)

    def __post_init__(self) -> None:
        self.datasets = tuple(self.datasets)
        if not self.datasets or any(d not in ("shapes", "digits") for d in self.datasets):
            raise InputError(f"datasets={list(self.datasets)}; expected some of ['shapes', 'digits']")
        for name in ("classes", "size", "n_train", "n_test", "dcgan_steps", "width", "pix2pix_epochs",
                     "pix2pix_width", "judge_epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name}={v!r}; expected an integer >= 1")
        if self.size < 32 or self.size & (self.size - 1):
            raise InputError(f"size={self.size}; expected a power of two >= 32 (PatchGAN-70 needs 24 px)")

    def _real(self, dataset: str, split: str):
        """Images (N, C, size, size) in [0, 1] and labels of one split."""
        if dataset == "digits":
            from gaplens.gan.digits import load_digits

            images, labels = load_digits(self.size)
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed))
            cut = len(images) - min(self.n_test, len(images) // 4)
            idx = order[:cut][: self.n_train] if split == "train" else order[cut:]
            return images[idx], labels[idx]
        from gaplens.data.synthetic import generate

        n, seed = (self.n_train, self.seed) if split == "train" else (self.n_test, self.seed + 1)
        s = generate(n, classes=self.classes, size=self.size, seed=seed)
        return s.images, s.labels

    def _pairs(self, split: str):
        from gaplens.gan.pairs import silhouette_pairs

        n, seed = (self.n_train, self.seed + 2) if split == "train" else (self.n_test, self.seed + 3)
        return silhouette_pairs(n, classes=self.classes, size=self.size, seed=seed)

    def units(self, ctx: Context) -> list[Unit]:
        base = {"classes": self.classes, "size": self.size, "n_train": self.n_train, "n_test": self.n_test,
                "seed": self.seed}
        judges = [f"judge/{d}" for d in self.datasets] + ["judge/textured"]
        units = [Unit(key, {**base, "epochs": self.judge_epochs}, scope="gan_images") for key in judges]
        for d in self.datasets:
            units.append(Unit(f"dcgan/{d}", {**base, "steps": self.dcgan_steps, "width": self.width},
                              scope="gan_images", depends=(f"judge/{d}",)))
        variants = []
        for variant in PIX2PIX_VARIANTS:
            units.append(Unit(f"pix2pix/{variant}", {**base, "epochs": self.pix2pix_epochs,
                                                     "width": self.pix2pix_width}, scope="gan_images",
                              depends=("judge/textured",)))
            variants.append(f"pix2pix/{variant}")
        units.append(Unit("pix2pix/figure", base, scope="gan_images", depends=tuple(variants)))
        return units

    def _folder(self, ctx: Context, key: str):
        return ctx.run_dir / "models" / ("gan-" + key.replace("/", "-"))

    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        kind, what = unit.key.split("/", 1)
        if kind == "judge":
            return self._judge(what, unit, ctx)
        if kind == "dcgan":
            return self._dcgan(what, ctx)
        if what == "figure":
            return self._translations(ctx)
        return self._pix2pix(what, ctx)

    def _judge(self, what: str, unit: Unit, ctx: Context) -> UnitOutput:
        from gaplens.gan.evaluate import classifier_score
        from gaplens.train import fit
        from gaplens.zoo import build

        if what == "textured":
            train, test = self._pairs("train"), self._pairs("test")
            x, y, xt, yt = train.b, train.labels, test.b, test.labels
        else:
            (x, y), (xt, yt) = self._real(what, "train"), self._real(what, "test")
        x, xt = x.expand(-1, 3, -1, -1), xt.expand(-1, 3, -1, -1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = build("resnet", int(y.max()) + 1, widths=(8, 16, 32), blocks=(1, 1, 1))
        model = fit(net, (x.contiguous(), y), epochs=self.judge_epochs, batch_size=32, lr=3e-3, seed=self.seed,
                    device=ctx.device, progress=False, checkpoint_dir=self._folder(ctx, unit.key)).model
        s = classifier_score(model, xt, yt)
        return UnitOutput(records=[{"kind": "judge", "data": what, "accuracy": s["accuracy"], "score": s["score"]}])

    def _load_judge(self, ctx: Context, what: str):
        from gaplens.core.model import load_model

        return load_model(self._folder(ctx, f"judge/{what}"), device="cpu")

    def _dcgan(self, dataset: str, ctx: Context) -> UnitOutput:
        from gaplens.gan import build_network, train_gan
        from gaplens.gan.evaluate import classifier_score, two_sample_test
        from gaplens.gan.figures import image_grid_figure

        (x, _), (xt, _) = self._real(dataset, "train"), self._real(dataset, "test")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            g = build_network("dcgan_generator", z_dim=64, channels=int(x.shape[1]), size=self.size, width=self.width)
            d = build_network("dcgan_discriminator", channels=int(x.shape[1]), size=self.size, width=self.width)
        run = train_gan(g, d, x * 2 - 1, steps=self.dcgan_steps, batch_size=64, seed=self.seed, device=ctx.device,
                        out=self._folder(ctx, f"dcgan/{dataset}"), progress=ctx.progress, log_every=50)
        g.cpu()
        with torch.no_grad():
            fake = ((g(torch.randn(len(xt), 64, generator=torch.Generator().manual_seed(self.seed))) + 1) / 2)
        s = classifier_score(self._load_judge(ctx, dataset), fake.clamp(0, 1))
        test = two_sample_test(xt, fake.clamp(0, 1), seed=self.seed, device=ctx.device)
        last = run.history[-1]
        record = {"kind": "dcgan", "data": dataset, "steps": self.dcgan_steps, "score": s["score"],
                  "confidence": s["confidence"], "class_entropy": s["class_entropy"], **test.record(),
                  "d_real": last["d_real"], "d_fake": last["d_fake"]}
        last_step = max(run.samples)
        figures = [("samples", image_grid_figure(((run.samples[last_step] + 1) / 2)[:32],
                                                 f"DCGAN on {dataset}, step {last_step}"),
                    f"DCGAN samples ({dataset})")]
        return UnitOutput(records=[record], figures=figures,
                          files=[("checkpoint", self._folder(ctx, f"dcgan/{dataset}") / "generator.safetensors",
                                  f"DCGAN generator ({dataset})")])

    def _pix2pix(self, variant: str, ctx: Context) -> UnitOutput:
        from gaplens.gan import Pix2Pix, train_pix2pix
        from gaplens.gan.evaluate import classifier_score

        train, test = self._pairs("train"), self._pairs("test")
        weights = PIX2PIX_VARIANTS[variant]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = Pix2Pix(1, 3, size=self.size, width=self.pix2pix_width, d_width=self.pix2pix_width, **weights)
        folder = self._folder(ctx, f"pix2pix/{variant}")
        run = train_pix2pix(model, train, epochs=self.pix2pix_epochs, batch_size=4, seed=self.seed, out=folder,
                            device=ctx.device, progress=ctx.progress)
        model.cpu()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            fake = model.translate(test.a)
        s = classifier_score(self._load_judge(ctx, "textured"), fake, test.labels)
        record = {"kind": "pix2pix", "variant": variant, "l1": float((fake - test.b).abs().mean()),
                  "accuracy": s["accuracy"], "score": s["score"], "epochs": self.pix2pix_epochs,
                  "seconds": run.history[-1]["seconds"] if run.history else None}
        return UnitOutput(records=[record], arrays=[("translations", fake[:6].numpy(), f"pix2pix {variant}")])

    def _translations(self, ctx: Context) -> UnitOutput:
        from gaplens.gan.figures import translation_figure

        test = self._pairs("test")
        rows = {"input a": test.a[:6].expand(-1, 3, -1, -1)}
        for variant in PIX2PIX_VARIANTS:
            rows[variant] = torch.from_numpy(ctx.load_array(self.name, f"pix2pix/{variant}", "translations"))
        rows["target b"] = test.b[:6]
        return UnitOutput(figures=[("pix2pix_ablation", translation_figure(
            rows, "pix2pix on held-out silhouettes: L1 alone, cGAN alone, L1 + cGAN"), "The pix2pix ablation")])

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        kind = df["kind"] if "kind" in df else pd.Series([], dtype=str)
        tables, findings = [], []
        judge = df[kind == "judge"]
        if len(judge):
            tables.append(("Judges: zoo ResNets on real images (held-out accuracy and score)",
                           judge[["data", "accuracy", "score"]]))
        dcgan = df[kind == "dcgan"]
        if len(dcgan):
            tables.append(("DCGAN: the judge on generated samples, and the classifier two-sample test",
                           dcgan[["data", "steps", "score", "confidence", "class_entropy", "c2st_accuracy",
                                  "c2st_p_value", "c2st_n_test"]]))
        p2p = df[kind == "pix2pix"]
        if len(p2p):
            tables.append(("pix2pix ablation on held-out pairs (L1 of [0, 1] images; judge accuracy on translations)",
                           p2p[["variant", "l1", "accuracy", "score", "epochs", "seconds"]]))
        if len(dcgan):
            d = dcgan.iloc[0]
            detail = f"{d['data']}: p = {d['c2st_p_value']:.3g} on {int(d['c2st_n_test'])} held-out images"
            if len(p2p):
                detail += "; pix2pix judge accuracy " + ", ".join(
                    f"{r['variant']} {r['accuracy']:.2f}" for _, r in p2p.iterrows())
            findings.append(Finding(study="gan_images", measure="two-sample test accuracy, real vs DCGAN samples "
                                    "(0.5 = indistinguishable)", value=float(d["c2st_accuracy"]), verdict="info",
                                    detail=detail))
        return Section(
            title=GanImages.title,
            intro=("Without Inception weights, a zoo ResNet trained on the real images judges what the generators "
                   "make: its score is exp(E KL(p(y|x) || p(y))) with its own probabilities (1 to K), its class "
                   "entropy shows whether every class appears (log K = balanced). The two-sample test trains a "
                   "small CNN to tell held-out real images from generated ones on half of each and reports its "
                   "accuracy on the other half with a one-sided binomial p-value. pix2pix translates silhouettes "
                   "into textured images; its three variants (Isola et al.'s Table 1) share data, initialization "
                   "and epochs."),
            tables=tables, figures=figures_of(artifacts), findings=findings)


PIX2PIX_VARIANTS = {"L1": {"gan": 0.0}, "cGAN": {"l1": 0.0}, "L1+cGAN": {}}

register_section(GanImages.name, title=GanImages.title, order=GanImages.order)(GanImages.section)
