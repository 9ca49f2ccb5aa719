"""The attribution front end: one call shape for every method, and the registry they join.

``attribute(model, inputs, target=None, method="gradient", batch_size=64, **options)`` validates
the inputs and target, puts the model in eval mode with parameter gradients off (restoring
both afterwards, also on errors), and calls the registered method. Methods receive validated
arguments and only do their own mathematics.

A method is a function ``fn(model, inputs, target, score, batch_size, **options) -> Tensor``
registered with :func:`register_method`; ``inputs`` is ``(N, 3, H, W)``, ``target`` a LongTensor
``(N,)`` on the inputs' device, ``score`` one of :data:`SCORES`.
"""

from __future__ import annotations

import contextvars
import inspect
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from gaplens.core.batching import check_batch_size, map_batches
from gaplens.core.device import model_device
from gaplens.core.errors import InputError
from gaplens.core.hooks import frozen
from gaplens.core.registry import Registry

#: Which function of the logits a method explains. "probability" is an alias of "softmax".
SCORES = ("logit", "log_softmax", "softmax", "probability")


@dataclass(frozen=True)
class Method:
    """A registered attribution method and what callers need to know about it.

    Attributes:
        name: registry key.
        fn: the implementation (see the module docstring for its signature).
        defaults: its options and their default values (read from ``fn``'s signature).
        needs_layer: it works on a layer's activations (Grad-CAM family).
        stochastic: its result depends on a seed (SmoothGrad family).
        model_independent: its result does not depend on the model (the edge control).
        default_score: the score it explains unless ``score=`` says otherwise.
        output: ``"input"`` (same shape as the inputs) or ``"map"`` ((N, 1, H, W)).
        description: one line for help texts and the report.
    """

    name: str
    fn: Callable[..., torch.Tensor]
    defaults: dict = field(default_factory=dict)
    needs_layer: bool = False
    stochastic: bool = False
    model_independent: bool = False
    default_score: str = "logit"
    output: str = "input"
    description: str = ""


METHODS: Registry[Method] = Registry("attribution method")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape codes (torch colours some of its messages)."""
    return _ANSI.sub("", text)


def network_name(model: nn.Module) -> str:
    """The class name users know their model by: the wrapped network's for a Classifier."""
    from gaplens.core.model import Classifier  # local: core.model imports the zoo

    return type(model.network if isinstance(model, Classifier) else model).__name__


# --------------------------------------------------------------------------------------------
# progress: one bar per attribute() call, fed by the methods' own loops (no hooks on the model)

_BAR: contextvars.ContextVar = contextvars.ContextVar("gaplens_explain_progress", default=None)


@contextmanager
def progress_bar(enabled: bool | str, description: str) -> Iterator[None]:
    """Inside the block, :func:`declare_work` / :func:`advance` drive a tqdm bar with an ETA."""
    if not enabled:
        yield
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=None, desc=enabled if isinstance(enabled, str) else description, unit="img", leave=False,
               dynamic_ncols=True)
    token = _BAR.set(bar)
    try:
        yield
    finally:
        _BAR.reset(token)
        bar.close()


def declare_work(rows: int) -> None:
    """Tell the active bar (if any) how many model evaluations the whole call needs; the first call wins."""
    bar = _BAR.get()
    if bar is not None and bar.total is None:
        bar.total = rows
        bar.refresh()


def advance(rows: int) -> None:
    """Count ``rows`` evaluated inputs on the active bar (if any)."""
    bar = _BAR.get()
    if bar is not None:
        bar.update(rows)


