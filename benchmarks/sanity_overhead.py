"""Sanity checks: the overhead of ``model_randomization`` over the attribution calls it has to make (issue 4).

The whole cascading model-randomization test on the zoo ResNet (all blocks, 8 methods, 16 images
at 64 x 64, the four similarity metrics and the edge comparison) is timed against the sum of the
same attribution calls made directly: for every step (the original model and each cascade step)
and method, ``gaplens.explain.attribute(model_k, images, target=t_k, method=m, **options)`` with
the same targets and Grad-CAM layer the test uses, on randomized models prepared beforehand
(outside the timed region). The ratio is what the sanity layer adds on top: deep copies,
re-initialization, the randomized model's predictions, normalization and the metrics, records.

Target (issue 4): ratio <= 1.15.

Both sides run with default method options (Integrated Gradients 50 steps, SmoothGrad / VarGrad 50
samples), ``batch_size=64``, float32 on the CPU. Runs alternate (ours, direct, ours, direct, ...)
and the medians are reported.

Usage::

    python benchmarks/sanity_overhead.py                  # the issue's setting (~3-5 min on 2 cores)
    python benchmarks/sanity_overhead.py --quick          # smoke run: 32 x 32, 4 images, fast options
    python benchmarks/sanity_overhead.py --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time

import torch

from gaplens.core.model import Classifier
from gaplens.explain import attribute
from gaplens.explain.grad_cam import default_cam_layer
from gaplens.sanity import model_randomization, parameterized_blocks, randomization_steps
from gaplens.zoo import build

METHODS = ("gradient", "input_x_gradient", "integrated_gradients", "smoothgrad", "vargrad", "guided_backprop",
           "grad_cam", "guided_grad_cam")
QUICK_OPTIONS = {"integrated_gradients": {"n_steps": 4}, "smoothgrad": {"n_samples": 4}, "vargrad": {"n_samples": 4}}
TARGET_RATIO = 1.15


def _model(size: int) -> Classifier:
    torch.manual_seed(0)
    return Classifier(build("resnet", num_classes=8), class_names=[str(i) for i in range(8)],
                      input_size=(size, size)).eval()


def _prepared_direct_calls(model: Classifier, images: torch.Tensor, options: dict[str, dict]):
    """(model_k, target_k) for every step, built outside the timed region, and the options with the CAM layer."""
    layer = default_cam_layer(model, images[:1])
    options = {m: dict(options.get(m, {})) for m in METHODS}
    for name in ("grad_cam", "guided_grad_cam"):
        options[name]["layer"] = layer
    with torch.no_grad():
        steps = [(model, model(images).argmax(1))]
        for _, _, randomized in randomization_steps(model, "cascading", parameterized_blocks(model, images.shape[-2:])):
            frozen = copy.deepcopy(randomized).eval()
            steps.append((frozen, frozen(images).argmax(1)))
    return steps, options


def _time_direct(steps, images: torch.Tensor, options: dict[str, dict], batch_size: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of every step's attribution calls."""
    start, cpu = time.perf_counter(), time.process_time()
    for model, target in steps:
        for method in METHODS:
            attribute(model, images, target=target, method=method, batch_size=batch_size, **options[method])
    return time.perf_counter() - start, time.process_time() - cpu


def _time_ours(model: Classifier, images: torch.Tensor, options: dict[str, dict], batch_size: int
               ) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of the whole cascading test."""
    start, cpu = time.perf_counter(), time.process_time()
    model_randomization(model, images, methods=METHODS, mode="cascading", batch_size=batch_size,
                        method_options=options, progress=False)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 x 32, 4 images, fast method options")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size, n = (32, 4) if args.quick else (64, 16)
    options = QUICK_OPTIONS if args.quick else {}
    model = _model(size)
    images = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))
    blocks = parameterized_blocks(model, (size, size))
    steps, direct_options = _prepared_direct_calls(model, images, options)

    # warm-up (allocator, kernels) on both paths
    _time_direct(steps[:1], images, direct_options, args.batch_size)
    ours, direct = [], []
    for _ in range(args.repeats):
        ours.append(_time_ours(model, images, options, args.batch_size))
        direct.append(_time_direct(steps, images, direct_options, args.batch_size))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    rows = []
    for label, index in (("wall", 0), ("CPU", 1)):
        mine, theirs = [t[index] for t in ours], [t[index] for t in direct]
        rows.append(f"| model_randomization, {label} | {statistics.median(mine):.2f} | {min(mine):.2f} | "
                    f"{', '.join(f'{t:.2f}' for t in mine)} |")
        rows.append(f"| direct attribute calls, {label} | {statistics.median(theirs):.2f} | {min(theirs):.2f} | "
                    f"{', '.join(f'{t:.2f}' for t in theirs)} |")
    cpu_ratio = statistics.median(t[1] for t in ours) / statistics.median(t[1] for t in direct)
    wall_ratio = min(t[0] for t in ours) / min(t[0] for t in direct)
    pairs = ", ".join(f"{a[0] / b[0]:.3f}" for a, b in zip(ours, direct, strict=True))
    verdict = "met" if max(cpu_ratio, wall_ratio) <= TARGET_RATIO else "NOT met"
    print(f"# sanity overhead: cascading model randomization vs. direct attribution calls\n\n"
          f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} threads; load average (1, 5, 15 min) at the end: {load}\n"
          f"setting: zoo ResNet (default widths), {len(blocks)} blocks -> {len(steps)} steps, {len(METHODS)} methods, "
          f"{n} images at {size} x {size}, batch_size {args.batch_size}, "
          f"{'quick options' if args.quick else 'default method options'}, metrics spearman_abs/spearman/ssim/hog "
          f"+ edge comparison\n\n"
          f"| | median s | min s | runs (s) |\n|---|---:|---:|---|\n" + "\n".join(rows) + "\n\n"
          f"ratio of CPU-time medians {cpu_ratio:.3f}, of wall-time minima {wall_ratio:.3f}; per-pair wall ratios "
          f"{pairs} (target <= {TARGET_RATIO}): {verdict}\n"
          "(CPU time and the wall-time minimum are the numbers to trust on a shared machine: other processes only "
          "ever add wall time)")

if __name__ == "__main__":
    main()
