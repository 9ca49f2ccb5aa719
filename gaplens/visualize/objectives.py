"""Objectives of activation maximization: what an optimized image should make the model do.

An :class:`Objective` maps what one forward pass produced (a :class:`Context`: the images, the
logits, the activations of named layers) to one value **per image**, shape ``(B,)``; the
optimizer *maximizes* their sum. Objectives form an algebra, as in Lucid/Lucent::

    from gaplens.visualize import objectives as obj
    goal = obj.channel("layer3", 5) - 0.1 * obj.layer_l2("layer2")
    print(goal)                      # channel('layer3', 5) - 0.1 * layer_l2('layer2')

``+``, ``-``, unary ``-``, scalar ``*`` and ``/`` combine objectives; ``sum([...])`` works too.

**Batch-aware.** Optimizing several classes or channels as one batch is one objective with one
target per image: ``class_logit([0, 1, 2])`` maximizes class 0 in image 0, class 1 in image 1,
class 2 in image 2 (one forward/backward per step for all three). Every factory also takes
``batch=i`` to restrict an objective to image ``i``, so different kinds of objectives can share
a batch: ``channel("layer1", 3, batch=0) + neuron("layer2", 7, batch=1)``. Images are
independent (the model runs in eval mode), except under :func:`diversity`, whose purpose is to
couple them.

Layers are dotted names as in ``model.named_modules()`` (relative to a Classifier's network);
an unknown name raises :class:`~gaplens.core.errors.LayerNotFoundError` listing the nearest
names. All factories are registered in :data:`OBJECTIVES`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real

import torch
from torch import Tensor
from torch.nn import functional as F

from gaplens.core.errors import InputError
from gaplens.core.registry import Registry

__all__ = [
    "Objective", "Context", "OBJECTIVES", "register_objective", "class_logit", "channel", "neuron", "layer_l2",
    "direction", "diversity", "SCORES",
]

#: What :func:`class_logit` maximizes: the unnormalized score, its log-softmax or its softmax.
SCORES = ("logit", "log_softmax", "softmax")


@dataclass
class Context:
    """What one forward pass produced, handed to every objective.

    Attributes:
        images: ``(B, 3, H, W)`` the parameterized images in ``[0, 1]``, before transforms
            (regularizers such as L2 and total variation act on these).
        inputs: the transformed images the model saw (padded, jittered, scaled, rotated).
        logits: ``(B, K)`` the model's output for ``inputs``.
        activations: layer name -> output of that layer for ``inputs`` (attached to the graph).
    """

    images: Tensor
    inputs: Tensor
    logits: Tensor
    activations: Mapping[str, Tensor] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return int(self.images.shape[0])

    def activation(self, layer: str) -> Tensor:
        """The output of ``layer`` in this forward pass; an error if the forward never called it."""
        try:
            return self.activations[layer]
        except KeyError:
            raise InputError(
                f"layer {layer!r} exists but produced no tensor output in the forward pass (it is never "
                "called, or returns no tensor); pick a layer on the path from input to logits"
            ) from None


class Objective:
    """A function of a forward pass with one value per image, and a readable description.

    Args:
        fn: ``fn(context) -> (B,)`` values to maximize.
        description: how the objective prints (``channel('layer3', 5)``).
        layers: the layers whose activations ``fn`` reads (captured during optimization).
        batch_hint: the smallest batch the objective needs (one image per listed target);
            ``optimize(batch=None)`` uses it.
    """

    def __init__(self, fn: Callable[[Context], Tensor], description: str, layers: Sequence[str] = (),
                 batch_hint: int | None = None, _compound: bool = False) -> None:
        self.fn = fn
        self.description = description
        self.layers = tuple(dict.fromkeys(layers))
        self.batch_hint = batch_hint
        self._compound = _compound  # a sum or difference: parenthesized when scaled
        self._scaled: tuple[float, Objective] | None = None  # (k, b) when this is k * b

    def __call__(self, context: Context) -> Tensor:
        values = self.fn(context)
        if values.shape != (context.batch,):
            raise InputError(f"objective {self.description} returned shape {tuple(values.shape)}; "
                             f"expected one value per image ({context.batch},)")
        return values

    def __repr__(self) -> str:
        return self.description

    __str__ = __repr__

    # -- algebra --------------------------------------------------------------------------------

    def _combine(self, other: Objective, sign: float) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        a, b = self, other

        def fn(ctx: Context) -> Tensor:
            return a(ctx) + sign * b(ctx)

        right = f"({b})" if sign < 0 and b._compound else str(b)
        hints = [h for h in (a.batch_hint, b.batch_hint) if h is not None]
        return Objective(fn, f"{a} {'+' if sign > 0 else '-'} {right}", a.layers + b.layers,
                         max(hints) if hints else None, _compound=True)

    def __add__(self, other: Objective) -> Objective:
        return self._combine(other, 1.0)

    def __radd__(self, other: object) -> Objective:
        if isinstance(other, Real) and other == 0:  # sum([...]) starts from 0
            return self
        return NotImplemented

    def __sub__(self, other: Objective) -> Objective:
        return self._combine(other, -1.0)

    def __mul__(self, scalar: float) -> Objective:
        if isinstance(scalar, bool) or not isinstance(scalar, Real):
            return NotImplemented
        k, a = float(scalar), self
        if a._scaled is not None:  # k * (j * b) -> (k * j) * b
            k, a = k * a._scaled[0], a._scaled[1]

        def fn(ctx: Context) -> Tensor:
            return k * a(ctx)

        inner = f"({a})" if a._compound else str(a)
        text = f"-{inner}" if k == -1.0 else f"{k:g} * {inner}"
        scaled = Objective(fn, text, a.layers, a.batch_hint)
        scaled._scaled = (k, a)
        return scaled

    __rmul__ = __mul__

    def __truediv__(self, scalar: float) -> Objective:
        if isinstance(scalar, bool) or not isinstance(scalar, Real):
            return NotImplemented
        if scalar == 0:
            raise InputError(f"cannot divide objective {self} by 0")
        return self * (1.0 / float(scalar))

    def __neg__(self) -> Objective:
        return self * -1.0

    def only(self, index: int) -> Objective:
        """This objective for image ``index`` of the batch only (0 for the other images)."""
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InputError(f"batch={index!r}; expected a non-negative image index")
        a = self

        def fn(ctx: Context) -> Tensor:
            if index >= ctx.batch:
                raise InputError(f"objective {a} is restricted to image {index} (batch={index}) but the batch "
                                 f"has {ctx.batch} images; optimize with batch >= {index + 1}")
            values = a(ctx)
            mask = torch.zeros_like(values)
            mask[index] = 1.0
            return values * mask

        inner = a.description[:-1] + f", batch={index})" if a.description.endswith(")") and not a._compound \
            else f"({a})[batch={index}]"
        return Objective(fn, inner, a.layers, max(index + 1, a.batch_hint or 1))


#: Objective factories by name (``OBJECTIVES["channel"]("layer3", 5)``).
OBJECTIVES: Registry[Callable[..., Objective]] = Registry("objective")


def register_objective(name: str) -> Callable[[Callable[..., Objective]], Callable[..., Objective]]:
    """Decorator: register an objective factory; adds the ``batch=`` keyword to it."""

    def add(factory: Callable[..., Objective]) -> Callable[..., Objective]:
        @functools.wraps(factory)
        def wrapped(*args, batch: int | None = None, **kwargs) -> Objective:
            objective = factory(*args, **kwargs)
            return objective if batch is None else objective.only(batch)

        OBJECTIVES.register(name)(wrapped)
        return wrapped

    return add


# -- helpers -------------------------------------------------------------------------------------


def _indices(value: int | Sequence[int] | Tensor, what: str) -> tuple[list[int], bool]:
    """``(indices, per_image)``: one int for every image, or one per image."""
    if isinstance(value, Tensor):
        if value.is_floating_point() or value.dtype == torch.bool or value.ndim > 1:
            raise InputError(f"{what}={value!r}; expected an int or a sequence of ints")
        value = value.tolist()
    if isinstance(value, bool):
        raise InputError(f"{what}={value!r}; expected an int or a sequence of ints")
    if isinstance(value, int):
        return [value], False
    try:
        items = list(value)
    except TypeError:
        raise InputError(f"{what}={value!r}; expected an int or a sequence of ints") from None
    if not items or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise InputError(f"{what}={value!r}; expected an int or a non-empty sequence of ints (one per image)")
    return items, True


def _per_image(indices: list[int], per_image: bool, batch: int, what: str, device: torch.device) -> Tensor:
    if per_image and len(indices) != batch:
        raise InputError(f"{what} lists {len(indices)} targets for a batch of {batch} images; give one "
                         f"target per image, or one int for all (optimize(batch=None) picks {len(indices)})")
    values = indices if per_image else indices * batch
    return torch.tensor(values, dtype=torch.long, device=device)


def _show(value: int | Sequence[int] | Tensor) -> str:
    if isinstance(value, Tensor):
        value = value.tolist()
    return repr(list(value)) if not isinstance(value, int) else repr(value)


def _feature_map(ctx: Context, layer: str, kind: str) -> Tensor:
    act = ctx.activation(layer)
    if act.ndim != 4:
        raise InputError(
            f"{kind}(layer={layer!r}): the output of {layer!r} has shape {tuple(act.shape)}, but {kind} needs a "
            f"4-D (N, C, H, W) feature map; use a convolutional layer, or direction()/layer_l2() "
            "(any shape) or class_logit() for a 2-D output"
        )
    return act


def _check_channels(targets: Tensor, channels: int, layer: str, kind: str) -> None:
    bad = ((targets < 0) | (targets >= channels)).nonzero().flatten()
    if bad.numel():
        raise InputError(f"{kind}(layer={layer!r}): channel {int(targets[bad[0]])} is out of range; {layer!r} has "
                         f"{channels} channels (0..{channels - 1})")


# -- the objectives ------------------------------------------------------------------------------


@register_objective("class_logit")
def class_logit(classes: int | Sequence[int] | Tensor, score: str = "logit") -> Objective:
    """The score of class ``classes`` (an int for every image, or one class per image).

    ``score="logit"`` (default) is the unnormalized class score S_c of Simonyan et al. (2013);
    ``"log_softmax"`` and ``"softmax"`` maximize the posterior, which can also be raised by
    pushing the *other* classes down.
    """
    if score not in SCORES:
        raise InputError(f"score={score!r}; expected one of {list(SCORES)}")
    indices, per_image = _indices(classes, "classes")

    def fn(ctx: Context) -> Tensor:
        logits = ctx.logits
        if logits.ndim != 2:
            raise InputError(f"class_logit: the model returned shape {tuple(logits.shape)}; expected (N, K) logits")
        k = logits.shape[1]
        target = _per_image(indices, per_image, ctx.batch, "class_logit(classes)", logits.device)
        bad = ((target < 0) | (target >= k)).nonzero().flatten()
        if bad.numel():
            raise InputError(f"class_logit: class {int(target[bad[0]])} is out of range; the model has {k} classes "
                             f"(0..{k - 1})")
        if score == "log_softmax":
            logits = F.log_softmax(logits, dim=1)
        elif score == "softmax":
            logits = F.softmax(logits, dim=1)
        return logits.gather(1, target.view(-1, 1)).squeeze(1)

    text = f"class_logit({_show(classes)})" if score == "logit" else f"class_logit({_show(classes)}, score={score!r})"
    return Objective(fn, text, (), len(indices) if per_image else None)


@register_objective("channel")
def channel(layer: str, channels: int | Sequence[int] | Tensor) -> Objective:
    """The mean activation of channel ``channels`` of ``layer`` over all positions (a 4-D layer)."""
    indices, per_image = _indices(channels, "channels")

    def fn(ctx: Context) -> Tensor:
        act = _feature_map(ctx, layer, "channel")
        target = _per_image(indices, per_image, ctx.batch, "channel(channels)", act.device)
        _check_channels(target, act.shape[1], layer, "channel")
        picked = act[torch.arange(ctx.batch, device=act.device), target]
        return picked.flatten(1).mean(1)

    return Objective(fn, f"channel({layer!r}, {_show(channels)})", (layer,), len(indices) if per_image else None)


@register_objective("neuron")
def neuron(layer: str, channels: int | Sequence[int] | Tensor, x: int | None = None, y: int | None = None) -> Objective:
    """One unit: channel ``channels`` of ``layer`` at column ``x``, row ``y`` (the centre by default)."""
    indices, per_image = _indices(channels, "channels")
    for name, value in (("x", x), ("y", y)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError(f"neuron: {name}={value!r}; expected an int position or None (the centre)")

    def fn(ctx: Context) -> Tensor:
        act = _feature_map(ctx, layer, "neuron")
        target = _per_image(indices, per_image, ctx.batch, "neuron(channels)", act.device)
        _check_channels(target, act.shape[1], layer, "neuron")
        height, width = act.shape[-2:]
        row = height // 2 if y is None else y
        col = width // 2 if x is None else x
        if not (0 <= row < height and 0 <= col < width):
            raise InputError(f"neuron(layer={layer!r}): position x={col}, y={row} is outside the {height}x{width} "
                             f"feature map (x in 0..{width - 1}, y in 0..{height - 1})")
        return act[torch.arange(ctx.batch, device=act.device), target, row, col]

    where = "" if x is None and y is None else f", x={x}, y={y}"
    return Objective(fn, f"neuron({layer!r}, {_show(channels)}{where})", (layer,),
                     len(indices) if per_image else None)


@register_objective("layer_l2")
def layer_l2(layer: str) -> Objective:
    """The mean square of all of ``layer``'s activations (the DeepDream objective; any shape)."""

    def fn(ctx: Context) -> Tensor:
        return ctx.activation(layer).flatten(1).pow(2).mean(1)

    return Objective(fn, f"layer_l2({layer!r})", (layer,))


