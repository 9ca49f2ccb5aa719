"""Similarity metrics between attribution maps, as the sanity checks of Adebayo et al. (2018) use them.

Every metric compares two batches of attributions image by image::

    metric(map_a, map_b) -> Tensor (N,)

where ``map_a`` and ``map_b`` are ``(N, C, H, W)`` attributions of the same ``N`` images and the
same ``(H, W)`` (the channel counts may differ: a Grad-CAM map ``(N, 1, H, W)`` against a
gradient ``(N, 3, H, W)``). Before comparison each map is normalized as in the paper:

- ``"abs"`` (:func:`normalize_abs`): the channel sum of ``|a|``, clipped per image at its 99th
  percentile and divided by it, so values lie in ``[0, 1]`` (``render(mode="abs")``);
- ``"signed"`` (:func:`normalize_signed`): the signed channel sum divided by the 99th
  percentile of its absolute value, clipped to ``[-1, 1]`` (``render(mode="diverging")``).

The metrics (registry :data:`METRICS`):

=================  ==========  ================================================================
``spearman_abs``   ``abs``     Spearman rank correlation of the pixels (ties: average ranks, as
                               ``scipy.stats.spearmanr``)
``spearman``       ``signed``  the same on the signed (diverging) maps
``ssim``           ``abs``     SSIM (Wang et al. 2004) of the maps min-max scaled to ``[0, 1]``:
                               Gaussian window (sigma 1.5, truncated at 3.5 sigma: 11 x 11),
                               population covariances, ``data_range=1``, averaged over the
                               pixels whose window lies inside the map, exactly as
                               ``skimage.metrics.structural_similarity(a, b, data_range=1,
                               gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
``hog``            ``abs``     Spearman correlation between the HOG descriptors of the two maps
                               (``skimage.feature.hog``: 9 orientations, 16 x 16-pixel cells,
                               blocks of up to 3 x 3 cells, L2-Hys block normalization)
=================  ==========  ================================================================

Everything runs batched in torch (float64) on the maps' device, without a numpy round trip.
A rank correlation is undefined when one of the two rankings is constant (an all-zero map):
it is reported as ``1.0`` when both rankings are constant and ``0.0`` when only one is, so a
method whose map goes flat after randomization scores "no similarity" instead of NaN.

Each :class:`Metric` splits into ``prepare`` (per map: normalization, ranks, HOG descriptors)
and ``compare`` (per pair), so a reference map compared against many others (the original map
against every randomization step) is prepared once.

>>> import torch
>>> a = torch.rand(2, 3, 32, 32)
>>> spearman_abs(a, a)
tensor([1., 1.], dtype=torch.float64)
>>> ssim(a, -a)  # the abs normalization ignores the sign
tensor([1., 1.], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from gaplens.core.errors import InputError
from gaplens.core.registry import Registry
from gaplens.explain.render import render

__all__ = [
    "METRICS", "Metric", "spearman", "spearman_abs", "ssim", "hog", "normalize_abs", "normalize_signed",
    "rank_correlation", "hog_descriptors", "NORMALIZATIONS",
]

#: The normalizations a metric can ask for.
NORMALIZATIONS = ("abs", "signed")
#: Percentile that is mapped to 1 before comparison (the paper's 99th percentile clip).
PERCENTILE = 99.0
#: SSIM constants of Wang et al. (2004) and skimage's Gaussian window.
SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_TRUNCATE = 0.01, 0.03, 1.5, 3.5
#: HOG settings: orientation bins, cell size in pixels, largest block in cells, block-norm epsilon.
HOG_ORIENTATIONS, HOG_CELL, HOG_BLOCK, HOG_EPS = 9, 16, 3, 1e-5


def _work_dtype(device: torch.device) -> torch.dtype:
    """float64 for the comparisons, except where the device has none (Apple MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def normalize_abs(attr: Tensor) -> Tensor:
    """``(N, 1, H, W)`` in ``[0, 1]``: channel sum of ``|attr|``, clipped at each image's 99th percentile.

    ``attr`` is ``(N, C, H, W)``; the result is float64 (float32 on MPS) on ``attr``'s device.
    """
    return render(attr, mode="abs", percentile=PERCENTILE).to(_work_dtype(attr.device))


def normalize_signed(attr: Tensor) -> Tensor:
    """``(N, 1, H, W)`` in ``[-1, 1]``: signed channel sum over each image's 99th percentile of ``|.|``."""
    return render(attr, mode="diverging", percentile=PERCENTILE).to(_work_dtype(attr.device))


_NORMALIZERS: dict[str, Callable[[Tensor], Tensor]] = {"abs": normalize_abs, "signed": normalize_signed}


# --------------------------------------------------------------------------------------------
# Spearman rank correlation


def average_ranks(values: Tensor) -> Tensor:
    """Row-wise ranks ``1..M`` of ``values`` ``(N, M)``; tied values share their average rank.

    Equals ``scipy.stats.rankdata(row, method="average")`` for every row, computed for all rows
    at once: sort, number the runs of equal values, and give each run the mean of its positions.
    """
    n, m = values.shape
    ordered, order = values.sort(dim=1)
    starts_run = torch.ones_like(ordered, dtype=torch.bool)
    starts_run[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run = starts_run.flatten().cumsum(0) - 1  # global run id; a run never crosses rows
    counts = torch.bincount(run)
    ends = counts.cumsum(0)  # exclusive end of each run, in flat positions
    mean_position = (2 * ends - counts - 1).to(values.dtype) / 2
    offsets = (torch.arange(n, device=values.device, dtype=values.dtype) * m).view(-1, 1)
    sorted_ranks = mean_position[run].view(n, m) - offsets + 1
    return torch.empty_like(sorted_ranks).scatter_(1, order, sorted_ranks)


def _pearson_rows(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise Pearson correlation of ``(N, M)`` tensors; constant rows follow the module's rule."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    ss_a, ss_b = a.square().sum(1), b.square().sum(1)
    flat_a, flat_b = ss_a == 0, ss_b == 0
    # sqrt(ss_a * ss_b) (not sqrt(ss_a) * sqrt(ss_b)): identical rows give exactly 1.0
    value = (a * b).sum(1) / (ss_a * ss_b).sqrt().clamp_min(torch.finfo(a.dtype).tiny)
    value = value.clamp(-1.0, 1.0)
    degenerate = torch.where(flat_a & flat_b, torch.ones_like(value), torch.zeros_like(value))
    return torch.where(flat_a | flat_b, degenerate, value)


def rank_correlation(a: Tensor, b: Tensor) -> Tensor:
    """Spearman correlation between the rows of ``a`` and ``b`` ``(N, M)``: ``(N,)``.

    Matches ``scipy.stats.spearmanr(a[i], b[i]).statistic`` (average ranks for ties); a pair
    where a row is constant gives 1.0 if both rows are constant, else 0.0 (scipy: NaN).
    """
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"rank_correlation needs two (N, M) tensors of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return _pearson_rows(average_ranks(a), average_ranks(b))


def _ranks_of_map(maps: Tensor) -> Tensor:
    return average_ranks(maps.flatten(1))


# --------------------------------------------------------------------------------------------
# SSIM


def _gaussian_window(sigma: float, truncate: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """scipy.ndimage's 1-D Gaussian kernel (radius ``int(truncate * sigma + 0.5)``), normalized to sum 1."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


_BANDS: dict[tuple, Tensor] = {}


def _band(kernel: Tensor, length: int) -> Tensor:
    """``(length, length - k + 1)`` matrix whose column ``j`` holds ``kernel`` (k taps) at rows ``j..j+k-1``.

    Cached per (kernel values, length, dtype, device): the same few matrices serve every comparison.
    """
    key = (tuple(kernel.tolist()), length, kernel.dtype, kernel.device)
    if key not in _BANDS:
        _BANDS[key] = _make_band(kernel, length)
    return _BANDS[key]


def _make_band(kernel: Tensor, length: int) -> Tensor:
    size = kernel.numel()
    out = length - size + 1
    band = kernel.new_zeros(length, out)
    columns = torch.arange(out, device=kernel.device)
    for tap in range(size):
        band[columns + tap, columns] = kernel[tap]
    return band


def _minmax(maps: Tensor) -> Tensor:
    """Each ``(1, H, W)`` map scaled to ``[0, 1]`` by its own minimum and maximum (a flat map: all 0)."""
    flat = maps.flatten(1)
    low = flat.amin(1).view(-1, 1, 1, 1)
    span = (flat.amax(1) - flat.amin(1)).view(-1, 1, 1, 1)
    return torch.where(span > 0, (maps - low) / span.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(maps))


def ssim_index(a: Tensor, b: Tensor, data_range: float = 1.0, sigma: float = SSIM_SIGMA) -> Tensor:
    """Mean SSIM of ``(N, 1, H, W)`` images ``a`` and ``b``: ``(N,)``.

    The statistics are Gaussian-weighted local means, variances and covariance (population
    normalization); the mean is taken over the pixels whose whole window lies inside the image,
    as skimage does (its border padding never reaches those pixels, so no padding is needed).
    Needs ``H, W >= 2 * int(3.5 * sigma + 0.5) + 1`` (11 for ``sigma = 1.5``).
    """
    kernel = _gaussian_window(sigma, SSIM_TRUNCATE, a.dtype, a.device)
    size = kernel.numel()
    if min(a.shape[-2:]) < size:
        raise InputError(f"ssim needs maps of at least {size} x {size} pixels (its Gaussian window), got "
                         f"{a.shape[-2]} x {a.shape[-1]}")
    stats = torch.cat([a, b, a * a, b * b, a * b], dim=1)  # (N, 5, H, W)
    # separable "valid" filtering as two matrix products with banded matrices (fast in float64)
    stats = _band(kernel, a.shape[-2]).T @ stats @ _band(kernel, a.shape[-1])
    ux, uy, uxx, uyy, uxy = stats.unbind(1)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


# --------------------------------------------------------------------------------------------
# HOG


def hog_descriptors(
    maps: Tensor,
    pixels_per_cell: int = HOG_CELL,
    cells_per_block: tuple[int, int] | None = None,
    orientations: int = HOG_ORIENTATIONS,
) -> Tensor:
    """HOG descriptors ``(N, D)`` of single-channel maps ``(N, 1, H, W)``, as ``skimage.feature.hog``.

    Central-difference gradients (zero on the border rows/columns), unsigned orientations in
    ``[0, 180)`` degrees voting with their magnitude into ``orientations`` bins per
    ``pixels_per_cell``-square cell (pixels beyond the last whole cell are ignored), then L2-Hys
    normalization of every block of cells, flattened in skimage's order (block row, block column,
    cell row, cell column, orientation). ``cells_per_block=None`` uses up to 3 x 3 cells
    (skimage's default), fewer where the map has fewer cells.
    """
    if maps.ndim != 4 or maps.shape[1] != 1:
        raise InputError(f"hog_descriptors needs (N, 1, H, W) maps, got {tuple(maps.shape)}")
    n, _, height, width = maps.shape
    rows, cols = height // pixels_per_cell, width // pixels_per_cell
    if rows < 1 or cols < 1:
        raise InputError(f"hog needs maps of at least {pixels_per_cell} x {pixels_per_cell} pixels (one cell), "
                         f"got {height} x {width}")
    block = cells_per_block or (min(HOG_BLOCK, rows), min(HOG_BLOCK, cols))
    if block[0] > rows or block[1] > cols or min(block) < 1:
        raise InputError(f"cells_per_block={block} does not fit the {rows} x {cols} cells of {height} x {width} maps")
    image = maps[:, 0]
    g_row = torch.zeros_like(image)
    g_col = torch.zeros_like(image)
    g_row[:, 1:-1, :] = image[:, 2:, :] - image[:, :-2, :]
    g_col[:, :, 1:-1] = image[:, :, 2:] - image[:, :, :-2]
    magnitude = torch.hypot(g_col, g_row)
    angle = torch.rad2deg(torch.atan2(g_row, g_col)).remainder(180.0)
    # bin i holds [180 i / B, 180 (i + 1) / B); an angle that rounds to 180.0 falls in no bin (as in skimage)
    edges = torch.tensor([180.0 / orientations * (i + 1) for i in range(orientations)], dtype=angle.dtype,
                         device=angle.device)
    bins = torch.bucketize(angle, edges, right=True)
    votes = F.one_hot(bins, orientations + 1)[..., :orientations].to(magnitude.dtype) * magnitude.unsqueeze(-1)
    votes = votes[:, : rows * pixels_per_cell, : cols * pixels_per_cell]
    cells = votes.view(n, rows, pixels_per_cell, cols, pixels_per_cell, orientations).sum((2, 4))
    cells = cells / (pixels_per_cell * pixels_per_cell)
    blocks = cells.permute(0, 3, 1, 2).unfold(2, block[0], 1).unfold(3, block[1], 1)  # (N, B, R', C', br, bc)
    blocks = blocks.permute(0, 2, 3, 4, 5, 1).flatten(3)  # (N, R', C', br * bc * B)
    out = blocks / torch.sqrt(blocks.square().sum(-1, keepdim=True) + HOG_EPS**2)
    out = out.clamp(max=0.2)
    out = out / torch.sqrt(out.square().sum(-1, keepdim=True) + HOG_EPS**2)
    return out.flatten(1)


# --------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class Metric:
    """A similarity metric: ``metric(map_a, map_b) -> (N,)``, split into ``prepare`` and ``compare``.

    Attributes:
        name: registry key.
        normalization: ``"abs"`` or ``"signed"`` (see :data:`NORMALIZATIONS`).
        prepare: normalized maps ``(N, 1, H, W)`` -> what ``compare`` takes (ranks, descriptors).
        compare: two prepared batches -> ``(N,)`` similarities (1 = identical).
        min_size: the smallest map side the metric accepts, in pixels.
        description: one line for help texts and the report.
    """

    name: str
    normalization: str
    prepare: Callable[[Tensor], Tensor]
    compare: Callable[[Tensor, Tensor], Tensor]
    min_size: int = 1
    description: str = ""

    def prepare_raw(self, attr: Tensor) -> Tensor:
        """Normalize raw attributions ``(N, C, H, W)`` and prepare them."""
        return self.prepare(_NORMALIZERS[self.normalization](attr))

    def __call__(self, map_a: Tensor, map_b: Tensor) -> Tensor:
        a, b = check_pair(map_a, map_b)
        if min(a.shape[-2:]) < self.min_size:
            raise InputError(f"metric {self.name!r} needs maps of at least {self.min_size} x {self.min_size} "
                             f"pixels, got {a.shape[-2]} x {a.shape[-1]}")
        return self.compare(self.prepare_raw(a), self.prepare_raw(b))


METRICS: Registry[Metric] = Registry("similarity metric")


def _register(metric: Metric) -> Metric:
    return METRICS.register(metric.name)(metric)


def check_pair(map_a: Tensor, map_b: Tensor) -> tuple[Tensor, Tensor]:
    """Validate two batches of attributions for comparison; ``map_b`` is moved to ``map_a``'s device."""
    for label, value in (("map_a", map_a), ("map_b", map_b)):
        if not isinstance(value, Tensor):
            raise InputError(f"{label} must be a torch.Tensor of shape (N, C, H, W), got {type(value).__name__}")
        if value.ndim != 4 or value.numel() == 0:
            raise InputError(f"{label} has shape {tuple(value.shape)}; expected non-empty (N, C, H, W) attributions")
    if map_a.shape[0] != map_b.shape[0] or map_a.shape[-2:] != map_b.shape[-2:]:
        raise InputError(
            f"map_a {tuple(map_a.shape)} and map_b {tuple(map_b.shape)} must hold the same number of images of "
            "the same height and width (upsample low-resolution maps first, e.g. grad_cam with upsample=True)"
        )
    return map_a, map_b.to(map_a.device)


def _compare_ranks(a: Tensor, b: Tensor) -> Tensor:
    return _pearson_rows(a, b)


def _prepare_ssim(maps: Tensor) -> Tensor:
    return _minmax(maps)


def _compare_ssim(a: Tensor, b: Tensor) -> Tensor:
    return ssim_index(a, b, data_range=1.0)


def _prepare_hog(maps: Tensor) -> Tensor:
    return average_ranks(hog_descriptors(maps))


_SSIM_WINDOW = 2 * int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) + 1

_register(Metric("spearman_abs", "abs", _ranks_of_map, _compare_ranks,
                 description="Spearman rank correlation of the absolute, p99-clipped maps"))
_register(Metric("spearman", "signed", _ranks_of_map, _compare_ranks,
                 description="Spearman rank correlation of the signed (diverging) maps"))
_register(Metric("ssim", "abs", _prepare_ssim, _compare_ssim, min_size=_SSIM_WINDOW,
                 description="SSIM (Gaussian window, sigma 1.5) of the absolute maps, min-max scaled"))
_register(Metric("hog", "abs", _prepare_hog, _compare_ranks, min_size=HOG_CELL,
                 description="Spearman rank correlation of the HOG descriptors (16 x 16-pixel cells)"))


def spearman_abs(map_a: Tensor, map_b: Tensor) -> Tensor:
    """Spearman correlation ``(N,)`` of the absolute, 99th-percentile-clipped maps (1 = same ranking).

    Args:
        map_a, map_b: ``(N, C, H, W)`` and ``(N, C', H, W)`` attributions of the same images.

    Returns:
        ``(N,)`` float64 in ``[-1, 1]`` on ``map_a``'s device.
    """
    return METRICS["spearman_abs"](map_a, map_b)


def spearman(map_a: Tensor, map_b: Tensor) -> Tensor:
    """Spearman correlation ``(N,)`` of the signed (diverging, clipped) maps; see :func:`spearman_abs`."""
    return METRICS["spearman"](map_a, map_b)


def ssim(map_a: Tensor, map_b: Tensor) -> Tensor:
    """SSIM ``(N,)`` of the absolute maps min-max scaled to ``[0, 1]``; maps of at least 11 x 11 pixels.

    Returns ``(N,)`` float64 in ``[-1, 1]`` (1 = identical) on ``map_a``'s device.
    """
    return METRICS["ssim"](map_a, map_b)


def hog(map_a: Tensor, map_b: Tensor) -> Tensor:
    """Spearman correlation ``(N,)`` of the HOG descriptors of the absolute maps (at least 16 x 16 pixels)."""
    return METRICS["hog"](map_a, map_b)


def _check_size(size: tuple[int, int], metrics: list[str]) -> None:
    """Raise when the maps are too small for one of ``metrics``."""
    for name in metrics:
        need = METRICS[name].min_size
        if min(size) < need:
            raise InputError(f"metric {name!r} needs images of at least {need} x {need} pixels, got "
                             f"{size[0]} x {size[1]}; drop it from metrics=")

