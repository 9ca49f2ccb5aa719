"""Sanity-check tests run many small forward/backward passes: one thread is faster for them on a busy machine."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(_threads):
    # tiny models (32 x 32 images, 8-16 channels): a second thread costs more in synchronisation than it
    # saves, and on a shared, loaded machine OpenMP spin-waits make it many times slower
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
