"""Every attribution method on real torchvision / timm architectures (issue 15), run by hand.

The test suite cannot install torchvision (a multi-GB CUDA torch here), so it checks small
stand-ins of these architectures (``tests/explain/architectures.py``). This script runs the same
matrix on the real models when torchvision (and optionally timm) is installed, and prints a
markdown table: for every (model, method) the outcome (``ok``, or the refusal's first words),
the seconds, and, for gradient / integrated_gradients / occlusion, the largest relative
difference to Captum (when Captum is installed). Occlusion also reports which evaluation
``incremental="auto"`` chose and the time of ``incremental=False`` (auto must never be much
slower). Grad-CAM reports the default layer it picked.

Weights are random (``weights=None``): nothing is downloaded, and what is measured (speed,
agreement, refusals, layouts) does not depend on trained weights. Images are random, at each
model's input size (224, 299 for Inception).

Usage::

    python benchmarks/real_models.py                        # the ten architectures of issue 15
    python benchmarks/real_models.py --models resnet50 vit_b_16 --images 2 --output table.md
    python benchmarks/real_models.py --timm convnext_tiny   # also timm models, by name
    python benchmarks/real_models.py --occlusion-timing --models resnet50 vgg16_bn   # the 2x target

``--occlusion-timing`` times issue 15's occlusion case instead (224 px, window 32, stride 16: 169
windows, one image): gaplens with ``incremental="auto"``, ``True`` and ``False``, and, for the
models in ``--captum-peers``, Captum's ``Occlusion`` at several ``perturbations_per_eval`` (its
best is the peer) and with a channels-last forward; interleaved and repeated, the minimum of each
kept. Each row also gives whole images' time over its own (auto must never be below 1).

On this machine: a separate venv with ``pip install torch==2.14.1 torchvision==0.29.1 captum timm``
(a CUDA build, run on the CPU), then ``pip install -e .`` of gaplens.

``--shim-torchvision-ops``: a torchvision wheel built for another torch (e.g. the CUDA build of
torchvision 0.28 beside the CPU torch 2.13) fails to import because its C operators are missing;
the flag declares the two operator schemas its import registers (``nms``, ``qnms``; no
implementation: classification models never call them) so that the model definitions load.

Without torchvision it says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time
import warnings

import torch

from gaplens.core.model import Classifier
from gaplens.explain import METHODS, attribute
from gaplens.explain.grad_cam import default_cam_layer

TORCHVISION_MODELS = ["resnet50", "vgg16_bn", "densenet121", "mobilenet_v3_small", "efficientnet_b0",
                      "inception_v3", "convnext_tiny", "vit_b_16", "swin_t", "regnet_y_400mf"]
SIZES = {"inception_v3": 299}
OPTIONS = {"integrated_gradients": {"n_steps": 16}, "smoothgrad": {"n_samples": 8}, "smoothgrad_sq": {"n_samples": 8},
           "vargrad": {"n_samples": 8}, "occlusion": {"window": 32, "stride": 16, "score": "logit"}}
CAPTUM = ("gradient", "integrated_gradients", "occlusion")


def shim_torchvision_ops() -> None:
    """Declare ``torchvision::nms`` / ``qnms`` (schemas only) for a torchvision whose C extension
    does not match the installed torch; call before the first ``import torchvision``."""
    library = torch.library.Library("torchvision", "DEF")  # noqa: F841 (kept alive by torch's registry)
    for name in ("nms", "qnms"):
        library.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _SHIMS.append(library)


_SHIMS: list = []


#: Captum's batchings timed as peers (its best is the target's reference); on the CPU small
#: batches are fastest (resnet50 at 224 px: ppe=8 12.2 s, 64 19.0 s).
CAPTUM_BATCHES = (4, 8, 16, 64)
#: Captum given a channels-last forward (the layout gaplens feeds convolutions on the CPU).
CAPTUM_CHANNELS_LAST_BATCHES = (8, 16)


def occlusion_timing(model, x: torch.Tensor, target: torch.Tensor, repeats: int, captum: bool) -> list[dict]:
    """Seconds of issue 15's occlusion case (window 32, stride 16, baseline 0.5, softmax output):
    gaplens auto / incremental / whole images (batch 64), and with ``captum`` Captum at
    :data:`CAPTUM_BATCHES` and with a channels-last forward at :data:`CAPTUM_CHANNELS_LAST_BATCHES`;
    the minimum over ``repeats`` interleaved rounds, each run's agreement with the first."""
    from captum.attr import Occlusion

    def ours(mode):
        def go():
            return attribute(model, x, target=target, method="occlusion", window=32, stride=16, fill=0.5,
                             score="probability", incremental=mode, batch_size=64)
        return go

    def theirs(ppe, channels_last):
        def forward(z):
            return model(z.contiguous(memory_format=torch.channels_last) if channels_last else z).softmax(1)

        def go():
            return Occlusion(forward).attribute(x, target=target, sliding_window_shapes=(3, 32, 32),
                                                strides=(3, 16, 16), baselines=0.5, perturbations_per_eval=ppe)
        return go

    runs = {"gaplens auto": ours("auto"), "gaplens incremental": ours(True), "gaplens whole images": ours(False)}
    if captum:
        runs.update({f"Captum ppe={ppe}": theirs(ppe, False) for ppe in CAPTUM_BATCHES})
        runs.update({f"Captum ppe={ppe}, channels-last": theirs(ppe, True) for ppe in CAPTUM_CHANNELS_LAST_BATCHES})
    best = {name: float("inf") for name in runs}
    notes: dict[str, str] = {}
    reference = None
    for _ in range(repeats):
        for name, go in list(runs.items()):
            started = time.perf_counter()
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = go()
            except Exception as exc:  # incremental=True on a model that cannot be traced
                notes[name] = f"refused: {str(exc)[:90]}"
                del runs[name], best[name]
                continue
            best[name] = min(best[name], time.perf_counter() - started)
            details = getattr(out, "details", None)
            note = details["evaluation"] if details else ""
            if details and "work_ratio" in details:
                note += f" (work ratio {details['work_ratio']:.2f})"
            if reference is None:
                reference = out
            else:
                rel = float((out - reference).abs().max() / reference.abs().max().clamp(min=1e-30))
                note = f"{note}; max rel. diff {rel:.1e}".strip("; ")
            notes[name] = note
    plain = min((v for k, v in best.items() if k.startswith("Captum") and "channels" not in k), default=None)
    layout = min((v for k, v in best.items() if "channels-last" in k), default=None)
    whole = best.get("gaplens whole images")
    rows = []
    for name in dict.fromkeys([*best, *notes]):  # the timed runs in order, then the refused ones
        seconds = best.get(name)
        rows.append({"run": name, "seconds": seconds, "note": notes.get(name, ""),
                     "vs_captum_best": plain / seconds if plain and seconds else None,
                     "vs_captum_channels_last": layout / seconds if layout and seconds else None,
                     "vs_whole": whole / seconds if whole and seconds else None})
    return rows


