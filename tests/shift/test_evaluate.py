"""shift.evaluate: counts against a brute-force loop, factories, bad arguments.

Resuming a killed evaluation is the study's: ``tests/studies/test_shift_study.py``.
"""

from __future__ import annotations

import pytest
import torch
from helpers import assert_same_state, model_state, shift_nets, shift_sets

from gaplens.core.errors import InputError
from gaplens.shift import analyze, evaluate, per_class_drop


class PlainDataset(torch.utils.data.Dataset):
    """A map-style dataset without .labels: goes through the DataLoader path."""

    def __init__(self, images, labels):
        self.images, self.labels_ = images, labels

    def __len__(self):
        return len(self.labels_)

    def __getitem__(self, i):
        return self.images[i], int(self.labels_[i])


def _nets(n: int = 3) -> dict:
    return shift_nets(n)


@pytest.fixture
def sets():
    return shift_sets()


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


def test_models_given_as_factories_give_the_same_results(sets):
    original, new = sets
    nets = _nets(2)
    built = []

    def factory(name):
        def make():
            built.append(name)
            return nets[name]
        return make

    direct = evaluate(nets, original, new, batch_size=8)
    made = evaluate({name: factory(name) for name in nets}, original, new, batch_size=8)
    assert built == list(nets) and made.records == direct.records
    assert all(torch.equal(made.correct[k], v) for k, v in direct.correct.items())
    with pytest.raises(InputError, match="factory returned int"):
        evaluate({"bad": lambda: 3}, original, new)
    with pytest.raises(InputError, match="nn.Module or a factory"):
        evaluate({"bad": 3}, original, new)


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
