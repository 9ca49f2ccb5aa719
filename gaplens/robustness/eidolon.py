"""Eidolons: Koenderink et al.'s partially coherent disarray, in batched torch.

Koenderink, Valsecchi, van Doorn, Wagemans & Gegenfurtner (2017), "Eidolons: novel stimuli for
vision research", JoV 17(2):7; the Eidolon Factory (github.com/gestaltrevision/Eidolon) is their
code, and Geirhos et al. (2018) used its ``PartiallyCoherentDisarray`` with grain 10 and
coherence 1.0 / 0.3 / 0.0 (``eidolon_I`` / ``eidolon_II`` / ``eidolon_III``). This is an
independent implementation of the same construction:

1. **Scale space.** The greyscale image is mirror-padded by about a quarter of its size on each
   side and blurred at ``K`` scales ``sigma_k = 2**(k/2) / sqrt(2)``, ``k = 0..K-1``, with
   ``K = ceil(2 log2(S / 4))`` for an image of longest side ``S`` (the factory's scale ladder; 12
   scales from 0.71 to 32 pixels for ``S`` = 224 or 256). The image is cut into *slices*, the
   bands between consecutive scales: ``D_k = B_k - B_{k+1}`` (``B_k``: the blur at ``sigma_k``),
   the finest ``D_0 = x - B_1``, the coarsest ``D_{K-1} = B_{K-1}``. Like a Laplacian pyramid, a
   slice is held on a grid as coarse as its band allows (a spacing of at most ``sigma_k / 2``) and
   ``B_{k+1}`` is interpolated onto the grid of ``D_k``, so that the slices, interpolated back to
   the pixel grid and summed, give the image exactly.
2. **Displacement fields.** Two kinds of random fields, white Gaussian noise blurred with a
   Gaussian, with the amplitudes of the toolbox (which does not normalise its blurred noise): a
   *coherent* field per scale, ``C_k = sum_{j >= k} a N_j`` (``N_j`` a unit-variance field blurred
   at ``sigma_j``; every scale adds the same std ``a``, about 0.12 working pixels per unit of
   reach): a slice is dragged along by the displacements of every coarser scale, so a fine detail
   moves with the blob it belongs to; and an *incoherent* field ``I_k = b N``, blurred at ``grain``
   working pixels (std ``b``, about 0.76 at grain 10) and drawn independently for every scale. The
   displacement of slice ``k`` is ``reach * ((1 - coherence) * I_k + coherence * C_k)``,
   independently in x and y.
3. **Disarray.** Each output pixel takes, from every slice, the slice's value at the pixel's
   displaced position (bilinear interpolation on the slice's grid; positions are clamped to the
   padded plane); the values are summed and clipped to ``[0, 1]``. Random fields are drawn on
   grids as coarse as their blur allows and interpolated to the output pixels.

``coherence`` follows pull request #1 of the Eidolon toolbox, the version Geirhos et al. (2018)
made their stimuli with (their README says so): the displacement field of a scale is
``(1 - c) * incoherent + c * coherent``, so ``coherence = 1`` (Eidolon I) is the purely coherent
disarray (a fine detail moves with the blob it belongs to; the finest and coarsest fields are
correlated), and ``coherence = 0`` (Eidolon III) the purely incoherent one (every scale jitters
independently). The toolbox's unfixed master branch computes ``coherent + c * incoherent``, which
swaps the meaning of the two ends. With ``reach = 0`` nothing moves and the image is returned (up
to float rounding); displacements scale linearly with ``reach``.

**What the level means.** ``reach`` and ``grain`` are in pixels of the toolbox's working image,
whose longest side is 256 pixels (the published stimuli were made at that size, Lanczos-resized,
from the greyscale image): on an image of longest side ``S`` both are multiplied by ``S / 256``,
so a level distorts an image of any size as much, relative to its size, as it did the published
stimuli. Per unit of reach, the displacement field's std is about 0.76 working pixels for the
incoherent part (grain 10) and ``0.12 sqrt(K - k)`` for the coherent part of scale ``k`` (0.41 at
the finest of ``K = 12`` scales, 0.12 at the coarsest), as measured on the toolbox (0.77 and
0.44 / 0.36 / 0.14 at the finest / middle / coarsest scale).

Differences from the factory (not bit-for-bit): the random fields are generated in the Fourier
domain with the toolbox's expected amplitude (the toolbox scales each noise plane by its own
maximum, a random factor of a few per cent); the finest slice keeps the detail below ``sigma_0``
(the factory drops it); coarse slices and fields live on coarse grids (the factory keeps
everything at full resolution); sampling is bilinear rather than nearest-pixel; images keep their
size and the scale ladder follows it (``sigma_max = S / 4``).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from gaplens.core.errors import InputError
from gaplens.robustness import colour
from gaplens.robustness.base import (
    MAX_PIXEL_LEVEL,
    Distortion,
    ImageRandom,
    check_images,
    check_seed_index,
    numeric_level,
    work_dtype,
)

__all__ = ["EIDOLON_GRAIN", "EIDOLON_COHERENCE", "EIDOLON_REACHES", "eidolon", "scale_levels"]

#: Grain (pixels) of the incoherent displacement fields in Geirhos et al. (2018).
EIDOLON_GRAIN = 10.0
#: Coherence of the three Eidolon experiments of Geirhos et al. (2018).
EIDOLON_COHERENCE = {"eidolon_I": 1.0, "eidolon_II": 0.3, "eidolon_III": 0.0}
#: Published reach levels (pixels).
EIDOLON_REACHES = (1, 2, 4, 8, 16, 32, 64, 128)
#: Working size of the Eidolon toolbox (pixels of the longest side): ``reach`` and ``grain`` are in its pixels.
WORKING_SIZE = 256
#: Amplitude of the toolbox's raw noise planes: white Gaussian noise scaled so that its largest
#: absolute value over the 512 x 512 embedding plane is 127.5, i.e. a std of 127.5 / E[max |N|]
#: (E[max |N|] = 4.75 over 512^2 samples). The planes are blurred (unit-sum Gaussian) and not
#: normalised again, so a field blurred at ``s`` pixels has std ``A / (2 sqrt(pi) s)``.
_TOOLBOX_NOISE_STD = 127.5 / 4.75
_SIGMA_MIN = 1 / math.sqrt(2)
_SIGMA_FACTOR = math.sqrt(2)
#: Images processed together (bounds the memory of the random fields).
_CHUNK = 16


def scale_levels(size: int) -> tuple[list[float], float]:
    """``(sigmas, sigma_max)`` of the scale space of an image whose longest side is ``size`` pixels."""
    sigma_max = size / 4
    count = max(1, math.ceil(2 * math.log2(sigma_max))) if sigma_max > 1 else 1
    return [_SIGMA_MIN * _SIGMA_FACTOR ** k for k in range(count)], sigma_max


def _frequencies_sq(h: int, w: int, dtype: torch.dtype, device: torch.device, half: bool) -> torch.Tensor:
    fy = torch.fft.fftfreq(h, dtype=dtype, device=device)
    fx = (torch.fft.rfftfreq if half else torch.fft.fftfreq)(w, dtype=dtype, device=device)
    return fy.unsqueeze(1) ** 2 + fx.unsqueeze(0) ** 2


def _transfer(freq_sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Fourier transfer function of a Gaussian blur of std ``sigma`` pixels (periodic).

    Values below ``exp(-80)`` are set to zero: they are far below float32 resolution, and as
    subnormal numbers they would slow every later operation on the spectrum down by orders of
    magnitude.
    """
    exponent = -2 * math.pi ** 2 * sigma ** 2 * freq_sq
    return torch.where(exponent > -80, torch.exp(exponent.clamp(min=-80)), 0.0)


