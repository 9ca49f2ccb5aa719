"""The Lanczos downsampler of the super-resolution loss against Pillow's LANCZOS resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gaplens.core.errors import InputError
from gaplens.restore import LanczosDownsampler, lanczos_downsample, lanczos_matrix


@pytest.mark.parametrize(("h", "w", "factor"), [(64, 48, 4), (30, 20, 2), (51, 27, 3), (32, 32, 8)])
def test_matches_pillow_lanczos_on_float_images(h, w, factor):
    rng = np.random.default_rng(h * w)
    planes = rng.random((3, h, w)).astype(np.float32)
    expected = np.stack([np.asarray(Image.fromarray(p, mode="F").resize((w // factor, h // factor), Image.LANCZOS))
                         for p in planes])
    got = lanczos_downsample(torch.from_numpy(planes).double(), factor).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    module = LanczosDownsampler((h, w), factor)
    np.testing.assert_allclose(module(torch.from_numpy(planes)[None]).numpy()[0], expected, atol=1e-5)


def test_rows_sum_to_one_and_gradients_reach_every_input_pixel():
    m = lanczos_matrix(40, 10)
    torch.testing.assert_close(m.sum(dim=1), torch.ones(10, dtype=torch.float64))
    x = torch.rand(1, 3, 40, 40, requires_grad=True)
    LanczosDownsampler((40, 40), 4)(x).sum().backward()
    assert (x.grad != 0).all()


def test_a_side_that_is_not_a_multiple_of_the_factor_is_a_clear_error():
    with pytest.raises(InputError, match="not a multiple of factor=4"):
        lanczos_downsample(torch.rand(3, 30, 32), 4)
