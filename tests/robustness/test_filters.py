"""Low- and high-pass filters against scipy.ndimage.gaussian_filter with the same constant padding,
and the shared Gaussian blur (gaplens.core.smoothing) that they use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch.nn import functional as F

from gaplens.core.errors import InputError
from gaplens.core.smoothing import gaussian_blur
from gaplens.robustness import distort

GREY = 0.4423


def _grey(x: torch.Tensor) -> np.ndarray:
    x = x.numpy()
    return 0.2125 * x[:, 0] + 0.7154 * x[:, 1] + 0.0721 * x[:, 2]


@pytest.mark.parametrize("std", [1, 3, 5, 10, 40, 2.5])
def test_low_pass_matches_scipy(smooth_images, std):
    x = smooth_images(2, 48, dtype=torch.float64)
    expected = np.stack([np.clip(gaussian_filter(g, std, mode="constant", cval=GREY), 0, 1) for g in _grey(x)])
    out = distort(x, "low_pass", std).numpy()
    for c in range(3):
        np.testing.assert_allclose(out[:, c], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("std", [3, 1.5, 1, 0.7, 0.55, 0.45, 0.4, 20])
def test_high_pass_matches_scipy(images, std):
    x = images.double()
    expected = []
    for g in _grey(x):
        detail = g - gaussian_filter(g, std, mode="constant", cval=GREY)
        expected.append(np.clip(detail + (GREY - detail.mean()), 0, 1))
    out = distort(x, "high_pass", std).numpy()
    np.testing.assert_allclose(out[:, 1], np.stack(expected), rtol=0, atol=1e-12)


def test_grey_mean_option_and_float32(images):
    g = _grey(images.double())[0]
    expected = gaussian_filter(g, 3, mode="constant", cval=0.2)
    np.testing.assert_allclose(distort(images, "low_pass", 3, grey_mean=0.2)[0, 0].numpy(), expected, atol=1e-6)
    detail = g - gaussian_filter(g, 1, mode="constant", cval=0.6)
    np.testing.assert_allclose(distort(images, "high_pass", 1, grey_mean=0.6)[0, 2].numpy(),
                               np.clip(detail + 0.6 - detail.mean(), 0, 1), atol=1e-6)


@pytest.mark.parametrize("sigma", [0.3, 1, 2.5, 10, 40])
@pytest.mark.parametrize("cval", [0.0, 0.7])
def test_blur_constant_mode_is_scipys(sigma, cval):
    x = torch.rand(3, 2, 30, 41, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = np.stack([[gaussian_filter(c, sigma, mode="constant", cval=cval) for c in im] for im in x.numpy()])
    np.testing.assert_allclose(gaussian_blur(x, sigma, mode="constant", cval=cval).numpy(), expected, rtol=0,
                               atol=1e-13)
    assert gaussian_blur(x.float(), sigma, mode="constant", cval=cval).dtype == torch.float32


@pytest.mark.parametrize("sigma", [0.5, 2, 6, 30])
def test_blur_reflect_mode_is_unchanged(sigma):
    """The default mode used by IG's blur baseline: mirror padding, radius clamped to the smaller side."""
    x = torch.rand(2, 3, 20, 27, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    radius = min(max(1, int(4 * sigma + 0.5)), 19)
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    kernel = (kernel / kernel.sum()).view(1, 1, 1, -1).expand(3, 1, 1, -1)
    expected = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel, groups=3)
    expected = F.conv2d(F.pad(expected, (0, 0, radius, radius), mode="reflect"), kernel.transpose(-1, -2), groups=3)
    torch.testing.assert_close(gaussian_blur(x, sigma), expected, rtol=0, atol=1e-13)
    assert torch.equal(gaussian_blur(x, 0), x)


def test_blur_errors():
    with pytest.raises(InputError, match="mode"):
        gaussian_blur(torch.rand(1, 1, 8, 8), 1.0, mode="wrap")
    with pytest.raises(InputError, match="sigma"):
        gaussian_blur(torch.rand(1, 1, 8, 8), float("inf"))
