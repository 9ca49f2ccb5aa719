"""Attribution methods: gaplens against Captum on the same models and inputs (issue 3).

Times every method the two libraries share -- gradient (saliency), Integrated Gradients,
SmoothGrad, occlusion, guided backprop and Grad-CAM -- on a zoo ResNet (64x64, 16 images) and a
zoo VGG (128x128, 8 images) with random weights, float32, on the CPU. For each method it reports
the median of ``--repeats`` runs of

* gaplens at every batch size of its sweep (the main table shows the fastest, and the default 64);
* Captum at its defaults, and at the fastest of a few batching settings ("Captum best");
* the floor: (rows the method must evaluate) x (time per row of one batched forward+backward
  pass w.r.t. the input, forward only for occlusion) at the batch size gaplens ran with, timed
  as bare back-to-back passes on random images in the same round-robin as the runs.

Every timed configuration's result is checked against gaplens' (max |difference| <= 1e-3 x the
largest magnitude), so both libraries do the same work. SmoothGrad draws random noise, so its
check runs once more with Captum's noise handed to gaplens (``noise_tensors``).

Peak memory: gaplens IG and SmoothGrad at two batch sizes, and Captum IG at its defaults, each
in a fresh subprocess that reports its peak resident set size (``VmHWM``) before and after the call.

All scores are raw logits (gaplens ``score="logit"``); the model's parameters have
``requires_grad=False`` for both libraries (gaplens sets that itself; Captum only takes
gradients w.r.t. the inputs).

Usage::

    python benchmarks/explain_vs_captum.py --quick            # smoke run, small sizes (~1 min)
    python benchmarks/explain_vs_captum.py                    # full run (~25 min on 2 cores)
    python benchmarks/explain_vs_captum.py --models resnet --repeats 3 --output results.md
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from gaplens.core.hooks import resolve_layer
from gaplens.core.model import Classifier
from gaplens.explain import attribute
from gaplens.explain.grad_cam import default_cam_layer
from gaplens.zoo import build

RELATIVE_TOLERANCE = 1e-3
DEFAULT_BATCH = 64  # gaplens.explain.attribute's default batch_size
CLASSES = 8
WINDOW, STRIDE, FILL = 8, 4, 0.5
NOISE = 0.15  # gaplens: fraction of each image's value range; Captum: absolute std (images span [0, 1))


@dataclass(frozen=True)
class Setup:
    """One model and input size, with the batching settings each library is swept over."""

    model: str
    size: int  # images are size x size
    n: int  # images per attribution call
    batch_sizes: tuple[int, ...]  # gaplens batch_size sweep (includes the default 64)
    ig_internal: tuple[int, ...]  # Captum IntegratedGradients internal_batch_size (rows per pass)
    nt_batches: tuple[int, ...]  # Captum NoiseTunnel nt_samples_batch_size (samples per pass)
    occ_ppe: tuple[int, ...]  # Captum Occlusion perturbations_per_eval (windows per pass)
    memory_batches: tuple[int, int]  # the two gaplens batch sizes of the memory table
    occ_batch_sizes: tuple[int, ...] = ()  # gaplens batch sizes for occlusion (default: batch_sizes)


FULL = {
    "resnet": Setup("resnet", 64, 16, (32, 64, 128, 256), (64, 128, 256), (5, 10, 25), (4, 16, 64, 256), (16, 128)),
    # at 128x128 a forward+backward pass costs more per row beyond ~16 rows (activations outgrow
    # the caches), so the sweeps go smaller; occlusion (~30 s a run) gets a shorter sweep
    "vgg": Setup("vgg", 128, 8, (8, 16, 32, 64), (16, 32, 64), (2, 5, 10), (2, 4), (16, 128), (16, 64)),
}
QUICK = {
    "resnet": Setup("resnet", 32, 2, (4, 64), (4,), (2,), (4,), (4, 16)),
    "vgg": Setup("vgg", 32, 2, (4, 64), (4,), (2,), (4,), (4, 16)),
}


# --------------------------------------------------------------------------------------------
# models, inputs, timing


def make_model(name: str, seed: int) -> Classifier:
    """A zoo network (random weights from ``seed``) in eval mode, parameters frozen."""
    torch.manual_seed(seed)
    model = Classifier(build(name, CLASSES)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def make_inputs(setup: Setup, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand((setup.n, 3, setup.size, setup.size), generator=gen)
    target = torch.randint(0, CLASSES, (setup.n,), generator=gen)
    return x, target


def busy_cpu_seconds() -> float:
    """CPU seconds all processes have used since boot (``/proc/stat``), or 0 where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Clock:
    """Wall-clock timing that notices other processes on the machine and retries.

    The CPU time other processes used during a call is the machine's busy time (``/proc/stat``)
    minus this process's own; when it exceeds ``share`` of the call's wall time (the machine is
    shared), the clock waits until the machine has been quiet for a few seconds and times the
    call again, at most ``retries`` times; the last try is kept and counted as contended.
    """

    def __init__(self, retries: int, wait_seconds: float, share: float = 0.1) -> None:
        self.retries, self.wait_seconds, self.share = retries, wait_seconds, share
        self.calls = self.retried = self.contended = 0
        self.wall = self.foreign = 0.0

    def wait_for_quiet(self, window: float = 1.0, needed: int = 10) -> float:
        """Sleep until other processes used < ``share`` of a core for ``needed`` windows; seconds waited."""
        begin = time.perf_counter()
        quiet = 0
        while quiet < needed and time.perf_counter() - begin < self.wait_seconds:
            busy, own = busy_cpu_seconds(), own_cpu_seconds()
            time.sleep(window)
            foreign = busy_cpu_seconds() - busy - (own_cpu_seconds() - own)
            quiet = quiet + 1 if foreign < self.share * window else 0
        return time.perf_counter() - begin

    def __call__(self, fn: Callable[[], object]) -> tuple[float, object]:
        """``(seconds, fn())``, retried while other processes took more than ``share`` of a core."""
        for attempt in range(self.retries + 1):
            gc.collect()
            busy, own = busy_cpu_seconds(), own_cpu_seconds()
            begin = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - begin
            foreign = busy_cpu_seconds() - busy - (own_cpu_seconds() - own)
            if foreign <= max(self.share * seconds, 0.05):
                break
            if attempt < self.retries:
                self.retried += 1
                del out
                waited = self.wait_for_quiet()
                print(f"    (other processes used {foreign:.2f} CPU s during a {seconds:.2f} s call: "
                      f"waited {waited:.0f} s, timing it again)", file=sys.stderr, flush=True)
            else:
                self.contended += 1
        self.calls += 1
        self.wall += seconds
        self.foreign += max(foreign, 0.0)
        return seconds, out

    def summary(self) -> str:
        share = self.foreign / self.wall if self.wall else 0.0
        return (f"{self.calls} timed calls; other processes' CPU during the kept calls: {share:.1%} of one core "
                f"on average; {self.retried} calls re-timed after contention, {self.contended} kept although "
                "contended")


