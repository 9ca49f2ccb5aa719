"""Test helpers shared across test modules (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread for the test, restored after: for tiny models, two OpenMP threads waiting
    for each other on a shared 2-core machine are many times slower than one. Import it into a
    conftest (or a test module) to apply it there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def model_state(model: torch.nn.Module) -> dict:
    """Everything a method must leave as it found: values, flags, modes, hooks, module types."""
    return {
        "params": {k: v.detach().clone() for k, v in model.named_parameters()},
        "buffers": {k: v.detach().clone() for k, v in model.named_buffers()},
        "requires_grad": {k: v.requires_grad for k, v in model.named_parameters()},
        "grads": {k: None if v.grad is None else v.grad.clone() for k, v in model.named_parameters()},
        "training": {k: m.training for k, m in model.named_modules()},
        "types": {k: type(m) for k, m in model.named_modules()},
        "inplace": {k: getattr(m, "inplace", None) for k, m in model.named_modules()},
        "hooks": {
            k: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
                len(getattr(m, "_backward_pre_hooks", {})))
            for k, m in model.named_modules()
        },
    }


def assert_same_state(before: dict, after: dict) -> None:
    for key in ("requires_grad", "training", "types", "inplace", "hooks"):
        assert before[key] == after[key], key
    for key in ("params", "buffers"):
        assert before[key].keys() == after[key].keys()
        for name, value in before[key].items():
            assert torch.equal(value, after[key][name]), f"{key} {name} changed"
    for name, grad in before["grads"].items():
        other = after["grads"][name]
        assert (grad is None) == (other is None), f"grad of {name}"
        if grad is not None:
            assert torch.equal(grad, other)


def shift_nets(n: int = 3) -> dict:
    """``n`` small VGGs (4 classes) with different seeds, by name ``net0``, ``net1``, ...: the shift tests' testbed."""
    from gaplens.zoo import build

    nets = {}
    for i in range(n):
        torch.manual_seed(i)
        nets[f"net{i}"] = build("vgg", num_classes=4, widths=(4, 8), convs_per_stage=(1, 1)).eval()
    return nets


def shift_sets() -> tuple:
    """An original (23 images) and a new (17 images) random test set of 16 x 16 images, 4 classes."""
    gen = torch.Generator().manual_seed(0)
    original = (torch.rand(23, 3, 16, 16, generator=gen), torch.randint(0, 4, (23,), generator=gen))
    new = (torch.rand(17, 3, 16, 16, generator=gen), torch.randint(0, 4, (17,), generator=gen))
    return original, new
