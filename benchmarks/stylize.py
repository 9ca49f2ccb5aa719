"""Speed of AdaIN stylization, decoder training and shape-bias evaluation (``gaplens.bias``).

Prints a Markdown table:

- stylizing images/s at 64x64 and 256x256 with the VGG-19-sized encoder/decoder (random
  weights: speed does not depend on the weight values), batched vs one image at a time;
- the same for the demo-sized random encoder (widths 16-128) at the demo's image sizes;
- decoder training steps/s for the demo-sized encoder;
- shape-bias evaluation images/s of a zoo ResNet on synthetic cue-conflict stimuli held in
  memory, and read from a folder of ``shape1-texture2.png`` files.

Notes (offline stylization for the demo; measured once, 2 shared CPU cores, heavily loaded):

- AdaIN with ``random_encoder((16, 32, 64, 128))``: a decoder trained 600 steps (batch 8, 64x64
  synthetic images, lr 2e-3; ~640 s) gave the same smeared pattern for every image; even its
  alpha=0 reconstructions had lost the shapes. At 32x32 (200 steps) a ResNet trained on the
  stylized images stayed near chance (12-13% on 8 classes). Not usable within a demo budget.
- The generator's texture swap (``stylize_synthetic``: same objects, textures redrawn
  uniformly) costs only generation time (~0.2 s for 1500 images at 32x32) and is exact. On 8
  classes at 32x32 (1500 training images, 5 epochs, zoo ResNet) the shape bias on 400
  cue-conflict images was 0.23 [0.18, 0.28] (texture-world), 0.68 [0.62, 0.74] (mixed,
  agreement (1 + 1/8) / 2) and 0.88 [0.83, 0.92] (stylized / shape-world).

Usage::

    python benchmarks/stylize.py                 # everything (about 2-4 minutes on 2 cores)
    python benchmarks/stylize.py --quick         # fewer images
    python benchmarks/stylize.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gaplens.bias import Stylizer, decoder, random_encoder, shape_bias, train_decoder, vgg19_encoder
from gaplens.core.image_io import write_png
from gaplens.core.model import Classifier
from gaplens.data.synthetic import generate
from gaplens.zoo import build


def _rate(fn, n: int, repeats: int) -> float:
    """Median of ``n / seconds`` over ``repeats`` calls of ``fn()`` (after one warm-up call)."""
    fn()
    rates = []
    for _ in range(repeats):
        begin = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - begin))
    return statistics.median(rates)


def stylize_rows(stylizer: Stylizer, label: str, size: int, n: int, batch: int, repeats: int) -> list[tuple]:
    """Batched vs one at a time, timed alternately (a shared machine's load drifts between runs)."""
    gen = torch.Generator().manual_seed(size)
    content, style = torch.rand(n, 3, size, size, generator=gen), torch.rand(n, 3, size, size, generator=gen)
    modes = {
        f"batch {batch}": lambda: stylizer.stylize(content, style, batch_size=batch),
        "one at a time": lambda: [stylizer.stylize(content[i : i + 1], style[i : i + 1]) for i in range(n)],
    }
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    for fn in modes.values():
        fn()  # warm-up
    for _ in range(repeats):
        for mode, fn in modes.items():
            begin = time.perf_counter()
            fn()
            rates[mode].append(n / (time.perf_counter() - begin))
    return [(f"stylize, {label}", f"{size}x{size}", n, mode, statistics.median(r)) for mode, r in rates.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per row (median)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    scale = 1 if args.quick else 2
    machine = f"{platform.machine()} {os.cpu_count()} cores, {torch.get_num_threads()} threads"
    rows: list[tuple] = []

    vgg = Stylizer(vgg19_encoder(), decoder())
    rows += stylize_rows(vgg, "VGG-19 widths", 64, 16 * scale, 16, repeats)
    rows += stylize_rows(vgg, "VGG-19 widths", 256, 4 * scale, 4, repeats)
    small_encoder = random_encoder((16, 32, 64, 128))
    small = Stylizer(small_encoder, decoder(small_encoder.widths))
    rows += stylize_rows(small, "demo random encoder 16-128", 32, 128 * scale, 64, repeats)
    rows += stylize_rows(small, "demo random encoder 16-128", 64, 64 * scale, 64, repeats)

    for size in (32, 64):
        data = generate(256, classes=8, size=size, seed=0)
        steps = 20 * scale
        rate = _rate(lambda data=data, steps=steps: train_decoder(small_encoder, data, data, steps=steps, batch_size=8,
                                                                  lr=1e-3, progress=False, device="cpu"), steps, 1)
        rows.append(("train decoder (steps/s), demo random encoder", f"{size}x{size}", steps, "batch 8", rate))

    torch.manual_seed(0)
    model = Classifier(build("resnet", 8), class_names=None).eval()
    conflict = generate(400 * scale, classes=8, size=64, conflict=True, seed=1)
    model.class_names = conflict.class_names
    n = len(conflict.labels)
    rows.append(("shape bias, zoo ResNet, in memory", "64x64", n, "batch 256",
                 _rate(lambda: shape_bias(model, conflict, batch_size=256), n, repeats)))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = conflict.class_names
        for i in range(n):
            s, t = int(conflict.shape_labels[i]), int(conflict.texture_labels[i])
            write_png(root / names[s] / f"{names[s]}{i}-{names[t]}{i % 10}.png", conflict.images[i])
        rows.append(("shape bias, zoo ResNet, PNG folder", "64x64", n, "batch 256",
                     _rate(lambda: shape_bias(model, root, batch_size=256, class_names=names), n, repeats)))

    print(f"machine: {machine}; torch {torch.__version__}; median of {repeats} run(s) after a warm-up")
    print("| benchmark | image size | n | mode | images/s |")
    print("|---|---|---|---|---|")
    for name, size, count, mode, rate in rows:
        print(f"| {name} | {size} | {count} | {mode} | {rate:.1f} |")


if __name__ == "__main__":
    main()
