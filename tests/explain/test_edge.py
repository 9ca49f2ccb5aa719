"""The edge control: Sobel magnitude as scipy computes it, independent of the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from gaplens.explain import METHODS, attribute


def _scipy_edges(x: torch.Tensor) -> np.ndarray:
    return np.stack([[np.hypot(ndimage.sobel(channel, axis=0), ndimage.sobel(channel, axis=1)) for channel in image]
                     for image in x.numpy()])


@pytest.mark.parametrize("size", [(32, 32), (9, 14), (2, 3), (1, 1)])
def test_matches_scipy(tiny_vgg, size):
    torch.manual_seed(0)
    x = torch.rand(3, 3, *size, dtype=torch.float64)
    ours = attribute(tiny_vgg, x, method="edge")
    assert ours.shape == x.shape and ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), _scipy_edges(x), rtol=1e-6, atol=1e-6)


def test_known_values(tiny_vgg):
    # a vertical step 0 -> 1: scipy's sobel along the width gives 1 + 2 + 1 = 4 beside the step
    x = torch.zeros(1, 3, 5, 6)
    x[..., 3:] = 1.0
    ours = attribute(tiny_vgg, x, method="edge")
    expected = torch.zeros(5, 6)
    expected[:, 2:4] = 4.0
    assert torch.equal(ours[0, 1], expected)
    assert torch.equal(attribute(tiny_vgg, torch.full((2, 3, 8, 8), 0.3), method="edge"), torch.zeros(2, 3, 8, 8))


def test_ignores_model_target_and_batch_size(tiny_resnet, tiny_vgg):
    assert METHODS["edge"].model_independent
    x = torch.rand(4, 3, 32, 32)
    a = attribute(tiny_resnet, x, method="edge", batch_size=64)
    b = attribute(tiny_vgg, x, target=[3, 2, 1, 0], method="edge", batch_size=3)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
