"""Guided Backpropagation (Springenberg et al. 2015) and DeconvNet (Zeiler & Fergus 2014).

Both change only how gradients pass ReLUs: guided backprop passes ``relu(grad) * (x > 0)``,
DeconvNet ``relu(grad)``. gaplens swaps no modules and registers no module hooks: inside a
:class:`torch.overrides.TorchFunctionMode`, every ReLU call (``nn.ReLU`` modules, in place or
not, ``F.relu``, ``torch.relu``, ``Tensor.relu``) is answered by a ReLU with the modified
backward. A ReLU module called twice per forward (torchvision's ResNet blocks) is therefore
handled like any other call, ``inplace`` flags stay untouched, and functional ReLUs written in a
model's ``forward`` are covered too. In-place ReLU calls return a new tensor inside the mode
(their return value is what models use). ReLU6 (``F.hardtanh(x, 0, max)``, ``F.relu6``) gets
the same rule with its upper bound in the forward mask: guided ``relu(grad) * (0 < x < max)``.

Both rules are defined for ReLU networks only. Before any gradient is computed, one forward
pass of one image lists the activations the model calls (:func:`scan_activations`). A model
that also calls other non-linear activations (GELU, SiLU/Swish, Hardswish, Hardsigmoid,
sigmoid and tanh gates, ELU, leaky ReLU, Mish, ...: MobileNetV3, EfficientNet, ConvNeXt, ViT,
Swin, RegNetY) is refused with a message naming them, because their plain gradients would make
the result a silent mixture of two methods; ``non_relu="gradient"`` accepts that mixture
explicitly (what Captum's ``GuidedBackprop`` does without saying so). A model with no ReLU at
all, and TorchScript models (opaque to the mode), are refused too.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from gaplens.core.errors import InputError
from gaplens.explain.base import input_gradients, network_name, register_method

_RELUS = {F.relu, torch.relu, torch.Tensor.relu, torch.relu_, torch.Tensor.relu_, F.relu_}
_RELU6 = {F.hardtanh, F.relu6, F.hardtanh_, torch._C._nn.hardtanh, torch._C._nn.hardtanh_}
#: Non-linear activations that guided backprop and DeconvNet have no rule for, by display name.
OTHER_ACTIVATIONS = {
    F.gelu: "GELU", F.silu: "SiLU", F.hardswish: "Hardswish", F.hardsigmoid: "Hardsigmoid", F.mish: "Mish",
    F.elu: "ELU", F.selu: "SELU", F.celu: "CELU", F.leaky_relu: "LeakyReLU", F.rrelu: "RReLU", F.prelu: "PReLU",
    F.softplus: "Softplus", F.glu: "GLU", F.logsigmoid: "LogSigmoid", F.softsign: "Softsign",
    F.tanhshrink: "Tanhshrink", F.hardshrink: "Hardshrink", F.softshrink: "Softshrink",
    torch.sigmoid: "Sigmoid", torch.Tensor.sigmoid: "Sigmoid", torch.sigmoid_: "Sigmoid",
    torch.Tensor.sigmoid_: "Sigmoid", F.sigmoid: "Sigmoid", torch.tanh: "Tanh", torch.Tensor.tanh: "Tanh",
    torch.tanh_: "Tanh", torch.Tensor.tanh_: "Tanh", F.tanh: "Tanh", torch.selu: "SELU", torch.celu: "CELU",
    torch.prelu: "PReLU", torch.rrelu: "RReLU",
}
for _fn in (F.elu_, F.leaky_relu_, F.rrelu_, torch.selu_, torch.celu_):
    OTHER_ACTIVATIONS[_fn] = OTHER_ACTIVATIONS.get(_fn, _fn.__name__.rstrip("_").upper())
NON_RELU = ("refuse", "gradient")


def _relu6_bounds(args: tuple, kwargs: dict) -> tuple[float, float]:
    low = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
    high = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
    return float(low), float(high)


def _is_relu6(func, args: tuple, kwargs: dict) -> bool:
    if func is F.relu6:
        return True
    return func in _RELU6 and _relu6_bounds(args, kwargs)[0] == 0.0


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, high: float = float("inf")) -> torch.Tensor:
        out = x.clamp(min=0, max=high)
        ctx.save_for_backward(x)
        ctx.high = high
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * ((x > 0) & (x < ctx.high)).to(grad.dtype), None


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, high: float = float("inf")) -> torch.Tensor:
        return x.clamp(min=0, max=high)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.clamp(min=0), None


class ModifiedReLUs(TorchFunctionMode):
    """Inside this mode every ReLU (and ReLU6) call uses ``rule``'s backward ("guided" or "deconvnet")."""

    def __init__(self, rule: str) -> None:
        super().__init__()
        self.function = {"guided": _GuidedReLU, "deconvnet": _DeconvReLU}[rule]
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELUS:
            self.calls += 1
            return self.function.apply(args[0])
        if func in _RELU6 or func is F.relu6:
            if _is_relu6(func, args, kwargs):
                self.calls += 1
                high = 6.0 if func is F.relu6 else _relu6_bounds(args, kwargs)[1]
                return self.function.apply(args[0], high)
        return func(*args, **kwargs)


