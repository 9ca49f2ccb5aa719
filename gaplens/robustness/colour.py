"""Colour distortions: greyscale (``colour``), ``contrast`` and ``opponent_colour``.

Greyscale is the luminance ``0.2125 R + 0.7154 G + 0.0721 B`` (scikit-image's ``rgb2gray``, the
conversion of the published code), replicated to three channels. Every distortion of the paper
except ``colour`` and ``opponent_colour`` starts from it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from gaplens.core.errors import InputError
from gaplens.robustness.base import Distortion, named_level, numeric_level
from gaplens.robustness.published import published_gamma_table

__all__ = ["LUMINANCE", "greyscale", "to_rgb", "adjust_contrast", "opponent_colour"]

#: Weights of R, G, B in the luminance (ITU-R BT.709 as used by scikit-image's ``rgb2gray``).
LUMINANCE = (0.2125, 0.7154, 0.0721)


def greyscale(images: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` -> ``(N, 1, H, W)`` luminance ``0.2125 R + 0.7154 G + 0.0721 B``."""
    r, g, b = images[:, 0:1], images[:, 1:2], images[:, 2:3]
    return (r * LUMINANCE[0]).add_(g, alpha=LUMINANCE[1]).add_(b, alpha=LUMINANCE[2])


def to_rgb(grey: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` -> ``(N, 3, H, W)`` (the grey channel replicated; a new tensor)."""
    return grey.expand(-1, 3, -1, -1).contiguous()


def adjust_contrast(images: torch.Tensor, contrast: float) -> torch.Tensor:
    """``(1 - c) / 2 + c x``: contrast ``c`` in ``[0, 1]`` around mid-grey 0.5 (1 = unchanged)."""
    return images.mul(contrast).add_((1 - contrast) / 2)


# -- colour / greyscale ---------------------------------------------------------------------------


def _colour(images: torch.Tensor, level: str, rng: object) -> torch.Tensor:
    return images.clone() if level == "colour" else to_rgb(greyscale(images))


COLOUR = Distortion(
    name="colour",
    levels=("colour", "greyscale"),
    description="colour vs greyscale: the luminance 0.2125 R + 0.7154 G + 0.0721 B in all three channels",
    apply=_colour,
    parse=named_level("colour", ("colour", "greyscale")),
    clean_level="colour",
    reference=lambda images, **_: images.clone(),
    level_label="colour",
)


# -- contrast -------------------------------------------------------------------------------------


def _contrast(images: torch.Tensor, level: float, rng: object) -> torch.Tensor:
    return to_rgb(adjust_contrast(greyscale(images), level))


CONTRAST = Distortion(
    name="contrast",
    levels=(1.0, 0.5, 0.3, 0.15, 0.10, 0.05, 0.03, 0.01),
    description="greyscale, then contrast c: (1 - c)/2 + c x",
    apply=_contrast,
    parse=numeric_level("contrast", 0.0, 1.0),
    clean_level=1.0,
    reference=lambda images, **_: to_rgb(greyscale(images)),
    level_label="contrast (fraction of the original)",
)


# -- opponent colour ------------------------------------------------------------------------------

# Linear RGB -> cone (L, M, S) activations, from the monitor primaries and 2-degree cone
# fundamentals; cone activations -> DKL opponent axes (luminance L+M, L-M, S-(L+M)), following
# Brainard (1996). Constants of the published code of Geirhos et al. (2018).
_RGB_TO_LMS = np.array([[0.1619982647, 0.208049264, 0.0389347448],
                        [0.0330275785, 0.2496504557, 0.0618343518],
                        [0.0015524055, 0.0198861001, 0.1890224274]])
_LMS_TO_DKL = np.array([[9.27590805, 9.27590805, 0.0],
                        [7.86421647, -9.33587662, 0.0],
                        [-3.39709047, -3.39709047, 12.16230246]])


@lru_cache(maxsize=1)
def _opponent_matrix() -> np.ndarray:
    """``P`` (3x3, ``P @ P = I``): linear RGB -> flipped chromatic axes -> linear RGB, around grey 0.5."""
    flip = np.diag([1.0, -1.0, -1.0])
    to_dkl = _LMS_TO_DKL @ _RGB_TO_LMS
    return np.linalg.inv(to_dkl) @ flip @ to_dkl


def _gamma_table(table: object) -> torch.Tensor:
    values = torch.tensor(np.asarray(table, dtype=np.float64)).reshape(-1)
    if values.numel() < 2 or not torch.isfinite(values).all():
        raise InputError("gamma_table: expected at least 2 finite values (256 for 8-bit displays)")
    if not bool((values[1:] > values[:-1]).all()) or float(values[0]) < 0 or float(values[-1]) > 1:
        raise InputError("gamma_table: expected strictly increasing display outputs in [0, 1] "
                         "(e.g. the paper's x_gamma_function.npy)")
    return values


def _interp(x: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of ``(xs, ys)`` at ``x`` (``xs`` increasing; clamped to the ends)."""
    x = x.clamp(float(xs[0]), float(xs[-1]))
    i = torch.searchsorted(xs, x.contiguous(), right=True).clamp(1, xs.numel() - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (x - x0) / (x1 - x0) * (y1 - y0)


def _nearest_entry(values: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Index of the entry of the increasing table ``ys`` nearest to each value (the lower one on a tie)."""
    i = torch.searchsorted(ys, values.contiguous()).clamp(1, ys.numel() - 1)
    lower, upper = ys[i - 1], ys[i]
    return torch.where(values - lower <= upper - values, i - 1, i)


def opponent_colour(images: torch.Tensor, gamma: float | None = None, gamma_table: object = None,
                    snap: bool = True) -> torch.Tensor:
    """Invert both chromatic axes of an opponent (DKL) colour space; luminance is kept.

    Pixel values are linearised with the display's transfer function, mapped to cone activations,
    shifted so that the display's mid-grey (linear 0.5) is the origin, converted to DKL axes
    (L+M, L-M, S-(L+M)), the two chromatic axes are negated, and everything is mapped back.
    Colours that leave the display gamut are clipped in linear space, as in the published code.

    The display transfer function is, by default, the measured table of the paper's display
    (:func:`~gaplens.robustness.published_gamma_table`, 256 entries; a power law fitted to it has
    an exponent of about 2.48): ``gamma_table`` replaces it by another table (display output for
    each of the equally spaced inputs ``0, 1/(K-1), ..., 1``; looked up with linear interpolation,
    which is exact at those inputs), ``gamma`` by the power law ``x ** gamma``.

    Args:
        images: ``(N, 3, H, W)`` in ``[0, 1]``.
        gamma: a display exponent (e.g. 2.2) instead of a table; exclusive with ``gamma_table``.
        gamma_table: a measured display table (default: the published one).
        snap: with a table, map back as the published code does: to the input of the *nearest*
            table entry, ``k / (K-1)`` (8-bit output for the published table); ``False``
            interpolates the table's inverse instead (not quantised; then, for colours that stay
            in gamut, applying the map twice gives the image back).

    Returns:
        ``(N, 3, H, W)`` in ``[0, 1]``; with the published table and ``snap=True`` equal to the
        published code's output for 8-bit input (up to float rounding at ties between two entries).
    """
    if not isinstance(snap, bool):
        raise InputError(f"snap={snap!r}; expected True or False")
    matrix = torch.as_tensor(_opponent_matrix(), dtype=images.dtype, device=images.device)
    if gamma is not None:
        if gamma_table is not None:
            raise InputError("give gamma= (a power law) or gamma_table= (a measured table), not both")
        if not (isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and gamma > 0):
            raise InputError(f"gamma={gamma!r}; expected a positive display exponent (e.g. 2.2)")
        linear = images ** gamma
    else:
        table = published_gamma_table() if gamma_table is None else gamma_table
        ys = _gamma_table(table).to(dtype=images.dtype, device=images.device)
        xs = torch.linspace(0, 1, ys.numel(), dtype=images.dtype, device=images.device)
        linear = _interp(images, xs, ys)
    n, _, h, w = linear.shape
    flipped = torch.matmul(matrix, (linear - 0.5).reshape(n, 3, h * w)).reshape(n, 3, h, w).add_(0.5).clamp_(0, 1)
    if gamma is not None:
        return flipped ** (1.0 / gamma)
    if snap:
        return _nearest_entry(flipped, ys).to(images.dtype) / (ys.numel() - 1)
    return _interp(flipped, ys, xs)


def _opponent(images: torch.Tensor, level: str, rng: object, gamma: float | None = None,
              gamma_table: object = None, snap: bool = True) -> torch.Tensor:
    if level == "true":
        return images.clone()
    return opponent_colour(images, gamma=gamma, gamma_table=gamma_table, snap=snap).clamp(0, 1)


OPPONENT_COLOUR = Distortion(
    name="opponent_colour",
    levels=("true", "opponent"),
    description="invert both chromatic axes of a DKL opponent colour space (luminance kept); the paper's "
                "measured display table by default",
    apply=_opponent,
    parse=named_level("opponent_colour", ("true", "opponent")),
    clean_level="true",
    reference=lambda images, **_: images.clone(),
    level_label="colour",
    options=("gamma", "gamma_table", "snap"),
)
