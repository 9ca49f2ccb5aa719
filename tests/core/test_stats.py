from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from gaplens.core.errors import InputError
from gaplens.core.stats import clopper_pearson


def test_matches_statsmodels_on_a_grid():
    ks, ns = [], []
    for n in (1, 2, 7, 50, 333, 10000):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            if 0 <= k <= n:
                ks.append(k)
                ns.append(n)
    low, high = clopper_pearson(np.array(ks), np.array(ns))
    ref_low, ref_high = proportion_confint(np.array(ks), np.array(ns), alpha=0.05, method="beta")
    np.testing.assert_allclose(low, np.nan_to_num(ref_low, nan=0.0), atol=1e-10)
    np.testing.assert_allclose(high, np.nan_to_num(ref_high, nan=1.0), atol=1e-10)
    assert clopper_pearson(0, 5)[0] == 0.0 and clopper_pearson(5, 5)[1] == 1.0


def test_bad_counts():
    for k, n in [(3, 2), (-1, 4), (0, 0)]:
        with pytest.raises(InputError):
            clopper_pearson(k, n)
