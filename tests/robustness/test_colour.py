"""Greyscale and contrast in closed form; the opponent-colour flip against its definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2gray

from gaplens.core.errors import InputError
from gaplens.robustness import distort
from gaplens.robustness.colour import _LMS_TO_DKL, _RGB_TO_LMS, _opponent_matrix, opponent_colour
from gaplens.robustness.published import published_gamma_table


def _grey_numpy(x: np.ndarray) -> np.ndarray:
    return 0.2125 * x[:, 0] + 0.7154 * x[:, 1] + 0.0721 * x[:, 2]


def test_greyscale_is_the_luminance_exactly(images):
    """Exact up to float64 rounding (one unit in the last place: the sum may be fused)."""
    x = images.double()
    out = distort(x, "colour", "greyscale").numpy()
    grey = _grey_numpy(x.numpy())
    for c in range(3):
        np.testing.assert_allclose(out[:, c], grey, rtol=0, atol=3e-16)
        assert np.array_equal(out[:, c], out[:, 0])
    # the same conversion as scikit-image's rgb2gray (the published code's)
    np.testing.assert_allclose(out[:, 0], rgb2gray(x.permute(0, 2, 3, 1).numpy()), rtol=0, atol=1e-15)
    assert torch.equal(distort(x, "colour", "colour"), x)


@pytest.mark.parametrize("contrast", [1.0, 0.5, 0.3, 0.15, 0.10, 0.05, 0.03, 0.01, 0.0])
def test_contrast_is_exact(images, contrast):
    x = images.double()
    out = distort(x, "contrast", contrast).numpy()
    expected = (1 - contrast) / 2 + contrast * _grey_numpy(x.numpy())
    for c in range(3):
        np.testing.assert_allclose(out[:, c], expected, rtol=0, atol=4e-16)
    assert out.min() >= (1 - contrast) / 2 - 1e-15 and out.max() <= (1 + contrast) / 2 + 1e-15


def _in_gamut_images(n: int = 4, size: int = 8) -> torch.Tensor:
    """Moderately saturated colours whose opponent colours stay inside the display gamut."""
    gen = torch.Generator().manual_seed(2)
    x = 0.73 + 0.16 * (torch.rand(n, 3, size, size, generator=gen, dtype=torch.float64) - 0.5)
    matrix = torch.as_tensor(_opponent_matrix())
    unclipped = 0.5 + torch.einsum("ij,njhw->nihw", matrix, x ** 2.2 - 0.5)
    assert unclipped.min() > 0.01 and unclipped.max() < 0.99  # no clipping: the flip is exactly invertible
    return x


@pytest.mark.parametrize("gamma", [1.0, 2.2])
def test_opponent_colour_twice_is_the_identity(gamma):
    x = _in_gamut_images()
    once = opponent_colour(x, gamma=gamma)
    assert not torch.allclose(once, x, atol=1e-2)
    torch.testing.assert_close(opponent_colour(once, gamma=gamma), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(distort(distort(x, "opponent_colour", "opponent", gamma=gamma), "opponent_colour",
                                       "opponent", gamma=gamma), x, rtol=0, atol=1e-12)


def test_opponent_colour_keeps_greys_and_flips_chromatic_axes():
    greys = torch.linspace(0.05, 0.95, 7, dtype=torch.float64).view(1, 1, 1, 7).expand(1, 3, 1, 7).contiguous()
    torch.testing.assert_close(opponent_colour(greys, gamma=2.2), greys, rtol=0, atol=2e-4)
    # with the published table (the default) greys come back snapped to the nearest 8-bit value
    torch.testing.assert_close(opponent_colour(greys), greys, rtol=0, atol=0.5 / 255 + 2e-4)
    x = _in_gamut_images()
    to_dkl = _LMS_TO_DKL @ _RGB_TO_LMS
    lin_in = x.numpy().transpose(0, 2, 3, 1) ** 2.2 - 0.5
    lin_out = opponent_colour(x, gamma=2.2).numpy().transpose(0, 2, 3, 1) ** 2.2 - 0.5
    dkl_in, dkl_out = lin_in @ to_dkl.T, lin_out @ to_dkl.T
    np.testing.assert_allclose(dkl_out[..., 0], dkl_in[..., 0], atol=1e-10)  # luminance kept
    np.testing.assert_allclose(dkl_out[..., 1:], -dkl_in[..., 1:], atol=1e-10)  # L-M and S-(L+M) inverted


def _published_false_colour(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The published procedure on one 8-bit (H, W, 3) image: table lookup, DKL flip, clip, nearest inverse."""
    linear = table[np.round(image * 255).astype(int)].reshape(image.shape)
    cones = linear @ _RGB_TO_LMS.T - np.array([0.20449114, 0.17225619, 0.10523047])
    dkl = cones @ _LMS_TO_DKL.T
    dkl[..., 1:] *= -1
    new_cones = dkl @ np.linalg.inv(_LMS_TO_DKL).T + np.array([0.20449114, 0.17225619, 0.10523047])
    new_linear = np.clip(new_cones @ np.linalg.inv(_RGB_TO_LMS).T, 0, 1)
    return np.abs(new_linear[..., None] - table[None, None, None, :]).argmin(-1) / 255


def test_opponent_colour_defaults_to_the_published_gamma_table(gamma_table):
    """The paper's measured display table is the default, and the output snaps to the nearest of its 256 entries."""
    table = gamma_table
    np.testing.assert_array_equal(published_gamma_table(), table)  # the shipped copy is the published file
    x = torch.randint(0, 256, (2, 3, 12, 12), generator=torch.Generator().manual_seed(4)).double() / 255
    ours = distort(x, "opponent_colour", "opponent").numpy().transpose(0, 2, 3, 1)
    published = np.stack([_published_false_colour(im, table) for im in x.numpy().transpose(0, 2, 3, 1)])
    assert np.abs(ours - published).max() <= 1 / 255 + 1e-9
    assert np.mean(np.abs(ours - published) < 1e-9) > 0.99  # the same 8-bit value, but for float ties
    np.testing.assert_array_equal(np.round(ours * 255), ours * 255)  # quantised like the published stimuli
    # the table differs from a 2.2 power law (a fit gives about 2.48): the old default was not the paper's
    assert np.abs(distort(x, "opponent_colour", "opponent", gamma=2.2).numpy().transpose(0, 2, 3, 1)
                  - published).max() > 0.05
    # without snapping the table is inverted by interpolation: within 1/255 of the published, and an involution
    smooth = distort(x, "opponent_colour", "opponent", gamma_table=table, snap=False).numpy().transpose(0, 2, 3, 1)
    assert np.abs(smooth - published).max() <= 1 / 255 + 1e-9
    twice = distort(distort(_in_gamut_images(), "opponent_colour", "opponent", snap=False),
                    "opponent_colour", "opponent", snap=False)
    torch.testing.assert_close(twice, _in_gamut_images(), rtol=0, atol=1e-9)


def test_opponent_colour_options_are_checked():
    with pytest.raises(InputError, match="not both"):
        opponent_colour(_in_gamut_images(), gamma=2.2, gamma_table=np.linspace(0, 1, 256))
    with pytest.raises(InputError, match="snap"):
        opponent_colour(_in_gamut_images(), snap="yes")
