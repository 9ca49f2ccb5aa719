"""shift.evaluate: counts against a brute-force loop, and resumption after a crash."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_same_state, model_state
from torch import nn

from gaplens.core.errors import InputError
from gaplens.shift import analyze, evaluate, per_class_drop
from gaplens.store import RunStore
from gaplens.zoo import build


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


class PlainDataset(torch.utils.data.Dataset):
    """A map-style dataset without .labels: goes through the DataLoader path."""

    def __init__(self, images, labels):
        self.images, self.labels_ = images, labels

    def __len__(self):
        return len(self.labels_)

    def __getitem__(self, i):
        return self.images[i], int(self.labels_[i])


def _nets(n=3):
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


def test_counts_match_a_brute_force_loop(sets, tiny_resnet):
    original, new = sets
    models = {**_nets(2), "resnet": tiny_resnet}
    before = model_state(tiny_resnet)
    result = evaluate(models, original, PlainDataset(*new), batch_size=5)
    assert_same_state(before, model_state(tiny_resnet))
    expected = []
    with torch.no_grad():
        for name, model in models.items():
            for set_name, (images, labels) in (("original", original), ("new", new)):
                hits = [int(model(images[i : i + 1]).argmax()) == int(labels[i]) for i in range(len(labels))]
                assert result.correct[name, set_name].tolist() == hits
                expected.append((name, set_name, len(hits), sum(hits)))
    assert [(r["model"], r["set"], r["n"], r["correct"]) for r in result.records] == expected
    for r in result.records:
        assert r["accuracy"] == r["correct"] / r["n"] and r["ci_low"] <= r["accuracy"] <= r["ci_high"]
    assert torch.equal(result.labels["new"], new[1])
    table = result.table()
    assert list(table.columns) == ["model", "correct_original", "n_original", "correct_new", "n_new"]
    assert table["n_new"].tolist() == [17, 17, 17] and result.models == list(models)
    # the result feeds the analysis directly
    analysis = analyze(table, n_boot=0)
    assert [r["correct_new"] for r in analysis.records] == table["correct_new"].tolist()
    per_class = per_class_drop(result)
    assert sum(r["n_new"] for r in per_class) == 3 * 17
    resnet_new = sum(r["correct_new"] for r in per_class if r["model"] == "resnet")
    assert resnet_new == int(result.correct["resnet", "new"].sum())


def test_resumes_after_a_crash_with_identical_records(sets, tmp_path):
    original, new = sets
    nets = _nets(3)
    reference = evaluate(nets, original, new, batch_size=8)

    first = {"net0": Counting(nets["net0"]), "net1": Counting(nets["net1"], crash=True), "net2": nets["net2"]}
    with RunStore(tmp_path / "run") as store, pytest.raises(RuntimeError, match="simulated crash"):
        evaluate(first, original, new, batch_size=8, store=store)
    with RunStore(tmp_path / "run") as store:
        assert store.is_done("shift", "model=net0") and not store.is_done("shift", "model=net1")
        again = {"net0": Counting(nets["net0"]), "net1": Counting(nets["net1"]), "net2": Counting(nets["net2"])}
        resumed = evaluate(again, original, new, batch_size=8, store=store)
        assert again["net0"].calls == 0 and again["net1"].calls > 0 and again["net2"].calls > 0
        assert resumed.resumed == ["net0"]
        stored = [{k: v for k, v in r.items() if k not in ("study", "unit")} for r in store.records("shift")]
    assert resumed.records == reference.records
    assert stored == reference.records
    for key, value in reference.correct.items():
        assert torch.equal(resumed.correct[key], value)
        assert torch.equal(resumed.predictions[key], reference.predictions[key])

    # a finished run: nothing is evaluated, factories are not even called
    def never():
        raise AssertionError("a finished model was built again")

    with RunStore(tmp_path / "run") as store:
        done = evaluate({name: never for name in nets}, original, new, batch_size=8, store=store)
    assert done.records == reference.records and done.resumed == list(nets)
    assert all(torch.equal(done.correct[k], v) for k, v in reference.correct.items())


def test_missing_or_stale_saved_results_are_recomputed(sets, tmp_path):
    original, new = sets
    nets = _nets(1)
    with RunStore(tmp_path / "run") as store:
        evaluate(nets, original, new, store=store)
        for path in store.maps_dir.glob("shift-*_net0-*.npz"):
            path.unlink()
        with pytest.warns(UserWarning, match="evaluating it again"):
            again = evaluate({"net0": Counting(nets["net0"])}, original, new, store=store)
        assert again.resumed == [] and len(list(store.maps_dir.glob("shift-*_net0-*.npz"))) == 1
        relabelled = (new[0], (new[1] + 1) % 4)  # the new set changed since the first run
        with pytest.warns(UserWarning, match="do not match"):
            changed = evaluate(nets, original, relabelled, store=store)
        assert torch.equal(changed.labels["new"], relabelled[1])
        assert len(store.records("shift")) == 2  # the unit was replaced, not duplicated
        # a second pair of sets in the same run: its own study, the first is left alone
        other = evaluate(nets, original, relabelled, store=store, study="shift/other")
        assert other.resumed == [] and len(store.records("shift/other")) == 2
        assert evaluate(nets, original, relabelled, store=store).resumed == ["net0"]


def test_bad_arguments(sets):
    original, new = sets
    nets = _nets(1)
    with pytest.raises(InputError, match="non-empty dict"):
        evaluate({}, original, new)
    with pytest.raises(InputError, match="empty"):
        evaluate(nets, original, (torch.zeros(0, 3, 16, 16), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(InputError, match="4 outputs"):
        evaluate(nets, original, (new[0], torch.full((17,), 7)))
    with pytest.raises(InputError, match="set_names"):
        evaluate(nets, original, new, set_names=("a", "a"))
    with pytest.raises(InputError, match="batch_size"):
        evaluate(nets, original, new, batch_size=0)
