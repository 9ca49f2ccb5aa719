"""Classical restorations to compare Deep Image Prior with: scikit-image's, each tuned on a small grid.

With the clean image known, each method is run over a small grid of its main parameter and
keeps the value of highest PSNR (an oracle choice: the baselines' best case):

==================  =========================================  ===================================
task                method                                     grid
==================  =========================================  ===================================
denoise, jpeg       ``denoise_tv_chambolle``                   ``weight`` 0.02 ... 0.25
denoise, jpeg       ``denoise_nl_means`` (5x5 patches, 13x13)  ``h`` = 0.6 ... 1.2 x estimated sigma
denoise, jpeg       ``denoise_wavelet`` (BayesShrink, YCbCr)   ``sigma`` = 0.5 ... 1.5 x estimated
inpaint             ``inpaint_biharmonic``                     (none)
super_resolution    bicubic upsampling (``transform.resize``)  (none: order 3)
==================  =========================================  ===================================

The noise level is estimated from the corrupted image (:func:`estimate_noise_sigma`: Donoho's
median rule on the finest diagonal Haar coefficients), so no method is told the true sigma.
``denoise_wavelet`` needs PyWavelets, an optional dependency of scikit-image: without it that
baseline is left out (:func:`available_baselines` says which run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gaplens.core.errors import InputError
from gaplens.restore.metrics import psnr, ssim
from gaplens.restore.settings import TASKS

__all__ = ["BaselineResult", "baselines", "BASELINES", "available_baselines", "estimate_noise_sigma"]

TV_WEIGHTS = (0.02, 0.04, 0.08, 0.12, 0.16, 0.25)
NLM_H = (0.6, 0.8, 1.0, 1.2)
WAVELET_SIGMA = (0.5, 1.0, 1.5)

#: The baselines of each task.
BASELINES = {"denoise": ("tv_chambolle", "nl_means", "wavelet"), "jpeg": ("tv_chambolle", "nl_means", "wavelet"),
             "inpaint": ("biharmonic",), "super_resolution": ("bicubic",)}


def available_baselines(task: str) -> tuple[str, ...]:
    """The baselines of ``task`` that can run here (``wavelet`` needs PyWavelets)."""
    import importlib.util

    names = BASELINES.get(task, ())
    if importlib.util.find_spec("pywt") is None:
        names = tuple(n for n in names if n != "wavelet")
    return names


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Gaussian noise level of an ``(H, W, C)`` image: ``median(|HH|) / 0.6745`` over the channels.

    ``HH`` are the finest diagonal coefficients of the orthonormal Haar transform, ``(a - b - c +
    d) / 2`` over 2x2 blocks, which hold little of a natural image and all of white noise's share.
    """
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    x = image[:h, :w]
    hh = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2
    return float(np.median(np.abs(hh)) / 0.6745)


@dataclass
class BaselineResult:
    """One baseline at its best grid value.

    ``image`` ``(3, H, W)``, ``param`` (the grid value, as text), PSNR (dB), SSIM, and ``seconds``:
    the wall time of the whole grid.
    """

    name: str
    param: str
    psnr: float
    ssim: float
    seconds: float
    image: torch.Tensor

    @property
    def record(self) -> dict:
        return {"method": self.name, "param": self.param, "psnr": self.psnr, "ssim": self.ssim,
                "seconds": self.seconds}


def _hwc(image: torch.Tensor) -> np.ndarray:
    return image.detach().cpu().double().permute(1, 2, 0).numpy()


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.clip(array, 0, 1)).permute(2, 0, 1).float().contiguous()


def _grid(name: str, clean: torch.Tensor, candidates: list[tuple[str, Callable[[], np.ndarray]]]) -> BaselineResult:
    start = time.perf_counter()
    best = None
    for param, run in candidates:
        image = _chw(run())
        value = float(psnr(image, clean))
        if best is None or value > best[1]:
            best = (param, value, image)
    seconds = time.perf_counter() - start
    param, value, image = best
    return BaselineResult(name, param, value, float(ssim(image, clean)), seconds, image)


def baselines(task: str, observed: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor | None = None,
              factor: int = 4) -> list[BaselineResult]:
    """Run the task's baselines on ``observed`` ``(3, h, w)``; each keeps its best grid value against ``clean``.

    ``mask`` ``(1, H, W)`` (1 = known) for inpainting; ``factor`` for super-resolution (``clean`` is
    ``factor`` times larger than ``observed``).
    """
    from skimage import restoration, transform

    if task not in TASKS:
        raise InputError(f"task={task!r}; expected one of {list(TASKS)}")
    clean = clean.detach().cpu().float()
    x = _hwc(observed)
    results = []
    if task in ("denoise", "jpeg"):
        sigma = max(estimate_noise_sigma(x), 1e-3)
        results.append(_grid("tv_chambolle", clean, [
            (f"weight={w}", lambda w=w: restoration.denoise_tv_chambolle(x, weight=w, channel_axis=-1))
            for w in TV_WEIGHTS]))
        results.append(_grid("nl_means", clean, [
            (f"h={k}*sigma", lambda k=k: restoration.denoise_nl_means(
                x, h=k * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True, channel_axis=-1))
            for k in NLM_H]))
        if "wavelet" not in available_baselines(task):
            return results
        results.append(_grid("wavelet", clean, [
            (f"sigma={k}*sigma", lambda k=k: restoration.denoise_wavelet(
                x, sigma=k * sigma, method="BayesShrink", mode="soft", convert2ycbcr=True, rescale_sigma=True,
                channel_axis=-1))
            for k in WAVELET_SIGMA]))
    elif task == "inpaint":
        if mask is None:
            raise InputError("mask: the inpainting baseline needs the (1, H, W) mask (1 = known pixel)")
        missing = mask[0].detach().cpu().numpy() == 0
        results.append(_grid("biharmonic", clean, [
            ("-", lambda: restoration.inpaint_biharmonic(x, missing, channel_axis=-1))]))
    else:
        shape = (x.shape[0] * factor, x.shape[1] * factor, 3)
        results.append(_grid("bicubic", clean, [
            ("order=3", lambda: transform.resize(x, shape, order=3, mode="edge", anti_aliasing=False))]))
    return results
