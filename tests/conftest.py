"""Shared fixtures: small zoo models in eval mode, and a snapshot of a model's full state."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.model import Classifier
from gaplens.zoo import build


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture
def tiny_resnet() -> Classifier:
    torch.manual_seed(0)
    net = build("resnet", num_classes=4, widths=(8, 16), blocks=(1, 1))
    return Classifier(net, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), class_names=list("abcd"),
                      input_size=(32, 32)).eval()


@pytest.fixture
def tiny_vgg() -> Classifier:
    torch.manual_seed(0)
    # plain VGG (no BatchNorm): every conv is followed directly by an in-place ReLU
    net = build("vgg", num_classes=4, widths=(8, 16), convs_per_stage=(1, 2), batch_norm=False)
    return Classifier(net, class_names=list("abcd"), input_size=(32, 32)).eval()