CLOCK = Clock(retries=5, wait_seconds=600)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    return CLOCK(fn)


@dataclass
class Run:
    """One timed configuration: a library, a setting, and the call itself."""

    library: str  # "gaplens", "Captum" or "floor"
    setting: str  # "B=128", "default", "internal_batch_size=64", ...
    fn: Callable[[], torch.Tensor | None]
    batch_size: int | None = None  # gaplens (and floor) batch_size
    default: bool = False  # Captum at its defaults / gaplens at batch_size=64
    scale: float = 1.0  # the floor: rows required / rows its timed passes evaluated
    times: list[float] = field(default_factory=list)
    repeats: int = 0
    rel_diff: float = float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.times) * self.scale


def floor_run(model: Classifier, size: int, rows: int, batch_size: int, backward: bool,
              fraction: float = 1.0) -> Run:
    """The floor: bare forward(+backward w.r.t. the inputs) passes of ``batch_size`` random images.

    Times ``ceil(rows / batch_size)`` back-to-back passes (a ``fraction`` of them for long
    forward-only sweeps) and scales to ``rows``: (rows required) x (time of one batched pass per
    row). When one pass covers all rows it is exactly one pass of ``rows`` images.
    """
    per_pass = min(rows, batch_size)
    passes = max(1, round(math.ceil(rows / per_pass) * fraction))
    gen = torch.Generator().manual_seed(per_pass)
    x = torch.rand((per_pass, 3, size, size), generator=gen)
    target = torch.randint(0, CLASSES, (per_pass, 1), generator=gen)

    def run() -> None:
        for _ in range(passes):
            if backward:
                xg = x.detach().requires_grad_(True)
                with torch.enable_grad():
                    torch.autograd.grad(model(xg).gather(1, target).sum(), xg)
            else:
                with torch.no_grad():
                    model(x)

    return Run("floor", f"B={batch_size}", run, batch_size, scale=rows / (passes * per_pass))


