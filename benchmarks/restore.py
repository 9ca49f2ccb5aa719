"""Deep Image Prior: gaplens' fitting loop against a bare PyTorch loop, and DIP against scikit-image.

1. Per-step time of :func:`gaplens.restore.restore` (denoising, no clean image: the loop a user
   runs, with its moving average and the variance stopping rule, run to the end) against the
   authors' notebook loop written bare (perturb ``z``, forward, MSE, backward, Adam, moving
   average), over the same network, image and thread count. The two alternate in rounds and each
   keeps its median, so the load of the shared machine falls on both alike. Target: <= 1.05x.
2. Quality on a 128x128 crop of scikit-image's astronaut (the face) at sigma = 25: DIP's PSNR at
   its best step and at the stopping rule's step against the best of scikit-image's denoisers,
   each at its best grid value (chosen with the clean image). Target: DIP's best >= the best
   baseline.

Run:  .venv/bin/python benchmarks/restore.py [--steps 1500] [--rounds 5] [--round-steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gaplens.data import sample_image
from gaplens.restore import DEFAULTS, add_noise, baselines, build_network, psnr, restore
from gaplens.restore.fit import network_input


def bare_loop(noisy: torch.Tensor, steps: int, seed: int = 0) -> float:
    """The notebook's loop, nothing else; returns seconds per step."""
    settings = DEFAULTS["denoise"]
    generator = torch.Generator().manual_seed(seed)
    net = build_network(settings, 3, seed)
    z = network_input(settings, tuple(noisy.shape[-2:]), generator)
    target = noisy[None]
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    average = None
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        out = net(z + settings.reg_noise_std * torch.randn(z.shape, generator=generator))
        loss = torch.mean((out - target) ** 2)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            average = out.detach().clone() if average is None else average * settings.ema + out.detach() * (
                1 - settings.ema)
    return (time.perf_counter() - start) / steps


def gaplens_loop(noisy: torch.Tensor, steps: int, seed: int = 0) -> float:
    result = restore(noisy, "denoise", steps=steps, seed=seed, progress=False, early_stop=False)
    return result.seconds / len(result.history)


def bookkeeping_per_step(size: int = 128, steps: int = 300) -> float:
    """What gaplens' loop does per step beyond the bare loop, alone: the rule's running variance,
    the in-place moving average, the copy of a new best image, the history row; seconds per step."""
    from gaplens.restore import VarianceStop

    generator = torch.Generator().manual_seed(0)
    rule, average = VarianceStop(patience=10**9), None
    frames = [torch.rand((1, 3, size, size), generator=generator) for _ in range(8)]
    history, start = [], time.perf_counter()
    for step in range(1, steps + 1):
        out = frames[step % 8] * (1 + 1 / step)  # shrinking changes: the variance keeps falling, a copy each step
        average = out.clone() if average is None else average.mul_(0.99).add_(out, alpha=0.01)
        row = {"step": step, "loss": 0.01, "seconds": time.perf_counter() - start, "score": None}
        rule.update(step, out, 0.01)
        row["score"] = rule.score
        if rule.chosen == step:
            average.clone()
        history.append(row)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=DEFAULTS["denoise"].steps, help="steps of the quality run")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--round-steps", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    photo = sample_image("astronaut")
    clean = photo[:, 30:158, 180:308].contiguous()
    noisy = add_noise(clean, 25, seed=1)
    s = DEFAULTS["denoise"]
    print(f"network: {len(s.down)} scales, down {list(s.down)}, up {list(s.up)}, skip {list(s.skip)}, input depth "
          f"{s.input_depth}; image 128x128; 1 thread")

    bare, ours = [], []
    bare_loop(noisy, 3)  # warm-up
    for k in range(args.rounds):
        first, second = (bare_loop, gaplens_loop) if k % 2 == 0 else (gaplens_loop, bare_loop)
        a = first(noisy, args.round_steps)
        b = second(noisy, args.round_steps)
        (bare if first is bare_loop else ours).append(a)
        (ours if second is gaplens_loop else bare).append(b)
    mb, mo = statistics.median(bare), statistics.median(ours)
    print(f"per step, median of {args.rounds} rounds of {args.round_steps} steps: bare loop {mb * 1e3:.1f} ms, "
          f"gaplens restore() {mo * 1e3:.1f} ms, ratio {mo / mb:.3f}")
    print(f"per step, fastest round (least disturbed by other jobs): bare {min(bare) * 1e3:.1f} ms, gaplens "
          f"{min(ours) * 1e3:.1f} ms, ratio {min(ours) / min(bare):.3f}")
    print(f"rounds (ms): bare {[round(x * 1e3, 1) for x in bare]}, gaplens {[round(x * 1e3, 1) for x in ours]}")
    extra = min(bookkeeping_per_step() for _ in range(3))
    print(f"gaplens' added work alone: {extra * 1e3:.3f} ms per step = {extra / min(bare):.2%} of the fastest bare "
          "step")
    if args.skip_quality:
        return

    result = restore(noisy, "denoise", steps=args.steps, clean=clean, progress=False, early_stop=False,
                     metric_every=args.steps)
    runs = baselines("denoise", noisy, clean)
    history = result.history
    best = result.best_step
    chosen = result.stopped_at
    disc = next((r["step"] for r in history if r["loss"] <= (25 / 255) ** 2), None)
    print(f"noisy input: {float(psnr(noisy, clean)):.2f} dB")
    print(f"DIP best step {best}: {history[best - 1]['psnr']:.2f} dB; last step {len(history)}: "
          f"{history[-1]['psnr']:.2f} dB; {result.seconds:.0f} s for {len(history)} steps")
    if chosen is not None:
        print(f"variance rule: step {chosen} (fired at {result.fired_at}): {history[chosen - 1]['psnr']:.2f} dB, "
              f"{chosen - best:+d} steps from the best")
    else:
        print("variance rule: never fired")
    if disc is not None:
        print(f"discrepancy rule (sigma known): step {disc}: {history[disc - 1]['psnr']:.2f} dB, "
              f"{disc - best:+d} steps from the best")
    for r in runs:
        print(f"scikit-image {r.name} ({r.param}): {r.psnr:.2f} dB, SSIM {r.ssim:.3f}, grid {r.seconds:.2f} s")
    top = max(runs, key=lambda r: r.psnr)
    print(f"DIP best - best baseline ({top.name}): {history[best - 1]['psnr'] - top.psnr:+.2f} dB")


if __name__ == "__main__":
    main()
