"""Guided Backpropagation (Springenberg et al. 2015) and DeconvNet (Zeiler & Fergus 2014).

Both change only how gradients pass ReLUs: guided backprop passes ``relu(grad) * (x > 0)``,
DeconvNet ``relu(grad)``. gaplens swaps no modules and registers no module hooks: inside a
:class:`torch.overrides.TorchFunctionMode`, every ReLU call (``nn.ReLU`` modules, in place or
not, ``F.relu``, ``torch.relu``, ``Tensor.relu``) is answered by a ReLU with the modified
backward. A ReLU module called twice per forward (torchvision's ResNet blocks) is therefore
handled like any other call, ``inplace`` flags stay untouched, and functional ReLUs written in a
model's ``forward`` are covered too. In-place ReLU calls return a new tensor inside the mode
(their return value is what models use). TorchScript models are opaque to the mode: they
raise a clear error because no ReLU is seen.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from gaplens.core.errors import InputError
from gaplens.explain.base import input_gradients, register_method

_RELUS = {F.relu, torch.relu, torch.Tensor.relu, torch.relu_, torch.Tensor.relu_, F.relu_}


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0).to(grad.dtype)


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp(min=0)


class ModifiedReLUs(TorchFunctionMode):
    """Inside this mode every ReLU call uses ``rule``'s backward ("guided" or "deconvnet")."""

    def __init__(self, rule: str) -> None:
        super().__init__()
        self.function = {"guided": _GuidedReLU, "deconvnet": _DeconvReLU}[rule]
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELUS:
            self.calls += 1
            return self.function.apply(args[0])
        return func(*args, **(kwargs or {}))


def modified_relu_gradients(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str,
                            batch_size: int, rule: str) -> torch.Tensor:
    """Input gradients with every ReLU's backward replaced by ``rule``; errors if no ReLU is seen."""
    mode = ModifiedReLUs(rule)
    with mode:
        grads = input_gradients(model, inputs, target, score, batch_size)
    if mode.calls == 0:
        raise InputError(
            f"{'guided backprop' if rule == 'guided' else 'deconvnet'} needs ReLUs, and none was called in "
            f"{type(model).__name__}'s forward (TorchScript models and other activations are not seen); "
            "use 'gradient' instead"
        )
    return grads


@register_method("guided_backprop", description="Springenberg et al. 2015 Guided Backpropagation")
def guided_backprop(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str,
                    batch_size: int) -> torch.Tensor:
    """Gradient with ReLU backward ``relu(grad) * (x > 0)``."""
    return modified_relu_gradients(model, inputs, target, score, batch_size, "guided")


@register_method("deconvnet", description="Zeiler & Fergus 2014 DeconvNet")
def deconvnet(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str,
              batch_size: int) -> torch.Tensor:
    """Gradient with ReLU backward ``relu(grad)`` (the forward mask is ignored)."""
    return modified_relu_gradients(model, inputs, target, score, batch_size, "deconvnet")
