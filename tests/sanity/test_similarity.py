"""Similarity metrics of the sanity checks against scipy and scikit-image (independent implementations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import rankdata, spearmanr
from skimage.feature import hog as skimage_hog
from skimage.metrics import structural_similarity

from gaplens.core.errors import InputError
from gaplens.sanity import METRICS, hog, spearman, spearman_abs, ssim
from gaplens.sanity.similarity import (
    average_ranks,
    hog_descriptors,
    normalize_abs,
    normalize_signed,
    rank_correlation,
)


def _pair(seed: int, shape=(3, 3, 32, 32), noise: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(shape, generator=gen, dtype=torch.float64)
    return a, a + noise * torch.randn(shape, generator=gen, dtype=torch.float64)


def _minmax(x: np.ndarray) -> np.ndarray:
    return (x - x.min()) / (x.max() - x.min())


def test_registry():
    assert METRICS.names() == ["spearman_abs", "spearman", "ssim", "hog"]
    assert [METRICS[m].normalization for m in METRICS.names()] == ["abs", "signed", "abs", "abs"]


@pytest.mark.parametrize("seed", [0, 1])
def test_average_ranks_match_scipy_with_ties(seed):
    gen = torch.Generator().manual_seed(seed)
    values = torch.randint(0, 5, (4, 200), generator=gen).double()  # many ties
    values[1] = 3.0  # one constant row
    expected = np.stack([rankdata(row, method="average") for row in values.numpy()])
    np.testing.assert_array_equal(average_ranks(values).numpy(), expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_variants_match_scipy(seed):
    a, b = _pair(seed)
    # zero out a patch: many tied values, as in maps with dead regions
    a[:, :, :8] = 0.0
    ours_abs, ours_signed = spearman_abs(a, b), spearman(a, b)
    abs_a, abs_b = normalize_abs(a).flatten(1).numpy(), normalize_abs(b).flatten(1).numpy()
    sig_a, sig_b = normalize_signed(a).flatten(1).numpy(), normalize_signed(b).flatten(1).numpy()
    # the p99 clip ties the top 1% of each map at 1.0: the tie handling is exercised
    assert (abs_a == 1.0).sum(1).min() > 5
    for i in range(a.shape[0]):
        assert ours_abs[i].item() == pytest.approx(spearmanr(abs_a[i], abs_b[i]).statistic, abs=1e-12)
        assert ours_signed[i].item() == pytest.approx(spearmanr(sig_a[i], sig_b[i]).statistic, abs=1e-12)


def test_rank_correlation_rows():
    a, b = _pair(3, shape=(5, 50))
    expected = [spearmanr(x, y).statistic for x, y in zip(a.numpy(), b.numpy(), strict=True)]
    np.testing.assert_allclose(rank_correlation(a, b).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 3, 32, 32), (2, 1, 24, 40)])
def test_ssim_matches_skimage(shape):
    a, b = _pair(4, shape, noise=0.7)
    ours = ssim(a, b)
    for i in range(shape[0]):
        x = _minmax(normalize_abs(a)[i, 0].numpy())
        y = _minmax(normalize_abs(b)[i, 0].numpy())
        expected = structural_similarity(x, y, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False)
        assert ours[i].item() == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("size", [(32, 32), (64, 48), (48, 80)])
def test_hog_descriptors_match_skimage(size):
    maps = torch.rand(2, 1, *size, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ours = hog_descriptors(maps)
    for i in range(2):
        cells = (min(3, size[0] // 16), min(3, size[1] // 16))
        expected = skimage_hog(maps[i, 0].numpy(), orientations=9, pixels_per_cell=(16, 16), cells_per_block=cells,
                               block_norm="L2-Hys", feature_vector=True)
        # skimage sums each cell's histogram in float32: agreement to ~1e-7
        np.testing.assert_allclose(ours[i].numpy(), expected, atol=1e-6)


def test_hog_metric_is_spearman_of_skimage_descriptors():
    a, b = _pair(6, (2, 3, 64, 64), noise=0.5)
    ours = hog(a, b)
    for i in range(2):
        da = skimage_hog(normalize_abs(a)[i, 0].numpy(), pixels_per_cell=(16, 16), cells_per_block=(3, 3))
        db = skimage_hog(normalize_abs(b)[i, 0].numpy(), pixels_per_cell=(16, 16), cells_per_block=(3, 3))
        assert ours[i].item() == pytest.approx(spearmanr(da, db).statistic, abs=1e-6)


@pytest.mark.parametrize("metric", ["spearman_abs", "spearman", "ssim", "hog"])
def test_identical_maps_score_one(metric):
    a, _ = _pair(7)
    values = METRICS[metric](a, a.clone())
    assert values.shape == (3,) and values.dtype == torch.float64
    torch.testing.assert_close(values, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)


def test_sign_flip():
    a, _ = _pair(8)
    torch.testing.assert_close(spearman_abs(a, -a), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(spearman(a, -a), -torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("metric", ["spearman_abs", "spearman"])
def test_independent_random_maps_score_about_zero(metric):
    gen = torch.Generator().manual_seed(9)
    a, b = torch.randn(8, 3, 64, 64, generator=gen), torch.randn(8, 3, 64, 64, generator=gen)
    values = METRICS[metric](a, b)
    # 4096 pixels: the standard deviation of the coefficient is 1/64
    assert values.abs().max() < 0.08 and abs(values.mean().item()) < 0.03


def test_map_and_rgb_attributions_compare():
    # a Grad-CAM map (N, 1, H, W) against a gradient (N, 3, H, W) of the same images
    cam = torch.rand(2, 1, 32, 32)
    rgb = cam.expand(2, 3, 32, 32) / 3
    for metric in METRICS.names():
        torch.testing.assert_close(METRICS[metric](cam, rgb), torch.ones(2, dtype=torch.float64), rtol=0,
                                   atol=1e-6)


def test_flat_maps():
    zero, noise = torch.zeros(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for metric in ("spearman_abs", "spearman", "hog"):
        assert METRICS[metric](zero, noise).tolist() == [0.0, 0.0]
        assert METRICS[metric](zero, zero).tolist() == [1.0, 1.0]
    assert torch.isfinite(ssim(zero, noise)).all()


def test_bad_inputs():
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(InputError, match="same number of images"):
        spearman_abs(x, torch.rand(3, 3, 32, 32))
    with pytest.raises(InputError, match="upsample"):
        spearman_abs(x, torch.rand(2, 1, 8, 8))
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        spearman(torch.rand(3, 32, 32), torch.rand(3, 32, 32))
    with pytest.raises(InputError, match="11 x 11"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(InputError, match="16 x 16"):
        hog(torch.rand(1, 3, 12, 40), torch.rand(1, 3, 12, 40))
    with pytest.raises(InputError, match="NaN"):
        spearman_abs(torch.full((1, 3, 16, 16), float("nan")), torch.rand(1, 3, 16, 16))
    with pytest.raises(InputError, match="unknown similarity metric"):
        METRICS["pearson"]
