"""Float64 copies of the zoo fixtures and a batch of inputs with mixed targets, for Captum oracles."""

from __future__ import annotations

import copy

import pytest
import torch


@pytest.fixture(params=["resnet", "vgg"])
def model64(request, tiny_resnet, tiny_vgg):
    model = tiny_resnet if request.param == "resnet" else tiny_vgg
    if request.param == "resnet":
        # non-trivial BatchNorm statistics, so eval-mode BN is really exercised
        model.train()
        with torch.no_grad():
            model(torch.rand(16, 3, 32, 32))
        model.eval()
    return copy.deepcopy(model).double().eval()


@pytest.fixture
def batch64():
    gen = torch.Generator().manual_seed(11)
    return torch.rand(4, 3, 32, 32, generator=gen, dtype=torch.float64), [0, 3, 1, 2]

