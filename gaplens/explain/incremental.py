"""Incremental inference for occlusion: recompute only what an occluding window changes.

Occluding a window of the input changes the output of a convolution or pooling layer only in
the window grown by the kernel (and shrunk by the stride), of an element-wise layer only in the
window itself, and of a sum of two branches only in the union of their changed regions. So,
after one ordinary pass over the unoccluded image that keeps every intermediate activation, an
occluded copy can be evaluated layer by layer on small crops: each layer computes just its
changed rectangle, from the unoccluded activation of its input patched with the changed values
of the layer before. Once a rectangle covers most of its map, or the network reaches a layer
that mixes all positions (global pooling, flatten, a linear layer), the patched activations are
completed to full maps and the rest of the network runs as usual. This is the idea of Krypton
(Nakandala et al., SIGMOD 2019), written here for any network that ``torch.fx`` can trace.

The result is the same computation as evaluating the occluded images whole: the same kernels on
the same values, every output position computed from exactly the inputs it depends on (crops
carry the unoccluded context and the layer's own zero or -inf padding at the true image border).
Only the summation order inside a convolution may differ, so results agree with the brute-force
evaluation to floating-point rounding (tested against it in float64).

Two more savings, both exact up to float rounding: each eval-mode BatchNorm is folded into the
convolution that alone feeds it (one pass over the maps fewer), and the maps keep the images'
memory layout (channels-last on the CPU: crops are gathered from them without a copy, and the
dense layers after the rectangles run fastest in it). The engine counts the work it does
(:class:`Cost`), so that occlusion's ``incremental="auto"`` can compare one window evaluated
incrementally with a whole image before committing (:mod:`gaplens.explain.occlusion`).

What is handled incrementally: ``nn.Conv2d`` (zero padding, any stride, dilation and groups),
``nn.MaxPool2d`` / ``nn.AvgPool2d`` (floor mode; average pooling counting the padding),
BatchNorm in eval mode, element-wise activations and dropout in eval mode, and element-wise
arithmetic with constants or between two branches. Anything else is evaluated on full maps.
Models whose forward cannot be traced, changes the module's Python state (counters, caches),
applies an in-place operation to a tensor that is used again, or carries forward hooks (they
would see crops) are not handled at all:
:func:`incremental_engine` returns ``None`` and occlusion evaluates whole images.
"""

from __future__ import annotations

import copy
import math
import operator
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.module import _global_forward_hooks, _global_forward_pre_hooks
from torch.nn.utils.fusion import fuse_conv_bn_eval

#: A changed rectangle that covers at least this fraction of its map is completed to full maps:
#: beyond it, crops and their gathering cost more than recomputing the whole map.
DENSE_FRACTION = 0.5

_ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh,
    nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Identity,
)
_DROPOUT_MODULES = (nn.Dropout, nn.Dropout2d, nn.AlphaDropout)
_UNARY_FUNCTIONS = {
    F.relu, torch.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, F.hardtanh, F.hardswish, torch.sigmoid,
    torch.tanh, F.sigmoid, F.tanh,
}
_BINARY_FUNCTIONS = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul,
                     torch.div}
#: functions whose in-place flag may be given by position
_INPLACE_FLAG_FUNCTIONS = {F.relu, F.relu6, F.elu, F.selu, F.celu, F.leaky_relu, F.hardtanh, F.silu, F.hardswish,
                           F.mish, F.threshold, F.rrelu, F.dropout, F.dropout2d, F.alpha_dropout}
_AUGMENTED = {operator.iadd, operator.isub, operator.imul, operator.itruediv}
#: ops whose result is always a new tensor (never a view of an input)
_FRESH_FUNCTIONS = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul,
                    torch.div}
_UNARY_METHODS = {"relu", "sigmoid", "tanh", "to", "contiguous", "float", "double", "half"}
_BINARY_METHODS = {"add", "sub", "mul", "div"}
#: methods that need a tensor in the usual (not channels-last) layout
_STRIDED_VIEWS = {"view", "view_as"}
_STATIC_ATTRIBUTES = {"dtype", "device", "ndim"}
_MODULE_INTERNALS = {"_parameters", "_buffers", "_modules", "training", "_non_persistent_buffers_set"}


class Unsupported(Exception):
    """The model cannot be evaluated incrementally (the reason is the message)."""


