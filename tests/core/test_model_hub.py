"""``load_model("torchvision:NAME")`` metadata, against a stand-in torchvision (the real one is not a test dep)."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from gaplens.core.errors import SpecError
from gaplens.core.model import load_model


class _Weights:
    meta = {"categories": ["tench", "goldfish", "great white shark"]}

    def transforms(self):
        return types.SimpleNamespace(crop_size=[299])


def _get_model(name, weights=None, num_classes=3, **kwargs):
    if name != "inception_v3":
        raise ValueError(name)
    if kwargs:
        raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))


@pytest.fixture
def fake_torchvision(monkeypatch):
    models = types.SimpleNamespace(get_model=_get_model,
                                   get_model_weights=lambda name: types.SimpleNamespace(DEFAULT=_Weights()))
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(models=models))


def test_input_size_and_class_names_from_the_weights_meta(fake_torchvision):
    model = load_model("torchvision:inception_v3", device="cpu")
    assert model.input_size == (299, 299)
    assert model.class_names == ["tench", "goldfish", "great white shark"]
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 3)


def test_constructor_kwargs_and_a_new_head(fake_torchvision):
    model = load_model("torchvision:inception_v3", device="cpu", num_classes=5)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 5)
    assert model.class_names is None  # ImageNet's names do not fit a 5-class head
    with pytest.raises(SpecError, match="unexpected keyword"):
        load_model("torchvision:inception_v3", device="cpu", dropout=0.3)
    with pytest.raises(SpecError, match="torchvision:NAME"):
        load_model("does/not/exist", device="cpu", num_classes=5)
