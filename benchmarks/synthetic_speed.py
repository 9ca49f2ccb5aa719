"""Speed of the synthetic shape/texture generator (``gaplens.data.synthetic.generate``).

Prints one Markdown table row per image size: images per second (median of ``--repeats``
runs) for ``--n`` images of ``--classes`` classes, plus the machine's thread count.

Usage::

    python benchmarks/synthetic_speed.py                # n=4000, sizes 32 64 128, 8 classes
    python benchmarks/synthetic_speed.py --header --sizes 64 --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from gaplens.data.synthetic import generate


def images_per_second(n: int, size: int, classes: int, repeats: int, **kwargs: object) -> float:
    """Median images/s over ``repeats`` runs of ``generate(n, classes, size, ...)``."""
    rates = []
    for repeat in range(repeats):
        begin = time.perf_counter()
        generate(n, classes=classes, size=size, seed=repeat, **kwargs)
        rates.append(n / (time.perf_counter() - begin))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="images per run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 32, 128])
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (median)")
    parser.add_argument("--texture-agreement", type=float, default=1.0)
    parser.add_argument("--conflict", action="store_true")
    parser.add_argument("--shift", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--header", action="store_true", help="print the table header first")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    generate(64, classes=args.classes, size=32)  # warm-up (imports, allocator)
    machine = f"{platform.machine()} {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    if args.header:
        print("| benchmark | n | size | classes | options | images/s (median of runs) | machine |")
        print("|---|---|---|---|---|---|---|")
    options = ", ".join(
        f"{k}={v}"
        for k, v in (
            ("texture_agreement", args.texture_agreement),
            ("conflict", args.conflict),
            ("shift", args.shift),
        )
    )
    for size in args.sizes:
        rate = images_per_second(
            args.n,
            size,
            args.classes,
            args.repeats,
            texture_agreement=args.texture_agreement,
            conflict=args.conflict,
            shift=args.shift,
        )
        print(
            f"| synthetic.generate | {args.n} | {size} | {args.classes} | {options} "
            f"| {rate:,.0f} (x{args.repeats}) | {machine} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
