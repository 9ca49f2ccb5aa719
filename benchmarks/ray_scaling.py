"""The Ray executor against the local one on a distortion sweep, and a projection to N workers (issue 20).

Workload: ``Sweep`` of 4 models (zoo ResNets saved as checkpoints, so Ray workers load them from
their specs) x the 13 distortions of Geirhos et al. 2018 at their published levels on ``--images``
synthetic images (32 px): 52 units (one per model and distortion, all of its levels in one pass)
plus the summary figure, run into a fresh run folder each time, without the HTML report.

Timed, in alternation (local 1 thread, local 2 threads, Ray with 2 workers of 1 thread each):

- wall time of ``run_study`` and **time to first record** (from the call to the first unit's
  commit; it includes planning: the weight and data digests, and for Ray the actors' start and
  their first model load);
- each unit's time in the local 1-thread run (the gap between consecutive commits) and the
  driver's own time per commit (``Runner._commit``: SQLite transaction and files);
- Ray's **overhead per unit**: ``wall x workers / units - mean local unit time``, i.e. the
  worker-seconds each unit costs beyond its own work (start-up included); and the same on an
  empty study (units that only return one record), which is pure dispatch cost.

Projection for N workers (one GPU each, or N CPU workers) from those measurements:
``T(N) = T_first + max((sum(t_unit) + units x overhead) / N, max(t_unit), units x t_commit) + t_figure``:
the parallel units' work shared by N, but never less than the longest unit or the driver's serial
commits, then the summary figure (a unit with ``depends``: it runs on the driver, after the
others). ``t_unit`` is this machine's CPU time per unit; a GPU's is what
``benchmarks/gpu_check.py`` measures, to substitute.

Usage::

    python benchmarks/ray_scaling.py               # ~5 min on 2 idle cores
    python benchmarks/ray_scaling.py --quick       # 40 images, one repeat
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gaplens.core.model import Classifier, save_checkpoint
from gaplens.data.synthetic import generate
from gaplens.studies import Study, Sweep, Unit, UnitOutput, run_study
from gaplens.studies.executors import RayExecutor
from gaplens.studies.runner import Runner
from gaplens.zoo import build

N_MODELS = 4
#: commit times of the current run: (perf_counter after the commit, seconds inside _commit)
COMMITS: list[tuple[float, float]] = []


def _record_commits() -> None:
    original = Runner._commit

    def timed(self, study, unit, fingerprint, output):
        start = time.perf_counter()
        original(self, study, unit, fingerprint, output)
        end = time.perf_counter()
        COMMITS.append((end, end - start))

    Runner._commit = timed


@dataclass
class Empty(Study):
    """``n`` units that do nothing but return one record: what dispatching a unit costs."""

    name = "empty"
    title = "Empty"
    n: int = 100

    def units(self, ctx) -> list[Unit]:
        return [Unit(f"u{i}", {"i": i}, scope="empty", payload=i) for i in range(self.n)]

    def run_unit(self, unit: Unit, ctx) -> UnitOutput:
        return UnitOutput(records=[{"i": unit.payload}])

    @staticmethod
    def section(df, artifacts):  # pragma: no cover - never rendered
        raise NotImplementedError


def _models(folder: Path) -> list[str]:
    specs = []
    for i in range(N_MODELS):
        torch.manual_seed(i)
        net = build("resnet", num_classes=8)
        model = Classifier(net, class_names=[str(k) for k in range(8)], input_size=(32, 32)).eval()
        specs.append(str(save_checkpoint(model, folder / f"resnet{i}")))
    return specs


def _run(study_fn, executor, threads: int) -> dict:
    torch.set_num_threads(threads)
    folder = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    COMMITS.clear()
    try:
        start = time.perf_counter()
        result = run_study(study_fn(), folder, progress=False, report=False, executor=executor)
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ends = [start] + [end for end, _ in COMMITS]
    return {"wall": wall, "first": COMMITS[0][0] - start, "gaps": [b - a for a, b in zip(ends, ends[1:], strict=False)],
            "commit": [c for _, c in COMMITS], "units": len(result.ran)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.images, args.repeats = 40, 1
    import ray

    _record_commits()
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    init = time.perf_counter() - start
    root = Path(tempfile.mkdtemp(prefix="ray-bench-models-"))
    specs = _models(root)
    data = generate(args.images, classes=8, size=32, seed=4)

    def sweep():
        return Sweep(specs, data, "all", batch_size=200, seed=0)

    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, ray {ray.__version__}, "
          f"{args.images} images, repeats={args.repeats}, load average before {os.getloadavg()[0]:.2f}; "
          f"ray.init {init:.1f} s")
    ways = {"local, 1 thread": ("local", 1), "local, 2 threads": ("local", 2),
            "Ray, 2 workers x 1 thread": (RayExecutor(workers=2), 1)}
    runs: dict[str, list[dict]] = {name: [] for name in ways}
    for _ in range(args.repeats):
        for name, (executor, threads) in ways.items():
            runs[name].append(_run(sweep, executor, threads))
            print(f"# {name}: {runs[name][-1]['wall']:.1f} s (load average {os.getloadavg()[0]:.1f})", flush=True)
    units = runs["local, 1 thread"][0]["units"]
    # the first gap also holds planning; the last one is the summary figure (driver side, serial)
    local_gaps = [g for run in runs["local, 1 thread"] for g in run["gaps"][1:-1]]
    figure_s = statistics.median(run["gaps"][-1] for run in runs["local, 1 thread"])
    unit_s = statistics.median(local_gaps)
    commit_s = statistics.median([c for run in runs["local, 1 thread"] for c in run["commit"]])
    print(f"\n{units} units (4 models x 13 distortions + the figure)\n")
    print("| executor | wall s (median) | time to first record s | wall / local 1 thread | "
          "overhead per unit, worker-s |")
    print("|---|---|---|---|---|")
    base = statistics.median(r["wall"] for r in runs["local, 1 thread"])
    for name, rs in runs.items():
        wall = statistics.median(r["wall"] for r in rs)
        first = statistics.median(r["first"] for r in rs)
        workers = 2 if name.startswith("Ray") else 1
        overhead = wall * workers / units - base / units
        column = f"{overhead:+.3f}" if workers > 1 else "-"
        print(f"| {name} | {wall:.2f} | {first:.2f} | {wall / base:.3f} | {column} |", flush=True)

    empty = {name: _run(lambda: Empty(200), ex, 1) for name, ex in
             (("local", "local"), ("Ray, 2 workers", RayExecutor(workers=2)))}
    print("\n| empty units (200) | wall s | per unit ms |\n|---|---|---|")
    for name, run in empty.items():
        print(f"| {name} | {run['wall']:.2f} | {1000 * run['wall'] / run['units']:.1f} |")

    ray_runs = runs["Ray, 2 workers x 1 thread"]
    ray_wall = statistics.median(r["wall"] for r in ray_runs)
    first = statistics.median(r["first"] for r in ray_runs)
    remote = units - 1
    total = sum(statistics.median(run["gaps"][i] for run in runs["local, 1 thread"]) for i in range(1, remote))
    total += unit_s  # the first unit, whose gap also holds planning
    mean_unit = total / remote
    # steady state: after the first record, what each remote unit costs a worker beyond its own work
    overhead = max(0.0, (ray_wall - first - figure_s) * 2 / (remote - 1) - mean_unit)
    longest = max(local_gaps)
    print(f"\nPer unit (local, 1 thread): median {unit_s:.3f} s, mean {mean_unit:.3f} s, longest {longest:.3f} s, "
          f"sum {total:.1f} s; summary figure {figure_s:.2f} s; driver commit median {1000 * commit_s:.1f} ms; "
          f"Ray steady-state overhead {overhead:.3f} worker-s per unit; Ray time to first record {first:.2f} s")
    print("\n| workers N | projected wall s | speed-up over 1 |\n|---|---|---|")

    def projected(n: int) -> float:
        return first + max((total + remote * overhead) / n, longest, remote * commit_s) + figure_s

    for n in (1, 2, 4, 8, 16, 32, 64):
        t = projected(n)
        print(f"| {n} | {t:.2f} | {projected(1) / t:.2f} |")
    print(f"\n(measured: Ray with 2 workers took {ray_wall:.2f} s; the projection for N=2 says {projected(2):.2f} s)")
    print(f"# load average after {os.getloadavg()[0]:.2f}")
    ray.shutdown()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
