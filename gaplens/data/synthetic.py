"""Synthetic shape/texture images: the embedded default dataset of gaplens.

Every image shows one silhouette (the *shape* cue) filled with one pattern (the *texture* cue)
on a plain, mildly noisy background. Each class owns one shape and one "home" texture; how often
an image's texture is its class's home texture is set by ``texture_agreement``:

- ``texture_agreement=1.0``: texture always matches the class (a texture shortcut exists);
- ``texture_agreement=1/classes``: texture is uniform and independent of the shape (only the
  shape predicts the label, as with stylized images);
- ``conflict=True``: the texture always belongs to another class (cue-conflict stimuli).

``shift=True`` draws from other ranges (smaller objects, finer textures, another palette) for
new-test-set and domain-gap studies. Colours are never class-informative.

Determinism: every random quantity of image ``i`` is a counter-based hash (splitmix64) of
``(seed, start + i, draw id)``, and pixels are computed with exactly rounded operations only
(``+ - * /``, ``sqrt``, ``floor``, comparisons), so an image is a pure function of ``seed``, its
global index and the arguments of :func:`generate`, bit for bit, whatever the batch or chunk it
is computed in: ``generate(10, seed=3).subset(slice(5, None))`` equals
``generate(5, seed=3, start=5)``.

Because the draws are keyed by index and not by the other arguments, two sets with the same
``seed`` and overlapping indices share labels, poses and colours and differ only where the
arguments differ (e.g. only in the texture for ``conflict=True``): that pairs stimuli on
purpose. Use different seeds (or disjoint ``start`` ranges) for training and test sets.

Example:
    >>> from gaplens.data.synthetic import generate
    >>> train = generate(1000, classes=8, texture_agreement=1 / 8, seed=0)
    >>> train.images.shape, train.labels.dtype
    (torch.Size([1000, 3, 64, 64]), torch.int64)
    >>> cue_conflict = generate(200, classes=8, conflict=True, seed=1)
    >>> bool((cue_conflict.texture_labels != cue_conflict.labels).all())
    True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from gaplens.core.errors import InputError

__all__ = ["SHAPE_NAMES", "TEXTURE_NAMES", "SyntheticSet", "generate"]

#: Shape (= class) names, in class order; ``generate(classes=K)`` uses the first ``K``.
SHAPE_NAMES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross", "ring", "crescent", "arrow",
    "hexagon", "rhombus", "heart", "l_shape", "t_shape", "half_disk", "ellipse", "bowtie",
)  # fmt: skip

#: Home texture names, in class order (texture ``k`` is the home texture of class ``k``).
TEXTURE_NAMES: tuple[str, ...] = (
    "stripes45", "dots", "checkerboard", "waves", "crosshatch", "zigzag", "concentric",
    "pink_noise", "bricks", "grid", "grain", "spokes", "spots", "stripes135", "stripes0",
    "stripes90",
)  # fmt: skip

MIN_SIZE = 16
MAX_SIZE = 4096
MAX_CLASSES = len(SHAPE_NAMES)
#: The most images one call makes, and the most memory its tensors may take (images float32,
#: masks bool): larger sets are made in parts with ``start=``.
MAX_IMAGES = 1_000_000
MAX_BYTES = 16 << 30

# Pixels per internal chunk (images x height x width): bounds memory; results do not depend on it.
_CHUNK_PIXELS = 512 * 64 * 64

# Ranges of the per-image draws: normal, shifted.
_RADIUS = {False: (0.25, 0.42), True: (0.15, 0.25)}  # circumradius / image size
_PERIOD = {False: (0.12, 0.19), True: (0.07, 0.10)}  # texture period / sqrt(64 * size)
_MIN_PERIOD_PX = 3.5
_JITTER = math.radians(8.0)  # texture orientation jitter (textures do not rotate with the shape)
# Colours: luminance ranges (mean of R, G, B) and chroma ranges, see _colours.
_PALETTE = {
    False: {"light": (0.72, 0.92), "dark": (0.06, 0.30), "bg": (0.40, 0.60), "chroma": (0.0, 0.22)},
    True: {"light": (0.55, 0.68), "dark": (0.28, 0.42), "bg": (0.04, 0.20), "chroma": (0.22, 0.38)},
}
_NOISE = (0.01, 0.05)  # amplitude of the per-pixel background/foreground noise

# Draw ids: one independent uniform per id and image.
(_D_CLASS, _D_AGREE, _D_OTHER, _D_RADIUS, _D_CX, _D_CY, _D_THETA, _D_PERIOD, _D_PHASE_U,
 _D_PHASE_V, _D_JITTER, _D_TCX, _D_TCY, _D_SWAP, _D_NOISE, _D_SPOKES) = range(16)  # fmt: skip
_D_COLOUR = 32  # 32..40: luminance, chroma, hue of light, dark and background colours
_D_LATTICE = 64  # value-noise lattices
_STREAM_PIXEL = 0x5EED_0F_91C5E15

_U64 = np.uint64
_MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------------------------
# Counter-based random numbers
# --------------------------------------------------------------------------------------------


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64: a bijective avalanche mix of uint64 arrays (any shape)."""
    with np.errstate(over="ignore"):
        z = z + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