def register_method(
    name: str,
    *,
    needs_layer: bool = False,
    stochastic: bool = False,
    model_independent: bool = False,
    default_score: str = "logit",
    output: str = "input",
    description: str = "",
) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorator: register ``fn`` as attribution method ``name`` (its options from its signature)."""

    def add(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        fixed = {"model", "inputs", "target", "score", "batch_size"}
        defaults = {
            p.name: p.default
            for p in inspect.signature(fn).parameters.values()
            if p.name not in fixed and p.default is not inspect.Parameter.empty
        }
        METHODS.register(name)(
            Method(name, fn, defaults, needs_layer, stochastic, model_independent, default_score, output,
                   description or (fn.__doc__ or "").strip().splitlines()[0])
        )
        return fn

    return add


def select_scores(logits: torch.Tensor, target: torch.Tensor, score: str) -> torch.Tensor:
    """``(N,)`` scores of the target classes: the logit, its log-softmax or its softmax."""
    if score == "logit":
        values = logits
    elif score == "log_softmax":
        values = F.log_softmax(logits, dim=1)
    elif score in ("softmax", "probability"):
        values = F.softmax(logits, dim=1)
    else:
        raise InputError(f"score={score!r}; expected one of {list(SCORES)}")
    return values.gather(1, target.view(-1, 1)).squeeze(1)


def check_inputs(inputs: torch.Tensor) -> torch.Tensor:
    """Validate a batch of images: a floating tensor ``(N, 3, H, W)``, finite."""
    if not isinstance(inputs, torch.Tensor):
        raise InputError(f"inputs must be a torch.Tensor of shape (N, 3, H, W), got {type(inputs).__name__}")
    if inputs.ndim == 3:
        raise InputError(f"inputs have shape {tuple(inputs.shape)}; expected (N, 3, H, W): add a batch "
                         "dimension with inputs.unsqueeze(0)")
    if inputs.ndim != 4 or inputs.shape[1] != 3:
        raise InputError(f"inputs have shape {tuple(inputs.shape)}; expected (N, 3, H, W) RGB images")
    if inputs.shape[0] == 0:
        raise InputError("inputs are empty (N = 0)")
    if not inputs.is_floating_point():
        raise InputError(f"inputs have dtype {inputs.dtype}; expected floats in [0, 1]")
    if not torch.isfinite(inputs).all():
        bad = (~torch.isfinite(inputs)).flatten(1).any(1).nonzero().flatten().tolist()
        raise InputError(f"inputs contain NaN or Inf (images {bad[:10]})")
    return inputs


def resolve_target(
    model: nn.Module, inputs: torch.Tensor, target: int | Sequence[int] | torch.Tensor | None, batch_size: int
) -> torch.Tensor:
    """A LongTensor ``(N,)`` of target classes; ``None`` means the model's predicted classes."""
    n = inputs.shape[0]
    if target is None:
        with torch.no_grad():
            return map_batches(lambda images: model(images).argmax(1), inputs, batch_size=batch_size)
    with torch.no_grad():
        k = model(inputs[:1]).shape[1]
    if isinstance(target, bool):
        raise InputError(f"target={target!r}; expected an int, N ints or None")
    if isinstance(target, int):
        values = torch.full((n,), target, dtype=torch.long, device=inputs.device)
    else:
        values = torch.as_tensor(target, device=inputs.device)
        if values.is_floating_point() or values.dtype == torch.bool:
            raise InputError(f"target has dtype {values.dtype}; expected integer class indices")
        values = values.long().flatten()
        if values.numel() == 1:
            values = values.expand(n).clone()
        if values.numel() != n:
            raise InputError(f"target has {values.numel()} entries for {n} inputs; expected 1 or {n}")
    if (values < 0).any() or (values >= k).any():
        raise InputError(f"target {values.tolist()[:10]} out of range: the model has {k} classes (0..{k - 1})")
    return values


