"""Uniform and salt-and-pepper noise statistics; rotations against numpy.rot90."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gaplens.robustness import clean, distort


@pytest.mark.parametrize("width", [0.03, 0.1, 0.2, 0.35])
def test_uniform_noise_residual_is_uniform_in_the_width(width):
    x = torch.rand(4, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    residual = (distort(x, "uniform_noise", width, seed=2) - clean(x, "uniform_noise"))[:, 0].flatten()
    n = residual.numel()  # base image in [0.35, 0.65], so no clipping up to width 0.35
    assert residual.abs().max() <= width + 1e-12
    variance = width ** 2 / 3
    assert abs(float(residual.mean())) < 4 * math.sqrt(variance / n)
    # var of the sample variance of U[-w, w]: (mu4 - sigma^4) / n with mu4 = w^4 / 5
    assert abs(float(residual.var()) - variance) < 4 * math.sqrt((width ** 4 / 5 - variance ** 2) / n)
    assert float(residual.max()) > 0.99 * width and float(residual.min()) < -0.99 * width


def test_uniform_noise_is_clipped_to_the_unit_range():
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    out = distort(x, "uniform_noise", 0.9)
    assert out.min() == 0 and out.max() == 1


@pytest.mark.parametrize("p", [0.1, 0.5, 0.95])
def test_salt_and_pepper_replaces_a_fraction_p(p):
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    out = distort(x, "salt_and_pepper", p, seed=1)[:, 0]
    base = clean(x, "salt_and_pepper")[:, 0]
    white, black = (out == 1).double().mean(), (out == 0).double().mean()
    n = out.numel()
    assert abs(float(white + black) - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert abs(float(white) - p / 2) < 4 * math.sqrt(p / 2 * (1 - p / 2) / n)
    kept = (out != 0) & (out != 1)
    assert torch.equal(out[kept], base[kept])  # the other pixels are untouched


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_rotation_is_numpys_rot90(images, degrees):
    x = images.double()
    grey = distort(x, "colour", "greyscale")[:, 0].numpy()
    out = distort(x, "rotation", degrees).numpy()
    for c in range(3):
        np.testing.assert_array_equal(out[:, c], np.rot90(grey, degrees // 90, axes=(1, 2)))
    colour = distort(x, "rotation", degrees, greyscale=False).numpy()
    np.testing.assert_array_equal(colour, np.rot90(x.numpy(), degrees // 90, axes=(2, 3)))
