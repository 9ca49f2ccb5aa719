"""The published reference arrays of Geirhos et al. (2018), shipped with gaplens (CC BY 4.0).

``published_gamma_table()``: the measured display transfer table of the opponent-colour
experiment; ``published_mean_spectrum()``: the mean amplitude spectrum of greyscale ImageNet
(224 x 224) of the power-equalisation experiment. Both are copied unchanged from the authors'
repository (github.com/rgeirhos/generalisation-humans-DNNs); ``gaplens/robustness/data/README.md``
has the attribution.
"""

from __future__ import annotations

import io
from functools import cache
from importlib import resources

import numpy as np

__all__ = ["published_gamma_table", "published_mean_spectrum", "PUBLISHED_SPECTRUM_SIZE"]

#: Image size ``(H, W)`` of the published mean spectrum.
PUBLISHED_SPECTRUM_SIZE = (224, 224)


@cache
def _load(name: str) -> np.ndarray:
    data = resources.files(__package__).joinpath("data", name).read_bytes()
    array = np.load(io.BytesIO(data), allow_pickle=False).astype(np.float64)
    array.setflags(write=False)
    return array


def published_gamma_table() -> np.ndarray:
    """``(256,)`` float64, read-only: display output in ``[0, 1]`` for the 8-bit inputs ``0, 1/255, ..., 1``."""
    return _load("x_gamma_function.npy").reshape(-1)


def published_mean_spectrum() -> np.ndarray:
    """``(224, 224)`` float64, read-only: mean centred amplitude spectrum ``|fftshift(fft2(grey))|`` of ImageNet."""
    return _load("mean_power_spectrum_grey.npy")
