"""PSNR and SSIM against scikit-image's metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gaplens.core.errors import InputError
from gaplens.restore import psnr, ssim


@pytest.mark.parametrize("shape", [(3, 40, 33), (3, 7, 64), (1, 20, 20)])
def test_psnr_and_ssim_match_scikit_image(shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.random(shape)
    y = np.clip(x + rng.normal(0, 0.1, shape), 0, 1)
    assert float(psnr(torch.tensor(y), torch.tensor(x))) == pytest.approx(
        peak_signal_noise_ratio(x, y, data_range=1), abs=1e-9)
    assert float(ssim(torch.tensor(y), torch.tensor(x))) == pytest.approx(
        structural_similarity(x, y, data_range=1, channel_axis=0), abs=1e-9)


def test_batches_give_one_value_per_image():
    x, y = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    batch = ssim(x, y)
    assert batch.shape == (4,)
    torch.testing.assert_close(batch[2], ssim(x[2], y[2]))
    torch.testing.assert_close(psnr(x, y)[1], psnr(x[1], y[1]))


def test_shape_mismatch_and_tiny_images_are_clear_errors():
    with pytest.raises(InputError, match="shapes differ"):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 9))
    with pytest.raises(InputError, match="smaller than the 7x7 window"):
        ssim(torch.rand(3, 6, 30), torch.rand(3, 6, 30))