def relative_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected|."""
    if actual.shape != expected.shape:
        raise AssertionError(f"shapes differ: {tuple(actual.shape)} vs {tuple(expected.shape)}")
    scale = expected.abs().max().item()
    return (actual - expected).abs().max().item() / max(scale, 1e-30)


def check(name: str, actual: torch.Tensor, expected: torch.Tensor) -> float:
    diff = relative_difference(actual, expected)
    if not diff <= RELATIVE_TOLERANCE:
        raise AssertionError(f"{name}: results differ by {diff:.3g} of the largest magnitude "
                             f"(tolerance {RELATIVE_TOLERANCE}); the benchmark would compare unequal work")
    return diff


def time_runs(method: str, runs: list[Run], repeats: int, slow_seconds: float, slow_repeats: int,
              verify: bool) -> None:
    """Time ``runs`` round-robin (so drifting machine load hits all alike); check each first result.

    The first run's first result is the reference. A configuration whose first call takes more
    than ``slow_seconds`` is repeated only ``slow_repeats`` times.
    """
    reference = None
    for run in runs:
        run.repeats = repeats
    for round_ in range(repeats):
        for run in runs:
            if round_ >= run.repeats:
                continue
            seconds, out = timed(run.fn)
            run.times.append(seconds)
            if round_ == 0:
                if seconds > slow_seconds:
                    run.repeats = min(repeats, slow_repeats)
                if reference is None:
                    reference = out
                if verify and out is not None:
                    run.rel_diff = check(f"{method} {run.library} {run.setting}", out, reference)
            del out
            print(f"    {method:<22} {run.library:<8} {run.setting:<26} {seconds:8.3f} s", file=sys.stderr,
                  flush=True)


# --------------------------------------------------------------------------------------------
# the methods


@dataclass
class Bench:
    """A method: its gaplens and Captum runs and the work its floor is made of."""

    name: str
    runs: list[Run]
    rows: int  # rows that must be evaluated
    backward: bool  # forward+backward rows (else forward only)
    verify: bool = True
    floor_note: str = ""


def benches(setup: Setup, model: Classifier, x: torch.Tensor, target: torch.Tensor, steps: int,
            samples: int) -> list[Bench]:
    from captum.attr import (
        GuidedBackprop,
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )

    n, size = setup.n, setup.size

    def gaplens_runs(method: str, sweep: tuple[int, ...], **options) -> list[Run]:
        def call(b: int) -> Callable[[], torch.Tensor]:
            return lambda: attribute(model, x, target=target, method=method, batch_size=b, score="logit",
                                     **options)

        return [Run("gaplens", f"B={b}", call(b), b, default=b == DEFAULT_BATCH) for b in sweep]

    single = (DEFAULT_BATCH,)  # one pass covers the N images: the batch size does not matter

    def ig(internal: int | None) -> Callable[[], torch.Tensor]:
        return lambda: IntegratedGradients(model).attribute(x, target=target, n_steps=steps,
                                                            internal_batch_size=internal)

    def sg(per_pass: int | None) -> Callable[[], torch.Tensor]:
        return lambda: NoiseTunnel(Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=per_pass, stdevs=NOISE,
            target=target, abs=False)

    def occ(ppe: int) -> Callable[[], torch.Tensor]:
        return lambda: Occlusion(model).attribute(x, sliding_window_shapes=(3, WINDOW, WINDOW),
                                                  strides=(3, STRIDE, STRIDE), baselines=FILL, target=target,
                                                  perturbations_per_eval=ppe)

    layer_name = default_cam_layer(model, x)
    layer = resolve_layer(model, layer_name)

    def cam() -> torch.Tensor:
        maps = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(maps, (size, size), "bilinear")

    def bench(name: str, runs: list[Run], rows: int, backward: bool, fraction: float = 1.0, **kwargs) -> Bench:
        """The method's runs plus a floor run at each gaplens batch size, last in every round."""
        floors = [floor_run(model, size, rows, r.batch_size, backward, fraction) for r in runs
                  if r.library == "gaplens"]
        return Bench(name, runs + floors, rows, backward, **kwargs)

    positions = (math.ceil((size - WINDOW) / STRIDE) + 1) ** 2
    return [
        bench("gradient", [*gaplens_runs("gradient", single),
                           Run("Captum", "default", lambda: Saliency(model).attribute(x, target=target, abs=False),
                               default=True)],
              n, True),
        bench("integrated_gradients",
              [*gaplens_runs("integrated_gradients", setup.batch_sizes, n_steps=steps),
               Run("Captum", "default", ig(None), default=True),
               *(Run("Captum", f"internal_batch_size={b}", ig(b)) for b in setup.ig_internal)],
              steps * n, True),
        bench("smoothgrad",
              [*gaplens_runs("smoothgrad", setup.batch_sizes, n_samples=samples, noise=NOISE),
               Run("Captum", "default", sg(None), default=True),
               *(Run("Captum", f"nt_samples_batch_size={b}", sg(b)) for b in setup.nt_batches)],
              samples * n, True, verify=False),
        # the occlusion floor times a quarter of the forward passes (they are all alike)
        bench("occlusion",
              [*gaplens_runs("occlusion", setup.occ_batch_sizes or setup.batch_sizes, window=WINDOW, stride=STRIDE,
                             fill=FILL),
               # incremental inference off: every occluded image evaluated whole (the floor's work)
               Run("gaplens (whole images)", f"B={DEFAULT_BATCH}, incremental=False",
                   lambda: attribute(model, x, target=target, method="occlusion", batch_size=DEFAULT_BATCH,
                                     score="logit", window=WINDOW, stride=STRIDE, fill=FILL, incremental=False),
                   DEFAULT_BATCH),
               Run("Captum", "default", occ(1), default=True),
               *(Run("Captum", f"perturbations_per_eval={p}", occ(p)) for p in setup.occ_ppe)],
              n * positions + n, False, fraction=0.25, floor_note=f"{positions} windows"),
        bench("guided_backprop",
              [*gaplens_runs("guided_backprop", single),
               Run("Captum", "default", lambda: GuidedBackprop(model).attribute(x, target=target), default=True)],
              n, True),
        bench("grad_cam", [*gaplens_runs("grad_cam", single), Run("Captum", "default", cam, default=True)],
              n, True, floor_note=f"layer {layer_name}; floor: backward to the input"),
    ]


