"""Safe hooks: capture activations and gradients at named layers, and leave the model as found.

Everything that touches a model's internals goes through this module. Hooks only exist inside a
``with`` block, and leaving the block (normally or by an exception) removes them and restores
every module's ``training`` flag, every parameter's ``requires_grad`` and ``.grad``.

Layers are addressed by dotted path as in ``model.named_modules()`` (``"layer3.1.conv2"``). For a
:class:`~gaplens.core.model.Classifier`, paths are relative to the wrapped network (the
normalization wrapper is invisible), and the full path (``"network.layer3.1.conv2"``) works too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from gaplens.core.device import model_device
from gaplens.core.errors import InputError, LayerNotFoundError
from gaplens.core.registry import nearest

#: Why hook-based methods refuse TorchScript models (torch cannot hook a ScriptModule).
SCRIPT_MODULE_LIMIT = (
    "TorchScript models cannot be hooked: grad_cam, guided backprop, sanity randomization, layer "
    "visualizations need an nn.Module; load the architecture with a gaplens checkpoint or module:factory"
)


def check_hookable(module: nn.Module) -> nn.Module:
    """``module`` itself; :class:`InputError` (:data:`SCRIPT_MODULE_LIMIT`) for a TorchScript module."""
    if isinstance(module, torch.jit.ScriptModule):
        raise InputError(SCRIPT_MODULE_LIMIT)
    return module


def module_root(model: nn.Module) -> nn.Module:
    """The module layer names are relative to: a Classifier's network, else the model.

    Everything that hooks, resolves or rewrites layers starts here, so a TorchScript network
    (whose modules torch cannot hook) is refused with one :class:`InputError` naming the limit.
    """
    from gaplens.core.model import Classifier  # local: model.py does not import hooks

    return check_hookable(model.network if isinstance(model, Classifier) else model)


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The module at dotted path ``name``; :class:`LayerNotFoundError` lists the nearest names."""
    root = module_root(model)
    modules = dict(root.named_modules())
    if name in modules and name != "":
        return check_hookable(modules[name])
    full = dict(model.named_modules())
    if name in full and name != "":
        return check_hookable(full[name])
    known = [n for n in modules if n]
    raise LayerNotFoundError(
        f"layer {name!r} not found in {type(root).__name__}; nearest names: "
        f"{nearest(name, known, 5)} (list them all with `gaplens layers MODEL`)"
    )


def layer_names(model: nn.Module, input_size: Sequence[int] | None = None) -> list[str]:
    """Dotted names of a model's modules, in the order their ``forward`` is first entered.

    Forward order needs one forward pass on a zero image of ``input_size`` (H, W) (taken from a
    Classifier's ``input_size`` when not given); without a size the definition order of
    ``named_modules()`` is returned. Modules the forward pass never enters come last. The model
    is left untouched (mode, flags, hooks). Sides are bounded by
    :data:`~gaplens.core.model.MAX_INPUT_SIDE`; a TorchScript network raises :class:`InputError`
    (its modules cannot be hooked).
    """
    root = module_root(model)
    names = {m: n for n, m in root.named_modules() if n}
    if input_size is None:
        input_size = getattr(model, "input_size", None)
    if input_size is None:
        return list(names.values())
    from gaplens.core.model import check_input_size

    h, w = check_input_size(tuple(input_size)[-2:])
    order: list[str] = []
    seen: set[str] = set()

    def pre_hook(module: nn.Module, args: object) -> None:
        name = names.get(module)
        if name is not None and name not in seen:
            seen.add(name)
            order.append(name)

    handles = [m.register_forward_pre_hook(pre_hook) for m in names]
    try:
        with frozen(model):
            model(torch.zeros(1, 3, h, w, device=model_device(model)))
    finally:
        for handle in handles:
            handle.remove()
    return order + [n for n in names.values() if n not in seen]


@contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Restore ``training`` flags, ``requires_grad`` and ``.grad`` of ``model`` on exit.

    Parameter and buffer *values* are not copied (methods must not write them); what methods
    legitimately change to do their work (eval mode, gradient flags, accumulated gradients) is
    put back, also when the body raises.
    """
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
        for param, requires_grad, grad in params:
            param.requires_grad_(requires_grad)
            param.grad = grad


@contextmanager
def frozen(model: nn.Module, no_grad: bool = True) -> Iterator[nn.Module]:
    """Freeze ``model`` for inference inside the block: eval mode, no parameter gradients.

    Inside, every module is in eval mode and no parameter requires grad; with ``no_grad=True``
    (the default: predictions, forward passes) the block also runs under :func:`torch.no_grad`.
    Pass ``no_grad=False`` when the block differentiates with respect to the *inputs*
    (attribution, feature visualization, a loss through a fixed encoder): autograd stays as the
    caller set it, and only the inputs' graph is built. On exit, normal or by an exception, the
    ``training`` flags, ``requires_grad`` flags and ``.grad`` are restored
    (:func:`preserved_state`).

    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout()).train()
    >>> with frozen(net):
    ...     out = net(torch.ones(1, 3))
    >>> net.training, net[0].weight.requires_grad, out.requires_grad
    (True, True, False)
    """
    with preserved_state(model):
        model.eval()
        model.requires_grad_(False)
        if no_grad:
            with torch.no_grad():
                yield model
        else:
            yield model


@dataclass
class Capture:
    """What :func:`capture` collected during the ``with`` block.

    ``activations[name]`` / ``gradients[name]`` hold the output (and its gradient) of the most
    recent call of that layer; ``calls[name]`` / ``call_gradients[name]`` every call in order,
    for modules called more than once per forward (a reused ``nn.ReLU``). Call
    :meth:`clear` between forward passes to drop earlier results.
    """

    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)
    calls: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    call_gradients: dict[str, dict[int, torch.Tensor]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.activations[name]

    def clear(self) -> None:
        self.activations.clear()
        self.gradients.clear()
        self.calls.clear()
        self.call_gradients.clear()


def _first_tensor(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


@contextmanager
def capture(
    model: nn.Module,
    layers: str | Sequence[str],
    gradients: bool = False,
    keep_graph: bool = False,
) -> Iterator[Capture]:
    """Record the outputs (and optionally their gradients) of named layers inside a ``with``.

    Args:
        model: any ``nn.Module`` (a Classifier's layers are named relative to its network).
        layers: one dotted name or several.
        gradients: also record d(whatever is back-propagated)/d(output) for each call.
        keep_graph: store outputs attached to the autograd graph (for objectives and
            ``torch.autograd.grad`` w.r.t. a layer); otherwise detached copies are stored.

    Outputs are protected from later in-place operations (an ``inplace=True`` ReLU after a
    conv): a detached clone is stored, or, with ``keep_graph``/``gradients``, the hook hands a
    clone downstream and keeps the original. A tuple output records its first tensor.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    >>> with capture(net, "0") as cap:
    ...     _ = net(torch.ones(1, 3))
    >>> tuple(cap["0"].shape)
    (1, 2)
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    modules = [(name, resolve_layer(model, name)) for name in names]
    result = Capture()
    attach = gradients or keep_graph
    handles = []

    def make_hook(name: str):
        def hook(module: nn.Module, args: object, output: object):
            tensor = _first_tensor(output)
            if tensor is None:
                return None
            calls = result.calls.setdefault(name, [])
            index = len(calls)
            if not attach or not tensor.requires_grad:
                stored = tensor.detach().clone()
                calls.append(stored)
                result.activations[name] = stored
                return None
            calls.append(tensor)
            result.activations[name] = tensor
            if gradients:

                def grad_hook(grad: torch.Tensor, index: int = index) -> None:
                    result.call_gradients.setdefault(name, {})[index] = grad.detach()
                    last = len(result.calls.get(name, [])) - 1
                    if index == last:
                        result.gradients[name] = grad.detach()

                tensor.register_hook(grad_hook)
            # hand a clone downstream so in-place ops after this layer cannot rewrite `tensor`
            if isinstance(output, torch.Tensor):
                return output.clone()
            return None

        return hook

    with preserved_state(model):
        try:
            for name, module in modules:
                handles.append(module.register_forward_hook(make_hook(name)))
            yield result
        finally:
            for handle in handles:
                handle.remove()
