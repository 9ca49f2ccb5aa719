"""The benchmarks' shared timer (the scripts run as ``python benchmarks/NAME.py``, so this folder is on
``sys.path`` and they import it as ``timing``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeats: int, warmup: bool = True) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn``, after one untimed call when ``warmup``
    (caches, the allocator, lazy imports): the minimum is the measure least disturbed by other load."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