def build_model(source: str, name: str) -> Classifier:
    """A random-weight model (seeded: the same weights in every run) in eval mode, wrapped with
    ImageNet normalization."""
    torch.manual_seed(0)
    if source == "torchvision":
        import torchvision

        kwargs = {"aux_logits": False, "init_weights": True} if name == "inception_v3" else {}
        network = torchvision.models.get_model(name, weights=None, **kwargs)
    else:
        import timm

        network = timm.create_model(name, pretrained=False)
    size = SIZES.get(name, 224)
    return Classifier(network, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                      input_size=(size, size)).eval()


def captum_reference(model, method: str, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    if method == "gradient":
        return Saliency(model).attribute(x.clone().requires_grad_(), target=target, abs=False)
    if method == "integrated_gradients":
        return IntegratedGradients(model).attribute(x, target=target, n_steps=16, internal_batch_size=32)
    # logits, not probabilities: random weights often saturate the softmax (all-zero maps agree vacuously)
    return Occlusion(model).attribute(x, target=target, sliding_window_shapes=(3, 32, 32), strides=(3, 16, 16),
                                      baselines=0.5, perturbations_per_eval=32)


def run_one(model, method: str, x: torch.Tensor, target: torch.Tensor, captum: bool) -> dict:
    row = {"method": method}
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = attribute(model, x, target=target, method=method, batch_size=32, **OPTIONS.get(method, {}))
    except Exception as exc:  # a refusal (or a bug) is a result of the benchmark, reported in the table
        row.update(outcome=f"{type(exc).__name__}: {str(exc)[:70]}", seconds=time.perf_counter() - started)
        return row
    row.update(outcome="ok", seconds=time.perf_counter() - started)
    details = getattr(out, "details", None)
    if details:
        row["note"] = details["evaluation"]
        started = time.perf_counter()
        attribute(model, x, target=target, method=method, batch_size=32, incremental=False,
                  **OPTIONS.get(method, {}))
        row["note"] += f"; whole {time.perf_counter() - started:.1f} s"
    if method in ("grad_cam", "guided_grad_cam"):
        row["note"] = f"layer {default_cam_layer(model, x[:1])}"
    if captum and method in CAPTUM:
        ref = captum_reference(model, method, x, target)
        row["captum_rel"] = float((out - ref).abs().max() / ref.abs().max().clamp(min=1e-30))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=TORCHVISION_MODELS, help="torchvision model names")
    parser.add_argument("--timm", nargs="*", default=[], help="timm model names (when timm is installed)")
    parser.add_argument("--methods", nargs="*", default=METHODS.names())
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--output", help="also write the table to this file")
    parser.add_argument("--occlusion-timing", action="store_true", help="time issue 15's occlusion case instead")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--captum-peers", nargs="*", default=["resnet50", "vgg16_bn"],
                        help="models whose occlusion timing also runs Captum's (slow: seven runs each)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--shim-torchvision-ops", action="store_true",
                        help="declare torchvision's nms schemas (a torchvision built for another torch)")
    args = parser.parse_args(argv)
    if args.shim_torchvision_ops:
        shim_torchvision_ops()
    if args.threads:
        torch.set_num_threads(args.threads)
    have = {name: importlib.util.find_spec(name) is not None for name in ("torchvision", "timm", "captum")}
    if not have["torchvision"] and not (have["timm"] and args.timm):
        print("torchvision is not installed: nothing to run (pip install torchvision, then run this again).")
        return 0
    logging.basicConfig(level=logging.WARNING)
    specs = [("torchvision", m) for m in args.models if have["torchvision"]]
    specs += [("timm", m) for m in args.timm if have["timm"]]
    if args.occlusion_timing:
        lines = ["| model | run | seconds | Captum's best / this | Captum channels-last's best / this | "
                 "whole images / this | note |", "|---|---|---:|---:|---:|---:|---|"]
        print("\n".join(lines), flush=True)

        def ratio(value):
            return f"{value:.2f}" if value is not None else ""

        for source, name in specs:
            model = build_model(source, name)
            x = torch.rand(1, 3, *model.input_size, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                target = model(x).argmax(1)
            peers = have["captum"] and name in args.captum_peers
            for row in occlusion_timing(model, x, target, args.repeats, peers):
                seconds = f"{row['seconds']:.2f}" if row["seconds"] is not None else ""
                lines.append(f"| {name} | {row['run']} | {seconds} | {ratio(row['vs_captum_best'])} | "
                             f"{ratio(row['vs_captum_channels_last'])} | {ratio(row['vs_whole'])} | {row['note']} |")
                print(lines[-1], flush=True)
        if args.output:
            with open(args.output, "w") as handle:
                handle.write("\n".join(lines) + "\n")
        return 0
    lines = ["| model | method | outcome | seconds | vs Captum (rel.) | note |", "|---|---|---|---:|---:|---|"]
    print("\n".join(lines), flush=True)
    for source, name in specs:
        model = build_model(source, name)
        size = model.input_size
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(args.images, 3, *size, generator=gen)
        with torch.no_grad():
            target = model(x).argmax(1)
        for method in args.methods:
            row = run_one(model, method, x, target, have["captum"])
            rel = f"{row['captum_rel']:.1e}" if "captum_rel" in row else ""
            line = (f"| {name} | {method} | {row['outcome']} | {row['seconds']:.2f} | {rel} | "
                    f"{row.get('note', '')} |")
            lines.append(line)
            print(line, flush=True)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
