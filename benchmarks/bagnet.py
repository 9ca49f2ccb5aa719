"""BagNet evidence maps: one convolutional pass vs. the published loop over patches; forward time.

Issue 17's targets: evidence maps of a 224x224 image at least 50x faster than the authors'
``generate_heatmap_pytorch`` approach (zero-pad by (p-1)/2, cut out all H*W patches, run them
through the net in batches of 1000, keep the target logit) at equal output, and a forward pass
within 1.2x of a plain ResNet of equal FLOPs.

The forward table times ``model(x)`` without autograd (the fused inference path, see
``gaplens.zoo.bagnet``), the same BagNet computed module by module (the path taken under autograd),
the zoo ResNet whose MACs are closest to the BagNet architecture's, and that ResNet in
channels-last layout (its faster layout on a CPU), taking turns in every round.

    .venv/bin/python benchmarks/bagnet.py --threads 2

The loop over all 50176 patches of a 224 px image takes many minutes on a CPU, so by default it
runs on the first ``--rows`` rows of patch centres (``rows * 224`` patches, in batches of 1000 as
the authors do), checks those rows equal the one-pass map, and extrapolates its time linearly to
all rows (the loop's cost is exactly linear in the number of patches). ``--rows 224`` runs it all.
A full-image equality check runs on a smaller image (``--check-size``).
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch
import torch.nn.functional as F
from timing import best_time
from torch import nn

from gaplens.interpretable import BagNet, evidence
from gaplens.zoo import build


def published_loop(net: nn.Module, image: torch.Tensor, target: int, patch_size: int, rows: int | None = None,
                   batch: int = 1000) -> torch.Tensor:
    """The authors' approach, reimplemented: all zero-padded patches through the net in batches.

    Returns the ``(rows, W)`` map of the first ``rows`` rows of patch centres (all rows: ``None``).
    """
    _, _, h, w = image.shape
    c = (patch_size - 1) // 2
    padded = F.pad(image, (c, c, c, c))
    rows = h if rows is None else rows
    patches = padded[:, :, :rows + 2 * c].unfold(2, patch_size, 1).unfold(3, patch_size, 1)
    patches = patches[0].permute(1, 2, 0, 3, 4).reshape(-1, 3, patch_size, patch_size)
    out = []
    with torch.no_grad():
        for chunk in torch.split(patches, batch):
            out.append(net(chunk)[:, target])
    return torch.cat(out).reshape(rows, w)


def conv_macs(net: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of the convolutions and linear layers in one forward pass."""
    total = 0

    def hook(module, _inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += output.numel() * k
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return total


def fused_macs(net: BagNet, x: torch.Tensor) -> int:
    """MACs of the fused inference path: the architecture's, with the 1x1 and 3x3 stem convolutions
    replaced by the one composed 3x3 kernel (3 input channels instead of ``width``)."""
    h, w = x.shape[-2] - 2, x.shape[-1] - 2
    stem = net.conv1.in_channels * net.conv1.out_channels * x.shape[-2] * x.shape[-1] \
        + net.conv2.in_channels * net.conv2.out_channels * 9 * h * w
    return conv_macs(net, x) - stem + net.conv1.in_channels * net.conv2.out_channels * 9 * h * w


def module_path(net: BagNet, x: torch.Tensor) -> torch.Tensor:
    """``net(x)`` computed module by module (the path taken with autograd or hooks): BatchNorm as its
    own pass, the classifier on every position, then the mean."""
    features = net.layers(net.relu(net.bn1(net.conv2(net.conv1(x)))))
    return net.classifier(features).mean((2, 3))


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Best time of each function over ``repeats`` rounds, the functions taking turns in every round
    (on a shared machine, load changes hit all of them alike)."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--patch-size", type=int, default=33)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--check-size", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="images per forward pass in the forward-time table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    p = args.patch_size
    net = BagNet(10, patch_size=p, width=args.width).eval()
    image = torch.rand(1, 3, args.size, args.size)
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()} "
          f"(shared machine), BagNet-{p} width {args.width}, {args.size}x{args.size} image")

    # equality on a whole small image
    small = torch.rand(1, 3, args.check_size, args.check_size)
    full = published_loop(net, small, 3, p)
    torch.testing.assert_close(evidence(net, small, target=3, border="zeros")[0], full, atol=1e-4, rtol=1e-4)

    one_pass = best_time(lambda: evidence(net, image, target=3, border="zeros"), args.repeats)
    maps = evidence(net, image, target=3, border="zeros")[0]
    start = time.perf_counter()
    looped = published_loop(net, image, 3, p, rows=args.rows)
    loop_rows = time.perf_counter() - start
    torch.testing.assert_close(maps[:args.rows], looped, atol=1e-4, rtol=1e-4)
    loop_all = loop_rows * args.size / args.rows
    print("| evidence map | seconds | patches run | equal |")
    print("|---|---|---|---|")
    print(f"| one pass (gaplens.interpretable.evidence) | {one_pass:.3f} | - | yes |")
    print(f"| loop over patches, first {args.rows} rows (measured) | {loop_rows:.2f} | {args.rows * args.size} "
          f"| yes (max diff {(maps[:args.rows] - looped).abs().max():.1e}) |")
    print(f"| loop over all {args.size} rows (extrapolated) | {loop_all:.1f} | {args.size ** 2} | - |")
    print(f"speed-up: {loop_all / one_pass:.0f}x (target >= 50x)")

    # forward time vs a plain ResNet of about the same MACs
    x = torch.rand(args.batch, 3, args.size, args.size)
    bag_macs = conv_macs(net, x[:1])  # the architecture's MACs, module by module
    run_macs = fused_macs(net, x[:1])  # what the fused inference path executes (one composed stem kernel)
    best = None
    for w in range(8, 257, 4):
        resnet = build("resnet", 10, widths=[w, 2 * w, 4 * w, 8 * w], blocks=[2, 2, 2, 2]).eval()
        macs = conv_macs(resnet, x[:1])
        if best is None or abs(macs - bag_macs) < abs(best[1] - bag_macs):
            best = (w, macs, resnet)
        if macs > bag_macs:
            break
    w, res_macs, resnet = best
    resnet_cl = copy.deepcopy(resnet).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(net(x[:2]), module_path(net, x[:2]), atol=1e-4, rtol=1e-4)
        times = interleaved({
            "fused": lambda: net(x),
            "modules": lambda: module_path(net, x),
            "resnet": lambda: resnet(x),
            "resnet_cl": lambda: resnet_cl(x_cl),
        }, args.repeats)
    t_res = times["resnet"]
    print(f"| model (batch {args.batch}, {args.size} px, no grad, eval) | GMAC per image (executed) "
          f"| forward s | ratio to ResNet | ratio to ResNet, channels-last |")
    print("|---|---|---|---|---|")
    for key, label, macs, executed in (
            ("fused", f"BagNet-{p}, width {args.width}: `model(x)` (fused inference path)", bag_macs, run_macs),
            ("modules", f"BagNet-{p}, width {args.width}: module by module (the path with autograd)", bag_macs,
             bag_macs),
            ("resnet", f"zoo ResNet widths {w}-{8 * w}, blocks 2-2-2-2 (strided), NCHW", res_macs, res_macs),
            ("resnet_cl", "the same ResNet, channels-last", res_macs, res_macs)):
        print(f"| {label} | {macs / 1e9:.2f} ({executed / 1e9:.2f}) | {times[key]:.3f} | "
              f"{times[key] / t_res:.2f} | {times[key] / times['resnet_cl']:.2f} |")
    per_mac = (times["fused"] / run_macs) / (times["resnet_cl"] / res_macs)
    print(f"fused BagNet time per executed MAC / channels-last ResNet's: {per_mac:.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
