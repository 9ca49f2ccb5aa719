from __future__ import annotations

import pytest
import torch

from gaplens.core.batching import chunks, map_batches
from gaplens.core.errors import InputError


def test_chunks_cover_range_once():
    for n, b in [(10, 3), (9, 3), (1, 5), (0, 2)]:
        seen = [i for s in chunks(n, b) for i in range(n)[s]]
        assert seen == list(range(n))
        assert all(s.stop - s.start <= b for s in chunks(n, b))


def test_map_batches_equals_unbatched():
    x = torch.randn(23, 4)
    y = torch.randn(23, 4)
    calls = []

    def fn(a, b):
        calls.append(a.shape[0])
        return (a * b).sum(1, keepdim=True), a.sum(1)

    out = map_batches(fn, x, y, batch_size=5)
    assert max(calls) <= 5 and sum(calls) == 23
    ref = torch.stack([x[i] @ y[i] for i in range(23)]).unsqueeze(1)
    torch.testing.assert_close(out[0], ref)
    torch.testing.assert_close(out[1], x.sum(1))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_batch_size(bad):
    with pytest.raises(InputError, match="batch_size"):
        map_batches(lambda a: a, torch.ones(3), batch_size=bad)


def test_mismatched_lengths():
    with pytest.raises(InputError, match="differ"):
        map_batches(lambda a, b: a, torch.ones(3), torch.ones(4), batch_size=2)
