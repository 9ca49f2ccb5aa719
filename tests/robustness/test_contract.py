"""One contract over the whole distortion registry: levels, range, shape, dtype, device, determinism,
batch-split independence, the undistorted level, and errors on bad input."""

from __future__ import annotations

import math

import pytest
import torch

from gaplens.core.errors import GaplensError, InputError
from gaplens.robustness import DISTORTIONS, clean, distort

NAMES = DISTORTIONS.names()
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_registry_holds_the_published_levels():
    expected = {
        "colour": ("colour", "greyscale"),
        "contrast": (1.0, 0.5, 0.3, 0.15, 0.10, 0.05, 0.03, 0.01),
        "high_pass": (math.inf, 3, 1.5, 1, 0.7, 0.55, 0.45, 0.4),
        "low_pass": (0, 1, 3, 5, 7, 10, 15, 40),
        "phase_noise": (0, 30, 60, 90, 120, 150, 180),
        "power_equalisation": ("original", "equalised"),
        "opponent_colour": ("true", "opponent"),
        "rotation": (0, 90, 180, 270),
        "eidolon_I": (1, 2, 4, 8, 16, 32, 64, 128),
        "eidolon_II": (1, 2, 4, 8, 16, 32, 64, 128),
        "eidolon_III": (1, 2, 4, 8, 16, 32, 64, 128),
        "uniform_noise": (0, 0.03, 0.05, 0.1, 0.2, 0.35, 0.6, 0.9),
        "salt_and_pepper": (0, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95),
    }
    assert NAMES == list(expected)  # the paper's order
    for name, levels in expected.items():
        assert DISTORTIONS[name].levels == levels, name
        assert DISTORTIONS[name].description
    assert [n for n in NAMES if DISTORTIONS[n].batch_dependent] == ["power_equalisation"]
    assert {n for n in NAMES if DISTORTIONS[n].random} == {
        "phase_noise", "eidolon_I", "eidolon_II", "eidolon_III", "uniform_noise", "salt_and_pepper"}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_range_shape_dtype_device(name, device, images):
    x = images.to(device)
    before = x.clone()
    for level in DISTORTIONS[name].levels:
        out = distort(x, name, level, seed=1)
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device, (name, level)
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1, (name, level)
    assert torch.equal(x, before)  # the input is never modified
    x64 = x.double()
    out64 = distort(x64, name, DISTORTIONS[name].levels[-1], seed=1)
    assert out64.dtype == torch.float64 and out64.shape == x.shape


@pytest.mark.parametrize("name", NAMES)
def test_undistorted_level_is_the_reference(name, images):
    d = DISTORTIONS[name]
    assert torch.equal(distort(images, name, d.clean_level, seed=3), clean(images, name))
    assert torch.equal(distort(images.double(), name, d.clean_level), clean(images.double(), name))


def test_what_the_reference_is(images):
    grey = 0.2125 * images[:, :1] + 0.7154 * images[:, 1:2] + 0.0721 * images[:, 2:]
    grey3 = grey.expand(-1, 3, -1, -1)
    for name in ("colour", "opponent_colour"):
        assert torch.equal(clean(images, name), images)
    assert torch.equal(clean(images, "rotation", greyscale=False), images)
    assert torch.equal(clean(images, "eidolon_II", greyscale=False), images)
    for name in ("contrast", "high_pass", "low_pass", "phase_noise", "power_equalisation", "rotation", "eidolon_I"):
        torch.testing.assert_close(clean(images, name), grey3, rtol=0, atol=2e-7)
    for name in ("uniform_noise", "salt_and_pepper"):
        torch.testing.assert_close(clean(images, name), 0.35 + 0.3 * grey3, rtol=0, atol=1e-6)
    torch.testing.assert_close(clean(images, "uniform_noise", contrast=0.5), 0.25 + 0.5 * grey3, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_independent_of_the_batch_split(name, images):
    level = DISTORTIONS[name].levels[-1]
    options = {"target_spectrum": torch.rand(32, 32) * 40} if name == "power_equalisation" else {}
    whole = distort(images, name, level, seed=7, **options)
    assert torch.equal(whole, distort(images, name, level, seed=7, **options))
    parts = torch.cat([distort(images[:1], name, level, seed=7, index=[0], **options),
                       distort(images[1:], name, level, seed=7, index=torch.tensor([1, 2, 3]), **options)])
    torch.testing.assert_close(parts, whole, rtol=0, atol=1e-6)
    # an image keeps its result when it moves within the batch, as long as its id moves with it
    order = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(distort(images[order], name, level, seed=7, index=order, **options), whole[order],
                               rtol=0, atol=1e-6)
    if DISTORTIONS[name].random:
        assert not torch.equal(whole, distort(images, name, level, seed=8, **options))


def test_power_equalisation_to_the_batch_mean_depends_on_the_batch(images):
    # the default at sizes other than the published spectrum's 224 x 224
    whole = distort(images, "power_equalisation", "equalised", target_spectrum="batch_mean")
    part = distort(images[:2], "power_equalisation", "equalised")
    assert not torch.allclose(whole[:2], part, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_input_error(name, images):
    with pytest.raises(InputError, match="unknown option"):
        distort(images, name, DISTORTIONS[name].levels[0], no_such_option=1)
    with pytest.raises(InputError, match="level"):
        distort(images, name, "no-such-level" if not isinstance(DISTORTIONS[name].levels[0], str) else 0.5)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        distort(images * 2, name, DISTORTIONS[name].levels[0])
    with pytest.raises(InputError, match=r"\(N, 3, H, W\)"):
        distort(images[:, :1], name, DISTORTIONS[name].levels[0])


def test_argument_errors(images):
    with pytest.raises(InputError, match="closest"):
        distort(images, "contrst", 0.5)
    with pytest.raises(InputError, match="seed"):
        distort(images, "uniform_noise", 0.1, seed=-1)
    with pytest.raises(InputError, match="index"):
        distort(images, "uniform_noise", 0.1, index=[0, 1])
    with pytest.raises(InputError, match="contrast"):
        distort(images, "contrast", 1.5)
    with pytest.raises(InputError, match="multiple of 90"):
        distort(images, "rotation", 45)
    with pytest.raises(InputError, match="square"):
        distort(torch.rand(1, 3, 8, 10), "rotation", 90)
    with pytest.raises(InputError, match="grey_mean"):
        distort(images, "low_pass", 3, grey_mean=2.0)
    with pytest.raises(InputError, match="target_spectrum"):
        distort(images, "power_equalisation", "equalised", target_spectrum=torch.ones(8, 8))
    with pytest.raises(GaplensError):
        distort(images.int(), "colour", "greyscale")


def test_levels_given_as_text_are_parsed(images):
    torch.testing.assert_close(distort(images, "contrast", "0.3"), distort(images, "contrast", 0.3))
    assert torch.equal(distort(images, "high_pass", "inf"), clean(images, "high_pass"))
    assert torch.equal(distort(images, "rotation", "-90"), distort(images, "rotation", 270))


@pytest.mark.parametrize("name", ["low_pass", "high_pass", "eidolon_I", "eidolon_II", "eidolon_III"])
def test_pixel_levels_are_bounded_before_any_work(name, images):
    with pytest.raises(InputError, match=rf"^level=1000000000000\.0 for {name}: expected a number .* 1000\.0\]$"):
        distort(images, name, 1e12)
    assert distort(images, name, 1000).shape == images.shape
