"""Linear fit of new-set accuracy against original-set accuracy, in linear, probit or logit scale.

Recht et al. (2019) found that models' accuracies on the original and the new test set lie close
to a line (slope above 1), and closest when both axes are probit-transformed
(``scipy.stats.norm.ppf``). :func:`linear_fit` fits ``T(acc_new) = intercept + slope * T(acc_orig)``
by (weighted) least squares, where ``T`` is the identity, the probit or the logit, and gives the
slope's interval by a percentile bootstrap over models. :meth:`Fit.predict` and :meth:`Fit.band`
map the line and its confidence band back to accuracy space, for drawing on accuracy axes.

>>> import numpy as np
>>> fit = linear_fit([0.7, 0.8, 0.9, 0.95], [0.55, 0.68, 0.82, 0.9], scale="linear", n_boot=200)
>>> round(fit.slope, 3), round(fit.intercept, 3)
(1.393, -0.429)
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from gaplens.core.errors import InputError

__all__ = ["SCALES", "Fit", "ClippedAccuracyWarning", "linear_fit", "to_scale", "from_scale",
           "studentized_residuals", "OUTLIER_THRESHOLD"]

#: The axis scalings :func:`linear_fit` accepts.
SCALES = ("linear", "probit", "logit")
#: A model is an outlier of the fit when its externally studentized residual exceeds this in absolute value.
#: Under the line model such a residual is Student-t distributed with ``M - 3`` degrees of freedom, so
#: ``|t| > 3`` happens by chance for about 1 model in 200 (M = 64: p = 0.004 two-sided), a handful of
#: false alarms in a large testbed at most, while a model that sits off the trend is named.
OUTLIER_THRESHOLD = 3.0
#: Clipping margin for accuracies of exactly 0 or 1 when the test-set size is unknown.
DEFAULT_EPS = 1e-4


class ClippedAccuracyWarning(UserWarning):
    """Accuracies of exactly 0 or 1 were moved inside (0, 1) before a probit/logit transform."""


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise InputError(f"scale={scale!r}; expected one of {', '.join(map(repr, SCALES))}")
    return scale


def to_scale(acc, scale: str) -> np.ndarray:
    """``T(acc)``: identity (``"linear"``), ``norm.ppf`` (``"probit"``) or ``log(p / (1 - p))`` (``"logit"``).

    No clipping: 0 and 1 map to ``-inf``/``inf`` in probit and logit scale (:func:`linear_fit`
    clips its data first).
    """
    acc = np.asarray(acc, dtype=float)
    _check_scale(scale)
    if scale == "linear":
        return acc.copy()
    with np.errstate(divide="ignore"):
        return stats.norm.ppf(acc) if scale == "probit" else special.logit(acc)


def from_scale(z, scale: str) -> np.ndarray:
    """The inverse of :func:`to_scale`: back to accuracy space."""
    z = np.asarray(z, dtype=float)
    _check_scale(scale)
    if scale == "linear":
        return z.copy()
    return stats.norm.cdf(z) if scale == "probit" else special.expit(z)


@dataclass
class Fit:
    """A line ``T(acc_new) = intercept + slope * T(acc_orig)`` in scale ``T`` (see :func:`linear_fit`).

    Attributes:
        scale: ``"linear"``, ``"probit"`` or ``"logit"``.
        slope, intercept: least-squares estimates, in the transformed space.
        r2: coefficient of determination in the transformed space (weighted when weights were given).
        slope_ci, intercept_ci: percentile bootstrap intervals over models at ``level``
            (``(nan, nan)`` with ``n_boot=0``).
        residuals: ``(M,)`` ``T(acc_new) - (intercept + slope * T(acc_orig))``, transformed space.
        level: the confidence level of the intervals (0.95 by default).
        n_models: number of models fitted.
        clipped: how many input accuracies were clipped away from 0 or 1 (probit/logit only).
        boot_slopes, boot_intercepts: ``(B,)`` bootstrap replicates (NaN where a resample had
            a single distinct original accuracy).
        studentized: ``(M,)`` externally studentized residuals (see
            :func:`studentized_residuals`; NaN with fewer than 4 models).
    """

    scale: str
    slope: float
    intercept: float
    r2: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    residuals: np.ndarray
    level: float
    n_models: int
    clipped: int = 0
    boot_slopes: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    boot_intercepts: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    studentized: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def _grid(self, acc_orig) -> np.ndarray:
        acc = np.asarray(acc_orig, dtype=float)
        if self.scale != "linear":
            # only for drawing: keep the transform finite at 0 and 1
            acc = np.clip(acc, 1e-12, 1 - 1e-12)
        return to_scale(acc, self.scale)

    def predict(self, acc_orig) -> np.ndarray:
        """New-set accuracy on the fitted line at original-set accuracies ``acc_orig`` (any shape).

        In linear scale the value is not clipped to [0, 1]; probit and logit lines stay inside.
        """
        return from_scale(self.intercept + self.slope * self._grid(acc_orig), self.scale)

    def band(self, acc_orig, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise bootstrap confidence band ``(low, high)`` of the line at ``acc_orig``, accuracy space.

        The ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the bootstrap lines at each
        point (default level: the fit's). ``(nan, nan)`` arrays when the fit has no bootstrap.
        """
        level = self.level if level is None else _check_level(level)
        z = self._grid(acc_orig)
        ok = np.isfinite(self.boot_slopes)
        if not ok.any():
            nan = np.full(z.shape, np.nan)
            return nan, nan.copy()
        lines = self.boot_intercepts[ok, None] + self.boot_slopes[ok, None] * z.reshape(1, -1)
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(lines, [tail, 100 - tail], axis=0)
        return from_scale(low.reshape(z.shape), self.scale), from_scale(high.reshape(z.shape), self.scale)

    @property
    def record(self) -> dict:
        """The fit as one flat record (for the run store / a DataFrame)."""
        return {"scale": self.scale, "slope": self.slope, "slope_ci_low": self.slope_ci[0],
                "slope_ci_high": self.slope_ci[1], "intercept": self.intercept,
                "intercept_ci_low": self.intercept_ci[0], "intercept_ci_high": self.intercept_ci[1],
                "r2": self.r2, "level": self.level, "n_models": self.n_models, "clipped": self.clipped}