class ActivationScan(TorchFunctionMode):
    """Counts, during a forward pass, ReLU calls and calls of :data:`OTHER_ACTIVATIONS` by name."""

    def __init__(self) -> None:
        super().__init__()
        self.relus = 0
        self.others: Counter[str] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELUS or _is_relu6(func, args, kwargs):
            self.relus += 1
        elif func in _RELU6:
            self.others["Hardtanh"] += 1
        elif func in OTHER_ACTIVATIONS:
            self.others[OTHER_ACTIVATIONS[func]] += 1
        return func(*args, **kwargs)


def scan_activations(model: nn.Module, inputs: torch.Tensor) -> ActivationScan:
    """The activations ``model`` calls on the first image (one forward pass, no gradients)."""
    scan = ActivationScan()
    with torch.no_grad(), scan:
        model(inputs[:1])
    return scan


def check_relu_only(model: nn.Module, inputs: torch.Tensor, rule: str, non_relu: str = "refuse") -> None:
    """Refuse, before any gradient is computed, a model the ReLU rule does not cover (see the module docstring)."""
    if non_relu not in NON_RELU:
        raise InputError(f"non_relu={non_relu!r}; expected 'refuse' or 'gradient'")
    name = "guided backprop" if rule == "guided" else "deconvnet"
    scan = scan_activations(model, inputs)
    if scan.relus == 0:
        found = f" (it calls {_listing(scan.others)})" if scan.others else ""
        raise InputError(
            f"{name} needs ReLUs, and none was called in {network_name(model)}'s forward{found}; TorchScript "
            "models are not seen either; use 'gradient' or 'integrated_gradients' instead")
    if scan.others and non_relu == "refuse":
        raise InputError(
            f"{name} has a rule for ReLUs only, and {network_name(model)} also calls {_listing(scan.others)} "
            f"(besides {scan.relus} ReLU call(s)): their plain gradients would make a silently partial {name}. "
            f"Use 'gradient' or 'integrated_gradients', or pass non_relu='gradient' to accept plain gradients "
            "through them (Captum's behaviour)")


def _listing(counts: Counter) -> str:
    return ", ".join(f"{name} ({count} call{'s' if count > 1 else ''})" for name, count in counts.most_common())


def modified_relu_gradients(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str,
                            batch_size: int, rule: str, non_relu: str = "refuse",
                            checked: bool = False) -> torch.Tensor:
    """Input gradients with every ReLU's backward replaced by ``rule``, after :func:`check_relu_only`."""
    if not checked:
        check_relu_only(model, inputs, rule, non_relu)
    with ModifiedReLUs(rule):
        return input_gradients(model, inputs, target, score, batch_size)


@register_method("guided_backprop", description="Springenberg et al. 2015 Guided Backpropagation")
def guided_backprop(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str,
                    batch_size: int, non_relu: str = "refuse") -> torch.Tensor:
    """Gradient with ReLU backward ``relu(grad) * (x > 0)``; ReLU networks only (``non_relu``: see module)."""
    return modified_relu_gradients(model, inputs, target, score, batch_size, "guided", non_relu)


@register_method("deconvnet", description="Zeiler & Fergus 2014 DeconvNet")
def deconvnet(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str,
              batch_size: int, non_relu: str = "refuse") -> torch.Tensor:
    """Gradient with ReLU backward ``relu(grad)`` (the forward mask is ignored); ReLU networks only."""
    return modified_relu_gradients(model, inputs, target, score, batch_size, "deconvnet", non_relu)