def _grid_step(sigma: float) -> int:
    """Spacing of the grid a field blurred at ``sigma`` is drawn on: the largest power of two <= sigma / 2.

    A Gaussian field with at least two grid points per standard deviation has no content near the
    coarse grid's Nyquist frequency (below ``exp(-19)``), so drawing it coarse and interpolating
    bilinearly loses nothing visible and saves most of the random numbers and FFTs.
    """
    return 1 << max(0, int(math.floor(math.log2(sigma / 2)))) if sigma >= 2 else 1


class _FieldMaker:
    """Draws pairs of independent unit-variance Gaussian random fields (x and y displacements).

    A field blurred at ``sigma`` is drawn periodic on a grid of spacing ``step`` that covers the
    output image plus ``4 sigma`` (so its opposite edges are independent); only the output region
    is ever used.
    """

    def __init__(self, rng: ImageRandom, size: tuple[int, int], device: torch.device) -> None:
        self.rng = rng
        self.size = size
        self.device = device
        self._transfers: dict[tuple[int, float], tuple[torch.Tensor, float]] = {}

    def grid(self, step: int, margin: float = 0.0) -> tuple[int, int]:
        """Grid of spacing ``step`` covering the output (plus ``margin`` pixels)."""
        return math.ceil((self.size[0] + margin) / step), math.ceil((self.size[1] + margin) / step)

    def draw(self, sigma: float, step: int) -> torch.Tensor:
        """``(n, 2, h, w)`` fields (x, y) blurred at ``sigma`` pixels on the grid of spacing ``step``.

        White complex Gaussian noise is shaped by the Gaussian's transfer function and
        transformed back: the real and imaginary parts are two independent real fields, each
        scaled to unit variance exactly (sum of the squared transfer over the grid).
        """
        key = (step, sigma)
        if key not in self._transfers:
            h, w = self.grid(step, 4 * sigma)
            transfer = _transfer(_frequencies_sq(h, w, torch.float32, self.device, half=False), sigma / step)
            # E|noise|^2 = 1: each real part has variance sum(transfer^2) / 2
            self._transfers[key] = transfer, math.sqrt(2.0 / float((transfer.double() ** 2).sum()))
        transfer, scale = self._transfers[key]
        noise = self.rng.randn_complex(*transfer.shape)
        field = torch.fft.ifft2(noise * (transfer * scale), norm="forward")
        return torch.stack([field.real, field.imag], dim=1)