def _image_keys(seed: int, index: np.ndarray) -> np.ndarray:
    """Per-image keys, shape ``(N,)`` uint64, from the seed and global image indices."""
    base = _mix(np.array([seed], dtype=np.uint64))
    return _mix(base ^ index.astype(np.uint64))


def _uniform(keys: np.ndarray, draw: int) -> np.ndarray:
    """One uniform float64 in ``[0, 1)`` per key for draw id ``draw``; shape of ``keys``."""
    with np.errstate(over="ignore"):
        h = _mix(keys + _U64(((draw + 1) * 0xD1B54A32D192ED03) & _MASK64))
    return (h >> _U64(11)).astype(np.float64) * 2.0**-53


def _in_range(keys: np.ndarray, draw: int, lo: float, hi: float) -> np.ndarray:
    return lo + (hi - lo) * _uniform(keys, draw)


# --------------------------------------------------------------------------------------------
# Shapes: inside tests in local coordinates (circumradius 1, all shapes inside the unit disk)
# --------------------------------------------------------------------------------------------

Mask = np.ndarray  # bool, (m, H, W)
ShapeFn = Callable[[np.ndarray, np.ndarray], Mask]


def _regular(n: int, phase: float = 0.0) -> ShapeFn:
    """Regular ``n``-gon with circumradius 1 (edge normals at ``phase + (2k + 1) pi / n``)."""
    apothem = math.cos(math.pi / n)
    normals = [
        (math.cos(phase + (2 * k + 1) * math.pi / n), math.sin(phase + (2 * k + 1) * math.pi / n)) for k in range(n)
    ]

    def inside(x: np.ndarray, y: np.ndarray) -> Mask:
        out = np.ones(x.shape, dtype=bool)
        for nx, ny in normals:
            out &= x * nx + y * ny <= apothem
        return out

    return inside


def _convex(x: np.ndarray, y: np.ndarray, vertices: Sequence[tuple[float, float]]) -> Mask:
    """Inside the convex polygon with counter-clockwise ``vertices``."""
    out = np.ones(x.shape, dtype=bool)
    for (ax, ay), (bx, by) in zip(vertices, [*vertices[1:], vertices[0]], strict=True):
        out &= (bx - ax) * (y - ay) - (by - ay) * (x - ax) >= 0
    return out


def _polar(r: float, degrees: float) -> tuple[float, float]:
    return (r * math.cos(math.radians(degrees)), r * math.sin(math.radians(degrees)))


_STAR_OUTER = [_polar(1.0, 90 + 72 * k) for k in range(5)]
_STAR_INNER = [_polar(0.45, 126 + 72 * k) for k in range(5)]


def _circle(x: np.ndarray, y: np.ndarray) -> Mask:
    return x * x + y * y <= 1.0


def _square(x: np.ndarray, y: np.ndarray) -> Mask:
    return np.maximum(np.abs(x), np.abs(y)) <= 0.70


def _star(x: np.ndarray, y: np.ndarray) -> Mask:
    out = _convex(x, y, _STAR_INNER)
    for k in range(5):
        out |= _convex(x, y, [_STAR_INNER[k - 1], _STAR_OUTER[k], _STAR_INNER[k]])
    return out


def _cross(x: np.ndarray, y: np.ndarray) -> Mask:
    ax, ay = np.abs(x), np.abs(y)
    return ((ax <= 0.30) & (ay <= 0.95)) | ((ay <= 0.30) & (ax <= 0.95))


def _ring(x: np.ndarray, y: np.ndarray) -> Mask:
    d2 = x * x + y * y
    return (d2 <= 1.0) & (d2 >= 0.52**2)


def _crescent(x: np.ndarray, y: np.ndarray) -> Mask:
    return (x * x + y * y <= 1.0) & ((x - 0.5) ** 2 + y * y > 0.85**2)


def _arrow(x: np.ndarray, y: np.ndarray) -> Mask:
    shaft = (np.abs(y) <= 0.22) & (x >= -0.95) & (x <= 0.1)
    return shaft | _convex(x, y, [(0.05, -0.6), (0.95, 0.0), (0.05, 0.6)])


