"""Every study that runs a model, on the CPU and (when CUDA is present) on the GPU: same results? how fast? (issue 20)

One small zoo ResNet (4 classes, 32 px) is trained briefly on the CPU and saved as a checkpoint;
each study below then runs on that checkpoint once per device, each into its own run folder
(``run_study(..., device=D)`` with the model loaded on ``D``). The GPU run's records are compared
with the CPU run's, record by record (same study, unit and position), excluding timing fields:

- numbers within ``rtol`` / ``atol`` (float32 on two devices: summation order differs);
- everything else (labels, counts, verdicts, decisions) equal.

A study whose results legitimately differ is listed with the reason (e.g. SmoothGrad draws its
noise from a generator on the input's device: CPU and CUDA streams differ, so its maps agree only
in distribution; training differs in rounding from the first step on).

A second table checks mixed precision (``torch.autocast``: bfloat16 on the CPU, float16 on CUDA)
where a study could use it, against float32: top-1 decisions on the test set (forward only) and
integrated gradients' completeness (attributions must sum to ``f(x) - f(baseline)``). No study
turns autocast on today; the table is the evidence for where it would be safe.

Without CUDA the GPU half is skipped with a message and the CPU half still runs (timings and the
autocast check on the CPU). Never a test dependency.

Usage::

    python benchmarks/gpu_check.py                 # CPU, then GPU when present (~3 min on 2 CPU cores)
    python benchmarks/gpu_check.py --only explain,sanity
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from gaplens.core.model import Classifier, save_checkpoint
from gaplens.data.synthetic import generate
from gaplens.studies import (
    ClassModels,
    DeepDream,
    Evaluate,
    Explain,
    ModelRef,
    Sanity,
    ShapeBias,
    ShiftEvaluate,
    Sweep,
    Train,
    run_study,
)
from gaplens.studies.bagnet import BagNetStudy
from gaplens.studies.visualize import Channels
from gaplens.zoo import build

TIMING = {"seconds", "time", "elapsed", "train_seconds", "epoch_seconds"}
#: Studies whose GPU results are not expected to match the CPU's, and why.
EXPECTED_TO_DIFFER = {
    "train": "training: rounding differs from the first step and grows over the epochs",
    "bagnet": "trains its models (see train)",
    "explain": "smoothgrad/smoothgrad_sq/vargrad draw noise from a generator on the input's device",
}
FAST = {"integrated_gradients": {"n_steps": 16}, "smoothgrad": {"n_samples": 8},
        "smoothgrad_sq": {"n_samples": 8}, "vargrad": {"n_samples": 8}}


def _sets() -> dict:
    common = {"classes": 4, "size": 32}
    return {"train": generate(400, seed=0, **common), "test": generate(100, seed=1, **common),
            "conflict": generate(60, conflict=True, seed=2, **common),
            "shifted": generate(100, shift=True, seed=3, **common)}


def _train_model(sets: dict, folder: Path, widths: tuple[int, ...] = (8, 16, 32), epochs: int = 2) -> str:
    from gaplens.train import fit

    torch.manual_seed(0)
    net = build("resnet", num_classes=4, widths=widths, blocks=(1,) * len(widths))
    model = fit(net, sets["train"], epochs=epochs, lr=3e-3, device="cpu", progress=False).model
    classifier = model if isinstance(model, Classifier) else Classifier(model, class_names=sets["train"].class_names,
                                                                       input_size=(32, 32))
    return str(save_checkpoint(classifier.eval(), folder))


def studies(specs: list[str], sets: dict) -> dict[str, Callable[[str], object]]:
    """name -> (device -> study); every model is a ModelRef loaded on that device, labelled the same."""

    def ref(device: str, i: int = 0) -> ModelRef:
        return ModelRef(f"net{i}", spec=specs[i], device=device)

    images = "synthetic:n=4,classes=4,size=32,seed=7"
    return {
        "train": lambda d: Train("trained", sets["train"], arch="resnet", arch_kwargs={"widths": [8, 16],
                                                                                   "blocks": [1, 1]},
                                 fit={"epochs": 1, "batch_size": 64, "seed": 0}),
        "evaluate": lambda d: Evaluate([ref(d)], {"test": sets["test"], "shifted": sets["shifted"]}),
        "shape_bias": lambda d: ShapeBias([ref(d)], sets["conflict"]),
        "explain": lambda d: Explain([ref(d)], images, ("all",), limit=4, batch_size=32, options=FAST),
        "sanity": lambda d: Sanity(ref(d), images, methods=["gradient", "integrated_gradients", "grad_cam"],
                                   limit=2, method_options=FAST),
        "class_models": lambda d: ClassModels(ref(d), options={"steps": 16}),
        "channels": lambda d: Channels(ref(d), "layer1", [0, 1, 2, 3], {"steps": 16, "param": "fourier"}),
        "deepdream": lambda d: DeepDream(ref(d), "sample:astronaut", "layer2",
                                         {"size": 64, "octaves": 2, "steps_per_octave": 4}),
        "robustness": lambda d: Sweep([ref(d)], sets["test"], "all", batch_size=100),
        "shift": lambda d: ShiftEvaluate([ref(d, i) for i in range(len(specs))], sets["test"], sets["shifted"],
                                         n_boot=200),
        "bagnet": lambda d: BagNetStudy(patch_sizes=(9,), worlds=("texture",), size=32, n_train=128, n_test=64,
                                        n_conflict=64, width=4, cnn_widths=(8, 16),
                                        fit={"epochs": 1, "lr": 3e-3, "batch_size": 32, "seed": 0}),
    }


def _records(result) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k not in TIMING} for r in result.records),
                  key=lambda r: str(r.get("unit")))


def compare(a: list[dict], b: list[dict], rtol: float, atol: float) -> tuple[int, int, float, str]:
    """(values compared, values off, largest absolute difference, the field where it was)."""
    if len(a) != len(b):
        return 0, abs(len(a) - len(b)), math.inf, "record count"
    n = off = 0
    worst, where = 0.0, ""
    for x, y in zip(a, b, strict=True):
        for key in x.keys() | y.keys():
            u, v = x.get(key), y.get(key)
            n += 1
            if isinstance(u, float) and isinstance(v, (int, float)) and not isinstance(v, bool):
                if math.isnan(u) and math.isnan(v):
                    continue
                diff = abs(u - v)
                if diff > worst:
                    worst, where = diff, f"{x.get('unit')}:{key}"
                off += diff > atol + rtol * abs(u)
            elif u != v:
                off += 1
                where = where or f"{x.get('unit')}:{key} ({u!r} vs {v!r})"
    return n, off, worst, where


def run_on(device: str, builders: dict, root: Path) -> dict[str, tuple[float, list[dict]]]:
    out = {}
    for name, build_study in builders.items():
        start = time.perf_counter()
        result = run_study(build_study(device), root / device / name, device=device, progress=False, report=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        out[name] = (time.perf_counter() - start, _records(result))
        print(f"  {device} {name}: {out[name][0]:.2f} s, {len(out[name][1])} records", flush=True)
    return out


def autocast_check(spec: str, sets: dict, device: str) -> list[str]:
    """Rows of the mixed-precision table for ``device``: decisions and IG completeness, autocast vs float32."""
    from gaplens.core.model import load_model
    from gaplens.explain import attribute

    dtype = torch.float16 if device.startswith("cuda") else torch.bfloat16
    model = load_model(spec, device=device)
    images = sets["test"].images.to(device)
    with torch.no_grad():
        full = model(images)
        with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
            half = model(images)
    flips = int((full.argmax(1) != half.argmax(1)).sum())
    logit_err = float((full - half.float()).abs().max())
    x = images[:8]
    target = full[:8].argmax(1)

    def completeness(autocast: bool, steps: int) -> float:
        with torch.autocast(device_type=torch.device(device).type, dtype=dtype, enabled=autocast):
            maps = attribute(model, x, target=target, method="integrated_gradients", n_steps=steps)
        with torch.no_grad():
            logits = model(x) - model(torch.zeros_like(x))
        gap = logits.gather(1, target[:, None])[:, 0]
        return float(((maps.float().sum((1, 2, 3)) - gap).abs() / gap.abs().clamp_min(1e-6)).median())

    # with enough steps the quadrature error falls below what the number format can resolve
    ig = {(a, s): completeness(a, s) for a in (False, True) for s in (32, 256)}

    return [f"| {device} | {dtype} | decisions changed | {flips} / {len(images)} | max logit error {logit_err:.3g} |",
            *(f"| {device} | {dtype} | IG completeness error, {s} steps (median, relative) | "
              f"float32 {ig[False, s]:.3g} | autocast {ig[True, s]:.3g} |" for s in (32, 256))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="Comma-separated study names (default: all).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--keep", help="Keep the run folders here instead of a temporary folder.")
    parser.add_argument("--second", default="cuda", choices=("cuda", "cpu"),
                        help="The device compared with the CPU; 'cpu' runs the CPU twice (checks this script's "
                             "comparison on a machine without a GPU: nothing may be off).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gpu-check-"))
    cuda = torch.cuda.is_available()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, threads={args.threads}, "
          f"CUDA: {torch.cuda.get_device_name(0) if cuda else 'not available'}, "
          f"load average {os.getloadavg()[0]:.2f}")
    try:
        sets = _sets()
        start = time.perf_counter()
        specs = [_train_model(sets, root / "models" / "net0"),
                 _train_model(sets, root / "models" / "net1", widths=(4, 8), epochs=1),
                 _train_model(sets, root / "models" / "net2", widths=(8, 16), epochs=1)]
        print(f"# trained the 3 checkpoints on the CPU in {time.perf_counter() - start:.1f} s")
        builders = studies(specs, sets)
        if args.only:
            wanted = [s.strip() for s in args.only.split(",")]
            unknown = sorted(set(wanted) - set(builders))
            if unknown:
                parser.error(f"--only: unknown studies {unknown}; known: {sorted(builders)}")
            builders = {k: v for k, v in builders.items() if k in wanted}
        cpu = run_on("cpu", builders, root)
        if args.second == "cpu":
            gpu = run_on("cpu", builders, root / "again")
        else:
            gpu = run_on("cuda", builders, root) if cuda else None
        if gpu is None:
            print("\nCUDA is not available on this machine: the GPU half (runs, comparison, speed-up) is skipped. "
                  "Run this script on a machine with a GPU to fill it in.")
        print("\n| study | CPU s | GPU s | CPU / GPU | values compared | off tolerance | largest abs diff (where) | "
              "note |")
        print("|---|---|---|---|---|---|---|---|")
        for name, (cpu_s, cpu_rows) in cpu.items():
            note = EXPECTED_TO_DIFFER.get(name, "")
            if gpu is None:
                print(f"| {name} | {cpu_s:.2f} | - | - | - | - | - | {note} |")
                continue
            gpu_s, gpu_rows = gpu[name]
            n, off, worst, where = compare(cpu_rows, gpu_rows, args.rtol, args.atol)
            print(f"| {name} | {cpu_s:.2f} | {gpu_s:.2f} | {cpu_s / gpu_s:.2f} | {n} | {off} | {worst:.3g} "
                  f"({where}) | {note} |")
        print(f"\n(tolerance: |gpu - cpu| <= {args.atol} + {args.rtol} x |cpu| for numbers; everything else equal)")
        print("\n| device | autocast dtype | check | float32 vs autocast | |\n|---|---|---|---|---|")
        for device in ["cpu"] + (["cuda"] if cuda else []):
            for row in autocast_check(specs[0], sets, device):
                print(row)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
