"""Statistics shared by evaluation, distortion sweeps and new-test-set analysis."""

from __future__ import annotations

import numpy as np
from scipy import stats

from gaplens.core.errors import InputError


def clopper_pearson(k, n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray] | tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided ``1 - alpha`` interval for a binomial proportion k/n.

    From beta quantiles: low = Beta(alpha/2; k, n-k+1), high = Beta(1-alpha/2; k+1, n-k), with
    low = 0 at k = 0 and high = 1 at k = n. Vectorized over ``k`` and ``n``; scalars in give
    floats out.

    >>> lo, hi = clopper_pearson(0, 10)
    >>> lo, round(hi, 4)
    (0.0, 0.3085)
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha={alpha}; expected a value in (0, 1)")
    k_arr = np.asarray(k, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    if np.any(n_arr <= 0):
        raise InputError(f"n={n!r}; every n must be positive")
    if np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise InputError(f"k={k!r}, n={n!r}; expected 0 <= k <= n")
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k_arr > 0, stats.beta.ppf(alpha / 2, k_arr, n_arr - k_arr + 1), 0.0)
        high = np.where(k_arr < n_arr, stats.beta.ppf(1 - alpha / 2, k_arr + 1, n_arr - k_arr), 1.0)
    if np.ndim(k) == 0 and np.ndim(n) == 0:
        return float(low), float(high)
    return low, high