def smoothgrad_matched_check(model: Classifier, x: torch.Tensor, target: torch.Tensor, samples: int,
                             batch_size: int, seed: int) -> float:
    """gaplens SmoothGrad fed the exact noise Captum draws: the results must agree.

    With ``nt_samples_batch_size=None`` Captum draws all noise in one ``torch.normal(0, std)``
    call over the inputs repeated image-major (``repeat_interleave``); the same call under the
    same seed reproduces it, reordered to gaplens' ``(samples, N, ...)``.
    """
    from captum.attr import NoiseTunnel, Saliency

    n = x.shape[0]
    torch.manual_seed(seed)
    theirs = NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=samples, stdevs=NOISE,
                                                    target=target, abs=False)
    torch.manual_seed(seed)
    noise = torch.normal(0, torch.tensor(NOISE).repeat((n * samples, *x.shape[1:])))
    noise = noise.view(n, samples, *x.shape[1:]).transpose(0, 1)
    ours = attribute(model, x, target=target, method="smoothgrad", batch_size=batch_size, score="logit",
                     noise_tensors=noise)
    return check("smoothgrad (Captum's noise)", ours, theirs)


# --------------------------------------------------------------------------------------------
# peak memory, in fresh subprocesses


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB.

    ``VmHWM`` from ``/proc/self/status`` where there is one: Linux carries ``ru_maxrss`` over
    ``fork`` + ``exec``, so a child's ``ru_maxrss`` starts at its parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def memory_child(spec: dict) -> None:
    """Run one attribution call and print ``{"before": KiB, "peak": KiB}`` (peak RSS before and after)."""
    import captum.attr  # noqa: F401  (the same imports in every child)

    torch.set_num_threads(spec["threads"])
    setup = Setup(spec["model"], spec["size"], spec["n"], (), (), (), (), (0, 0))
    model = make_model(setup.model, spec["seed"])
    x, target = make_inputs(setup, spec["seed"])
    with torch.no_grad():
        model(x[:1])
    before = peak_rss_kib()
    if spec["library"] == "Captum":
        from captum.attr import IntegratedGradients

        IntegratedGradients(model).attribute(x, target=target, n_steps=spec["steps"], internal_batch_size=None)
    else:
        options = {"n_steps": spec["steps"]} if spec["method"] == "integrated_gradients" else {
            "n_samples": spec["steps"], "noise": NOISE}
        attribute(model, x, target=target, method=spec["method"], batch_size=spec["batch_size"], score="logit",
                  **options)
    peak = peak_rss_kib()
    print(json.dumps({"before": before, "peak": peak}))


