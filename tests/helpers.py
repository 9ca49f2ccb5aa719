"""Test helpers shared across test modules (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import torch


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