def _rhombus(x: np.ndarray, y: np.ndarray) -> Mask:
    return np.abs(x) + 2.0 * np.abs(y) <= 1.0


def _heart(x: np.ndarray, y: np.ndarray) -> Mask:
    hx, hy = 1.25 * x, 1.25 * y + 0.25
    s = hx * hx + hy * hy - 1.0
    return s * s * s - hx * hx * hy * hy * hy <= 0.0


def _l_shape(x: np.ndarray, y: np.ndarray) -> Mask:
    upright = (x >= -0.6) & (x <= -0.15) & (np.abs(y) <= 0.7)
    foot = (x >= -0.6) & (x <= 0.6) & (y >= 0.25) & (y <= 0.7)
    return upright | foot


def _t_shape(x: np.ndarray, y: np.ndarray) -> Mask:
    bar = (np.abs(x) <= 0.7) & (y >= -0.7) & (y <= -0.25)
    stem = (np.abs(x) <= 0.22) & (y >= -0.7) & (y <= 0.8)
    return bar | stem


def _half_disk(x: np.ndarray, y: np.ndarray) -> Mask:
    return (x * x + (y + 0.2) ** 2 <= 0.95**2) & (y >= -0.2)


def _ellipse(x: np.ndarray, y: np.ndarray) -> Mask:
    return x * x + 4.0 * y * y <= 1.0


def _bowtie(x: np.ndarray, y: np.ndarray) -> Mask:
    ax = np.abs(x)
    return (np.abs(y) <= 0.8 * ax) & (ax <= 0.75)


_SHAPES: tuple[ShapeFn, ...] = (
    _circle, _square, _regular(3, math.pi / 2), _star, _cross, _ring, _crescent, _arrow,
    _regular(6), _rhombus, _heart, _l_shape, _t_shape, _half_disk, _ellipse, _bowtie,
)  # fmt: skip