def memory_rows(setup: Setup, threads: int, seed: int, steps: int) -> list[dict]:
    small, large = setup.memory_batches
    specs = [
        ("gaplens", "integrated_gradients", small, steps),
        ("gaplens", "integrated_gradients", large, steps),
        ("gaplens", "integrated_gradients", large, 4 * steps),
        ("Captum", "integrated_gradients", None, steps),
        ("gaplens", "smoothgrad", small, steps),
        ("gaplens", "smoothgrad", large, steps),
        ("gaplens", "smoothgrad", large, 4 * steps),
    ]
    rows = []
    for library, method, batch_size, count in specs:
        spec = {"model": setup.model, "size": setup.size, "n": setup.n, "library": library, "method": method,
                "batch_size": batch_size, "steps": count, "threads": threads, "seed": seed}
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", json.dumps(spec)],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({**spec, **result})
        print(f"    memory {library} {method} B={batch_size} x{count}: {result}", file=sys.stderr, flush=True)
    return rows


# --------------------------------------------------------------------------------------------
# report


def fmt(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.2f}"


def times_label(run: Run, repeats: int) -> str:
    return fmt(run.median) + ("" if len(run.times) == repeats else f" ({len(run.times)} runs)")


@dataclass
class Summary:
    name: str
    best: Run
    default: Run
    captum_default: Run
    captum_best: Run
    floor: float
    floor_default: float


def floor_of(bench: Bench, batch_size: int) -> Run:
    return next(r for r in bench.runs if r.library == "floor" and r.batch_size == batch_size)


def summarize(bench: Bench) -> Summary:
    ours = [r for r in bench.runs if r.library == "gaplens"]
    theirs = [r for r in bench.runs if r.library == "Captum"]
    best = min(ours, key=lambda r: r.median)
    default = next((r for r in ours if r.default), best)
    return Summary(bench.name, best, default, next(r for r in theirs if r.default),
                   min(theirs, key=lambda r: r.median), floor_of(bench, best.batch_size).median,
                   floor_of(bench, default.batch_size).median)


