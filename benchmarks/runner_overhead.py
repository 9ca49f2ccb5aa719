"""The study runner's overhead over calling the capabilities directly (issue 12).

Two workloads, each timed both ways in alternation (runner, direct, runner, direct, ...):

- **explain**: every attribution method on 64 synthetic images (64 x 64) of the zoo ResNet. Direct:
  the logits, ``attribute`` per method (the study's options), the object-mask fraction, and the
  grid figure saved as a PNG. Runner: ``run_study(Explain(...))`` into a fresh run folder, which
  adds fingerprints (weights and images digests), one SQLite transaction per unit, the maps
  written as ``.npy`` and read back for the figure.
- **sweep**: the 13 distortions of Geirhos et al. 2018 at their published levels (104 levels in
  all... the paper's 12 plus the clean colour level) on 200 images (32 x 32). Direct: ``sweep`` and
  the accuracy-vs-level figure. Runner: ``run_study(Sweep(...))``.

The HTML report is not rendered (``report=False``): it is the report's cost, not the runner's,
and it is timed separately in the last column.

Target (issue 12): runner / direct <= 1.03 on both workloads. Because the total times move with
the machine's load, the runner's own time is also measured directly: the run's wall time minus
the time spent inside ``Study.run_unit`` and in rendering its figures (the capability calls,
records and figures, which the direct path does too), as a share of the latter. That share
does not depend on how busy the machine is.

Usage::

    python benchmarks/runner_overhead.py                 # both workloads, 3 repeats (~6 min on 2 cores)
    python benchmarks/runner_overhead.py --quick         # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gaplens.core.model import Classifier
from gaplens.data.spec import load_image_batch
from gaplens.data.synthetic import generate
from gaplens.explain import METHODS, attribute
from gaplens.explain.render import attribution_grid_figure
from gaplens.report.figures import save_figure
from gaplens.robustness import accuracy_vs_level_figure, sweep
from gaplens.studies import Explain, Sweep, run_study
from gaplens.studies.explain import mask_fraction
from gaplens.studies.models import ModelRef
from gaplens.studies.report import render_report
from gaplens.zoo import build

TARGET_RATIO = 1.03
EXPLAIN_OPTIONS = {"integrated_gradients": {"n_steps": 32}, "smoothgrad": {"n_samples": 32},
                   "smoothgrad_sq": {"n_samples": 32}, "vargrad": {"n_samples": 32}}


def _model(size: int) -> Classifier:
    torch.manual_seed(0)
    return Classifier(build("resnet", num_classes=8), class_names=[str(i) for i in range(8)],
                      input_size=(size, size)).eval()


def explain_direct(model, batch, folder: Path, options: dict) -> None:
    with torch.no_grad():
        logits = model(batch.images)
    targets = logits.argmax(1)
    maps = {}
    for method in METHODS.names():
        extra = {"return_delta": True} if method == "integrated_gradients" else {}
        result = attribute(model, batch.images, target=targets, method=method, batch_size=64,
                           **extra, **options.get(method, {}))
        maps[method] = result[0] if isinstance(result, tuple) else result
        mask_fraction(maps[method], batch.masks)
    fig = attribution_grid_figure(batch.images, maps, mode="abs", title="direct")
    save_figure(fig, folder / "grid.png")


#: Seconds spent inside Study.run_unit (the capability work) during the last runner call.
INSIDE = {"seconds": 0.0}


def _timed_save_figure():
    """Count figure rendering (save_figure, called by the runner) as unit work: the direct path renders too."""
    import gaplens.report.figures as figures

    original = figures.save_figure

    def timed(fig, path):
        start = time.perf_counter()
        try:
            return original(fig, path)
        finally:
            INSIDE["seconds"] += time.perf_counter() - start

    figures.save_figure = timed


def _timed(study):
    """The study with its run_unit timed: runner time minus this is the runner's own cost, load-independent."""
    run_unit = study.run_unit

    def timed(unit, ctx):
        start = time.perf_counter()
        try:
            return run_unit(unit, ctx)
        finally:
            INSIDE["seconds"] += time.perf_counter() - start

    study.run_unit = timed
    return study


def explain_runner(model, batch, folder: Path, options: dict) -> None:
    run_study(_timed(Explain([ModelRef("m", model=model, device="cpu")], batch, ("all",), batch_size=64,
                             options=options)), folder, progress=False, report=False)


def sweep_direct(model, data, folder: Path) -> None:
    rows = sweep(model, data, distortions="all", batch_size=200, seed=0, model_name="m")
    save_figure(accuracy_vs_level_figure(rows), folder / "sweep.png")


def sweep_runner(model, data, folder: Path) -> None:
    run_study(_timed(Sweep([ModelRef("m", model=model, device="cpu")], data, "all", batch_size=200)), folder,
              progress=False, report=False)


def _time(fn, *args) -> float:
    folder = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    try:
        start = time.perf_counter()
        fn(*args, folder)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _report_seconds(study_fn, *args) -> float:
    folder = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    try:
        study_fn(*args, folder)
        start = time.perf_counter()
        render_report(folder)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("explain", "sweep"), help="Run one workload.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _timed_save_figure()
    n_explain, n_sweep = (8, 40) if args.quick else (64, 200)
    options = {m: {k: max(2, v // 8) for k, v in o.items()} for m, o in EXPLAIN_OPTIONS.items()} if args.quick \
        else EXPLAIN_OPTIONS
    explain_model = _model(64)
    batch = load_image_batch(f"synthetic:n={n_explain},classes=8,size=64,seed=3", limit=n_explain)
    sweep_model = _model(32)
    data = generate(n_sweep, classes=8, size=32, seed=4)
    workloads = {
        f"explain ({n_explain} images, {len(METHODS.names())} methods)":
            (lambda f: explain_runner(explain_model, batch, f, options),
             lambda f: explain_direct(explain_model, batch, f, options)),
        f"sweep (13 distortions, all levels, {n_sweep} images)":
            (lambda f: sweep_runner(sweep_model, data, f), lambda f: sweep_direct(sweep_model, data, f)),
    }
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, threads={args.threads}, "
          f"repeats={args.repeats}, load average before {os.getloadavg()[0]:.2f}")
    print("| workload | runner s (median) | direct s (median) | runner / direct | runner's own s (median) | "
          "own / inside units | report s |")
    print("|---|---|---|---|---|---|---|")
    for name, (runner, direct) in workloads.items():
        if args.only and not name.startswith(args.only):
            continue
        runner_times, direct_times, own, inside = [], [], [], []
        for _ in range(args.repeats):
            INSIDE["seconds"] = 0.0
            runner_times.append(_time(runner))
            inside.append(INSIDE["seconds"])
            own.append(runner_times[-1] - INSIDE["seconds"])
            direct_times.append(_time(direct))
        r, d = statistics.median(runner_times), statistics.median(direct_times)
        o = statistics.median(own)
        report = _report_seconds(runner)
        print(f"| {name} | {r:.2f} | {d:.2f} | {r / d:.3f} | {o:.3f} | {o / statistics.median(inside):.3%} | "
              f"{report:.2f} |", flush=True)
    print(f"# target: runner / direct <= {TARGET_RATIO}; load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