def _local_coords(
    size: int, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in each shape's frame, two ``(m, H, W)`` float32 arrays.

    ``cx, cy, radius`` are in pixels and ``theta`` in radians, each of shape ``(m,)``.
    """
    grid = np.arange(size, dtype=np.float32) + np.float32(0.5)
    cos = np.array([math.cos(t) for t in theta], dtype=np.float32)[:, None, None]
    sin = np.array([math.sin(t) for t in theta], dtype=np.float32)[:, None, None]
    inv = (1.0 / radius).astype(np.float32)[:, None, None]
    dx = (grid[None, None, :] - cx.astype(np.float32)[:, None, None]) * inv
    dy = (grid[None, :, None] - cy.astype(np.float32)[:, None, None]) * inv
    return dx * cos + dy * sin, dy * cos - dx * sin


def _shape_masks(
    shapes: np.ndarray,
    size: int,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
    theta: np.ndarray,
) -> np.ndarray:
    """Silhouettes, bool ``(m, H, W)``, of shape ids ``shapes`` ``(m,)`` at the given poses."""
    masks = np.zeros((len(shapes), size, size), dtype=bool)
    for c in np.unique(shapes):
        sel = np.flatnonzero(shapes == c)
        x, y = _local_coords(size, cx[sel], cy[sel], radius[sel], theta[sel])
        masks[sel] = _SHAPES[int(c)](x, y)
    return masks


# --------------------------------------------------------------------------------------------
# Textures: t in [0, 1] (mix between two colours) from texture coordinates in periods
# --------------------------------------------------------------------------------------------


@dataclass
class _TexCtx:
    """Per-image texture parameters of one group of ``m`` images (arrays ``(m, 1, 1)``)."""

    u: np.ndarray  # (m, H, W) texture coordinate along x, in periods
    v: np.ndarray  # (m, H, W) texture coordinate along y, in periods
    period: np.ndarray  # period in pixels
    cu: np.ndarray  # a centre (concentric, spokes) in texture coordinates
    cv: np.ndarray
    keys: np.ndarray  # (m,) image keys, for noise lattices
    size: int
    grain: np.ndarray  # (m, H, W) per-pixel uniforms
    spokes: np.ndarray  # number of spokes


def _frac(s: np.ndarray) -> np.ndarray:
    return s - np.floor(s)


def _tri(s: np.ndarray) -> np.ndarray:
    """Distance of ``s`` from the nearest integer + 1/2, in ``[0, 1/2]`` (a triangle wave)."""
    return np.abs(_frac(s) - np.float32(0.5))


def _wave(s: np.ndarray) -> np.ndarray:
    """A smooth sine-like wave of period 1 in ``[-1, 1]`` (piecewise parabola, exact ops only)."""
    h = _frac(2.0 * s)
    sign = np.where(_frac(s) < 0.5, np.float32(1.0), np.float32(-1.0))
    return sign * 4.0 * h * (1.0 - h)


def _soft(value: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Threshold ``value > 0`` with a linear ramp one unit of ``1 / scale`` wide (anti-aliasing)."""
    return np.clip(0.5 + value * scale, 0.0, 1.0)


def _stripes(angle_degrees: float) -> Callable[[_TexCtx], np.ndarray]:
    c = math.cos(math.radians(angle_degrees))
    s = math.sin(math.radians(angle_degrees))

    def texture(t: _TexCtx) -> np.ndarray:
        return _soft(0.25 - _tri(t.u * c + t.v * s), t.period)

    return texture


def _dots(t: _TexCtx) -> np.ndarray:
    du, dv = _frac(t.u) - 0.5, _frac(t.v) - 0.5
    return _soft(0.3 - np.sqrt(du * du + dv * dv), t.period)


def _checkerboard(t: _TexCtx) -> np.ndarray:
    a, b = _soft(0.25 - _tri(t.u), t.period), _soft(0.25 - _tri(t.v), t.period)
    return a + b - 2.0 * a * b


def _waves(t: _TexCtx) -> np.ndarray:
    return _soft(0.25 - _tri(t.v + 0.45 * _wave(t.u / 2.2)), t.period)


def _crosshatch(t: _TexCtx) -> np.ndarray:
    r = math.sqrt(0.5)
    lines = np.maximum(_tri((t.u + t.v) * r), _tri((t.u - t.v) * r))
    return _soft(lines - 0.36, t.period)


def _zigzag(t: _TexCtx) -> np.ndarray:
    return _soft(0.25 - _tri(t.u + 0.5 * (4.0 * _tri(t.v / 1.6) - 1.0)), t.period)


def _concentric(t: _TexCtx) -> np.ndarray:
    du, dv = t.u - t.cu, t.v - t.cv
    return _soft(0.25 - _tri(np.sqrt(du * du + dv * dv)), t.period)


def _value_noise(t: _TexCtx, cell: np.ndarray, octave: int) -> np.ndarray:
    """Smooth value noise in ``[-1, 1]``, ``(m, H, W)``; ``cell`` ``(m,)`` lattice spacing (px).

    Lattice values are hashed from (image key, octave, lattice point), so they do not depend on
    which other images share the batch.
    """
    m, size = len(t.keys), t.size
    cell = np.maximum(cell, 1.5)
    n = int(math.ceil(size / float(cell.min()))) + 2
    grid = np.arange(size, dtype=np.float64) + 0.5
    offset = _uniform(t.keys, _D_LATTICE + 2 * octave)[:, None]
    offset_y = _uniform(t.keys, _D_LATTICE + 2 * octave + 1)[:, None]
    fx = grid[None, :] / cell[:, None] + offset  # (m, W), lattice coordinates in [0, n - 1)
    fy = grid[None, :] / cell[:, None] + offset_y
    ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    wx, wy = (fx - ix).astype(np.float32), (fy - iy).astype(np.float32)
    wx, wy = wx * wx * (3.0 - 2.0 * wx), wy * wy * (3.0 - 2.0 * wy)  # smoothstep
    point = (np.arange(n, dtype=np.uint64)[:, None] << _U64(16)) + np.arange(n, dtype=np.uint64)
    okey = _mix(t.keys ^ _U64((_D_LATTICE + octave) * 0x2545F4914F6CDD1D & _MASK64))
    lattice = _mix(okey[:, None, None] + point[None])  # (m, n, n), rows = y
    lattice = (lattice >> _U64(40)).astype(np.float32) * np.float32(2.0**-23) - 1.0
    rows = np.arange(m)[:, None, None]
    lat_y = np.arange(n)[None, :, None]
    left = lattice[rows, lat_y, ix[:, None, :]]  # (m, n, W): interpolate along x first
    along_x = left + (lattice[rows, lat_y, ix[:, None, :] + 1] - left) * wx[:, None, :]
    top = along_x[rows, iy[:, :, None], np.arange(size)[None, None, :]]
    bottom = along_x[rows, iy[:, :, None] + 1, np.arange(size)[None, None, :]]
    return top + (bottom - top) * wy[:, :, None]


def _pink_noise(t: _TexCtx) -> np.ndarray:
    """Fractal value noise with amplitude ~ 1/f (power spectrum ~ 1/f^2)."""
    period = t.period[:, 0, 0].astype(np.float64)
    total = np.zeros(t.u.shape, dtype=np.float32)
    for octave, (scale, amp) in enumerate([(1.0, 1.0), (0.5, 0.5), (0.25, 0.25)]):
        total += np.float32(amp) * _value_noise(t, period * scale, octave)
    return np.clip(0.5 + 1.2 * total, 0.0, 1.0)


def _bricks(t: _TexCtx) -> np.ndarray:
    row = np.floor(t.v)
    parity = row - 2.0 * np.floor(0.5 * row)
    joint_h = _tri(t.v) - 0.40  # > 0 on horizontal mortar lines (0.2 period thick)
    joint_v = 2.0 * (_tri(0.5 * t.u + 0.5 * parity) - 0.45)  # vertical joints, bricks 2 long
    return _soft(np.maximum(joint_h, joint_v), t.period)


def _grid(t: _TexCtx) -> np.ndarray:
    return _soft(np.maximum(_tri(t.u), _tri(t.v)) - 0.38, t.period)


def _grain(t: _TexCtx) -> np.ndarray:
    return np.clip(0.5 + 1.6 * (t.grain - 0.5), 0.0, 1.0)


def _atan2(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Angle of ``(x, y)`` in turns, in ``[0, 1)``, within ~1e-5 turns (exact ops only)."""
    ax, ay = np.abs(x), np.abs(y)
    z = np.minimum(ax, ay) / np.maximum(np.maximum(ax, ay), np.float32(1e-12))
    z2 = z * z  # atan(z) / (2 pi) for z in [0, 1], odd polynomial fit
    a = z * (0.15913638 + z2 * (-0.05261656 + z2 * (0.02887893 + z2 * (-0.01387417 + z2 * 0.00348032))))
    a = np.where(ay > ax, 0.25 - a, a)
    a = np.where(x < 0, 0.5 - a, a)
    a = np.where(y < 0, 1.0 - a, a)
    return a - np.floor(a)


def _spokes(t: _TexCtx) -> np.ndarray:
    du, dv = t.u - t.cu, t.v - t.cv
    radius_px = np.sqrt(du * du + dv * dv) * t.period
    # ramp one pixel wide at the local arc length, blurred to grey at the centre
    scale = np.maximum(radius_px * (2.0 * math.pi) / t.spokes, 1.0)
    return _soft(0.25 - _tri(_atan2(dv, du) * t.spokes), scale)


def _spots(t: _TexCtx) -> np.ndarray:
    period = t.period[:, 0, 0].astype(np.float64)
    n = _value_noise(t, 0.7 * period, 0) + 0.35 * _value_noise(t, 0.35 * period, 1)
    return _soft(n, np.float32(4.0))


_TEXTURES: tuple[Callable[[_TexCtx], np.ndarray], ...] = (
    _stripes(45), _dots, _checkerboard, _waves, _crosshatch, _zigzag, _concentric, _pink_noise,
    _bricks, _grid, _grain, _spokes, _spots, _stripes(135), _stripes(0), _stripes(90),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------


def _colours(keys: np.ndarray, draw: int, lum: tuple[float, float], chroma: tuple[float, float]):
    """RGB colours ``(m, 3)`` float32 with mean (luminance) in ``lum`` and a random hue.

    The colour is ``luminance + chroma * e(hue)``, with ``e`` a unit vector orthogonal to grey,
    clipped to ``[0, 1]``.
    """
    lightness = _in_range(keys, draw, *lum)
    amount = _in_range(keys, draw + 1, *chroma)
    hue = _uniform(keys, draw + 2) * (2.0 * math.pi)
    e1 = np.array([1.0, -1.0, 0.0]) / math.sqrt(2.0)
    e2 = np.array([1.0, 1.0, -2.0]) / math.sqrt(6.0)
    cos = np.array([math.cos(h) for h in hue])
    sin = np.array([math.sin(h) for h in hue])
    rgb = lightness[:, None] + amount[:, None] * (cos[:, None] * e1 + sin[:, None] * e2)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


@dataclass(repr=False, eq=False)
class SyntheticSet:
    """A batch of synthetic shape/texture images; a ``torch.utils.data.Dataset``.

    Attributes:
        images: ``(N, 3, size, size)`` float32 in ``[0, 1]``.
        labels: ``(N,)`` int64, the class = the shape class.
        shape_labels: ``(N,)`` int64, same as ``labels``.
        texture_labels: ``(N,)`` int64, the class whose home texture fills the shape.
        masks: ``(N, 1, size, size)`` bool, the silhouette (ground-truth object mask).
        class_names: shape names, one per class (``SHAPE_NAMES[:classes]``).
        texture_names: home texture names, one per class (``TEXTURE_NAMES[:classes]``).
        seed, start, texture_agreement, conflict, shift: the arguments of :func:`generate`.
        index: ``(N,)`` int64 global image indices (``start + i`` when generated; kept by
            :meth:`subset`), a stable image id.
    """

    images: torch.Tensor
    labels: torch.Tensor
    shape_labels: torch.Tensor
    texture_labels: torch.Tensor
    masks: torch.Tensor
    class_names: list[str]
    texture_names: list[str]
    seed: int
    start: int
    texture_agreement: float
    conflict: bool
    shift: bool | float
    index: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """``(image (3, size, size) float32, label int)`` of image ``i``."""
        return self.images[i], int(self.labels[i])

    def subset(self, index: int | slice | Sequence[int] | torch.Tensor | np.ndarray) -> SyntheticSet:
        """The images selected by ``index`` (int, slice, integer indices or a bool mask ``(N,)``).

        Metadata (``seed``, ``start``, ...) is kept; ``index`` tells which images were kept.
        """
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            index = [int(index)]
        if isinstance(index, np.ndarray):
            index = torch.from_numpy(index)
        if not isinstance(index, (slice, torch.Tensor)):
            index = torch.as_tensor(list(index), dtype=torch.int64)
        if isinstance(index, torch.Tensor) and index.dtype != torch.bool:
            index = index.to(torch.int64).reshape(-1)
        try:
            return SyntheticSet(
                images=self.images[index],
                labels=self.labels[index],
                shape_labels=self.shape_labels[index],
                texture_labels=self.texture_labels[index],
                masks=self.masks[index],
                class_names=list(self.class_names),
                texture_names=list(self.texture_names),
                seed=self.seed,
                start=self.start,
                texture_agreement=self.texture_agreement,
                conflict=self.conflict,
                shift=self.shift,
                index=self.index[index],
            )
        except IndexError as err:
            raise InputError(
                f"index: expected indices into a set of {len(self)} images, got {index!r} ({err})"
            ) from err

    def __repr__(self) -> str:
        size = int(self.images.shape[-1]) if self.images.ndim == 4 else 0
        return (
            f"SyntheticSet(n={len(self)}, classes={len(self.class_names)}, size={size}, "
            f"seed={self.seed}, start={self.start}, texture_agreement={self.texture_agreement}, "
            f"conflict={self.conflict}, shift={self.shift})"
        )


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name}: expected an integer, got {value!r}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise InputError(f"{name}: expected an integer {bound}, got {value}")
    return value


def _check_shift(value: object) -> bool | float:
    """``shift`` as given: a bool, or a float strength in [0, 1] (0.0/1.0 are kept as floats)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:  # also rejects NaN
        raise InputError(f"shift: expected True, False or a strength in [0, 1], got {value!r}")
    return float(value)


def _lerp_range(ranges: dict, strength: float) -> tuple[float, float]:
    """A range ``strength`` of the way from the normal (False) to the shifted (True) one."""
    if strength in (0.0, 1.0):
        return ranges[bool(strength)]
    (a0, b0), (a1, b1) = ranges[False], ranges[True]
    return (a0 + strength * (a1 - a0), b0 + strength * (b1 - b0))


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def generate(
    n: int,
    classes: int = 8,
    size: int = 64,
    texture_agreement: float = 1.0,
    conflict: bool = False,
    shift: bool | float = False,
    seed: int = 0,
    start: int = 0,
) -> SyntheticSet:
    """Generate ``n`` shape/texture images, deterministically.

    Args:
        n: number of images, ``0 <= n <= 1_000_000``, and at most 16 GiB of tensors
            (``n * size**2 * 13`` bytes: 320k images of 64 px); make more in parts with ``start``.
        classes: number of classes ``K``, ``2 <= K <= 16``; class ``k`` is the shape
            ``SHAPE_NAMES[k]`` with home texture ``TEXTURE_NAMES[k]``. Labels are uniform.
        size: image height and width in pixels, ``>= 16``. Objects scale with ``size``; texture
            periods with ``sqrt(64 * size)`` (7.7-12.2 px at 64, 5.4-8.6 px at 32, at least 3.5
            px) so that textures stay recognisable on small images.
        texture_agreement: probability ``p`` in ``[0, 1]`` that an image's texture is its class's
            home texture; otherwise the texture of a uniformly drawn *other* class. ``p = 1/K``
            makes the texture uniform and independent of the shape.
        conflict: cue-conflict set: the texture class is always different from the shape class
            (uniform over the other ``K - 1``); ``texture_agreement`` is then ignored.
        shift: draw from shifted ranges (circumradius 0.15-0.25 of the image instead of
            0.25-0.42; texture periods 0.07-0.10 instead of 0.12-0.19 of ``sqrt(64 * size)``
            px; a dark background; lower-contrast, more saturated object colours). A number
            ``s`` in ``[0, 1]`` is the strength of the shift: every range is interpolated
            linearly, ``s`` of the way from the normal to the shifted one (``True`` = 1,
            ``False`` = 0), so a domain gap can be dialled from a near-copy of the test
            distribution (Recht et al.'s setting) to a full shift.
        seed: random seed, ``0 <= seed < 2**64``.
        start: global index of the first image: image ``i`` of the result is image ``start + i``
            of the infinite sequence defined by the seed and the other arguments.

    Returns:
        A :class:`SyntheticSet` with ``images (n, 3, size, size)`` float32 in ``[0, 1]``,
        ``labels``/``shape_labels``/``texture_labels`` ``(n,)`` int64 and ``masks
        (n, 1, size, size)`` bool, on the CPU.

    Raises:
        InputError: an argument is out of range or of the wrong type.
    """
    n = _check_int("n", n, 0, MAX_IMAGES)
    classes = _check_int("classes", classes, 2, MAX_CLASSES)
    size = _check_int("size", size, MIN_SIZE, MAX_SIZE)
    needed = n * size * size * (3 * 4 + 1)
    if needed > MAX_BYTES:
        raise InputError(
            f"n: {n} images of {size}x{size} px would take {needed / (1 << 30):.1f} GiB (the limit is "
            f"{MAX_BYTES >> 30} GiB); make the set in parts with start=, or use fewer or smaller images"
        )
    seed = _check_int("seed", seed, 0, (1 << 64) - 1)
    start = _check_int("start", start, 0, (1 << 62))
    conflict = _check_bool("conflict", conflict)
    shift = _check_shift(shift)
    if isinstance(texture_agreement, bool) or not isinstance(texture_agreement, numbers.Real):
        raise InputError(f"texture_agreement: expected a number in [0, 1], got {texture_agreement!r}")
    texture_agreement = float(texture_agreement)
    if not 0.0 <= texture_agreement <= 1.0:  # also rejects NaN
        raise InputError(f"texture_agreement: expected a number in [0, 1], got {texture_agreement}")

    images = torch.empty((n, 3, size, size), dtype=torch.float32)
    masks = torch.empty((n, 1, size, size), dtype=torch.bool)
    shape_labels = torch.empty(n, dtype=torch.int64)
    texture_labels = torch.empty(n, dtype=torch.int64)
    chunk = max(1, _CHUNK_PIXELS // (size * size))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        index = np.arange(start + lo, start + hi, dtype=np.uint64)
        img, msk, shp, tex = _render(seed, index, classes, size, texture_agreement, conflict, shift)
        images[lo:hi] = torch.from_numpy(img)
        masks[lo:hi, 0] = torch.from_numpy(msk)
        shape_labels[lo:hi] = torch.from_numpy(shp)
        texture_labels[lo:hi] = torch.from_numpy(tex)
    return SyntheticSet(
        images=images,
        labels=shape_labels,
        shape_labels=shape_labels.clone(),
        texture_labels=texture_labels,
        masks=masks,
        class_names=list(SHAPE_NAMES[:classes]),
        texture_names=list(TEXTURE_NAMES[:classes]),
        seed=seed,
        start=start,
        texture_agreement=texture_agreement,
        conflict=conflict,
        shift=shift,
        index=torch.arange(start, start + n, dtype=torch.int64),
    )


def _render(
    seed: int,
    index: np.ndarray,
    classes: int,
    size: int,
    agreement: float,
    conflict: bool,
    shift: bool | float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render the images with global indices ``index`` ``(m,)``.

    Returns images ``(m, 3, size, size)`` float32, masks ``(m, size, size)`` bool, shape and
    texture classes ``(m,)`` int64. Every output row depends only on its own index.
    """
    keys = _image_keys(seed, index)
    m = len(keys)
    strength = float(shift)

    # labels
    shape = np.minimum((_uniform(keys, _D_CLASS) * classes).astype(np.int64), classes - 1)
    other = np.minimum((_uniform(keys, _D_OTHER) * (classes - 1)).astype(np.int64), classes - 2)
    other = (shape + 1 + other) % classes
    home = np.zeros(m, dtype=bool) if conflict else _uniform(keys, _D_AGREE) < agreement
    texture = np.where(home, shape, other)

    # pose: circumradius, centre (whole silhouette inside, 1 px margin), rotation
    radius = _in_range(keys, _D_RADIUS, *_lerp_range(_RADIUS, strength)) * size
    cx = _in_range(keys, _D_CX, 0.0, 1.0) * (size - 2.0 * radius - 2.0) + radius + 1.0
    cy = _in_range(keys, _D_CY, 0.0, 1.0) * (size - 2.0 * radius - 2.0) + radius + 1.0
    theta = _in_range(keys, _D_THETA, 0.0, 2.0 * math.pi)
    masks = _shape_masks(shape, size, cx, cy, radius, theta)

    # per-pixel uniforms: background noise (high bits) and grain texture (low bits)
    pixel = np.arange(size * size, dtype=np.uint64).reshape(size, size)
    with np.errstate(over="ignore"):
        h = _mix((keys ^ _U64(_STREAM_PIXEL))[:, None, None] + pixel * _U64(0x9E3779B97F4A7C15))
    noise = (h >> _U64(40)).astype(np.float32) * np.float32(2.0**-24)
    grain = ((h >> _U64(8)) & _U64(0xFFFFFF)).astype(np.float32) * np.float32(2.0**-24)

    # texture coordinates (image frame, small orientation jitter), in periods
    # periods scale with sqrt(size): 7.7-12.2 px at 64, 5.4-8.6 px at 32, 10.9-17.2 px at 128
    period = _in_range(keys, _D_PERIOD, *_lerp_range(_PERIOD, strength)) * math.sqrt(64.0 * size)
    period = np.maximum(period, _MIN_PERIOD_PX)
    jitter = _in_range(keys, _D_JITTER, -_JITTER, _JITTER)
    phase_u, phase_v = _uniform(keys, _D_PHASE_U), _uniform(keys, _D_PHASE_V)
    # centre of concentric/spokes textures: near the object's centre
    tcx = cx + _in_range(keys, _D_TCX, -0.3, 0.3) * radius
    tcy = cy + _in_range(keys, _D_TCY, -0.3, 0.3) * radius
    spokes = np.floor(_in_range(keys, _D_SPOKES, 8.0, 13.0))
    t = np.empty((m, size, size), dtype=np.float32)
    grid = np.arange(size, dtype=np.float32) + np.float32(0.5 - size / 2)
    jc = np.array([math.cos(a) for a in jitter]) / period  # rotation / period, (m,) float64
    js = np.array([math.sin(a) for a in jitter]) / period
    for k in np.unique(texture):
        sel = np.flatnonzero(texture == k)
        cos = jc[sel].astype(np.float32)[:, None, None]
        sin = js[sel].astype(np.float32)[:, None, None]
        xs, ys = grid[None, None, :], grid[None, :, None]
        u = xs * cos + ys * sin + phase_u[sel].astype(np.float32)[:, None, None]
        v = ys * cos - xs * sin + phase_v[sel].astype(np.float32)[:, None, None]
        # the texture centre in the same coordinates
        dcx, dcy = tcx[sel] - size / 2, tcy[sel] - size / 2
        ctx = _TexCtx(
            u=u,
            v=v,
            period=period[sel].astype(np.float32)[:, None, None],
            cu=(dcx * jc[sel] + dcy * js[sel] + phase_u[sel]).astype(np.float32)[:, None, None],
            cv=(dcy * jc[sel] - dcx * js[sel] + phase_v[sel]).astype(np.float32)[:, None, None],
            keys=keys[sel],
            size=size,
            grain=grain[sel],
            spokes=spokes[sel].astype(np.float32)[:, None, None],
        )
        t[sel] = _TEXTURES[int(k)](ctx)

    # colours: light and dark texture colours (polarity random), background
    pal = {key: _lerp_range({False: _PALETTE[False][key], True: _PALETTE[True][key]}, strength)
           for key in _PALETTE[False]}
    light = _colours(keys, _D_COLOUR, pal["light"], pal["chroma"])
    dark = _colours(keys, _D_COLOUR + 3, pal["dark"], pal["chroma"])
    bg = _colours(keys, _D_COLOUR + 6, pal["bg"], pal["chroma"])
    swap = (_uniform(keys, _D_SWAP) < 0.5)[:, None]
    col1, col0 = np.where(swap, dark, light), np.where(swap, light, dark)
    amp = _in_range(keys, _D_NOISE, *_NOISE).astype(np.float32)[:, None, None, None]

    t4 = t[:, None]
    obj = col0[:, :, None, None] + (col1 - col0)[:, :, None, None] * t4
    img = np.where(masks[:, None], obj, bg[:, :, None, None])
    img += amp * (2.0 * noise[:, None] - 1.0)
    np.clip(img, 0.0, 1.0, out=img)
    return img.astype(np.float32, copy=False), masks, shape, texture