@dataclass(frozen=True)
class _Window:
    """A sliding-window layer along both axes: effective kernel, stride, padding, pad value."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    pad_value: float
    apply: object  # crop (B, C, h, w) -> output, the layer without padding
    macs: int  # multiply-accumulates (or comparisons) per output element


@dataclass
class _Rect:
    """Changed values ``(B, C, h, w)`` of a node at rows ``y``, columns ``x`` (``(B,)`` each) of its map."""

    values: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor


@dataclass
class Cost:
    """Work counted while evaluating: multiply-accumulates and tensor elements written.

    Convolutions, linear layers, matrix products and attention count their multiply-accumulates
    (pooling counts its window's comparisons); every op also counts the elements it writes, and
    a gathered crop counts its elements. Ops of unknown cost count only their output's elements.
    ``largest_map`` is the most bytes one row (one image or window) of a 4-D map computed on full
    maps took: what a batch of rows must keep in the caches at once.
    """

    macs: float = 0.0
    elements: float = 0.0
    largest_map: float = 0.0

    def add(self, other: Cost) -> None:
        self.macs += other.macs
        self.elements += other.elements
        self.largest_map = max(self.largest_map, other.largest_map)

    def scaled(self, factor: float) -> Cost:
        """The work of ``factor`` times as many rows (``largest_map`` is per row: unchanged)."""
        return Cost(self.macs * factor, self.elements * factor, self.largest_map)

    def total(self, element_macs: float) -> float:
        """One number: ``macs + element_macs * elements`` (an element moved costs ``element_macs``)."""
        return self.macs + element_macs * self.elements


_MATMULS = {torch.matmul, torch.bmm, torch.mm, operator.matmul, F.linear}


def _macs_per_output(module: nn.Module) -> int:
    """Multiply-accumulates per output element of a conv, pool or linear layer (0 for others)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return module.weight[0].numel()
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return math.prod(_pair(module.kernel_size))
    return 0


def _op_cost(node: fx.Node, modules: dict[str, nn.Module], args: tuple, out: object) -> Cost:
    """The :class:`Cost` of one op of the graph, from its arguments and output."""
    outs = [t for t in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(t, torch.Tensor)]
    elements = sum(t.numel() for t in outs)
    if not outs:
        return Cost(0.0, 0.0)
    first = outs[0]
    largest = first[0].numel() * first.element_size() if first.dim() == 4 and len(first) else 0
    macs = 0
    if node.op == "call_module":
        module = modules[node.target]
        if isinstance(module, nn.MultiheadAttention) and len(args) >= 2:
            query, key = args[0], args[1]
            tokens = query.numel() // module.embed_dim
            keys = key.shape[1] if module.batch_first else key.shape[0]
            macs = tokens * (4 * module.embed_dim * module.embed_dim + 2 * keys * module.embed_dim)
        else:
            macs = first.numel() * _macs_per_output(module)
    elif node.target in _MATMULS or node.target in ("matmul", "bmm", "mm"):
        if args and isinstance(args[0], torch.Tensor):
            macs = first.numel() * args[0].shape[-1]
    elif node.target in (F.conv2d, torch.conv2d) and len(args) >= 2 and isinstance(args[1], torch.Tensor):
        macs = first.numel() * args[1][0].numel()
    elif node.target is F.scaled_dot_product_attention and len(args) >= 2:
        macs = 2 * args[0].numel() * args[1].shape[-2]
    return Cost(float(macs), float(elements), float(largest))


class _Static:
    """Marker: the node's value does not depend on the occlusion (its unoccluded value is used)."""


_STATIC = _Static()


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _window_of(module: nn.Module) -> _Window | None:
    """The sliding-window description of a supported conv/pool module, else ``None``."""
    kind = type(module)  # exact types: subclasses (e.g. quantisation-aware convs) change forward()
    if kind is nn.Conv2d and module.padding_mode == "zeros" and not isinstance(module.padding, str):
        dilation = _pair(module.dilation)
        kernel = tuple(d * (k - 1) + 1 for d, k in zip(dilation, _pair(module.kernel_size), strict=True))

        def conv(crop, m=module):
            return F.conv2d(crop, m.weight, m.bias, m.stride, 0, m.dilation, m.groups)

        return _Window(kernel, _pair(module.stride), _pair(module.padding), 0.0, conv, _macs_per_output(module))
    if kind is nn.MaxPool2d and not module.ceil_mode and not module.return_indices:
        dilation = _pair(module.dilation)
        kernel = tuple(d * (k - 1) + 1 for d, k in zip(dilation, _pair(module.kernel_size), strict=True))

        def max_pool(crop, m=module):
            return F.max_pool2d(crop, m.kernel_size, m.stride, 0, m.dilation)

        return _Window(kernel, _pair(module.stride or module.kernel_size), _pair(module.padding), float("-inf"),
                       max_pool, _macs_per_output(module))
    if (kind is nn.AvgPool2d and not module.ceil_mode and module.count_include_pad
            and module.divisor_override is None):

        def avg_pool(crop, m=module):
            return F.avg_pool2d(crop, m.kernel_size, m.stride, 0)

        return _Window(_pair(module.kernel_size), _pair(module.stride or module.kernel_size),
                       _pair(module.padding), 0.0, avg_pool, _macs_per_output(module))
    return None


def _is_elementwise_module(module: nn.Module) -> bool:
    if type(module) in _ELEMENTWISE_MODULES:
        return True
    if type(module) in _DROPOUT_MODULES:
        return not module.training
    if type(module) is nn.BatchNorm2d:
        return not module.training and module.running_mean is not None
    return False


def _python_state(model: nn.Module) -> dict[int, dict[str, object]]:
    """Each module's plain Python attributes (shallow copies of containers), to detect side effects."""
    state = {}
    for module in model.modules():
        state[id(module)] = {k: copy.copy(v) if isinstance(v, (list, dict, set)) else v
                             for k, v in vars(module).items()
                             if k not in _MODULE_INTERNALS and not k.endswith("hooks")}
    return state


def _same(old: object, new: object) -> bool:
    """``new`` is ``old`` unchanged: the same object, or a container holding the same objects."""
    if isinstance(old, (list, dict, set)):
        if type(old) is not type(new) or len(old) != len(new):
            return False
        if isinstance(old, list):
            return all(a is b for a, b in zip(old, new, strict=True))
        if isinstance(old, dict):
            return old.keys() == new.keys() and all(old[k] is new[k] for k in old)
        return old == new
    return old is new


def _changed(before: dict[str, object], module: nn.Module) -> list[str]:
    now = {k: v for k, v in vars(module).items() if k not in _MODULE_INTERNALS and not k.endswith("hooks")}
    changed = [k for k in before.keys() | now.keys() if k not in before or k not in now]
    changed += [k for k in before.keys() & now.keys() if not _same(before[k], now[k])]
    return changed


def _restore(module: nn.Module, key: str, before: dict[str, object]) -> None:
    """Put attribute ``key`` back as it was; containers are refilled in place (references stay valid)."""
    if key not in before:
        delattr(module, key)
        return
    old, now = before[key], vars(module).get(key)
    if type(old) is type(now) and isinstance(now, list):
        now[:] = old
    elif type(old) is type(now) and isinstance(now, (dict, set)):
        now.clear()
        now.update(old)
    else:
        setattr(module, key, old)


def _trace(model: nn.Module) -> fx.GraphModule:
    """``torch.fx.symbolic_trace(model)``, refused when tracing ran side effects (which are undone).

    Side effects are changes of the modules' plain Python attributes (counters, caches, lists)
    or of their buffers' values. Tensor constants that the tracer itself attaches to the model
    (``_tensor_constant0``, ...) are removed again without counting as side effects.
    """
    modules = list(model.modules())
    before = _python_state(model)
    buffers = [(name, b, b.detach().clone()) for name, b in model.named_buffers()]
    try:
        traced = fx.symbolic_trace(model)
    except Exception as exc:  # any tracing failure means: evaluate whole images
        from gaplens.explain.base import strip_ansi

        reason = strip_ansi(str(exc))
        raise Unsupported(f"torch.fx cannot trace the model ({type(exc).__name__}: {reason})") from None
    finally:
        touched = [(m, _changed(before[id(m)], m)) for m in modules]
        for module, keys in touched:
            for key in keys:
                _restore(module, key, before[id(module)])
        moved = [name for name, buffer, saved in buffers if not torch.equal(buffer, saved)]
        with torch.no_grad():
            for name, buffer, saved in buffers:
                if name in moved:
                    buffer.copy_(saved)
    names = sorted({k for _, keys in touched for k in keys if not re.fullmatch(r"_tensor_constant\d+", k)})
    if names or moved:
        raise Unsupported(f"the forward pass changes the model's attributes {names + moved}")
    return traced


def _fold_batch_norms(graph_module: fx.GraphModule) -> None:
    """Fold each eval-mode ``BatchNorm2d`` into the ``Conv2d`` that alone feeds it, in the traced graph.

    A BatchNorm in eval mode is an affine map per channel, so ``bn(conv(x))`` is one convolution
    with scaled weights and a shifted bias: the same function, one pass over the maps fewer
    (on resnet50 the BatchNorms were 11% of the occluded evaluation's time). The folded
    convolutions are new modules registered at the top of ``graph_module`` (never inside the
    submodules it shares with the user's model, which stay as they are); values change by float
    rounding only. A conv whose output is also used elsewhere keeps its BatchNorm.
    """
    modules = dict(graph_module.named_modules())
    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or type(modules[node.target]) is not nn.BatchNorm2d:
            continue
        bn, source = modules[node.target], node.args[0] if node.args else None
        if (bn.training or bn.running_mean is None or len(node.args) != 1 or node.kwargs
                or not isinstance(source, fx.Node) or source.op != "call_module" or len(source.users) != 1
                or type(modules[source.target]) is not nn.Conv2d or len(source.args) != 1 or source.kwargs):
            continue
        conv = modules[source.target]
        if conv.training or conv.weight.dtype != bn.running_mean.dtype:
            continue
        name = "_folded_" + source.target.replace(".", "_")
        graph_module.add_submodule(name, fuse_conv_bn_eval(conv, bn))
        source.target = name
        node.replace_all_uses_with(source)
        graph_module.graph.erase_node(node)
    graph_module.recompile()


def _is_inplace(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return bool(getattr(modules[node.target], "inplace", False))
    if node.op == "call_function":  # inplace=True, also given by position (F.relu(x, True)); x += y
        return (bool(node.kwargs.get("inplace", False)) or node.target in _AUGMENTED
                or (node.target in _INPLACE_FLAG_FUNCTIONS and any(a is True for a in node.args[1:]))
                or getattr(node.target, "__name__", "").endswith("_"))
    if node.op == "call_method":
        return node.target.endswith("_")
    return False


_ALIAS_METHODS = {"contiguous", "view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze",
                  "expand", "detach", "to", "type", "float", "double", "half", "view_as", "reshape_as", "expand_as",
                  "narrow", "__getitem__"}
_ALIAS_MODULES = (nn.Identity, nn.Flatten, nn.Unflatten, *_DROPOUT_MODULES)
#: functions that may return their input or a view of it
_ALIAS_FUNCTIONS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.permute, torch.transpose,
                    torch.narrow}


def _inplace_is_safe(node: fx.Node, modules: dict[str, nn.Module], dynamic: dict[fx.Node, bool]) -> bool:
    """No other op sees the tensor that in-place ``node`` overwrites.

    Follows the overwritten tensor back through ops that may return their input or a view of it
    (``contiguous``, ``view``, ``nn.Identity``, other in-place ops, ...) to the op that made it;
    every node on the way must have ``node``'s chain as its only user, and the maker must be an op
    known to return a new tensor (a conv, BatchNorm, an arithmetic op, ...).
    """
    source = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
    while source is not None:
        if len(source.users) > 1 or not dynamic[source]:
            return False
        if source.op == "call_module":
            module = modules[source.target]
            if type(module) in _ALIAS_MODULES or getattr(module, "inplace", False):
                source = source.args[0] if isinstance(source.args[0], fx.Node) else None
                continue
            return module.__module__.startswith("torch.nn.modules")  # library layers make new tensors
        if source.op == "call_function":
            if _is_inplace(source, modules) or source.target in _ALIAS_FUNCTIONS:
                source = source.args[0] if isinstance(source.args[0], fx.Node) else None
                continue
            return source.target in _FRESH_FUNCTIONS or source.target in _UNARY_FUNCTIONS
        if source.op == "call_method":
            if source.target in _ALIAS_METHODS or source.target.endswith("_"):
                source = source.args[0] if isinstance(source.args[0], fx.Node) else None
                continue
            return source.target in _BINARY_METHODS or source.target in {"relu", "sigmoid", "tanh"}
        return False  # the images themselves, or a constant
    return False


def _ceil_div(a: torch.Tensor, b: int) -> torch.Tensor:
    return -((-a) // b)


@dataclass(frozen=True)
class _Flat:
    """An ``(N, C, H, W)`` map, channels last, padded by ``pad`` on each side and flattened to rows.

    ``rows`` is ``(N * (H + 2 pad_h) * (W + 2 pad_w), C)``: crops are gathered from it with one
    ``index_select`` (the fastest gather on the CPU), padding included.
    """

    rows: torch.Tensor
    height: int  # padded
    width: int  # padded
    pad: tuple[int, int]

    @classmethod
    def of(cls, maps: torch.Tensor, pad: tuple[int, int] = (0, 0), value: float = 0.0) -> _Flat:
        cl = maps.permute(0, 2, 3, 1)
        if pad != (0, 0):
            cl = F.pad(cl, (0, 0, pad[1], pad[1], pad[0], pad[0]), value=value)
        return cls(cl.reshape(-1, cl.shape[-1]), cl.shape[1], cl.shape[2], pad)


def _gather(flat: _Flat, image: torch.Tensor, y: torch.Tensor, x: torch.Tensor, h: int, w: int,
            rect: _Rect | None) -> torch.Tensor:
    """Crops ``(B, C, h, w)`` at rows ``y..y+h``, columns ``x..x+w`` of each window's patched map.

    ``flat`` holds the unoccluded map of every image (positions outside the map, down to
    ``-pad``, hold the padding value); ``image`` picks each window's image; ``rect`` holds changed
    values pasted over it (the parts outside the crop are dropped). Channels-last in memory.
    """
    dev = y.device
    rows = (image * flat.height)[:, None] + (y + flat.pad[0])[:, None] + torch.arange(h, device=dev)
    cols = (x + flat.pad[1])[:, None] + torch.arange(w, device=dev)
    index = rows[:, :, None] * flat.width + cols[:, None, :]
    out = flat.rows.index_select(0, index.reshape(-1))
    if rect is not None:
        count, channels, rh, rw = rect.values.shape
        r = (rect.y - y)[:, None] + torch.arange(rh, device=dev)  # crop rows of the rect's rows
        c = (rect.x - x)[:, None] + torch.arange(rw, device=dev)
        target = ((torch.arange(count, device=dev)[:, None] * h + r)[:, :, None] * w + c[:, None, :]).reshape(-1)
        values = rect.values.permute(0, 2, 3, 1).reshape(-1, channels)
        inside = (((r >= 0) & (r < h))[:, :, None] & ((c >= 0) & (c < w))[:, None, :]).reshape(-1)
        if bool(inside.all()):
            out.index_copy_(0, target, values)
        else:
            out.index_copy_(0, target[inside], values[inside])
    return out.view(len(y), h, w, -1).permute(0, 3, 1, 2)


def _spans(rect: _Rect, y: torch.Tensor, x: torch.Tensor, h: int, w: int) -> bool:
    """``rect`` is exactly the crop at rows ``y..y+h``, columns ``x..x+w`` (no gather needed)."""
    return tuple(rect.values.shape[-2:]) == (h, w) and torch.equal(rect.y, y) and torch.equal(rect.x, x)


class IncrementalOcclusion:
    """Evaluates a traced model on occluded copies of its inputs, recomputing only changed regions.

    Use :meth:`prepare` once per group of images (the unoccluded pass, checked against the
    model's own forward), then :meth:`logits` for chunks of occluding windows.
    """

    def __init__(self, model: nn.Module) -> None:
        self.graph_module = _trace(model)
        _fold_batch_norms(self.graph_module)
        self.modules = dict(self.graph_module.named_modules())
        hooked = [name or type(model).__name__ for name, m in model.named_modules()
                  if m._forward_hooks or m._forward_pre_hooks]
        if hooked or _global_forward_hooks or _global_forward_pre_hooks:
            raise Unsupported(f"forward hooks are registered (on {hooked or 'all modules'}); they would see "
                              "crops of the activations")
        nodes = list(self.graph_module.graph.nodes)
        placeholders = [n for n in nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise Unsupported(f"the forward pass takes {len(placeholders)} inputs; expected one (the images)")
        self.nodes = nodes
        self.input = placeholders[0]
        # which nodes depend on the images (the others are the same for every occlusion)
        self.dynamic: dict[fx.Node, bool] = {}
        for node in nodes:
            self.dynamic[node] = node is self.input or any(self.dynamic[a] for a in node.all_input_nodes)
        for node in nodes:
            if self.dynamic[node] and _is_inplace(node, self.modules) \
                    and not _inplace_is_safe(node, self.modules, self.dynamic):
                raise Unsupported(f"{node.name} changes a tensor in place that may be used elsewhere")
        self.base: dict[fx.Node, object] = {}
        self._flats: dict[tuple, _Flat] = {}
        self.layout = torch.contiguous_format
        self.ledger: Cost | None = None  # counts the work of the pass under way when set
        self.cost_per_image = Cost()  # of the unoccluded pass, per image (set by prepare)

    # ------------------------------------------------------------------------------------------
    # the unoccluded pass

    def _call(self, node: fx.Node, args: tuple, kwargs: dict) -> object:
        if node.op == "call_method" and node.target in _STRIDED_VIEWS and isinstance(args[0], torch.Tensor):
            args = (args[0].contiguous(), *args[1:])  # view() needs the usual layout, not channels-last
        if node.op == "call_module":
            out = self.modules[node.target](*args, **kwargs)
        elif node.op == "call_function":
            out = node.target(*args, **kwargs)
        elif node.op == "call_method":
            out = getattr(args[0], node.target)(*args[1:], **kwargs)
        else:
            return self._attribute(node)
        if self.ledger is not None:
            self.ledger.add(_op_cost(node, self.modules, args, out))
        return out

    def _gather(self, flat: _Flat, image, y, x, h: int, w: int, rect: _Rect | None) -> torch.Tensor:
        out = _gather(flat, image, y, x, h, w, rect)
        if self.ledger is not None:
            self.ledger.add(Cost(0, out.numel(), out[0].numel() * out.element_size() if len(out) else 0))
        return out

    def _attribute(self, node: fx.Node) -> object:
        if node.op == "get_attr":
            value = self.graph_module
            for part in node.target.split("."):
                value = getattr(value, part)
            return value
        raise AssertionError(node.op)

    def prepare(self, images: torch.Tensor, reference: torch.Tensor) -> None:
        """Run the traced graph on ``images``, keeping every node's value.

        ``reference`` is the model's own output on ``images``; a trace that disagrees with it
        (for example a hook on the model itself) raises :class:`Unsupported`. The maps are
        kept in ``images``' memory layout: channels-last images (see
        :func:`gaplens.core.layout.fast_layout`) make channels-last maps, which the crops
        are gathered from without a copy and which the dense layers after them compute fastest.
        """
        self.base, self._flats = {}, {}
        channels_last = images.dim() == 4 and images.is_contiguous(memory_format=torch.channels_last)
        self.layout = torch.channels_last if channels_last and not images.is_contiguous() else torch.contiguous_format
        output = None
        self.ledger = Cost()
        for node in self.nodes:
            if node.op == "placeholder":
                self.base[node] = images
                continue
            args = fx.node.map_arg(node.args, lambda n: self.base[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: self.base[n])
            if node.op == "output":
                output = args[0]
                break
            if _is_inplace(node, self.modules) and args and isinstance(args[0], torch.Tensor):
                args = (args[0].clone(), *args[1:])  # keep the recorded input as it was
            self.base[node] = self._call(node, args, kwargs)
        self.cost_per_image, self.ledger = self.ledger.scaled(1 / max(1, images.shape[0])), None
        if not isinstance(output, torch.Tensor) or output.shape != reference.shape:
            raise Unsupported("the traced graph does not return the model's logits")
        scale = float(reference.abs().max()) if reference.numel() else 0.0
        # folded BatchNorms and channels-last maps change the summation order: allow rounding
        atol = 1000 * torch.finfo(output.dtype).eps * max(scale, 1.0) if output.is_floating_point() else 0
        if not torch.allclose(output, reference, rtol=1e-5, atol=atol):
            raise Unsupported("the traced graph's output differs from the model's (hooks on the model itself?)")

    def _flat(self, node: fx.Node, pad: tuple[int, int] = (0, 0), value: float = 0.0) -> _Flat:
        """The unoccluded map of ``node`` as a :class:`_Flat`, made once per group and padding."""
        key = (node, pad, value)
        if key not in self._flats:
            self._flats[key] = _Flat.of(self.base[node], pad, value)
        return self._flats[key]

    # ------------------------------------------------------------------------------------------
    # occluded chunks

    def logits(self, image: torch.Tensor, rect: _Rect, cost: Cost | None = None) -> torch.Tensor:
        """Outputs for occluded copies: window ``b`` of image ``image[b]`` changed the input to ``rect``.

        The work done is added to ``cost`` when given (see :class:`Cost`).
        """
        self.ledger = cost
        try:
            return self._logits(image, rect)
        finally:
            self.ledger = None

    def _logits(self, image: torch.Tensor, rect: _Rect) -> torch.Tensor:
        env: dict[fx.Node, object] = {self.input: rect}
        for node in self.nodes:
            if node is self.input:
                continue
            if node.op == "output":
                result = node.args[0]
                if env.get(result) is _STATIC:  # the output does not depend on the images
                    return self.base[result][image]
                return self._dense(result, env, image)
            if not self.dynamic[node]:
                env[node] = _STATIC
                continue
            env[node] = self._step(node, env, image)
        raise AssertionError("graph without output")

    def _dense(self, node: fx.Node, env: dict, image: torch.Tensor) -> object:
        """The value of ``node`` for every window as a full tensor (static values as they are)."""
        state = env[node]
        if state is _STATIC:
            return self.base[node]
        if isinstance(state, _Rect):
            return self._full(node, state, image)
        return state

    def _full(self, node: fx.Node, rect: _Rect, image: torch.Tensor) -> torch.Tensor:
        """``node``'s full maps for every window: its unoccluded map with ``rect`` pasted in."""
        base = self.base[node]
        zeros = torch.zeros_like(rect.y)
        full = self._gather(self._flat(node), image, zeros, zeros, base.shape[-2], base.shape[-1], rect)
        return full.contiguous(memory_format=self.layout)

    def _step(self, node: fx.Node, env: dict, image: torch.Tensor) -> object:
        inputs = [a for a in node.all_input_nodes if self.dynamic[a] and env[a] is not _STATIC]
        if not inputs:  # derived from the images' dtype or device only
            return _STATIC
        rects = [a for a in inputs if isinstance(env[a], _Rect)]
        if rects and len(rects) == len(inputs):
            result = self._incremental(node, env, rects, image)
            if result is not None:
                return self._maybe_dense(node, result, image)
        if node.op == "call_function" and node.target is getattr and node.args[1] in _STATIC_ATTRIBUTES:
            return _STATIC
        args = fx.node.map_arg(node.args, lambda n: self._dense(n, env, image))
        kwargs = fx.node.map_arg(node.kwargs, lambda n: self._dense(n, env, image))
        return self._call(node, args, kwargs)

    def _maybe_dense(self, node: fx.Node, rect: _Rect, image: torch.Tensor) -> object:
        base = self.base[node]
        h, w = rect.values.shape[-2:]
        if h * w >= DENSE_FRACTION * base.shape[-2] * base.shape[-1]:
            return self._full(node, rect, image)
        return rect

    def _incremental(self, node: fx.Node, env: dict, rects: list[fx.Node], image: torch.Tensor) -> _Rect | None:
        """The changed rectangle of ``node`` when its kind allows it, else ``None`` (full maps)."""
        base = self.base[node]
        if not isinstance(base, torch.Tensor) or base.dim() != 4:
            return None
        kind = self._kind(node)
        if kind == "window" and len(rects) == 1 and node.args and node.args[0] is rects[0]:
            return self._window(_window_of(self.modules[node.target]), rects[0], env[rects[0]], image)
        if kind == "elementwise" and len(rects) == 1:
            subject_only = node.op == "call_method" or node.target not in _BINARY_FUNCTIONS
            if subject_only and not (node.args and node.args[0] is rects[0]):
                return None  # e.g. buffer.to(x): x gives only a dtype
            if not self._broadcasts_over_space(node, rects[0]):
                return None
            rect = env[rects[0]]
            args = fx.node.map_arg(node.args, lambda n: rect.values if n is rects[0] else self.base[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: rect.values if n is rects[0] else self.base[n])
            return _Rect(self._call(node, args, kwargs), rect.y, rect.x)
        if kind == "elementwise" and len(rects) == 2 and rects[0] is not rects[1]:
            if any(self.base[r].shape != base.shape for r in rects):
                return None
            return self._union(node, env, rects, image)
        return None

    def _kind(self, node: fx.Node) -> str | None:
        if node.op == "call_module":
            module = self.modules[node.target]
            if _window_of(module) is not None:
                return "window"
            return "elementwise" if _is_elementwise_module(module) else None
        if node.op == "call_function" and (node.target in _UNARY_FUNCTIONS or node.target in _BINARY_FUNCTIONS):
            return "elementwise"
        if node.op == "call_method" and (node.target in _UNARY_METHODS or node.target in _BINARY_METHODS):
            return "elementwise"
        return None

    def _broadcasts_over_space(self, node: fx.Node, dynamic: fx.Node) -> bool:
        """The other operands are scalars or tensors constant over space and batch (e.g. ``(C, 1, 1)``)."""
        for other in node.all_input_nodes:
            if other is dynamic:
                continue
            value = self.base[other]
            if not isinstance(value, torch.Tensor) or value.numel() == 1:
                continue
            # a tensor of several values broadcasts over space only from trailing 1 x 1 dims
            if value.dim() < 3 or value.shape[-1] != 1 or value.shape[-2] != 1 or (
                    value.dim() == 4 and value.shape[0] != 1):
                return False
        return True

    def _window(self, layer: _Window, source: fx.Node, rect: _Rect, image: torch.Tensor) -> _Rect:
        """Recompute the outputs of a conv/pool layer whose windows overlap the changed rectangle."""
        base_in = self.base[source]
        h_in, w_in = rect.values.shape[-2:]
        if layer.kernel == (1, 1) and layer.stride == (1, 1) and layer.padding == (0, 0):
            return self._applied(layer, rect.values, rect.y, rect.x)  # pointwise: the crop is the rectangle
        starts, sizes, crops = [], [], []
        for axis, (start, extent) in enumerate(((rect.y, h_in), (rect.x, w_in))):
            k, s, p = layer.kernel[axis], layer.stride[axis], layer.padding[axis]
            n_in = base_in.shape[2 + axis]
            n_out = (n_in + 2 * p - k) // s + 1
            size = min(n_out, (extent + k - 2) // s + 1)
            first = _ceil_div(start + p - k + 1, s).clamp(0, n_out - size)
            starts.append(first)
            sizes.append(size)
            crops.append((first * s - p, (size - 1) * s + k))
        (y0, h_crop), (x0, w_crop) = crops
        crop = self._gather(self._flat(source, layer.padding, layer.pad_value), image, y0, x0, h_crop, w_crop, rect)
        return self._applied(layer, crop, starts[0], starts[1])

    def _applied(self, layer: _Window, crop: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> _Rect:
        out = layer.apply(crop)
        if self.ledger is not None:
            self.ledger.add(Cost(float(out.numel() * layer.macs), float(out.numel())))
        return _Rect(out, y, x)

    def _union(self, node: fx.Node, env: dict, rects: list[fx.Node], image: torch.Tensor) -> _Rect:
        """An element-wise op of two changed maps: computed on the union of their rectangles."""
        a, b = env[rects[0]], env[rects[1]]
        n_rows, n_cols = self.base[node].shape[-2:]
        y0 = torch.minimum(a.y, b.y)
        x0 = torch.minimum(a.x, b.x)
        h = min(n_rows, int((torch.maximum(a.y + a.values.shape[-2], b.y + b.values.shape[-2]) - y0).max()))
        w = min(n_cols, int((torch.maximum(a.x + a.values.shape[-1], b.x + b.values.shape[-1]) - x0).max()))
        y0, x0 = y0.clamp(max=n_rows - h), x0.clamp(max=n_cols - w)
        crops = {r: env[r].values if _spans(env[r], y0, x0, h, w)
                 else self._gather(self._flat(r), image, y0, x0, h, w, env[r]) for r in rects}
        args = fx.node.map_arg(node.args, lambda n: crops.get(n, self.base[n]))
        kwargs = fx.node.map_arg(node.kwargs, lambda n: crops.get(n, self.base[n]))
        return _Rect(self._call(node, args, kwargs), y0, x0)


def incremental_engine(model: nn.Module) -> tuple[IncrementalOcclusion | None, str]:
    """An :class:`IncrementalOcclusion` for ``model``, or ``None`` and the reason it cannot be used."""
    try:
        return IncrementalOcclusion(model), ""
    except Unsupported as exc:
        return None, str(exc)
