"""Evaluating 8 models on two 2,000-image test sets: ``gaplens.shift.evaluate`` vs. a plain loop.

Target (issue 8): gaplens within 1.1x of a plain PyTorch evaluation loop over a ``DataLoader``
(``TensorDataset``, same batch size, ``torch.no_grad``, eval mode), i.e. no overhead from gaplens,
and its peak memory. Both keep per-example correctness; their counts are checked to be equal.

Modes: ``plain`` (that loop), ``gaplens`` (one direct ``gaplens.shift.evaluate`` call) and
``study`` (the :class:`gaplens.studies.ShiftEvaluate` study run by the study runner into a new
run folder, no report: the runner's overhead over direct calls). The study mode pays for
everything a user's run does besides evaluating: the digests of the weights and of the two sets,
one store transaction and two saved arrays per model, and its analysis unit (the fit with its
bootstrap, the hard-example check, per-class drops and three figures).

Each mode runs in a fresh process (so peak memories do not mix): data generation and model
construction first, then ``--repeats`` timed evaluations (the fastest is reported). Peak memory is
the largest resident set size sampled every 2 ms during the evaluations, minus the resident set
size before them (data and models), plus the process's overall peak.

    .venv/bin/python benchmarks/shift_eval.py --threads 2

Prints one Markdown row per mode: images/s (8 models x 2 sets x N images / seconds), seconds,
ratio to the plain loop, and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time

import torch

MODES = ("plain", "gaplens", "study")
#: 8 zoo models of differing capacity: (architecture, kwargs).
MODELS = [
    ("vgg", {"widths": (8, 16), "convs_per_stage": (1, 1)}),
    ("vgg", {"widths": (16, 32, 64), "convs_per_stage": (1, 1, 1)}),
    ("vgg", {"widths": (16, 32, 64, 128), "convs_per_stage": (1, 1, 2, 2)}),
    ("vgg", {"widths": (32, 64, 128), "convs_per_stage": (1, 2, 2)}),
    ("resnet", {"widths": (8, 16), "blocks": (1, 1)}),
    ("resnet", {"widths": (16, 32, 64), "blocks": (1, 1, 1)}),
    ("resnet", {"widths": (16, 32, 64, 128), "blocks": (1, 1, 1, 1)}),
    ("resnet", {"widths": (32, 64, 128, 256), "blocks": (1, 1, 1, 1)}),
]


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakSampler:
    """Samples the resident set size in a thread; ``peak`` is the largest value seen."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mib())
            time.sleep(self.interval)

    def __enter__(self) -> PeakSampler:
        self.peak = _rss_mib()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())


def plain_loop(models: dict, sets: dict, batch_size: int) -> dict:
    """The baseline: a DataLoader per set, eval mode, no_grad, per-example correctness kept."""
    from torch.utils.data import DataLoader, TensorDataset

    counts = {}
    for name, model in models.items():
        model.eval()
        for set_name, data in sets.items():
            loader = DataLoader(TensorDataset(data.images, data.labels), batch_size=batch_size, shuffle=False)
            hits = []
            with torch.no_grad():
                for images, labels in loader:
                    hits.append(model(images).argmax(1) == labels)
            counts[name, set_name] = int(torch.cat(hits).sum())
    return counts


def child(args: argparse.Namespace) -> None:
    import tempfile

    from gaplens.data.synthetic import generate
    from gaplens.shift import evaluate
    from gaplens.studies import ShiftEvaluate, run_study
    from gaplens.studies.models import ModelRef
    from gaplens.zoo import build

    torch.set_num_threads(args.threads)
    sets = {"original": generate(args.n, classes=8, size=args.size, seed=100),
            "new": generate(args.n, classes=8, size=args.size, shift=True, seed=103)}
    models = {}
    for i, (arch, kwargs) in enumerate(MODELS):
        torch.manual_seed(i)
        models[f"{arch}{i}"] = build(arch, 8, **kwargs).eval()
    with torch.no_grad():  # warm up each model once (allocator, kernels)
        for model in models.values():
            model(sets["original"].images[: args.batch_size])
    before = _rss_mib()
    times, counts = [], {}
    with PeakSampler() as sampler:
        for _ in range(args.repeats):
            start = time.perf_counter()
            if args.mode == "plain":
                counts = plain_loop(models, sets, args.batch_size)
            elif args.mode == "gaplens":
                result = evaluate(models, sets["original"], sets["new"], batch_size=args.batch_size)
                counts = {(r["model"], r["set"]): r["correct"] for r in result.records}
            else:  # new refs and a new folder each time: digests are taken and every unit runs
                refs = [ModelRef(name, model=model, device="cpu") for name, model in models.items()]
                study = ShiftEvaluate(refs, sets["original"], sets["new"], batch_size=args.batch_size)
                with tempfile.TemporaryDirectory() as folder:
                    done = run_study(study, folder, progress=False, report=False)
                counts = {(r["model"], r["set"]): r["correct"] for r in done.records if r.get("kind") == "eval"}
            times.append(time.perf_counter() - start)
    peak_total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": args.mode, "seconds": min(times), "all_seconds": times,
                      "images": len(models) * 2 * args.n, "rss_before_mib": before,
                      "eval_peak_extra_mib": sampler.peak - before, "peak_rss_mib": peak_total,
                      "counts": {f"{m}/{s}": c for (m, s), c in counts.items()}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=2000, help="images per test set")
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="timed evaluations per mode (fastest reported)")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        child(args)
        return
    results = {}
    for mode in MODES:
        command = [sys.executable, __file__, "--mode", mode, "--threads", str(args.threads), "--n", str(args.n),
                   "--size", str(args.size), "--batch-size", str(args.batch_size), "--repeats", str(args.repeats)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    same = all(results[m]["counts"] == results["plain"]["counts"] for m in MODES)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"8 models, 2 sets x {args.n} images of {args.size}x{args.size}, batch {args.batch_size}, "
          f"best of {args.repeats}; counts identical across modes: {same}")
    print("| mode | images/s | seconds | time vs plain | eval peak extra (MiB) | process peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    base = results["plain"]["seconds"]
    for mode in MODES:
        r = results[mode]
        print(f"| {mode} | {r['images'] / r['seconds']:.0f} | {r['seconds']:.2f} | {r['seconds'] / base:.3f}x | "
              f"{r['eval_peak_extra_mib']:.0f} | {r['peak_rss_mib']:.0f} |")
    if not same:
        raise SystemExit("counts differ between modes")


if __name__ == "__main__":
    main()
