"""The scikit-image baselines keep their best grid value: checked by calling scikit-image directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import restoration, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gaplens.restore import add_noise, baselines, random_mask
from gaplens.restore.baselines import TV_WEIGHTS, available_baselines, estimate_noise_sigma


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.double().permute(1, 2, 0).numpy()


def test_denoisers_report_their_best_grid_value(crop):
    noisy = add_noise(crop, 25, seed=1)
    results = {r.name: r for r in baselines("denoise", noisy, crop)}
    assert list(results) == list(available_baselines("denoise"))
    clean, x = _hwc(crop), _hwc(noisy)
    scores = [peak_signal_noise_ratio(clean, np.clip(restoration.denoise_tv_chambolle(x, weight=w, channel_axis=-1),
                                                     0, 1), data_range=1) for w in TV_WEIGHTS]
    tv = results["tv_chambolle"]
    assert tv.psnr == pytest.approx(max(scores), abs=1e-4)
    assert tv.param == f"weight={TV_WEIGHTS[int(np.argmax(scores))]}"
    assert tv.ssim == pytest.approx(structural_similarity(clean, _hwc(tv.image), data_range=1, channel_axis=-1),
                                    abs=1e-4)
    for r in results.values():
        assert r.psnr > peak_signal_noise_ratio(clean, x, data_range=1) and r.seconds > 0
        assert r.image.shape == crop.shape


def test_inpainting_and_super_resolution_baselines(crop):
    mask = random_mask((32, 32), missing=0.5, seed=0)
    (biharmonic,) = baselines("inpaint", crop * mask, crop, mask=mask)
    expected = restoration.inpaint_biharmonic(_hwc(crop * mask), mask[0].numpy() == 0, channel_axis=-1)
    assert biharmonic.psnr == pytest.approx(peak_signal_noise_ratio(_hwc(crop), np.clip(expected, 0, 1),
                                                                    data_range=1), abs=1e-4)
    low = torch.nn.functional.avg_pool2d(crop[None], 4)[0]
    (bicubic,) = baselines("super_resolution", low, crop, factor=4)
    up = transform.resize(_hwc(low), (32, 32, 3), order=3, mode="edge", anti_aliasing=False)
    assert bicubic.psnr == pytest.approx(peak_signal_noise_ratio(_hwc(crop), np.clip(up, 0, 1), data_range=1),
                                         abs=1e-4)
    assert bicubic.record["method"] == "bicubic" and bicubic.image.shape == (3, 32, 32)


def test_the_noise_estimate_recovers_the_added_noise(crop):
    from gaplens.data import sample_image

    photo = sample_image("astronaut", size=128)
    for sigma in (10, 25):  # at higher levels clipping to [0, 1] removes part of the noise
        noisy = add_noise(photo, sigma, seed=3)
        assert estimate_noise_sigma(_hwc(noisy)) * 255 == pytest.approx(sigma, rel=0.15)


def test_wavelet_baseline_when_pywavelets_is_installed(crop):
    pytest.importorskip("pywt")
    noisy = add_noise(crop, 25, seed=1)
    (wavelet,) = [r for r in baselines("denoise", noisy, crop) if r.name == "wavelet"]
    assert wavelet.param.startswith("sigma=")
