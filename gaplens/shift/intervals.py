"""Exact intervals for accuracies and for the drop between two test sets.

``clopper_pearson`` is the one in :mod:`gaplens.core.stats` (re-exported here). The drop
``acc_original - acc_new`` of one model gets the MOVER interval (Newcombe 1998; Zou & Donner
2008) built from the two Clopper-Pearson intervals, which treats the two test sets as
independent samples and is conservative like its ingredients.
"""

from __future__ import annotations

import numpy as np

from gaplens.core.stats import clopper_pearson

__all__ = ["clopper_pearson", "drop_interval"]


def drop_interval(k_orig, n_orig, k_new, n_new, alpha: float = 0.05):
    """``(drop, low, high)`` for ``drop = k_orig / n_orig - k_new / n_new``, a ``1 - alpha`` interval.

    MOVER (method of variance estimates recovery) with Clopper-Pearson intervals ``(l1, u1)`` of
    the original-set accuracy ``p1`` and ``(l2, u2)`` of the new-set accuracy ``p2``::

        low  = d - sqrt((p1 - l1)**2 + (u2 - p2)**2)
        high = d + sqrt((u1 - p1)**2 + (p2 - l2)**2)

    Vectorized over all four counts (numpy broadcasting); scalars in give floats out. Counts are
    validated as in :func:`clopper_pearson` (``0 <= k <= n``, ``n > 0``).

    >>> d, lo, hi = drop_interval(90, 100, 80, 100)
    >>> round(d, 2), round(lo, 3), round(hi, 3)
    (0.1, -0.006, 0.205)
    """
    l1, u1 = clopper_pearson(k_orig, n_orig, alpha)
    l2, u2 = clopper_pearson(k_new, n_new, alpha)
    p1 = np.asarray(k_orig, dtype=float) / np.asarray(n_orig, dtype=float)
    p2 = np.asarray(k_new, dtype=float) / np.asarray(n_new, dtype=float)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    if all(np.ndim(v) == 0 for v in (k_orig, n_orig, k_new, n_new)):
        return float(d), float(low), float(high)
    return d, low, high