@register_objective("direction")
def direction(layer: str, vector: Sequence[float] | Tensor) -> Objective:
    """Cosine similarity between ``layer``'s activation vectors and ``vector`` (Lucid's ``direction``).

    ``vector`` is ``(C,)`` (the same direction for every image) or ``(B, C)`` (one per image). For a
    4-D layer the similarity over channels is averaged over positions; for a 2-D ``(N, C)`` layer
    it is the similarity of the whole vector.
    """
    vec = torch.as_tensor(vector, dtype=torch.float32) if not isinstance(vector, Tensor) else vector.detach()
    if vec.ndim not in (1, 2) or vec.numel() == 0 or not vec.is_floating_point():
        raise InputError(f"direction: vector has shape {tuple(vec.shape)}; expected (C,) or (B, C) floats")
    if not torch.isfinite(vec).all() or (vec.norm(dim=-1) == 0).any():
        raise InputError("direction: vector must be finite and non-zero")

    def fn(ctx: Context) -> Tensor:
        act = ctx.activation(layer)
        if act.ndim not in (2, 4):
            raise InputError(f"direction(layer={layer!r}): output shape {tuple(act.shape)}; expected (N, C) or "
                             "(N, C, H, W)")
        v = vec.to(device=act.device, dtype=act.dtype)
        if v.shape[-1] != act.shape[1]:
            raise InputError(f"direction(layer={layer!r}): vector has {v.shape[-1]} entries but {layer!r} has "
                             f"{act.shape[1]} channels")
        if v.ndim == 2 and v.shape[0] != ctx.batch:
            raise InputError(f"direction: vector has {v.shape[0]} rows for a batch of {ctx.batch} images")
        v = v.expand(ctx.batch, -1)
        if act.ndim == 4:
            v = v[:, :, None, None]
        sim = F.cosine_similarity(act, v, dim=1, eps=1e-8)
        return sim.flatten(1).mean(1) if sim.ndim > 1 else sim

    rows = int(vec.shape[0]) if vec.ndim == 2 else None
    return Objective(fn, f"direction({layer!r}, <{'x'.join(map(str, vec.shape))} vector>)", (layer,), rows)


@register_objective("diversity")
def diversity(layer: str) -> Objective:
    """Minus the mean cosine similarity of each image's Gram matrix at ``layer`` to the others'.

    Lucid's diversity term (Olah et al. 2017): added to a channel objective it makes the images
    of a batch show *different* things that excite the channel. Zero for a batch of one.
    """

    def fn(ctx: Context) -> Tensor:
        act = ctx.activation(layer)
        b = act.shape[0]
        flat = act.reshape(b, act.shape[1], -1)
        grams = F.normalize(torch.bmm(flat, flat.transpose(1, 2)).flatten(1), dim=1)
        sim = grams @ grams.T
        return -(sim.sum(1) - sim.diagonal()) / b

    return Objective(fn, f"diversity({layer!r})", (layer,))
