"""Speed of gaplens' batched distortions against a per-image numpy/scipy reference, and sweep overhead.

Issue 6 targets, on 224x224 images in batches of 64:

1. every distortion at least as fast as a straightforward per-image numpy/scipy implementation of
   the same definition (written below), and a geometric mean speed-up of at least 3x;
2. a sweep (every distortion at every published level) with a model of at least 1 GFLOP per image
   spends at most 15% of its time outside the model's forward pass.

    .venv/bin/python benchmarks/distortions.py --threads 2

The reference runs in float64 (as the published code does) image by image; gaplens runs batched in
float32 with ``--threads`` torch threads. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import math
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, map_coordinates
from timing import best_time
from torch import nn

from gaplens.robustness import DISTORTIONS, distort, sweep
from gaplens.robustness.colour import _opponent_matrix
from gaplens.robustness.eidolon import EIDOLON_COHERENCE, scale_levels
from gaplens.zoo import build

GREY = 0.4423
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SPECTRUM = SHARED / "data" / "geirhos2018" / "mean_power_spectrum_grey.npy"

#: the level timed for each distortion (the cost of most does not depend on the level)
LEVELS = {"colour": "greyscale", "contrast": 0.1, "high_pass": 1.0, "low_pass": 10, "phase_noise": 90,
          "power_equalisation": "equalised", "opponent_colour": "opponent", "rotation": 90, "eidolon_I": 8,
          "eidolon_II": 8, "eidolon_III": 8, "uniform_noise": 0.35, "salt_and_pepper": 0.5}


# -- the per-image reference: (H, W, 3) float64 in [0, 1] -> (H, W, 3) --------------------------------


def _grey(img):
    return 0.2125 * img[..., 0] + 0.7154 * img[..., 1] + 0.0721 * img[..., 2]


def _rgb(grey):
    return np.dstack((grey, grey, grey))


def ref_colour(img, level, rng, target):
    return _rgb(_grey(img))


def ref_contrast(img, c, rng, target):
    return _rgb((1 - c) / 2 + c * _grey(img))


def ref_high_pass(img, std, rng, target):
    grey = _grey(img)
    detail = grey - gaussian_filter(grey, std, mode="constant", cval=GREY)
    return _rgb(np.clip(detail + (GREY - detail.mean()), 0, 1))


def ref_low_pass(img, std, rng, target):
    return _rgb(np.clip(gaussian_filter(_grey(img), std, mode="constant", cval=GREY), 0, 1))


def _odd_shifts(u):
    """Make shifts odd in frequency: shift(-f) = -shift(f), zero at self-conjugate frequencies."""
    h, w = u.shape
    flat = np.arange(h * w).reshape(h, w)
    neg = flat[(-np.arange(h)) % h][:, (-np.arange(w)) % w]
    return np.where(flat < neg, u, np.where(flat > neg, -u.ravel()[neg], 0.0))


def ref_phase_noise(img, width, rng, target):
    grey = _grey(img)
    shifts = _odd_shifts(rng.uniform(-1, 1, grey.shape) * np.radians(width))
    out = np.real(np.fft.ifft2(np.fft.fft2(grey) * np.exp(1j * shifts)))
    return _rgb(np.clip(out, 0, 1))


def ref_power_equalisation(img, level, rng, target):
    spectrum = np.fft.fft2(_grey(img))
    out = np.real(np.fft.ifft2(np.fft.ifftshift(target) * np.exp(1j * np.angle(spectrum))))
    return _rgb(np.clip(out, 0, 1))


def ref_opponent_colour(img, level, rng, target):
    flipped = 0.5 + (img ** 2.2 - 0.5) @ _opponent_matrix().T
    return np.clip(flipped, 0, 1) ** (1 / 2.2)


def ref_rotation(img, degrees, rng, target):
    return _rgb(np.rot90(_grey(img), degrees // 90))


def ref_uniform_noise(img, width, rng, target):
    grey = 0.35 + 0.3 * _grey(img)
    return _rgb(np.clip(grey + rng.uniform(-width, width, grey.shape), 0, 1))


def ref_salt_and_pepper(img, p, rng, target):
    grey = 0.35 + 0.3 * _grey(img)
    u = rng.uniform(size=grey.shape)
    grey[u >= 1 - p / 2] = 1
    grey[u < p / 2] = 0
    return _rgb(grey)


def _blurred_noise(shape, sigma, rng):
    """A unit-variance white-noise field blurred at sigma (FFT)."""
    fy, fx = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
    field = np.fft.irfft2(np.fft.rfft2(rng.standard_normal(shape)) * np.exp(-2 * np.pi ** 2 * sigma ** 2
                                                                            * (fy ** 2 + fx ** 2)), s=shape)
    return field / field.std()


def ref_eidolon(img, reach, rng, target, coherence, grain=10.0):
    """The same construction at full resolution: DOG slices of the padded image, displaced by blurred
    noise fields (coherent sums plus coherence x per-scale fields), sampled at the output pixels."""
    grey = _grey(img)
    h, w = grey.shape
    pad = h // 4
    padded = np.pad(grey, pad, mode="reflect")
    sigmas, sigma_max = scale_levels(max(h, w))
    fy, fx = np.fft.fftfreq(padded.shape[0])[:, None], np.fft.rfftfreq(padded.shape[1])[None, :]
    spectrum = np.fft.rfft2(padded)
    levels = [padded] + [np.fft.irfft2(spectrum * np.exp(-2 * np.pi ** 2 * s ** 2 * (fy ** 2 + fx ** 2)),
                                       s=padded.shape) for s in sigmas[1:]] + [np.zeros_like(padded)]
    ys, xs = np.mgrid[pad:pad + h, pad:pad + w].astype(float)
    out = np.zeros((h, w))
    coherent = np.zeros((2, h, w))
    for k in reversed(range(len(sigmas))):
        for axis in range(2):
            coherent[axis] += sigmas[k] / sigma_max * _blurred_noise(padded.shape, sigmas[k], rng)[pad:pad + h,
                                                                                                  pad:pad + w]
        shift = coherent + coherence * np.stack([_blurred_noise(padded.shape, grain, rng)[pad:pad + h, pad:pad + w]
                                                 for _ in range(2)])
        out += map_coordinates(levels[k] - levels[k + 1], [ys + reach * shift[1], xs + reach * shift[0]], order=1,
                               mode="nearest")
    return _rgb(np.clip(out, 0, 1))


REFERENCE = {"colour": ref_colour, "contrast": ref_contrast, "high_pass": ref_high_pass, "low_pass": ref_low_pass,
             "phase_noise": ref_phase_noise, "power_equalisation": ref_power_equalisation,
             "opponent_colour": ref_opponent_colour, "rotation": ref_rotation, "uniform_noise": ref_uniform_noise,
             "salt_and_pepper": ref_salt_and_pepper}
for _name, _coherence in EIDOLON_COHERENCE.items():
    REFERENCE[_name] = (lambda c: lambda img, reach, rng, target: ref_eidolon(img, reach, rng, target, c))(_coherence)


# -- timing -------------------------------------------------------------------------------------------------


def _reference_loop(fn, images, level, target):
    rng = np.random.default_rng(0)
    return [fn(img, level, rng, target) for img in images]


def throughput(batch: int, size: int, repeat: int, reference_images: int) -> list[tuple[str, float, float]]:
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=gen)
    images = torch.nn.functional.avg_pool2d(images, 5, 1, 2)  # some spatial structure; still in [0, 1]
    numpy_images = images.double().permute(0, 2, 3, 1).numpy()
    target = np.load(SPECTRUM) if SPECTRUM.is_file() and size == 224 else None
    if target is None:
        target = np.abs(np.fft.fftshift(np.fft.fft2(_grey(numpy_images)), axes=(-2, -1))).mean(0)
    rows = []
    for name in DISTORTIONS.names():
        level = DISTORTIONS[name].parse(LEVELS[name])
        options = {"target_spectrum": target} if name == "power_equalisation" else {}
        ours = best_time(partial(distort, images, name, level, seed=0, **options), repeat) / batch
        count = min(batch, reference_images if name.startswith("eidolon") else batch)
        ref = best_time(partial(_reference_loop, REFERENCE[name], numpy_images[:count], level, target), 1) / count
        rows.append((name, 1 / ours, 1 / ref))
        print(f"| {name} | {level} | {1 / ours:,.0f} | {1 / ref:,.0f} | {ref / ours:.1f}x |", flush=True)
    return rows


class _Timed(nn.Module):
    """Accumulates the wall time of the wrapped model's forward passes."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.seconds, self.calls = net, 0.0, 0

    def forward(self, x):
        start = time.perf_counter()
        out = self.net(x)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def _macs(model: nn.Module, size: int) -> int:
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output[0].numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for handle in handles:
        handle.remove()
    return total


