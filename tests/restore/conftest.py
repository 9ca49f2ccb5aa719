"""Small images and a small network, so each fit in these tests takes a second or two on a busy CPU."""

from __future__ import annotations

import pytest
import torch

from gaplens.restore import FitSettings


@pytest.fixture(autouse=True)
def _threads():
    """One thread: on a shared 2-core machine, two threads per tiny convolution only wait for each other."""
    torch.set_num_threads(1)


@pytest.fixture
def tiny() -> FitSettings:
    """A 3-scale, 16-channel skip network (32x32 images and up)."""
    return FitSettings(input_depth=8, down=(16, 16, 16), up=(16, 16, 16), skip=(4, 4, 4), steps=60)


@pytest.fixture(scope="session")
def crop() -> torch.Tensor:
    """A 32x32 crop of scikit-image's astronaut (the face), (3, 32, 32) in [0, 1]."""
    from gaplens.data import sample_image

    return sample_image("astronaut", size=128)[:, 8:40, 40:72].contiguous()
