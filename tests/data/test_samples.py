"""Tests of gaplens.data.samples: scikit-image's bundled photographs, offline."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import skimage.data
import torch

from gaplens.core.errors import InputError
from gaplens.data import SAMPLE_IMAGES, sample_image


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection (a download) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("sample_image tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _load(name: str, **kwargs) -> torch.Tensor:
    # scikit-image *skips* the running test when a file is missing and pooch is absent: that
    # would hide a listed sample that needs a download, so turn the skip into a failure.
    try:
        return sample_image(name, **kwargs)
    except pytest.skip.Exception as exc:
        pytest.fail(f"sample {name!r} is not bundled with scikit-image: {exc}")


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("name", SAMPLE_IMAGES)
def test_every_listed_sample_loads_offline(name: str) -> None:
    image = _load(name)
    assert image.dtype == torch.float32 and image.dim() == 3 and image.shape[0] == 3
    assert image.shape[1] >= 64 and image.shape[2] >= 64
    assert image.is_contiguous()
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert float(image.std()) > 0.02  # a photograph, not a blank


def test_colour_sample_matches_scikit_image_exactly() -> None:
    expected = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(_load("astronaut"), expected, rtol=0, atol=0)


def test_greyscale_sample_is_replicated() -> None:
    image = _load("camera")
    expected = torch.from_numpy(skimage.data.camera().astype(np.float32) / 255)
    for channel in range(3):
        torch.testing.assert_close(image[channel], expected, rtol=0, atol=0)


def test_int_size_is_centre_crop_then_resize() -> None:
    full = _load("chelsea")  # (3, 300, 451)
    assert full.shape == (3, 300, 451)
    # size equal to the shorter side: a pure centre crop, columns 75 .. 374
    torch.testing.assert_close(_load("chelsea", size=300), full[:, :, 75:375], rtol=0, atol=0)
    assert _load("chelsea", size=32).shape == (3, 32, 32)


def test_tuple_size_resizes_without_cropping() -> None:
    image = _load("coffee", size=(40, 30))
    assert image.shape == (3, 40, 30)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0


def test_unknown_name_lists_available() -> None:
    with pytest.raises(InputError, match="'eagle'") as info:
        sample_image("eagle")  # in scikit-image, but needs a download
    for name in SAMPLE_IMAGES:
        assert name in str(info.value)


@pytest.mark.parametrize("size", [0, (10,), (10, 0), "64", 2.5])
def test_bad_size(size) -> None:
    with pytest.raises(InputError, match="size"):
        sample_image("camera", size=size)


def test_sample_names_are_skimage_functions() -> None:
    assert len(set(SAMPLE_IMAGES)) == len(SAMPLE_IMAGES)
    for name in SAMPLE_IMAGES:
        assert callable(getattr(skimage.data, name))
