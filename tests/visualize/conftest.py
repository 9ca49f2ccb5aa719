"""One thread for these tests: their models are tiny, and on a shared 2-core machine two OpenMP threads
waiting for each other are many times slower than one (the root conftest sets 2; restored after)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