def attribute(
    model: nn.Module,
    inputs: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor | None = None,
    method: str = "gradient",
    batch_size: int = 64,
    score: str | None = None,
    progress: bool | str = False,
    **options,
) -> torch.Tensor:
    """Attributions of ``method`` for ``inputs`` w.r.t. the target classes' scores.

    Args:
        model: maps ``(N, 3, H, W)`` images in ``[0, 1]`` to logits ``(N, K)`` (a Classifier).
            It is run in eval mode with parameter gradients off; its modes, flags, hooks and
            gradients are restored afterwards, also when the method raises.
        inputs: ``(N, 3, H, W)`` floats (any device and float dtype; they are evaluated on the
            model's device in the model's dtype, and the result comes back in theirs).
        target: an int, ``N`` ints, or ``None`` (each image's predicted class).
        method: a key of :data:`METHODS` (``gaplens.explain.METHODS.names()``).
        batch_size: the most inputs in one forward/backward pass.
        score: ``"logit"`` (default for most methods), ``"log_softmax"``, ``"softmax"`` or
            ``"probability"`` (= softmax).
        progress: show a tqdm bar with an ETA over the model evaluations (a string is its
            label); off by default, on in the CLI.
        options: the method's own options (see ``METHODS[method].defaults``).

    Returns:
        ``(N, 3, H, W)`` attributions, or ``(N, 1, H, W)`` for map methods (Grad-CAM), on the
        inputs' device and dtype, detached; ``(attributions, delta)`` for Integrated Gradients
        with ``return_delta=True``. Occlusion's result carries ``result.details`` (how it was
        evaluated, see :func:`gaplens.explain.occlusion.occlusion`).

    Warns:
        UserWarning: an image's map is all zeros while the score is a probability (a saturated
            softmax has zero gradient); ``score="logit"`` explains such images.

    >>> import torch
    >>> from gaplens.zoo import build
    >>> from gaplens.core.model import Classifier
    >>> model = Classifier(build("vgg", 3)).eval()
    >>> attribute(model, torch.rand(2, 3, 32, 32), target=[0, 2], method="gradient").shape
    torch.Size([2, 3, 32, 32])
    """
    spec = METHODS[method]
    check_batch_size(batch_size)
    check_inputs(inputs)
    score = score or spec.default_score
    if score not in SCORES:
        raise InputError(f"score={score!r}; expected one of {list(SCORES)}")
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise InputError(f"method {method!r} has no option(s) {unknown}; its options are {sorted(spec.defaults)}")
    device = model_device(model, default=inputs.device)
    x = inputs.detach().to(device=device, dtype=model_dtype(model, default=inputs.dtype))
    with frozen(model, no_grad=False), progress_bar(progress, method):
        if spec.model_independent:
            tgt = torch.zeros(x.shape[0], dtype=torch.long, device=device)
        else:
            tgt = resolve_target(model, x, target, batch_size)
        result = spec.fn(model, x, tgt, score, batch_size, **options)
    maps = result[0] if isinstance(result, tuple) else result
    if score in ("softmax", "probability") and not spec.model_independent:
        _warn_zero_maps(maps, score, method)
    if isinstance(result, tuple):  # (attributions, completeness delta)
        return tuple(r.detach().to(device=inputs.device, dtype=inputs.dtype) for r in result)
    out = result.detach().to(device=inputs.device, dtype=inputs.dtype)
    details = getattr(result, "details", None)
    if details is not None:
        out.details = details
    return out


def model_dtype(model: nn.Module, default: torch.dtype) -> torch.dtype:
    """The floating dtype of the model's first floating parameter (or buffer), else ``default``."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return default


def _warn_zero_maps(maps: torch.Tensor, score: str, method: str) -> None:
    zero = maps.detach().flatten(1).eq(0).all(1)
    if bool(zero.any()):
        images = zero.nonzero().flatten().tolist()
        warnings.warn(
            f"{method}: the maps of image(s) {images[:10]} are all zero with score={score!r}: the softmax is "
            "saturated there (probability ~1, zero gradient, no change when occluded); score='logit' "
            "explains such images", UserWarning, stacklevel=3)


def input_gradients(
    model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, score: str, batch_size: int
) -> torch.Tensor:
    """d score_target / d input for each row, batched: ``(N, ...)`` like ``inputs``.

    The model must be in eval mode (rows independent); each chunk is one forward and one
    backward pass.
    """

    declare_work(inputs.shape[0])  # a no-op when the caller declared its own total

    def chunk_gradients(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = images.detach().requires_grad_(True)
        with torch.enable_grad():
            scores = select_scores(model(x), targets, score)
            (grad,) = torch.autograd.grad(scores.sum(), x)
        advance(x.shape[0])
        return grad

    return map_batches(chunk_gradients, inputs, target, batch_size=batch_size)
