"""The sweep study: records equal the capability's, a killed sweep resumes where it stopped."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gaplens.robustness import sweep
from gaplens.store import RunStore
from gaplens.studies import Sweep, run_study
from gaplens.studies.models import ModelRef


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))


class _Counting(nn.Module):
    """Counts forward passes; raises after ``limit`` of them (a killed sweep)."""

    def __init__(self, net: nn.Module, limit: int | None = None) -> None:
        super().__init__()
        self.net, self.limit, self.calls = net, limit, 0

    def forward(self, x):
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise RuntimeError("killed")
        return self.net(x)


def _rows(run) -> list[dict]:
    with RunStore(run) as store:
        rows = [r for r in store.records("robustness") if "distortion" in r]
    return sorted(({k: v for k, v in r.items() if k in ("distortion", "level", "correct", "n")} for r in rows),
                  key=lambda r: (r["distortion"], str(r["level"])))


def test_a_killed_sweep_resumes_where_it_stopped_and_equals_the_capability(tmp_path):
    torch.manual_seed(1)
    data = (torch.rand(10, 3, 16, 16), torch.randint(0, 3, (10,)))
    names = "contrast,rotation,uniform_noise"
    expected = sweep(_model(), data, distortions=names, batch_size=5, seed=1)
    killed = _Counting(_model(), limit=20)  # contrast: 8 levels x 2 batches = 16 passes; dies in rotation

    def study(model):
        return Sweep([ModelRef("m", model=model, device="cpu")], data, names, batch_size=5, seed=1)

    with pytest.raises(RuntimeError, match="killed"):
        run_study(study(killed), tmp_path, progress=False, report=False)
    with RunStore(tmp_path) as store:
        assert store.units("robustness") == ["m/contrast"] and store.runs()[0]["status"] == "failed"
    resumed = _Counting(_model())
    run_study(study(resumed), tmp_path, progress=False, report=False)
    assert resumed.calls == (4 + 8) * 2  # only rotation and uniform noise were evaluated
    again = _Counting(_model())
    run_study(study(again), tmp_path, progress=False, report=False)
    assert again.calls == 0
    by_key = sorted(({k: r[k] for k in ("distortion", "level", "correct", "n")} for r in expected),
                    key=lambda r: (r["distortion"], str(r["level"])))
    assert _rows(tmp_path) == by_key
    other_seed = _Counting(_model())  # another seed: every unit is evaluated again
    run_study(Sweep([ModelRef("m", model=other_seed, device="cpu")], data, names, batch_size=5, seed=2), tmp_path,
              progress=False, report=False)
    assert other_seed.calls == (8 + 4 + 8) * 2
