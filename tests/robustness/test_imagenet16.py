"""The 16-class-ImageNet mapping: 16 categories, 207 members, no overlap, and the averaging decision."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.robustness.imagenet16 import CATEGORIES, MEMBERS, category_of, category_probabilities, decide


def test_sixteen_categories_and_207_disjoint_members():
    assert len(CATEGORIES) == 16 and list(CATEGORIES) == sorted(CATEGORIES) == sorted(MEMBERS)
    members = [m for name in CATEGORIES for m in MEMBERS[name]]
    assert len(members) == 207 and len(set(members)) == 207
    assert all(0 <= m < 1000 for m in members)
    sizes = {name: len(MEMBERS[name]) for name in CATEGORIES}
    assert sizes == {"airplane": 1, "bear": 4, "bicycle": 2, "bird": 49, "boat": 5, "bottle": 7, "car": 3, "cat": 6,
                     "chair": 4, "clock": 3, "dog": 109, "elephant": 2, "keyboard": 2, "knife": 1, "oven": 1,
                     "truck": 8}


def test_known_members():
    # a few classes whose ILSVRC-2012 index is easy to check: airliner, cleaver, computer keyboard,
    # typewriter keyboard, rotisserie, the three clocks, tabby, golden retriever, school bus (none)
    assert MEMBERS["airplane"] == (404,) and MEMBERS["knife"] == (499,) and MEMBERS["oven"] == (766,)
    assert MEMBERS["keyboard"] == (508, 878) and MEMBERS["clock"] == (409, 530, 892)
    assert category_of(281) == "cat" and category_of(207) == "dog" and category_of(779) is None
    assert category_of(151) is None  # the Chihuahua is not in the authors' dog list


@pytest.mark.parametrize("name", CATEGORIES)
def test_a_one_hot_member_is_mapped_to_its_category(name):
    for member in MEMBERS[name]:
        logits = torch.full((1, 1000), -30.0)
        logits[0, member] = 30.0
        assert CATEGORIES[int(decide(logits))] == name


def test_decision_averages_probabilities_over_members():
    logits = torch.zeros(1, 1000)
    logits[0, 152:160] = 3.0  # 8 of the 109 dogs moderately likely
    logits[0, 404] = 2.5      # the single airplane class a bit less likely than each dog
    probabilities = category_probabilities(logits)[0]
    softmax = torch.softmax(logits, 1)[0]
    dog = CATEGORIES.index("dog")
    assert probabilities[dog] == pytest.approx(float(softmax[list(MEMBERS["dog"])].mean()))
    assert CATEGORIES[int(decide(logits))] == "airplane"  # mean, not sum and not max


def test_decisions_index_the_datasets_class_names():
    logits = torch.full((3, 1000), -20.0)
    logits[0, 281], logits[1, 207], logits[2, 404] = 20.0, 20.0, 20.0  # cat, dog, airplane
    assert decide(logits, ["dog", "cat"]).tolist() == [1, 0, -1]
    with pytest.raises(InputError, match="not 16-class-ImageNet"):
        decide(logits, ["dog", "zebra"])
    with pytest.raises(InputError, match="1000"):
        decide(torch.zeros(2, 16))
