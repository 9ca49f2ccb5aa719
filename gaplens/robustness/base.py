"""The distortion registry, ``distort``, and the helpers every distortion shares.

A distortion is a batched torch function of ``(N, 3, H, W)`` images in ``[0, 1]`` and one level,
registered in :data:`DISTORTIONS` with its published levels (Geirhos et al. 2018). Randomness is
drawn per image: image ``i`` gets its own ``torch.Generator`` seeded from ``(seed, index[i])``,
where ``index`` holds the images' global ids (default ``0..N-1``). Image ``i``'s result therefore
depends only on the image, the level, ``seed`` and ``index[i]``: splitting a set into batches
(and passing each batch's ids) gives the same images as one big batch, and a resumed sweep
distorts every image exactly as the interrupted one did. The streams are those of the images'
device type: the same seed gives the same images on every run on CPU, but not the same images
on CPU and on CUDA.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gaplens.core.errors import InputError
from gaplens.core.registry import Registry

__all__ = [
    "Distortion", "DISTORTIONS", "distort", "clean", "ImageRandom", "check_images", "select_distortions",
    "resolve_levels", "check_options", "level_key",
]

Level = float | int | str

#: Values per chunk in which ``distort`` applies a distortion (about 2 MB of float32).
CHUNK_ELEMENTS = 1 << 19


@dataclass(frozen=True)
class Distortion:
    """One registered distortion.

    Attributes:
        name: registry name.
        levels: the published levels, in the paper's order (the undistorted level first).
        description: one line: what the distortion does.
        apply: ``apply(images, level, rng, **options) -> images``; ``images`` float32/float64
            ``(N, 3, H, W)`` in ``[0, 1]``, ``level`` already parsed, ``rng`` an
            :class:`ImageRandom` (``None`` unless ``random``).
        parse: turns a user level (a number, a numeric string, a level name) into the canonical
            level, or raises :class:`InputError`.
        clean_level: the level at which the output is the undistorted reference (see ``reference``).
        reference: ``reference(images, **options) -> images``: what the distortion leaves of an
            image at ``clean_level`` (the identity, the greyscale image, the greyscale image at
            30% contrast, ...). ``distort(x, name, clean_level)`` equals ``reference(x)``.
        level_label: axis label of the level (with units) for figures.
        options: names of the keyword options ``apply`` accepts.
        batch_dependent: the output of one image depends on the other images of the batch
            (power equalisation without ``target_spectrum=``).
        random: draws random numbers (uses ``seed`` and ``index``).
        prepare: ``prepare(images, level, **options) -> options``, run once on the whole batch
            before it is cut into chunks (computes what depends on the batch).
        chunk_elements: ``apply`` is called on chunks of about this many values (images are never
            split); ``None``: on the whole batch.
    """

    name: str
    levels: tuple[Level, ...]
    description: str
    apply: Callable[..., torch.Tensor]
    parse: Callable[[object], Level]
    clean_level: Level
    reference: Callable[..., torch.Tensor]
    level_label: str = "level"
    options: tuple[str, ...] = ()
    batch_dependent: bool = False
    random: bool = False
    prepare: Callable[..., dict] | None = None
    chunk_elements: int | None = CHUNK_ELEMENTS

    def __call__(self, images: torch.Tensor, level: object, seed: int = 0, **kwargs) -> torch.Tensor:
        return distort(images, self.name, level, seed=seed, **kwargs)


#: name -> :class:`Distortion`; the 12 distortions of Geirhos et al. (2018) register on import.
DISTORTIONS: Registry[Distortion] = Registry("distortion")


def register(distortion: Distortion) -> Distortion:
    """Add ``distortion`` to :data:`DISTORTIONS` under its name."""
    return DISTORTIONS.register(distortion.name)(distortion)


# -- levels -------------------------------------------------------------------------------------

#: The largest level in pixels (a filter's std, an eidolon's reach): far beyond the published
#: levels (40 and 128 px) and any image gaplens reads, and small enough that the filter fits in
#: memory (low_pass at 1e12 asked for a 64 TB kernel).
MAX_PIXEL_LEVEL = 1000.0


def numeric_level(name: str, low: float = 0.0, high: float = math.inf, allow_inf: bool = False,
                  unit: str = "") -> Callable[[object], float]:
    """A parser for a numeric level in ``[low, high]`` (numeric strings such as ``"0.3"``/``"inf"`` too).

    ``allow_inf``: ``+inf`` is accepted as well, whatever ``high`` is.
    """

    def parse(level: object) -> float:
        if isinstance(level, bool):
            raise InputError(f"level={level!r} for {name}: expected a number{unit}")
        try:
            value = float(level)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(f"level={level!r} for {name}: expected a number{unit} "
                             f"in [{low}, {high}]") from None
        if allow_inf and value == math.inf:
            return value
        if math.isnan(value) or not low <= value <= high:
            raise InputError(f"level={level!r} for {name}: expected a number{unit} in [{low}, {high}]")
        return value

    return parse


def named_level(name: str, names: Sequence[str]) -> Callable[[object], str]:
    """A parser for a level that is one of ``names``."""

    def parse(level: object) -> str:
        if not isinstance(level, str) or level not in names:
            raise InputError(f"level={level!r} for {name}: expected one of {list(names)}")
        return level

    return parse


# -- images -------------------------------------------------------------------------------------


def check_images(images: object, name: str = "images") -> torch.Tensor:
    """Validate ``(N, 3, H, W)`` floating images in ``[0, 1]`` and return them."""
    if not isinstance(images, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor (N, 3, H, W), got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"{name} have shape {tuple(images.shape)}; expected (N, 3, H, W)")
    if not images.is_floating_point():
        raise InputError(f"{name} have dtype {images.dtype}; expected floating images in [0, 1]")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise InputError(f"{name} have shape {tuple(images.shape)}; expected at least one non-empty image")
    low, high = torch.aminmax(images)
    if not (float(low) >= 0.0 and float(high) <= 1.0):
        raise InputError(f"{name} have values in [{float(low):.4g}, {float(high):.4g}]; expected [0, 1] "
                         "(NaN is not allowed)")
    return images


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating type is computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class ImageRandom:
    """Per-image random streams: image ``i`` draws from a generator seeded by ``(seed, index[i])``.

    Draws are made in float32 (then cast), image by image, so an image's numbers do not depend on
    the batch it is in, nor on the dtype of the images.
    """

    def __init__(self, seed: int, index: torch.Tensor, device: torch.device) -> None:
        self.seed = seed
        self.index = index
        self.device = device
        self._generators: list[torch.Generator] | None = None

    @property
    def generators(self) -> list[torch.Generator]:
        if self._generators is None:
            self._generators = [torch.Generator(device=self.device).manual_seed(s)
                                for s in image_seeds(self.seed, self.index)]
        return self._generators

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def subset(self, rows: slice) -> ImageRandom:
        """The streams of images ``rows`` (continuing where they are)."""
        sub = ImageRandom(self.seed, self.index[rows], self.device)
        sub._generators = self.generators[rows]
        return sub

    def rand(self, *shape: int) -> torch.Tensor:
        """``(N, *shape)`` float32 uniform numbers in ``[0, 1)``."""
        return torch.stack([torch.rand(shape, generator=g, device=self.device) for g in self.generators])

    def randn_complex(self, *shape: int) -> torch.Tensor:
        """``(N, *shape)`` complex64 standard complex normals (real and imaginary parts have variance 1/2)."""
        return torch.stack([torch.randn(shape, generator=g, device=self.device, dtype=torch.complex64)
                            for g in self.generators])


def image_seeds(seed: int, index: torch.Tensor) -> list[int]:
    """One 64-bit generator seed per image, mixed from ``(seed, index[i])`` (NumPy's SeedSequence)."""
    return [int(np.random.SeedSequence([seed, int(i)]).generate_state(1, dtype=np.uint64)[0])
            for i in index.tolist()]


def check_seed_index(seed: object, index: object, n: int) -> tuple[int, torch.Tensor]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed={seed!r}; expected a non-negative integer")
    if index is None:
        return int(seed), torch.arange(n)
    idx = torch.as_tensor(index)
    if idx.ndim != 1 or idx.shape[0] != n or idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise InputError(f"index has shape {tuple(idx.shape)} and dtype {idx.dtype}; expected {n} "
                         "non-negative integer image ids, one per image")
    if n and int(idx.min()) < 0:
        raise InputError("index holds negative ids; expected non-negative integer image ids")
    return int(seed), idx.to("cpu", torch.int64)


# -- selecting distortions, levels and options -----------------------------------------------


def select_distortions(spec: str | Sequence[str] = "all") -> list[str]:
    """Distortion names from ``"all"``, ``"all-but:a,b"``, ``"a,b"`` or a list of names (paper order kept
    for ``"all"`` forms, the given order otherwise).

    >>> select_distortions("all-but:uniform_noise,salt_and_pepper")[-1]
    'eidolon_III'
    """
    known = DISTORTIONS.names()
    if isinstance(spec, str):
        text = spec.strip()
        if text == "all":
            return known
        if text.startswith("all-but:"):
            excluded = [s.strip() for s in text[len("all-but:"):].split(",") if s.strip()]
            for name in excluded:
                DISTORTIONS[name]  # noqa: B018  (raises InputError with the nearest names)
            chosen = [n for n in known if n not in excluded]
            if not chosen:
                raise InputError(f"distortions={spec!r} excludes every distortion")
            return chosen
        names = [s.strip() for s in text.split(",") if s.strip()]
    else:
        names = list(spec)
    if not names:
        raise InputError(f"distortions={spec!r}: expected 'all', 'all-but:NAME,...', or names")
    for name in names:
        if not isinstance(name, str):
            raise InputError(f"distortions: expected names (str), got {name!r}")
        DISTORTIONS[name]  # noqa: B018
    if len(set(names)) != len(names):
        raise InputError(f"distortions={spec!r} names a distortion twice")
    return names


def level_key(level: object) -> str:
    """Canonical text of a parsed level, used in unit keys (``0.3``, ``inf``, ``greyscale``, ``90``)."""
    if isinstance(level, float):
        return "inf" if math.isinf(level) else repr(level)
    return str(level)


def resolve_levels(names: list[str], levels: str | Mapping[str, Sequence[object]]) -> dict[str, list[object]]:
    """Parsed levels per distortion: ``"published"``, or a dict name -> levels (others get the published ones)."""
    if isinstance(levels, str):
        if levels != "published":
            raise InputError(f"levels={levels!r}; expected 'published' or a dict name -> levels")
        return {n: [DISTORTIONS[n].parse(lv) for lv in DISTORTIONS[n].levels] for n in names}
    if not isinstance(levels, Mapping):
        raise InputError(f"levels of type {type(levels).__name__}; expected 'published' or a dict name -> levels")
    extra = sorted(set(levels) - set(names))
    if extra:
        raise InputError(f"levels given for {extra}, which are not among the swept distortions {names}")
    out = {}
    for n in names:
        chosen = levels.get(n, DISTORTIONS[n].levels)
        if isinstance(chosen, (str, bytes)) or not isinstance(chosen, Sequence) or not chosen:
            raise InputError(f"levels[{n!r}]={chosen!r}; expected a non-empty list of levels")
        parsed = [DISTORTIONS[n].parse(lv) for lv in chosen]
        if len({level_key(p) for p in parsed}) != len(parsed):
            raise InputError(f"levels[{n!r}] repeats a level")
        out[n] = parsed
    return out


def check_options(names: list[str], options: Mapping[str, Mapping[str, object]] | None) -> dict[str, dict]:
    """Validate a dict distortion name -> options; returns one (possibly empty) dict per name."""
    if options is None:
        return {n: {} for n in names}
    if not isinstance(options, Mapping):
        raise InputError("options: expected a dict distortion name -> dict of its options")
    extra = sorted(set(options) - set(DISTORTIONS.names()))
    if extra:
        raise InputError(f"options given for unknown distortions {extra}")
    out = {}
    for n in names:
        given = dict(options.get(n, {}))
        unknown = sorted(set(given) - set(DISTORTIONS[n].options))
        if unknown:
            raise InputError(f"options[{n!r}] has unknown option(s) {unknown}; {n} accepts "
                             f"{list(DISTORTIONS[n].options) or 'none'}")
        out[n] = given
    return out



# -- the entry point ----------------------------------------------------------------------------


def distort(images: torch.Tensor, name: str, level: object, seed: int = 0, *,
            index: torch.Tensor | Sequence[int] | None = None, **options: object) -> torch.Tensor:
    """Apply distortion ``name`` at ``level`` to a batch of images.

    Args:
        images: ``(N, 3, H, W)`` floating tensor with values in ``[0, 1]``, on any device.
        name: a registered distortion (``gaplens.robustness.DISTORTIONS.names()``).
        level: one of the distortion's levels; any value of its domain is accepted (e.g. contrast
            ``0.2``), and numeric strings (``"0.3"``, ``"inf"``) are parsed.
        seed: non-negative integer; with ``index`` it fixes every random draw.
        index: the global ids of the images, ``(N,)`` non-negative integers (default
            ``arange(N)``). Image ``i``'s randomness comes from ``(seed, index[i])`` only, so the
            result for an image does not depend on the other images in the batch, and
            ``torch.cat([distort(a, ..., index=ia), distort(b, ..., index=ib)])`` equals
            ``distort(cat([a, b]), ..., index=cat([ia, ib]))``. The exception is
            ``power_equalisation`` with ``target_spectrum="batch_mean"`` (the default for images
            that are not 224 x 224), which uses the batch's mean spectrum
            (``DISTORTIONS[name].batch_dependent``).
        options: the distortion's keyword options (``DISTORTIONS[name].options``), e.g.
            ``grey_mean=`` for the filters, ``target_spectrum=`` for power equalisation.

    Returns:
        ``(N, 3, H, W)`` images in ``[0, 1]`` with the input's dtype and device.

    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> distort(x, "contrast", 0.1).shape
    torch.Size([2, 3, 32, 32])
    """
    d = DISTORTIONS[name]
    check_images(images)
    unknown = sorted(set(options) - set(d.options))
    if unknown:
        raise InputError(f"{name} got unknown option(s) {unknown}; it accepts {list(d.options) or 'none'}")
    parsed = d.parse(level)
    seed, idx = check_seed_index(seed, index, images.shape[0])
    rng = ImageRandom(seed, idx, images.device) if d.random else None
    x = images.to(work_dtype(images.dtype))
    if d.prepare is not None:
        options = d.prepare(x, parsed, **options)
    n = x.shape[0]
    chunk = n if d.chunk_elements is None else max(1, d.chunk_elements // x[0].numel())
    if chunk >= n:
        return d.apply(x, parsed, rng, **options).to(images.dtype)
    # cache-sized chunks: the element-wise work runs on data that stays in the CPU caches
    out = torch.empty_like(images)
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        out[rows] = d.apply(x[rows], parsed, rng.subset(rows) if rng is not None else None, **options)
    return out


def clean(images: torch.Tensor, name: str, **options: object) -> torch.Tensor:
    """What distortion ``name`` leaves of ``images`` at its undistorted level.

    The identity for ``colour``, ``opponent_colour`` and ``rotation`` with ``greyscale=False``;
    the greyscale image for the distortions defined on greyscale images; the greyscale image at
    contrast 0.3 for ``uniform_noise`` and ``salt_and_pepper``. ``distort(x, name,
    DISTORTIONS[name].clean_level)`` equals ``clean(x, name)``.
    """
    d = DISTORTIONS[name]
    check_images(images)
    unknown = sorted(set(options) - set(d.options))
    if unknown:
        raise InputError(f"{name} got unknown option(s) {unknown}; it accepts {list(d.options) or 'none'}")
    x = images.to(work_dtype(images.dtype))
    return d.reference(x, **options).to(images.dtype)