def _check_level(level: float) -> float:
    if not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise InputError(f"level={level!r}; expected a number in (0, 1), e.g. 0.95")
    return float(level)


def _vector(name: str, values, length: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: expected a 1-D sequence of numbers ({exc})") from None
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D sequence, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise InputError(f"{name} has {arr.shape[0]} values; expected {length} (one per model)")
    if not np.all(np.isfinite(arr)):
        index = int(np.argmin(np.isfinite(arr)))
        raise InputError(f"{name}: values must be finite (found NaN or inf at index {index})")
    return arr


def _clip(name: str, acc: np.ndarray, n, scale: str) -> tuple[np.ndarray, int, str]:
    """Clip to [eps, 1 - eps] (eps = 0.5/n, or 1e-4 without n); also say what was clipped."""
    if scale == "linear":
        return acc, 0, ""
    if n is None:
        eps = np.full(acc.shape, DEFAULT_EPS)
    else:
        eps = 0.5 / np.broadcast_to(_positive(f"n for {name}", n), acc.shape)
    outside = (acc < eps) | (acc > 1 - eps)
    count = int(outside.sum())
    if not count:
        return acc, 0, ""
    how = "0.5/n" if n is not None else f"{DEFAULT_EPS:g}"
    return np.clip(acc, eps, 1 - eps), count, f"{name}: {count} value(s) clipped to [{how}, 1 - {how}]"


def _positive(name: str, n) -> np.ndarray:
    arr = np.asarray(n, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InputError(f"{name}: test-set sizes must be positive, got {n!r}")
    return arr


def _weighted_line(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted least squares along the last axis: (slope, intercept, sxx); slope NaN where sxx ~ 0."""
    sw = w.sum(-1, keepdims=True)
    xm = (w * x).sum(-1, keepdims=True) / sw
    ym = (w * y).sum(-1, keepdims=True) / sw
    dx = x - xm
    sxx = (w * dx * dx).sum(-1)
    sxy = (w * dx * (y - ym)).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.nan)
    intercept = ym[..., 0] - slope * xm[..., 0]
    return slope, intercept, sxx


def studentized_residuals(x, y, weights=None) -> np.ndarray:
    """Externally studentized residuals ``(M,)`` of the least-squares line ``y ~ a + b x``.

    ``t_i = r_i / (s_(i) * sqrt(1 - h_ii))``, where ``r_i = sqrt(w_i) * (y_i - a - b x_i)`` is the
    (weighted) residual, ``h_ii = w_i / sum(w) + w_i (x_i - xbar_w)^2 / Sxx_w`` the leverage and
    ``s_(i)^2 = (SSE - r_i^2 / (1 - h_ii)) / (M - 3)`` the residual variance of the fit *without*
    model ``i`` (the closed form of refitting without it: Belsley, Kuh & Welsch 1980). Without
    weights this equals ``statsmodels``' ``OLSInfluence.resid_studentized_external``. Leaving the
    model out of its own variance estimate keeps one far-off model from hiding itself by
    inflating the scale; under the model ``t_i`` is Student-t with ``M - 3`` degrees of freedom.

    Args:
        x, y: ``(M,)`` finite values (the transformed accuracies), ``M >= 2``, ``x`` not constant.
        weights: ``(M,)`` positive weights (``None``: ordinary least squares).

    Returns:
        ``(M,)`` floats; all NaN when ``M < 4`` (no degrees of freedom left), NaN where the
        leverage is 1; ``0`` / ``inf`` where the other models lie exactly on a line.

    >>> t = studentized_residuals([0, 1, 2, 3, 4, 5], [0.1, 1.0, 2.1, 2.9, 4.0, 8.0])
    >>> int(np.argmax(np.abs(t)))
    5
    """
    x = _vector("x", x)
    y = _vector("y", y, x.shape[0])
    m = x.shape[0]
    w = np.ones(m) if weights is None else _vector("weights", weights, m)
    if m < 4:
        return np.full(m, np.nan)
    slope, intercept, sxx = _weighted_line(x, y, w)
    if not sxx > 0:
        raise InputError("x: all values are equal; the line is undefined")
    r = np.sqrt(w) * (y - (intercept + slope * x))
    xm = np.sum(w * x) / np.sum(w)
    h = w / np.sum(w) + w * (x - xm) ** 2 / sxx
    sse = float(np.sum(r * r))
    with np.errstate(invalid="ignore", divide="ignore"):
        one_minus_h = np.where(h < 1 - 1e-12, 1 - h, np.nan)
        s2 = np.maximum(sse - r * r / one_minus_h, 0.0) / (m - 3)
        t = r / np.sqrt(s2 * one_minus_h)
    # the other models on an exact line: t is 0 for a model on it, infinite for one off it
    exact = np.isfinite(one_minus_h) & (s2 <= 1e-30 * max(sse, 1e-300))
    t = np.where(exact, np.where(np.abs(r) > 0, np.sign(r) * np.inf, 0.0), t)
    return t


def linear_fit(
    acc_orig,
    acc_new,
    scale: str = "probit",
    weights=None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    n_orig=None,
    n_new=None,
) -> Fit:
    """Fit ``T(acc_new) = intercept + slope * T(acc_orig)`` over models by (weighted) least squares.

    Args:
        acc_orig, acc_new: ``(M,)`` accuracies in ``[0, 1]`` of ``M >= 2`` models on the original
            and the new test set.
        scale: ``T``: ``"linear"`` (identity), ``"probit"`` (``scipy.stats.norm.ppf``, Recht et
            al.'s choice) or ``"logit"``. Accuracies of exactly 0 or 1 are infinite in probit and
            logit scale: they are clipped to ``[eps, 1 - eps]`` with a
            :class:`ClippedAccuracyWarning`, where ``eps = 0.5 / n`` when the set sizes are given
            (``n_orig``, ``n_new``: scalars or ``(M,)``) and ``1e-4`` otherwise.
        weights: ``(M,)`` positive weights of the squared residuals (``None``: all equal, the
            ordinary least squares of ``scipy.stats.linregress``).
        n_boot: bootstrap resamples of the models for ``slope_ci``, ``intercept_ci`` and
            :meth:`Fit.band` (0: no intervals). Resamples whose models share one original
            accuracy are dropped.
        seed: seed of the bootstrap.
        level: confidence level of the intervals.

    Returns:
        A :class:`Fit`.

    Raises:
        InputError: lengths differ, values outside ``[0, 1]`` or not finite, fewer than 2 models,
            all original accuracies equal, bad weights/scale/n_boot/level.
    """
    scale = _check_scale(scale)
    level = _check_level(level)
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 0:
        raise InputError(f"n_boot={n_boot!r}; expected a non-negative integer")
    x = _vector("acc_orig", acc_orig)
    y = _vector("acc_new", acc_new, x.shape[0])
    m = x.shape[0]
    if m < 2:
        raise InputError(f"acc_orig has {m} value(s); a line needs at least 2 models")
    for name, arr in (("acc_orig", x), ("acc_new", y)):
        if np.any((arr < 0) | (arr > 1)):
            bad = arr[(arr < 0) | (arr > 1)][0]
            hint = " (percentages? divide by 100)" if 1 < bad <= 100 else ""
            raise InputError(f"{name}: accuracies must lie in [0, 1], found {bad:g}{hint}")
    w = np.ones(m) if weights is None else _vector("weights", weights, m)
    if np.any(w <= 0):
        raise InputError("weights must be positive")
    x, clipped_x, note_x = _clip("acc_orig", x, n_orig, scale)
    y, clipped_y, note_y = _clip("acc_new", y, n_new, scale)
    clipped = clipped_x + clipped_y
    if clipped:
        warnings.warn(
            f"accuracies of exactly 0 or 1 are infinite in {scale} scale; "
            f"{'; '.join(n for n in (note_x, note_y) if n)} for the fit",
            ClippedAccuracyWarning, stacklevel=2,
        )
    tx, ty = to_scale(x, scale), to_scale(y, scale)

    if np.ptp(tx) == 0:
        raise InputError("acc_orig: all original accuracies are equal; the slope is undefined")
    slope, intercept, sxx = _weighted_line(tx, ty, w)
    slope, intercept = float(slope), float(intercept)
    residuals = ty - (intercept + slope * tx)
    ym = np.sum(w * ty) / np.sum(w)
    ss_tot = float(np.sum(w * (ty - ym) ** 2))
    r2 = 1.0 - float(np.sum(w * residuals**2)) / ss_tot if ss_tot > 0 else 1.0

    nan = (float("nan"), float("nan"))
    boot_s = boot_i = np.zeros(0)
    slope_ci = intercept_ci = nan
    if n_boot:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, m, size=(n_boot, m))
        boot_s, boot_i, bsxx = _weighted_line(tx[idx], ty[idx], w[idx])
        degenerate = ~(bsxx > 1e-12 * sxx)
        boot_s[degenerate] = np.nan
        boot_i[degenerate] = np.nan
        ok = np.isfinite(boot_s)
        if ok.any():
            tail = 100 * (1 - level) / 2
            slope_ci = tuple(float(v) for v in np.percentile(boot_s[ok], [tail, 100 - tail]))
            intercept_ci = tuple(float(v) for v in np.percentile(boot_i[ok], [tail, 100 - tail]))
    return Fit(scale=scale, slope=slope, intercept=intercept, r2=r2, slope_ci=slope_ci,
               intercept_ci=intercept_ci, residuals=residuals, level=level, n_models=m,
               clipped=clipped, boot_slopes=boot_s, boot_intercepts=boot_i,
               studentized=studentized_residuals(tx, ty, w))