def _refine(field: torch.Tensor, factor: int, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of ``(n, 2, h, w)`` fields by ``factor``, cropped to ``size``."""
    if factor > 1:
        field = F.interpolate(field, scale_factor=factor, mode="bilinear", align_corners=False)
    return field[..., : size[0], : size[1]]


def _field_std(sigma: float) -> float:
    """Std of a toolbox noise plane blurred at ``sigma`` working pixels: ``A / (2 sqrt(pi) sigma)``."""
    return _TOOLBOX_NOISE_STD / (2 * math.sqrt(math.pi) * sigma)


def _displacement_fields(rng: ImageRandom, size: tuple[int, int], sigmas: list[float], sigma_max: float,
                         coherence: float, grain: float, device: torch.device):
    """Yield ``(k, fields (n, 2, H, W))`` for the output pixels, coarsest scale first: ``(1-c) I_k + c C_k``.

    Fields are displacements in pixels of the image per unit of reach (reach in working pixels),
    calibrated to the toolbox: every coherent plane has the std of a toolbox plane, ``A / (2 sqrt(pi)
    sigma_k) * sigma_k / sigma_max`` = ``A / (2 sqrt(pi) 64)`` (about 0.12) working pixels whatever
    its scale, and the incoherent field (``grain`` working pixels) ``A / (2 sqrt(pi) grain)`` (about
    0.76 at grain 10). Fields live on the coarsest grid their blur allows; the coherent sum is
    refined (bilinear upsampling) as finer scales are added to it.
    """
    scale = max(size) / WORKING_SIZE  # image pixels per working pixel
    maker = _FieldMaker(rng, size, device)
    grain_px = grain * scale
    grain_step = _grid_step(grain_px)
    plane_std = _field_std(WORKING_SIZE / 4) * scale
    incoherent_std = _field_std(grain) * scale
    coherent, coherent_step = None, 0
    for k in reversed(range(len(sigmas))):
        step = _grid_step(sigmas[k])
        layer = maker.draw(sigmas[k], step) * plane_std
        if coherent is None:
            coherent, coherent_step = layer, step
        else:
            coherent = _refine(coherent, coherent_step // step, layer.shape[-2:]) + layer
            coherent_step = step
        incoherent = maker.draw(grain_px, grain_step) * incoherent_std
        common = min(coherent_step, grain_step)
        # both fields are drawn at every coherence, so eidolon_I, II and III share random numbers
        total = (coherence * _refine(coherent, coherent_step // common, maker.grid(common))
                 + (1 - coherence) * _refine(incoherent, grain_step // common, maker.grid(common)))
        yield k, _refine(total, common, size)


def _spectral_samples(spectrum: torch.Tensor, size: tuple[int, int], step: int) -> torch.Tensor:
    """Samples every ``step`` pixels of the band-limited plane whose ``rfft2`` is ``spectrum`` (plane ``size``).

    The spectrum is cropped to the coarse grid's frequencies and transformed back there: exact for
    content below the coarse Nyquist frequency, which is all there is after a Gaussian blur of at
    least ``2 * step`` pixels.
    """
    if step == 1:
        return torch.fft.irfft2(spectrum, s=size)
    h, w = size[0] // step, size[1] // step
    top, bottom = (h + 1) // 2, h // 2
    rows = torch.cat([spectrum[..., :top, : w // 2 + 1], spectrum[..., spectrum.shape[-2] - bottom:, : w // 2 + 1]],
                     dim=-2)
    return torch.fft.irfft2(rows, s=(h, w)) / step ** 2


def _double(plane: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of samples at spacing ``2s`` onto spacing ``s`` (both axes; edge value held)."""
    for dim in (-2, -1):
        n = plane.shape[dim]
        nxt = torch.cat([plane.narrow(dim, 1, n - 1), plane.narrow(dim, n - 1, 1)], dim=dim)
        pair = torch.stack([plane, (plane + nxt) / 2], dim=dim)  # (..., n, 2, w) or (..., h, n, 2)
        shape = list(plane.shape)
        shape[dim] = 2 * n
        plane = pair.reshape(shape)
    return plane


def _slices(padded: torch.Tensor, sigmas: list[float]):
    """Yield ``(k, slice_k, step_k)`` coarse to fine: a Laplacian-pyramid form of the DOG scale space.

    ``B_k`` (the blur at ``sigma_k``) is sampled every ``step_k`` pixels; slice ``k`` is
    ``B_k - interp(B_{k+1})`` on that grid (the finest is ``x - interp(B_1)``, the coarsest
    ``B_{K-1}``). Bilinear interpolation of each slice onto the pixel grid, summed over the slices,
    gives the image back exactly, and each slice carries the band between ``sigma_k`` and
    ``sigma_{k+1}``.
    """
    size = tuple(padded.shape[-2:])
    spectrum = torch.fft.rfft2(padded)
    freq_sq = _frequencies_sq(*size, padded.dtype, padded.device, half=True)
    coarser, coarser_step = None, 0
    for k in reversed(range(len(sigmas))):
        step = _grid_step(sigmas[k]) if k > 0 else 1
        level = padded if k == 0 else _spectral_samples(spectrum * _transfer(freq_sq, sigmas[k]), size, step)
        if coarser is None:
            yield k, level, step
        else:
            yield k, level - (_double(coarser) if coarser_step > step else coarser), step
        coarser, coarser_step = level, step


def _padding(size: int, step: int) -> tuple[int, int]:
    """Mirror padding ``(before, after)`` of about a quarter of ``size`` per side, the total a multiple of ``step``."""
    total = math.ceil(1.5 * size / step) * step
    return (total - size) // 2, total - size - (total - size) // 2


def _disarray(planes: torch.Tensor, reach: float, coherence: float, grain: float, rng: ImageRandom) -> torch.Tensor:
    """Partially coherent disarray of ``(n, C, H, W)`` planes (the same fields for all C channels)."""
    _, _, h, w = planes.shape
    sigmas, sigma_max = scale_levels(max(h, w))
    top_step = _grid_step(sigmas[-1])
    (top, bottom), (left, right) = _padding(h, top_step), _padding(w, top_step)
    if max(top, bottom) >= h or max(left, right) >= w:
        raise InputError(f"images of size {h}x{w} are too small for the eidolon's mirror padding")
    padded = F.pad(planes, (left, right, top, bottom), mode="reflect")
    hp, wp = padded.shape[-2:]
    # positions of the output pixels in the padded plane (in pixels)
    ys = torch.arange(h, dtype=padded.dtype, device=padded.device) + top
    xs = torch.arange(w, dtype=padded.dtype, device=padded.device) + left
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).unsqueeze(0)
    out = torch.zeros_like(planes)
    fields = _displacement_fields(rng, (h, w), sigmas, sigma_max, coherence, grain, padded.device)
    for (_, field), (_, plane, step) in zip(fields, _slices(padded, sigmas), strict=True):
        # grid_sample coordinates on the slice's grid (its samples lie at multiples of `step` pixels)
        gh, gw = plane.shape[-2:]
        norm = torch.tensor([2.0 / (step * (gw - 1)), 2.0 / (step * (gh - 1))], dtype=padded.dtype,
                            device=padded.device)
        grid = torch.addcmul(base * norm - 1, field.permute(0, 2, 3, 1).to(padded.dtype), norm * reach)
        out += F.grid_sample(plane, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out


def eidolon(images: torch.Tensor, reach: float, coherence: float, grain: float = EIDOLON_GRAIN, seed: int = 0, *,
            index: torch.Tensor | None = None, greyscale_first: bool = True) -> torch.Tensor:
    """Partially coherent disarray of ``(N, 3, H, W)`` images in ``[0, 1]`` (see the module docstring).

    Args:
        reach: displacement strength in working pixels (``>= 0``; 0 leaves the image unchanged): the
            toolbox's reach, for which the longest side is 256 pixels (scaled by ``S / 256``).
        coherence: weight ``c`` of the coherent field, in ``[0, 1]``: the displacement is
            ``(1 - c) * incoherent + c * coherent`` (the paper: 1.0, 0.3, 0.0 for Eidolon I, II, III).
        grain: blur of the incoherent fields in working pixels (``> 0``; the paper uses 10).
        seed, index: per-image random streams, as in :func:`gaplens.robustness.distort`.
        greyscale_first: work on the greyscale image, as the Eidolon Factory and the paper do; with
            ``False`` the three colour channels are displaced by the same fields.

    Returns:
        ``(N, 3, H, W)`` images in ``[0, 1]``, the input's dtype and device; not short-cut at
        ``reach = 0`` (the result is then the input up to float rounding).
    """
    check_images(images)
    for name, value, low in (("reach", reach, 0.0), ("coherence", coherence, 0.0), ("grain", grain, 1e-9)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
            raise InputError(f"{name}={value!r}; expected a finite number >= {low:g}")
    if coherence > 1:
        raise InputError(f"coherence={coherence!r}; expected a weight in [0, 1] (1 = fully coherent, Eidolon I)")
    if min(images.shape[-2:]) < 4:
        raise InputError(f"images of size {images.shape[-2]}x{images.shape[-1]}: eidolons need at least 4x4 pixels")
    if not isinstance(greyscale_first, bool):
        raise InputError(f"greyscale_first={greyscale_first!r}; expected True or False")
    seed, idx = check_seed_index(seed, index, images.shape[0])
    rng = ImageRandom(seed, idx, images.device)
    x = images.to(work_dtype(images.dtype))
    return _apply_eidolon(x, float(reach), float(coherence), float(grain), rng, greyscale_first).to(images.dtype)


def _apply_eidolon(images: torch.Tensor, reach: float, coherence: float, grain: float, rng: ImageRandom,
                   greyscale_first: bool) -> torch.Tensor:
    planes = colour.greyscale(images) if greyscale_first else images
    parts = [_disarray(planes[s:s + _CHUNK], reach, coherence, grain, rng.subset(slice(s, s + _CHUNK)))
             for s in range(0, planes.shape[0], _CHUNK)]
    out = torch.cat(parts).clamp_(0, 1)
    return colour.to_rgb(out) if greyscale_first else out


def _make(name: str, coherence: float) -> Distortion:
    def apply(images: torch.Tensor, level: float, rng: ImageRandom, grain: float = EIDOLON_GRAIN,
              greyscale: bool = True) -> torch.Tensor:
        if isinstance(grain, bool) or not isinstance(grain, (int, float)) or not grain > 0:
            raise InputError(f"grain={grain!r}; expected a positive number of pixels")
        if not isinstance(greyscale, bool):
            raise InputError(f"greyscale={greyscale!r}; expected True or False")
        if min(images.shape[-2:]) < 4:
            raise InputError(f"images of size {images.shape[-2]}x{images.shape[-1]}: eidolons need at least 4x4")
        if level == 0:
            return _reference(images, greyscale=greyscale)
        return _apply_eidolon(images, level, coherence, float(grain), rng, greyscale)

    return Distortion(
        name=name,
        levels=EIDOLON_REACHES,
        description=f"Eidolon partially coherent disarray (Koenderink et al. 2017), coherence {coherence}, "
                    f"grain {EIDOLON_GRAIN:g}, reach L (pixels of a 256 px working image, as the toolbox)",
        apply=apply,
        parse=numeric_level(name, 0.0, MAX_PIXEL_LEVEL, unit=" (reach in pixels)"),
        clean_level=0,
        reference=_reference,
        level_label="reach (pixels at 256 px)",
        options=("grain", "greyscale"),
        random=True,
        chunk_elements=None,  # chunks of _CHUNK images, inside
    )


def _reference(images: torch.Tensor, greyscale: bool = True, **_: object) -> torch.Tensor:
    if not isinstance(greyscale, bool):
        raise InputError(f"greyscale={greyscale!r}; expected True or False")
    return colour.to_rgb(colour.greyscale(images)) if greyscale else images.clone()


EIDOLON_I, EIDOLON_II, EIDOLON_III = (_make(name, c) for name, c in EIDOLON_COHERENCE.items())