def model_report(setup: Setup, bench_list: list[Bench], summaries: list[Summary], repeats: int,
                 sg_check: float) -> list[str]:
    lines = [
        f"### {setup.model}: zoo {setup.model} (8 classes, random init), {setup.n} images of "
        f"{setup.size}x{setup.size}",
        "",
        "| method | gaplens s (B) | gaplens s at B=64 | Captum default s | Captum best s (setting) "
        "| gaplens/Captum-default | gaplens/Captum-best | floor s | gaplens/floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.name} | {times_label(s.best, repeats)} (B={s.best.batch_size}) | {times_label(s.default, repeats)} "
            f"| {times_label(s.captum_default, repeats)} | {times_label(s.captum_best, repeats)} "
            f"({s.captum_best.setting}) | {s.best.median / s.captum_default.median:.2f} "
            f"| {s.best.median / s.captum_best.median:.2f} | {fmt(s.floor)} | {s.best.median / s.floor:.2f} |"
        )
    lines += ["", "Every configuration (median s; max relative difference to gaplens' first result):", "",
              "| method | library | setting | median s | runs | rows | floor s at this B | rel. diff |",
              "|---|---|---|---|---|---|---|---|"]
    for bench in bench_list:
        for run in bench.runs:
            if run.library == "floor":
                continue
            floor_s = fmt(floor_of(bench, run.batch_size).median) if run.batch_size is not None else ""
            diff = "Captum noise: see below" if not bench.verify else f"{run.rel_diff:.1e}"
            rows = f"{bench.rows} {'fwd+bwd' if bench.backward else 'fwd'}"
            if bench.floor_note:
                rows += f" ({bench.floor_note})"
            lines.append(f"| {bench.name} | {run.library} | {run.setting} | {fmt(run.median)} | {len(run.times)} "
                         f"| {rows} | {floor_s} | {diff} |")
    lines += ["", f"SmoothGrad with Captum's exact noise fed to gaplens: max relative difference {sg_check:.1e}.", ""]
    multi = [b for b in bench_list if any(r.library == "floor" and r.batch_size < b.rows for r in b.runs)]
    if multi:
        sizes = sorted({r.batch_size for b in multi for r in b.runs if r.library == "floor"})
        lines += ["Floor passes (median ms per row, interleaved with the runs above):", "",
                  "| rows per pass | " + " | ".join(f"{b.name} ({'fwd+bwd' if b.backward else 'fwd'})" for b in multi)
                  + " |", "|---|" + "---|" * len(multi)]
        for size in sizes:
            cells = []
            for b in multi:
                run = next((r for r in b.runs if r.library == "floor" and r.batch_size == size), None)
                cells.append(f"{1e3 * run.median / b.rows:.3f}" if run is not None else "")
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return lines + [""]


def targets_report(all_summaries: dict[str, list[Summary]]) -> list[str]:
    lines = ["### Targets", "", "| model | method | target | at best B | at B=64 | met (best B / B=64) |",
             "|---|---|---|---|---|---|"]

    def row(model: str, method: str, target: str, best: float, default: float, limit: float) -> None:
        marks = ["yes" if v <= limit else "**no**" for v in (best, default)]
        lines.append(f"| {model} | {method} | {target} | {best:.2f} | {default:.2f} | {marks[0]} / {marks[1]} |")

    for model, summaries in all_summaries.items():
        by_name = {s.name: s for s in summaries}
        for name in ("integrated_gradients", "smoothgrad"):
            s = by_name[name]
            row(model, name, "gaplens/Captum-default <= 0.8", s.best.median / s.captum_default.median,
                s.default.median / s.captum_default.median, 0.8)
            row(model, name, "gaplens/floor <= 1.25", s.best.median / s.floor, s.default.median / s.floor_default,
                1.25)
        s = by_name["occlusion"]
        row(model, "occlusion", "gaplens/Captum-best <= 1", s.best.median / s.captum_best.median,
            s.default.median / s.captum_best.median, 1.0)
    return lines + [""]


