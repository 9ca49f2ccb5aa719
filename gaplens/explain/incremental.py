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
import operator
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.module import _global_forward_hooks, _global_forward_pre_hooks

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


@dataclass
class _Rect:
    """Changed values ``(B, C, h, w)`` of a node at rows ``y``, columns ``x`` (``(B,)`` each) of its map."""

    values: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor


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

        return _Window(kernel, _pair(module.stride), _pair(module.padding), 0.0, conv)
    if kind is nn.MaxPool2d and not module.ceil_mode and not module.return_indices:
        dilation = _pair(module.dilation)
        kernel = tuple(d * (k - 1) + 1 for d, k in zip(dilation, _pair(module.kernel_size), strict=True))

        def max_pool(crop, m=module):
            return F.max_pool2d(crop, m.kernel_size, m.stride, 0, m.dilation)

        return _Window(kernel, _pair(module.stride or module.kernel_size), _pair(module.padding), float("-inf"),
                       max_pool)
    if (kind is nn.AvgPool2d and not module.ceil_mode and module.count_include_pad
            and module.divisor_override is None):

        def avg_pool(crop, m=module):
            return F.avg_pool2d(crop, m.kernel_size, m.stride, 0)

        return _Window(_pair(module.kernel_size), _pair(module.stride or module.kernel_size),
                       _pair(module.padding), 0.0, avg_pool)
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
            if _is_inplace(source, modules):
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


class IncrementalOcclusion:
    """Evaluates a traced model on occluded copies of its inputs, recomputing only changed regions.

    Use :meth:`prepare` once per group of images (the unoccluded pass, checked against the
    model's own forward), then :meth:`logits` for chunks of occluding windows.
    """

    def __init__(self, model: nn.Module) -> None:
        self.graph_module = _trace(model)
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

    # ------------------------------------------------------------------------------------------
    # the unoccluded pass

    def _call(self, node: fx.Node, args: tuple, kwargs: dict) -> object:
        if node.op == "call_module":
            return self.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        if node.op == "get_attr":
            value = self.graph_module
            for part in node.target.split("."):
                value = getattr(value, part)
            return value
        raise AssertionError(node.op)

    def prepare(self, images: torch.Tensor, reference: torch.Tensor) -> None:
        """Run the traced graph on ``images``, keeping every node's value.

        ``reference`` is the model's own output on ``images``; a trace that disagrees with it
        (for example a hook on the model itself) raises :class:`Unsupported`.
        """
        self.base, self._flats = {}, {}
        output = None
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
        if not isinstance(output, torch.Tensor) or output.shape != reference.shape:
            raise Unsupported("the traced graph does not return the model's logits")
        scale = float(reference.abs().max()) if reference.numel() else 0.0
        if not torch.allclose(output, reference, rtol=1e-5, atol=1e-6 * max(scale, 1.0)):
            raise Unsupported("the traced graph's output differs from the model's (hooks on the model itself?)")

    def _flat(self, node: fx.Node, pad: tuple[int, int] = (0, 0), value: float = 0.0) -> _Flat:
        """The unoccluded map of ``node`` as a :class:`_Flat`, made once per group and padding."""
        key = (node, pad, value)
        if key not in self._flats:
            self._flats[key] = _Flat.of(self.base[node], pad, value)
        return self._flats[key]

    # ------------------------------------------------------------------------------------------
    # occluded chunks

    def logits(self, image: torch.Tensor, rect: _Rect) -> torch.Tensor:
        """Outputs for occluded copies: window ``b`` of image ``image[b]`` changed the input to ``rect``."""
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
            base = self.base[node]
            zeros = torch.zeros_like(state.y)
            full = _gather(self._flat(node), image, zeros, zeros, base.shape[-2], base.shape[-1], state)
            return full.contiguous()  # the usual layout: view() and friends work as on the model's own maps
        return state

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
            zeros = torch.zeros_like(rect.y)
            return _gather(self._flat(node), image, zeros, zeros, base.shape[-2], base.shape[-1], rect).contiguous()
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
        crop = _gather(self._flat(source, layer.padding, layer.pad_value), image, y0, x0, h_crop, w_crop, rect)
        return _Rect(layer.apply(crop), starts[0], starts[1])

    def _union(self, node: fx.Node, env: dict, rects: list[fx.Node], image: torch.Tensor) -> _Rect:
        """An element-wise op of two changed maps: computed on the union of their rectangles."""
        a, b = env[rects[0]], env[rects[1]]
        n_rows, n_cols = self.base[node].shape[-2:]
        y0 = torch.minimum(a.y, b.y)
        x0 = torch.minimum(a.x, b.x)
        h = min(n_rows, int((torch.maximum(a.y + a.values.shape[-2], b.y + b.values.shape[-2]) - y0).max()))
        w = min(n_cols, int((torch.maximum(a.x + a.values.shape[-1], b.x + b.values.shape[-1]) - x0).max()))
        y0, x0 = y0.clamp(max=n_rows - h), x0.clamp(max=n_cols - w)
        crops = {r: _gather(self._flat(r), image, y0, x0, h, w, env[r]) for r in rects}
        args = fx.node.map_arg(node.args, lambda n: crops.get(n, self.base[n]))
        kwargs = fx.node.map_arg(node.kwargs, lambda n: crops.get(n, self.base[n]))
        return _Rect(self._call(node, args, kwargs), y0, x0)


def incremental_engine(model: nn.Module) -> tuple[IncrementalOcclusion | None, str]:
    """An :class:`IncrementalOcclusion` for ``model``, or ``None`` and the reason it cannot be used."""
    try:
        return IncrementalOcclusion(model), ""
    except Unsupported as exc:
        return None, str(exc)
