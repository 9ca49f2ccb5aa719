"""The new-test-set study: a crash mid-models resumes to the capability's records, changed labels
recompute, and two comparisons in one run are kept apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gaplens.shift import evaluate
from gaplens.store import RunStore
from gaplens.studies import Runner, ShiftEvaluate, run_study
from gaplens.studies.models import ModelRef
from gaplens.studies.runner import Context
from gaplens.zoo import build

KEYS = ("model", "set", "n", "correct", "accuracy", "ci_low", "ci_high")


class Counting(nn.Module):
    """Counts forward calls; raises on the first call when ``crash`` is set (a killed run)."""

    def __init__(self, net: nn.Module, crash: bool = False) -> None:
        super().__init__()
        self.net, self.crash, self.calls = net, crash, 0

    def forward(self, x):
        self.calls += 1
        if self.crash:
            raise RuntimeError("simulated crash")
        return self.net(x)


def _nets(n: int = 3) -> dict[str, nn.Module]:
    nets = {}
    for i in range(n):
        torch.manual_seed(i)
        nets[f"net{i}"] = build("vgg", num_classes=4, widths=(4, 8), convs_per_stage=(1, 1)).eval()
    return nets


@pytest.fixture
def sets():
    gen = torch.Generator().manual_seed(0)
    original = (torch.rand(23, 3, 16, 16, generator=gen), torch.randint(0, 4, (23,), generator=gen))
    new = (torch.rand(17, 3, 16, 16, generator=gen), torch.randint(0, 4, (17,), generator=gen))
    return original, new


def _study(models: dict[str, nn.Module], original, new, comparison: str = "shift") -> ShiftEvaluate:
    refs = [ModelRef(name, model=model, device="cpu") for name, model in models.items()]
    return ShiftEvaluate(refs, original, new, comparison=comparison, batch_size=8)


def _evals(run, comparison: str = "shift") -> list[dict]:
    """The stored per-(model, set) records of one comparison, in the capability's record layout."""
    with RunStore(run) as store:
        rows = [r for r in store.records("shift") if r.get("kind") == "eval" and r["comparison"] == comparison]
    return sorted(({k: r[k] for k in KEYS} for r in rows), key=lambda r: (r["model"], r["set"] != "original"))


def test_a_crash_mid_models_resumes_to_the_uninterrupted_result(sets, tmp_path):
    original, new = sets
    nets = _nets(3)
    reference = evaluate(nets, original, new, batch_size=8)

    crashing = {"net0": Counting(nets["net0"]), "net1": Counting(nets["net1"], crash=True),
                "net2": Counting(nets["net2"])}
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_study(_study(crashing, original, new), tmp_path, progress=False, report=False)
    assert crashing["net0"].calls > 0 and crashing["net2"].calls == 0
    with RunStore(tmp_path) as store:
        assert store.units("shift") == ["shift/net0"] and store.runs()[0]["status"] == "failed"

    again = {name: Counting(net) for name, net in nets.items()}
    result = run_study(_study(again, original, new), tmp_path, progress=False, report=False)
    assert again["net0"].calls == 0 and again["net1"].calls > 0 and again["net2"].calls > 0
    assert result.skipped == ["shift/net0"] and result.ran == ["shift/net1", "shift/net2", "shift/analysis"]
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in reference.records]
    with RunStore(tmp_path) as store:
        ctx = Context(store, tmp_path)
        for name in nets:
            for s in ("original", "new"):
                saved = ctx.load_array("shift", f"shift/{name}", f"correct_{s}")
                assert np.array_equal(saved, reference.correct[name, s].numpy())
                assert np.array_equal(ctx.load_array("shift", f"shift/{name}", f"labels_{s}"),
                                      reference.labels[s].numpy())
        drops = {r["model"]: r for r in store.records("shift") if r.get("kind") == "model"}
    assert sorted(drops) == sorted(nets)  # the analysis covers every model, resumed or not

    # a finished run: nothing is evaluated again
    done = {name: Counting(net) for name, net in nets.items()}
    result = run_study(_study(done, original, new), tmp_path, progress=False, report=False)
    assert result.ran == [] and all(m.calls == 0 for m in done.values())
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in reference.records]


def test_changed_labels_recompute_and_replace_the_units(sets, tmp_path):
    original, new = sets
    nets = _nets(2)
    first = {name: Counting(net) for name, net in nets.items()}  # the same weights digest as below
    run_study(_study(first, original, new), tmp_path, progress=False, report=False)
    relabelled = (new[0], (new[1] + 1) % 4)  # the new set changed since the first run
    counting = {name: Counting(net) for name, net in nets.items()}
    result = run_study(_study(counting, original, relabelled), tmp_path, progress=False, report=False)
    assert result.skipped == [] and all(m.calls > 0 for m in counting.values())
    expected = evaluate(nets, original, relabelled, batch_size=8)
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in expected.records]  # replaced, not duplicated
    with RunStore(tmp_path) as store:
        labels = Context(store, tmp_path).load_array("shift", "shift/net0", "labels_new")
    assert np.array_equal(labels, relabelled[1].numpy())


def test_a_second_comparison_in_one_run_is_kept_apart(sets, tmp_path):
    original, new = sets
    nets = _nets(2)
    relabelled = (new[0], (new[1] + 1) % 4)
    wrapped = {name: Counting(net) for name, net in nets.items()}  # the same weights digest as below
    with Runner(tmp_path, progress=False, report=False) as runner:
        runner.run(_study(wrapped, original, new))
        other = runner.run(_study(wrapped, original, relabelled, comparison="other"))
    assert other.ran == ["other/net0", "other/net1", "other/analysis"] and other.pruned == []
    with RunStore(tmp_path) as store:
        assert store.units("shift") == ["shift/net0", "shift/net1", "shift/analysis",
                                        "other/net0", "other/net1", "other/analysis"]
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in evaluate(nets, original, new, batch_size=8).records]
    assert _evals(tmp_path, "other") == [{k: r[k] for k in KEYS}
                                         for r in evaluate(nets, original, relabelled, batch_size=8).records]
    counting = {name: Counting(net) for name, net in nets.items()}  # the first comparison is still done
    first = run_study(_study(counting, original, new), tmp_path, progress=False, report=False)
    assert first.ran == [] and all(m.calls == 0 for m in counting.values())


def test_a_finished_run_does_not_build_factory_models(sets, tmp_path):
    original, new = sets
    nets = _nets(2)

    def refs(make):
        return [ModelRef(name, factory=make(name), identity={"net": name}, device="cpu") for name in nets]

    run_study(ShiftEvaluate(refs(lambda name: lambda: nets[name]), original, new, batch_size=8), tmp_path,
              progress=False, report=False)

    def never(name):
        def build_again():
            raise AssertionError(f"the finished model {name} was built again")
        return build_again

    done = run_study(ShiftEvaluate(refs(never), original, new, batch_size=8), tmp_path, progress=False, report=False)
    assert done.ran == [] and len(done.skipped) == 3
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in evaluate(nets, original, new, batch_size=8).records]
