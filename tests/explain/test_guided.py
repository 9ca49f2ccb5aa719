"""Guided backprop and DeconvNet: Captum where it is right, a module-swap reference where it is not."""

from __future__ import annotations

import copy

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop
from helpers import assert_same_state, model_state
from torch import nn

from gaplens.core.errors import InputError
from gaplens.explain.base import attribute


class _RuleReLU(nn.Module):
    """A ReLU module with a replaced backward: the textbook way, used here only as an oracle."""

    def __init__(self, rule: str) -> None:
        super().__init__()
        self.rule = rule

    def forward(self, x):
        rule = self.rule

        class Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, inp):
                ctx.save_for_backward(inp)
                return inp.clamp(min=0)

            @staticmethod
            def backward(ctx, grad):
                (inp,) = ctx.saved_tensors
                out = grad.clamp(min=0)
                return out * (inp > 0) if rule == "guided" else out

        return Fn.apply(x)


def swapped_reference(model: nn.Module, x: torch.Tensor, target, rule: str) -> torch.Tensor:
    """Brute force: a deep copy with every nn.ReLU module replaced (each call goes through the rule)."""
    ref = copy.deepcopy(model)
    for module in list(ref.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, child_name, _RuleReLU(rule))
    x = x.clone().requires_grad_(True)
    out = ref(x)
    out[range(x.shape[0]), target].sum().backward()
    return x.grad


def _rel(actual, expected, rel=1e-6):
    scale = expected.abs().max().item()
    assert (actual - expected).abs().max().item() <= rel * max(scale, 1e-30)


@pytest.mark.parametrize("method,rule,captum_cls", [("guided_backprop", "guided", GuidedBackprop),
                                                    ("deconvnet", "deconvnet", Deconvolution)])
def test_matches_reference_and_captum(model64, batch64, method, rule, captum_cls):
    x, target = batch64
    before = model_state(model64)
    ours = attribute(model64, x, target=target, method=method, batch_size=3)
    assert_same_state(before, model_state(model64))
    _rel(ours, swapped_reference(model64, x, target, rule))
    # Captum 0.9 hooks each ReLU call (not each module), so it is right on the zoo ResNet's
    # twice-called ReLU modules too; both oracles must agree.
    theirs = captum_cls(model64).attribute(x.clone().requires_grad_(), target=target)
    _rel(ours, theirs)


def test_guided_differs_from_plain_gradient(model64, batch64):
    x, target = batch64
    guided = attribute(model64, x, target=target, method="guided_backprop")
    plain = attribute(model64, x, target=target, method="gradient")
    assert not torch.allclose(guided, plain)


def test_functional_relus_are_covered():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            h = torch.relu(self.conv(x))
            return self.fc(nn.functional.relu(h).mean((2, 3)))

    class Modular(nn.Module):
        def __init__(self, src):
            super().__init__()
            self.conv, self.fc, self.relu = src.conv, src.fc, nn.ReLU()

        def forward(self, x):
            return self.fc(self.relu(self.relu(self.conv(x))).mean((2, 3)))

    torch.manual_seed(0)
    functional = Functional().double().eval()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    ours = attribute(functional, x, target=[0, 1], method="guided_backprop")
    _rel(ours, swapped_reference(Modular(functional), x, [0, 1], "guided"))


def test_model_without_relu_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(InputError, match="needs ReLUs"):
        attribute(model, torch.rand(1, 3, 8, 8), method="guided_backprop")
