"""Feature visualization speed: K classes as one batch vs. K separate runs; Lucent-equivalent settings.

Issue 5's targets, on the zoo ResNet (8 classes, 64x64 input, default widths; untrained weights:
the time does not depend on them):

- ``class_model`` for K = 8 classes as one batch (one forward/backward per step for all eight)
  takes at most 0.5x the total of 8 separate single-class runs with the same settings;
- one channel at 128x128 with Lucent's settings (Fourier parameterization with decorrelated
  colour, Lucid's standard transforms, Adam lr 0.05, 512 steps): report seconds, with and
  without the upsampling to 224 px that Lucent's ``render_vis`` adds for images under 224 px.

    .venv/bin/python benchmarks/visualize_batch.py --threads 2

Prints Markdown rows (seconds are wall-clock, best of ``--repeats``).
"""

from __future__ import annotations

import argparse

import torch
from timing import best_time

from gaplens.core.model import Classifier
from gaplens.visualize import class_model, objectives, optimize
from gaplens.visualize.transforms import STANDARD, Resize
from gaplens.zoo import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=8, help="K")
    parser.add_argument("--steps", type=int, default=256, help="class-model steps (class_model's default)")
    parser.add_argument("--lucent-steps", type=int, default=512)
    parser.add_argument("--layer", default="layer3")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    k = args.classes
    model = Classifier(build("resnet", k), class_names=[f"class {i}" for i in range(k)], input_size=(64, 64)).eval()
    class_model(model, classes=[0], steps=2)  # warm-up: lazy imports, allocator

    settings = {"steps": args.steps}
    batched = best_time(lambda: class_model(model, classes=list(range(k)), batch_size=k, **settings), args.repeats,
                        warmup=False)
    separate = best_time(lambda: [class_model(model, classes=[c], **settings) for c in range(k)], args.repeats,
                         warmup=False)
    print(f"torch {torch.__version__}, {args.threads} threads, zoo ResNet (8 classes, 64x64), "
          f"class_model defaults ({args.steps} steps, pixel, scaled standard transforms)")
    print("| benchmark | seconds | note |")
    print("|---|---|---|")
    print(f"| class models, K={k} as one batch | {batched:.1f} | |")
    print(f"| class models, K={k} separate runs | {separate:.1f} | |")
    print(f"| ratio batched / separate | {batched / separate:.2f} | target <= 0.5 |", flush=True)

    goal = objectives.channel(args.layer, 0)
    lucent = {"param": "fourier", "size": 128, "steps": args.lucent_steps, "lr": 0.05}
    plain = best_time(lambda: optimize(model, goal, transforms="standard", **lucent), args.repeats, warmup=False)
    print(f"| one channel ({args.layer}:0), 128x128, Fourier, standard transforms, {args.lucent_steps} steps "
          f"| {plain:.1f} | |", flush=True)
    upsampled = best_time(lambda: optimize(model, goal, transforms=[*STANDARD, Resize(224)], **lucent), args.repeats,
                          warmup=False)
    print(f"| same, upsampled to 224 px as Lucent's render_vis does | {upsampled:.1f} | |")


if __name__ == "__main__":
    main()
