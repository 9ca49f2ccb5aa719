"""Parameterizations: real images in [0, 1], colour decorrelation applied and inverted consistently."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.visualize.param import (
    COLOR_CORRELATION,
    PARAMETERIZATIONS,
    correlate_colors,
    decorrelate_colors,
    fft_scale,
    fourier_image,
    image_param,
    pixel_image,
)


@pytest.mark.parametrize("size", [(32, 32), (17, 24), (20, 15)])
def test_fourier_image_is_real_and_in_unit_range(size):
    param = fourier_image(batch=3, size=size, sd=1.0, seed=1)  # large spectrum: the sigmoid must bound it
    images = param()
    assert images.shape == (3, 3, *size) and images.dtype == torch.float32 and not images.is_complex()
    assert torch.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0
    assert images.std() > 0.05  # not collapsed to grey


def test_colour_decorrelation_is_the_matrix_and_its_inverse():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 7, generator=gen)
    rgb = decorrelate_colors(x)
    assert torch.allclose(rgb[:, :, 2, 3], x[:, :, 2, 3] @ COLOR_CORRELATION.T, atol=1e-6)
    assert torch.allclose(correlate_colors(rgb), x, atol=1e-5)
    assert torch.allclose(decorrelate_colors(correlate_colors(x)), x, atol=1e-5)
    # the columns are colour directions scaled to unit maximum norm (Lucid's normalization)
    assert torch.isclose(COLOR_CORRELATION.norm(dim=0).max(), torch.tensor(1.0))


@pytest.mark.parametrize("kind", ["pixel", "fourier"])
def test_decorrelation_is_applied_in_the_forward_map(kind):
    param = image_param(kind, batch=1, size=8, sd=0.0, decorrelate=True)
    with torch.no_grad():
        param.set_image(torch.full((1, 3, 8, 8), 0.5))  # all parameters zero: grey
        assert torch.allclose(param(), torch.full((1, 3, 8, 8), 0.5))
        components = torch.zeros(1, 3, 8, 8)
        components[:, 0] = 1.5  # only the first decorrelated component
        param._set_spatial(components)
    expected = torch.sigmoid(1.5 * COLOR_CORRELATION[:, 0]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert torch.allclose(param(), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["pixel", "fourier"])
@pytest.mark.parametrize("decorrelate", [True, False])
def test_start_image_round_trips(kind, decorrelate):
    gen = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 15, 22, generator=gen) * 0.98 + 0.01
    param = image_param(kind, batch=2, size=None, start=image, decorrelate=decorrelate)
    assert param.size == (15, 22)
    assert torch.allclose(param(), image, atol=1e-5)
    # pixels at 0 and 1 are clamped to [1e-3, 1 - 1e-3] (the sigmoid is invertible there)
    extreme = torch.zeros(1, 3, 8, 8)
    extreme[..., :4] = 1.0
    out = image_param(kind, size=None, start=extreme, decorrelate=decorrelate)()
    assert torch.allclose(out, extreme.clamp(1e-3, 1 - 1e-3), atol=1e-5)


def test_fourier_spectrum_is_scaled_by_one_over_frequency():
    scale = fft_scale(16, 16)
    assert scale.shape == (16, 9)
    assert scale[0, 0] == 16.0  # DC: 1 / (1 / max(H, W))
    assert torch.isclose(scale[0, 8], torch.tensor(2.0)) and torch.isclose(scale[8, 0], torch.tensor(2.0))  # f = 0.5
    assert torch.isclose(scale[4, 4], torch.tensor(1 / (0.25 * 2**0.5)))
    assert torch.equal(fft_scale(16, 16, decay_power=0.0), torch.ones(16, 9))
    # the image's spectrum is the parameter spectrum times the scale (divided by Lucid's constant 4)
    param = fourier_image(batch=1, size=16, sd=1.0, decorrelate=False, seed=2)
    with torch.no_grad():
        spectrum = torch.fft.rfft2(param.spatial(), norm="ortho")
    expected = torch.view_as_complex(param.spectrum.detach()) * scale / 4
    interior = (slice(None), slice(None), slice(None), slice(1, 8))  # columns without Hermitian redundancy
    assert torch.allclose(spectrum[interior], expected[interior], atol=1e-4)


def test_seeded_and_validated():
    assert torch.equal(fourier_image(size=8, seed=5)(), fourier_image(size=8, seed=5)())
    assert not torch.equal(pixel_image(size=8, seed=5)(), pixel_image(size=8, seed=6)())
    assert PARAMETERIZATIONS.names() == ["pixel", "fourier"]
    with pytest.raises(InputError, match="size=16 but start is 8x8"):
        pixel_image(size=16, start=torch.rand(3, 8, 8))
    with pytest.raises(InputError, match=r"expected an image \(3, H, W\)"):
        pixel_image(start=torch.rand(8, 8))
    with pytest.raises(InputError, match="unknown parameterization 'fft'"):
        image_param("fft")
