"""Shared inputs of the distortion tests: small random images and the published reference data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

#: /work/main/../shared/data/geirhos2018 (the lab's read-only reference data), found from the repo.
GEIRHOS = Path(__file__).parents[2] / ".." / "shared" / "data" / "geirhos2018"


def _shared_file(name: str) -> np.ndarray:
    """A published reference array, or skip the test when the shared data folder is absent."""
    path = GEIRHOS / name
    if not path.is_file():
        pytest.skip(f"reference data {path} is not available (needs the lab's shared/ folder)")
    return np.load(path)


@pytest.fixture
def gamma_table() -> np.ndarray:
    """The published display gamma table (256 values), or skip."""
    return _shared_file("x_gamma_function.npy").reshape(-1)


@pytest.fixture
def imagenet_spectrum() -> np.ndarray:
    """The published mean amplitude spectrum of greyscale ImageNet (224x224, centred), or skip."""
    return _shared_file("mean_power_spectrum_grey.npy")


def _smooth_images(n: int, size: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(n, 3, size, size)`` smooth, colourful images in [0.1, 0.9] (sums of random sinusoids)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    out = torch.zeros(n, 3, size, size, dtype=torch.float64)
    for _ in range(4):
        freq = torch.rand(n, 3, 2, generator=gen, dtype=torch.float64) * 0.4
        phase = torch.rand(n, 3, 1, 1, generator=gen, dtype=torch.float64) * 6.28
        out += torch.sin(freq[..., 0, None, None] * yy + freq[..., 1, None, None] * xx + phase)
    out = 0.5 + 0.4 * out / 4
    return out.to(dtype)


@pytest.fixture
def smooth_images():
    """Factory ``(n, size, seed=0, dtype=float32) -> (n, 3, size, size)`` smooth images in [0.1, 0.9]."""
    return _smooth_images


@pytest.fixture
def images() -> torch.Tensor:
    """Four 32x32 random images in [0, 1]."""
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