def sweep_overhead(images: int, batch: int, size: int, widths: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    net = build("resnet", 16, widths=widths, blocks=(1,) * len(widths)).eval()
    macs = _macs(net, size)
    gen = torch.Generator().manual_seed(1)
    data = (torch.nn.functional.avg_pool2d(torch.rand(images, 3, size, size, generator=gen), 5, 1, 2),
            torch.randint(0, 16, (images,), generator=gen))
    options = {}
    if SPECTRUM.is_file() and size == 224:
        options = {"power_equalisation": {"target_spectrum": np.load(SPECTRUM)}}
    model = _Timed(net)
    start = time.perf_counter()
    records = sweep(model, data, batch_size=batch, options=options)
    total = time.perf_counter() - start
    with torch.no_grad():
        clean = _Timed(net)
        start = time.perf_counter()
        for _ in range(len(records)):
            for s in range(0, images, batch):
                clean(data[0][s:s + batch])
        bare = time.perf_counter() - start
    outside = total - model.seconds
    print(f"\nModel: zoo resnet widths={widths}, {macs / 1e9:.2f} GMAC = {2 * macs / 1e9:.2f} GFLOP per image; "
          f"{images} images, batch {batch}, {len(records)} (distortion, level) units.\n")
    print("| | seconds |\n|---|---|")
    print(f"| sweep, total | {total:.1f} |")
    print(f"| sweep, inside the model's forward | {model.seconds:.1f} |")
    print(f"| sweep, outside the forward (distortions, decisions, bookkeeping) | {outside:.1f} "
          f"({100 * outside / total:.1f}% of the sweep) |")
    print(f"| bare inference, same number of forward passes on clean images | {bare:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-images", type=int, default=8, help="images timed for the slow Eidolon reference")
    parser.add_argument("--sweep-images", type=int, default=64)
    parser.add_argument("--widths", default="48,96,192,384", help="zoo ResNet stage widths of the sweep model")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; {args.size}x{args.size}, batch {args.batch}; "
          "reference: numpy/scipy float64, one image at a time\n")
    print("| distortion | level | gaplens images/s | reference images/s | speed-up |\n|---|---|---|---|---|")
    rows = throughput(args.batch, args.size, args.repeat, args.reference_images)
    speedups = [ours / ref for _, ours, ref in rows]
    print(f"\nGeometric mean speed-up: {math.exp(np.mean(np.log(speedups))):.1f}x; "
          f"slowest: {min(speedups):.1f}x ({rows[int(np.argmin(speedups))][0]})")
    if not args.skip_sweep:
        sweep_overhead(args.sweep_images, args.batch, args.size, tuple(int(w) for w in args.widths.split(",")))


if __name__ == "__main__":
    main()