def memory_report(rows_by_model: dict[str, list[dict]]) -> list[str]:
    lines = ["### Peak memory (fresh subprocess per row, peak RSS = `VmHWM`)", "",
             "\"before\": after imports, model and inputs; \"peak\": after the attribution call.", "",
             "| model | library | method | batch_size | steps/samples | before MiB | peak MiB | peak - before MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for model, rows in rows_by_model.items():
        for r in rows:
            batch = "default (all rows at once)" if r["library"] == "Captum" else r["batch_size"]
            before, peak = r["before"] / 1024, r["peak"] / 1024  # KiB -> MiB
            lines.append(f"| {model} | {r['library']} | {r['method']} | {batch} | {r['steps']} "
                         f"| {before:.0f} | {peak:.0f} | {peak - before:.0f} |")
    return lines + [""]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(args: argparse.Namespace, started: datetime.datetime, minutes: float, load_start: tuple[float, ...],
           load_end: tuple[float, ...]) -> list[str]:
    import captum

    return [
        f"- command: `python {' '.join(sys.argv)}`",
        f"- date: {started.isoformat(timespec='seconds')} ({minutes:.0f} min)",
        f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs; torch {torch.__version__}, "
        f"captum {captum.__version__}, Python {platform.python_version()}; "
        f"torch threads {torch.get_num_threads()}",
        f"- load average (1/5/15 min) at start {'/'.join(f'{v:.2f}' for v in load_start)}, at end "
        f"{'/'.join(f'{v:.2f}' for v in load_end)}; {CLOCK.summary()}",
        f"- IG {args.steps} steps (Gauss-Legendre, black baseline); SmoothGrad {args.samples} samples, "
        f"noise std {NOISE}; occlusion window {WINDOW}, stride {STRIDE}, fill {FILL}; scores = logits",
        f"- medians of {args.repeats} runs (configurations whose first run took > {args.slow_seconds:g} s: "
        f"{args.slow_repeats} runs, marked); runs interleaved round-robin",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet", "vgg"], choices=["resnet", "vgg"])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (median)")
    parser.add_argument("--slow-seconds", type=float, default=15.0,
                        help="configurations whose first run takes longer get --slow-repeats runs")
    parser.add_argument("--slow-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--steps", type=int, default=None, help="IG steps (default 50; 4 with --quick)")
    parser.add_argument("--samples", type=int, default=None, help="SmoothGrad samples (default 50; 4 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=None, help="only these methods (default: all)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 1 repeat")
    parser.add_argument("--retries", type=int, default=5,
                        help="re-time a call this often when other processes used the CPU during it")
    parser.add_argument("--wait-quiet", type=float, default=600,
                        help="before a re-timing, wait at most this many seconds for the machine to be quiet")
    parser.add_argument("--output", default=None, help="also write the Markdown report to this file")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        memory_child(json.loads(args.memory_child))
        return
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*did not already require gradients.*")
    warnings.filterwarnings("ignore", message=".*backward hooks on ReLU.*")
    setups = QUICK if args.quick else FULL
    if args.quick and args.repeats == parser.get_default("repeats"):
        args.repeats = 1
    args.steps = args.steps or (4 if args.quick else 50)
    args.samples = args.samples or (4 if args.quick else 50)

    CLOCK.retries, CLOCK.wait_seconds = args.retries, args.wait_quiet
    CLOCK.wait_for_quiet()
    load_start = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    begin = time.perf_counter()
    sections: list[str] = []
    summaries: dict[str, list[Summary]] = {}
    memory: dict[str, list[dict]] = {}
    for name in args.models:
        setup = setups[name]
        print(f"== {name} {setup.size}x{setup.size}, {setup.n} images", file=sys.stderr, flush=True)
        CLOCK.wait_for_quiet()
        model = make_model(name, args.seed)
        x, target = make_inputs(setup, args.seed)
        for b in sorted({setup.n, *setup.batch_sizes, *setup.occ_batch_sizes}):  # warm-up of every batch shape
            floor_run(model, setup.size, b, b, True).fn()
            floor_run(model, setup.size, b, b, False).fn()
        bench_list = [b for b in benches(setup, model, x, target, args.steps, args.samples)
                      if args.methods is None or b.name in args.methods]
        for bench in bench_list:
            time_runs(bench.name, bench.runs, args.repeats, args.slow_seconds, args.slow_repeats, bench.verify)
        sg_check = smoothgrad_matched_check(model, x, target, args.samples, DEFAULT_BATCH, args.seed)
        summaries[name] = [summarize(b) for b in bench_list]
        sections += model_report(setup, bench_list, summaries[name], args.repeats, sg_check)
        if not args.no_memory:
            memory[name] = memory_rows(setup, args.threads, args.seed, args.steps)
    load_end = os.getloadavg()

    lines = header(args, started, (time.perf_counter() - begin) / 60, load_start, load_end) + sections
    if args.methods is None:
        lines += targets_report(summaries)
    if memory:
        lines += memory_report(memory)
    text = "\n".join(lines)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
