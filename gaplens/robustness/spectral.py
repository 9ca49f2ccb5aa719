"""Fourier-domain distortions: ``phase_noise`` and ``power_equalisation`` (on the greyscale image).

Spectra follow the convention of the published mean power spectrum
(``mean_power_spectrum_grey.npy``): an ``(H, W)`` amplitude spectrum ``|fft2(x)|`` of the
greyscale image, *centred* with ``fftshift`` (zero frequency at ``(H // 2, W // 2)``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gaplens.core.batching import check_batch_size
from gaplens.core.datasets import dataset_length, iterate_batches
from gaplens.core.errors import InputError
from gaplens.robustness.base import Distortion, ImageRandom, named_level, numeric_level
from gaplens.robustness.colour import greyscale, to_rgb
from gaplens.robustness.published import PUBLISHED_SPECTRUM_SIZE, published_mean_spectrum

__all__ = ["PHASE_VARIANTS", "phase_scramble", "power_equalise", "amplitude_spectrum", "mean_amplitude_spectrum",
           "resolve_target"]


def _self_paired_columns(w: int) -> list[int]:
    """Columns of an ``rfft2`` spectrum whose frequencies pair with frequencies of the same column."""
    return [0, w // 2] if w % 2 == 0 and w > 1 else [0]


def _antisymmetric(shifts: torch.Tensor, w: int) -> torch.Tensor:
    """Make phase shifts ``(..., H, W // 2 + 1)`` odd, ``shift(-f) = -shift(f)``, where ``-f`` lies in the
    same ``rfft2`` column (columns 0 and ``W/2``); self-conjugate frequencies get no shift."""
    h = shifts.shape[-2]
    rows = torch.arange(h, device=shifts.device)
    neg = torch.remainder(-rows, h)
    out = shifts.clone()
    for col in _self_paired_columns(w):
        column = shifts[..., col]
        out[..., col] = torch.where(rows < neg, column, torch.where(rows > neg, -column[..., neg], 0.0))
    return out


#: Variants of phase noise: what the published stimuli are, and what their code comments intend.
PHASE_VARIANTS = ("published", "corrected")


def phase_scramble(grey: torch.Tensor, width: float, rng: ImageRandom, variant: str = "published") -> torch.Tensor:
    """Random phase shifts of up to ``width`` degrees on the Fourier components of ``(N, 1, H, W)`` images.

    Two variants (not clipped; both leave zero frequency alone, so the mean grey is kept):

    - ``"published"`` (default): the stimuli of Geirhos et al. (2018), whose code adds uniform
      shifts in ``[-width, width]`` to the first half of the centred spectrum (the point-symmetric
      block ``[1:, 1:]``, flattened) and subtracts the *same list* from the second half. That pairs
      each frequency with the wrong conjugate partner: after the real part is taken, a component
      moves by the mean of two uniform draws (a triangular distribution) and its amplitude is
      scaled by ``|cos(d / 2)|``, ``d`` their difference. The expected power (sum of squares of the
      non-constant part) before clipping is ``(1 + sinc(width)^2) / 2`` of the input, with
      ``sinc(w) = sin(w) / w``: 0.96 / 0.70 / 0.50 at 30 / 90 / 180 degrees (natural images, whose
      power sits in few low frequencies, scatter around it: 0.96 / 0.73 / 0.45 in the issue's
      measurement). The human observers saw these images, so this is the variant to compare with
      their data. For odd sides the whole axis is used (the published code runs on even sizes only).
    - ``"corrected"``: what the code comments intend: uniform shifts in ``[-width, width]``, odd in
      frequency (a component and its conjugate partner move by opposite angles), so the result is
      real and its amplitude spectrum is the input's exactly (power ratio 1). Self-conjugate
      components (zero frequency, Nyquist) keep their phase.
    """
    if variant not in PHASE_VARIANTS:
        raise InputError(f"variant={variant!r}; expected one of {list(PHASE_VARIANTS)}")
    h, w = grey.shape[-2:]
    radians = math.radians(width)
    if variant == "published":
        rows, cols = h - (1 - h % 2), w - (1 - w % 2)
        half = rows * cols // 2
        shifts = (rng.rand(half).to(torch.float64) * 2 - 1) * radians
        return _published_scramble(grey, shifts.to(grey.device))
    spectrum = torch.fft.rfft2(grey)
    shifts = (rng.rand(h, w // 2 + 1).to(grey.dtype) * 2 - 1) * radians
    shifts = _antisymmetric(shifts, w).unsqueeze(1)
    return torch.fft.irfft2(spectrum * torch.polar(torch.ones_like(shifts), shifts), s=(h, w))


def _published_scramble(grey: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """The published phase scrambling of ``(N, 1, H, W)`` images with the given ``(N, L // 2)`` shifts (radians).

    ``L`` is the size of the point-symmetric block of the centred spectrum (``[1:, 1:]`` for even
    sides): its flattened first half is shifted by ``+shifts``, its second half (after the zero
    frequency in the middle) by ``-shifts`` in the same order, and the real part is kept.
    """
    h, w = grey.shape[-2:]
    r0, c0 = 1 - h % 2, 1 - w % 2
    rows, cols = h - r0, w - c0
    n, half = shifts.shape
    if half != rows * cols // 2:
        raise InputError(f"shifts have {half} columns; expected {rows * cols // 2} for {h}x{w} images")
    centred = torch.fft.fftshift(torch.fft.fft2(grey), dim=(-2, -1))
    flat = torch.cat([shifts, shifts.new_zeros(n, 1), -shifts], dim=1).reshape(n, 1, rows, cols)
    block = centred[..., r0:, c0:] * torch.polar(torch.ones_like(flat), flat).to(centred.dtype)
    centred = torch.cat([centred[..., :r0, :], torch.cat([centred[..., r0:, :c0], block], dim=-1)], dim=-2)
    return torch.fft.ifft2(torch.fft.ifftshift(centred, dim=(-2, -1))).real.to(grey.dtype)


def amplitude_spectrum(grey: torch.Tensor) -> torch.Tensor:
    """``|fftshift(fft2(x))|`` of ``(..., H, W)`` images, centred (zero frequency at ``(H//2, W//2)``)."""
    return torch.fft.fftshift(torch.fft.fft2(grey).abs(), dim=(-2, -1))


def _symmetric(target: torch.Tensor) -> torch.Tensor:
    """The even part ``(A(f) + A(-f)) / 2`` of an unshifted ``(H, W)`` spectrum."""
    mirrored = torch.roll(torch.flip(target, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))
    return (target + mirrored) / 2


def _check_target(target_spectrum: object, h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    try:
        if isinstance(target_spectrum, torch.Tensor):
            target = target_spectrum.detach().to(torch.float64)
        else:
            target = torch.as_tensor(np.asarray(target_spectrum, dtype=np.float64))
    except (TypeError, ValueError, RuntimeError):
        raise InputError("target_spectrum: expected an (H, W) array of amplitudes") from None
    if target.shape != (h, w):
        raise InputError(f"target_spectrum has shape {tuple(target.shape)}; expected ({h}, {w}) like the images "
                         "(a centred |fftshift(fft2(grey))| amplitude spectrum)")
    if not bool(torch.isfinite(target).all()) or bool((target < 0).any()):
        raise InputError("target_spectrum: expected finite, non-negative amplitudes")
    return target.to(dtype=dtype, device=device)


#: Named targets of power equalisation.
TARGETS = ("imagenet", "batch_mean")


def resolve_target(target_spectrum: object, size: tuple[int, int]) -> object:
    """The named target that ``target_spectrum`` stands for on images of ``size`` (arrays are returned as given).

    ``None`` (the default) is ``"imagenet"`` (the published mean spectrum, the paper's target) for
    224 x 224 images, the only size it exists for, and ``"batch_mean"`` for other sizes.
    """
    if target_spectrum is None:
        return "imagenet" if tuple(size) == PUBLISHED_SPECTRUM_SIZE else "batch_mean"
    if isinstance(target_spectrum, str) and target_spectrum not in TARGETS:
        raise InputError(f"target_spectrum={target_spectrum!r}; expected one of {list(TARGETS)} or an (H, W) "
                         "amplitude spectrum")
    return target_spectrum


def power_equalise(grey: torch.Tensor, target_spectrum: object = None) -> torch.Tensor:
    """Keep each image's Fourier phases, replace its amplitudes by a target spectrum; not clipped.

    ``grey`` is ``(N, 1, H, W)``. ``target_spectrum`` is a centred ``(H, W)`` amplitude spectrum, or
    a name: ``"imagenet"``, the published mean spectrum of greyscale ImageNet
    (:func:`~gaplens.robustness.published_mean_spectrum`, 224 x 224 images only), the target of
    Geirhos et al. (2018); ``"batch_mean"``, the mean amplitude spectrum of ``grey`` itself (then
    one image's output depends on the other images of the batch). The default ``None`` is
    ``"imagenet"`` for 224 x 224 images and ``"batch_mean"`` for other sizes (where no published
    spectrum exists; pass a fixed target, e.g. :func:`mean_amplitude_spectrum` of a dataset, to keep
    images independent). The target's even part ``(A(f) + A(-f)) / 2`` is used (a real image has an
    even amplitude spectrum; mean spectra of real images are even already), so the result's
    amplitude spectrum equals it exactly.
    """
    h, w = grey.shape[-2:]
    target = resolve_target(target_spectrum, (h, w))
    if isinstance(target, str) and target == "batch_mean":
        target = amplitude_spectrum(grey).mean(dim=0).squeeze(0)
    elif isinstance(target, str):
        if (h, w) != PUBLISHED_SPECTRUM_SIZE:
            raise InputError(f"target_spectrum='imagenet': the published ImageNet spectrum is 224x224 but the images "
                             f"are {h}x{w}; resize them to 224x224, or give target_spectrum='batch_mean' or an "
                             "(H, W) spectrum such as mean_amplitude_spectrum(dataset)")
        target = torch.tensor(published_mean_spectrum(), dtype=grey.dtype, device=grey.device)
    else:
        target = _check_target(target, h, w, grey.dtype, grey.device)
    target = _symmetric(torch.fft.ifftshift(target, dim=(-2, -1)))[..., : w // 2 + 1]
    phases = torch.fft.rfft2(grey).angle()
    return torch.fft.irfft2(torch.polar(target.expand_as(phases).contiguous(), phases), s=(h, w))


@torch.no_grad()
def mean_amplitude_spectrum(images: object, batch_size: int = 256) -> torch.Tensor:
    """Mean centred amplitude spectrum ``(H, W)`` (float64, CPU) of the greyscale images of a set.

    ``images`` is an ``(N, 3, H, W)`` tensor in ``[0, 1]`` or a dataset (tensors, an object with
    ``.images``/``.labels``, a torch Dataset); all images must have the same size. This is the
    ``target_spectrum=`` of ``power_equalisation``, as the published
    ``mean_power_spectrum_grey.npy`` is for ImageNet.
    """
    check_batch_size(batch_size)
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] == 0:
            raise InputError(f"images have shape {tuple(images.shape)}; expected (N, 3, H, W) with N >= 1")
        batches = (images[s:s + batch_size] for s in range(0, images.shape[0], batch_size))
    else:
        if dataset_length(images) == 0:
            raise InputError("the dataset is empty: no spectrum to average")
        batches = (batch for _, batch, _ in iterate_batches(images, batch_size))
    total, count, size = None, 0, None
    for batch in batches:
        if size is None:
            size = tuple(batch.shape[-2:])
        elif tuple(batch.shape[-2:]) != size:
            raise InputError(f"images of different sizes ({size} and {tuple(batch.shape[-2:])}): a mean "
                             "spectrum needs one image size")
        spectra = amplitude_spectrum(greyscale(batch.to(torch.float64))).sum(dim=(0, 1))
        total = spectra.cpu() if total is None else total + spectra.cpu()
        count += batch.shape[0]
    return total / count


def _phase(images: torch.Tensor, level: float, rng: ImageRandom, variant: str = "published") -> torch.Tensor:
    if variant not in PHASE_VARIANTS:
        raise InputError(f"variant={variant!r}; expected one of {list(PHASE_VARIANTS)}")
    grey = greyscale(images)
    if level == 0:
        return to_rgb(grey)
    return to_rgb(phase_scramble(grey, level, rng, variant).clamp_(0, 1))


def _power(images: torch.Tensor, level: str, rng: object, target_spectrum: object = None) -> torch.Tensor:
    grey = greyscale(images)
    if level == "original":
        return to_rgb(grey)
    return to_rgb(power_equalise(grey, target_spectrum).clamp_(0, 1))


def _power_prepare(images: torch.Tensor, level: str, target_spectrum: object = None) -> dict:
    """A ``"batch_mean"`` target is the mean amplitude spectrum of the whole batch (before it is chunked)."""
    target = resolve_target(target_spectrum, tuple(images.shape[-2:]))
    if level == "equalised" and isinstance(target, str) and target == "batch_mean":
        target = amplitude_spectrum(greyscale(images)).mean(dim=0).squeeze(0)
    return {"target_spectrum": target}


PHASE_NOISE = Distortion(
    name="phase_noise",
    levels=(0, 30, 60, 90, 120, 150, 180),
    description="greyscale, random phase shifts of up to w degrees on the Fourier components, clipped; variant "
                "'published' (the paper's stimuli, default) or 'corrected' (uniform, amplitudes kept)",
    apply=_phase,
    parse=numeric_level("phase_noise", 0.0, 180.0, unit=" (degrees)"),
    clean_level=0,
    reference=lambda images, **_: to_rgb(greyscale(images)),
    level_label="phase noise width (degrees)",
    options=("variant",),
    random=True,
)

POWER_EQUALISATION = Distortion(
    name="power_equalisation",
    levels=("original", "equalised"),
    description="greyscale, amplitude spectrum replaced by the published ImageNet mean spectrum (224 px; "
                "other sizes: the batch mean or a given spectrum), phases kept, clipped",
    apply=_power,
    parse=named_level("power_equalisation", ("original", "equalised")),
    clean_level="original",
    reference=lambda images, **_: to_rgb(greyscale(images)),
    level_label="power spectrum",
    options=("target_spectrum",),
    batch_dependent=True,
    prepare=_power_prepare,
)
