"""Activation maximization: optimize images for an objective; class models; DeepDream.

:func:`optimize` is the engine (Lucid's ``render_vis``): a parameterization (``param.py``) makes
images, random transforms (``transforms.py``) perturb them, the model runs once per step for the
whole batch with hooks from :mod:`gaplens.core.hooks` capturing the layers the objective reads,
and Adam *ascends* the objective. :func:`class_model` (Simonyan et al. 2013) and
:func:`channel_images` are thin front ends; :func:`deepdream` (Mordvintsev et al. 2015) runs
normalized gradient ascent on a photograph over an image pyramid; :func:`top_classes` answers
"which classes does this image activate most?".

The model runs on its own device, in eval mode, with its parameters' ``requires_grad`` off; its
modes, flags, gradients and hooks are restored afterwards, also when something raises.

>>> import torch
>>> from gaplens.core.model import Classifier
>>> from gaplens.zoo import build
>>> model = Classifier(build("resnet", 4, widths=(8, 16), blocks=(1, 1)), class_names=list("abcd")).eval()
>>> result = class_model(model, classes=[0, 2], steps=8, size=32)
>>> result.images.shape, result.history.shape, result.labels
(torch.Size([2, 3, 32, 32]), torch.Size([8, 2]), ['a', 'c'])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gaplens.core.batching import map_batches
from gaplens.core.device import model_device
from gaplens.core.errors import InputError
from gaplens.core.hooks import capture, frozen
from gaplens.core.image_io import _check_size
from gaplens.visualize.objectives import SCORES, Context, Objective, channel, class_logit, layer_l2, neuron
from gaplens.visualize.param import ImageParam, image_param
from gaplens.visualize.transforms import l2 as l2_penalty
from gaplens.visualize.transforms import resolve_transforms, total_variation

__all__ = ["VisResult", "ClassModelResult", "DreamResult", "optimize", "class_model", "channel_images",
           "deepdream", "top_classes", "DEFAULT_SIZE"]

#: Standard deviation of the noise added to a class model's start image, so that no ReLU starts
#: exactly at its kink (a constant image at the model's mean is 0 after normalization, and a
#: bias-free conv + ReLU would then pass no gradient at all).
START_NOISE = 0.01
#: Image side used when neither ``size`` nor the model's ``input_size`` is known.
DEFAULT_SIZE = 128


@dataclass
class VisResult:
    """Optimized images and how the objective evolved.

    Attributes:
        images: ``(B, 3, H, W)`` in ``[0, 1]``, detached, on the model's device.
        history: ``(steps, B)`` float32 on the CPU: each image's objective value at each step
            (measured on the transformed images the model saw at that step, before the update).
        objective: the objective's description.
        labels: one short label per image (class name, ``layer:channel``, ...).
        records: one flat dict per image for the run database (``pandas.DataFrame(records)``).
        settings: the arguments that produced the images.
    """

    images: Tensor
    history: Tensor
    objective: str
    labels: list[str] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


@dataclass
class ClassModelResult(VisResult):
    """A :class:`VisResult` for class models, plus each image's target and top classes.

    Attributes:
        classes: ``(B,)`` the class each image maximizes.
        top_classes, top_scores: ``(B, k)`` the model's ``k`` highest classes for each final image
            and their softmax probabilities (CPU).
        class_names: the model's class names (or ``"0"``, ``"1"``, ...).
        score: ``"logit"``, ``"log_softmax"`` or ``"softmax"``: what was maximized.
    """

    classes: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    top_classes: Tensor = field(default_factory=lambda: torch.zeros(0, 0, dtype=torch.long))
    top_scores: Tensor = field(default_factory=lambda: torch.zeros(0, 0))
    class_names: list[str] = field(default_factory=list)
    score: str = "logit"


@dataclass
class DreamResult(VisResult):
    """A :class:`VisResult` for DeepDream, plus the starting image and each octave's result.

    Attributes:
        original: ``(B, 3, H, W)`` the photograph (after any resizing), on the input's device.
        octaves: the image after each octave, smallest first: ``(B, 3, h_i, w_i)``; the last one
            is ``images``.
    """

    original: Tensor = field(default_factory=lambda: torch.zeros(0))
    octaves: list[Tensor] = field(default_factory=list)


# -- shared helpers --------------------------------------------------------------------------------


def _model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype the model computes in (its first floating parameter or buffer; else float32)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


#: The most optimizer steps one call may take (a bound, so a typo such as 10**9 is refused, not
#: run for days), and the largest image side (pixels) optimized or dreamed.
MAX_STEPS = 100_000
MAX_SIDE = 4096
#: Without ``progress=``, a progress bar is shown (on a terminal) from this many steps on.
_PROGRESS_STEPS = 1000


def _positive_int(value: object, name: str, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}={value!r}; expected a positive integer")
    if high is not None and value > high:
        raise InputError(f"{name}={value}; expected at most {high}")
    return value


def _bar_disabled(progress: bool | None, steps: int) -> bool | None:
    """tqdm's ``disable``: ``progress`` if given, else a bar (on a terminal only) for long runs."""
    if progress is None:
        return None if steps >= _PROGRESS_STEPS else True
    return not progress


def _positive_float(value: object, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{name}={value!r}; expected a {'non-negative' if allow_zero else 'positive'} number")
    return float(value)


def _image_size(model: nn.Module, size: int | Sequence[int] | None) -> tuple[int, int]:
    if size is None:
        size = getattr(model, "input_size", None) or DEFAULT_SIZE
    checked = _check_size(tuple(size) if isinstance(size, list) else size, "size")
    hw = (checked, checked) if isinstance(checked, int) else checked
    if max(hw) > MAX_SIDE:
        raise InputError(f"size={size!r}; expected sides of at most {MAX_SIDE} pixels")
    return hw


def _class_names(model: nn.Module, k: int) -> list[str]:
    names = getattr(model, "class_names", None)
    if names is not None and len(names) == k:
        return [str(n) for n in names]
    return [str(i) for i in range(k)]


def _num_classes(model: nn.Module, device: torch.device, size: tuple[int, int]) -> int:
    names = getattr(model, "class_names", None)
    if names:
        return len(names)
    with frozen(model):
        return int(model(torch.zeros(1, 3, *size, device=device, dtype=_model_dtype(model))).shape[1])


def _as_objective(objective: Objective) -> Objective:
    if not isinstance(objective, Objective):
        raise InputError(f"objective={objective!r}; expected an Objective (gaplens.visualize.objectives), "
                         "e.g. channel('layer3', 5) or class_logit(2)")
    return objective


def _records(method: str, result_objective: str, labels: list[str], history: Tensor, settings: dict,
             clean: Tensor) -> list[dict]:
    steps = history.shape[0]
    tenth = max(1, steps // 10)
    rows = []
    for i, label in enumerate(labels):
        rows.append({"method": method, "objective": result_objective, "image": i, "label": label,
                     "param": settings.get("param"), "steps": steps, "size": settings.get("size"),
                     "first_value": float(history[:tenth, i].mean()), "last_value": float(history[-tenth:, i].mean()),
                     "final_value": float(clean[i])})
    return rows


# -- the engine ------------------------------------------------------------------------------------


class _Adam:
    """Adam (Kingma & Ba 2015) for a few leaf tensors, as ``torch.optim.Adam`` computes it.

    Written out because ``torch.optim``'s constructor imports ``torch._dynamo``, which costs
    several seconds of start-up on a CPU machine - longer than a whole small visualization.
    """

    def __init__(self, params: Sequence[Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        step = self.lr / (1 - b1**self.t)
        root = math.sqrt(1 - b2**self.t)
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p.addcdiv_(m, (v.sqrt() / root).add_(self.eps), value=-step)



def optimize(
    model: nn.Module,
    objective: Objective,
    param: str | ImageParam = "fourier",
    size: int | Sequence[int] | None = None,
    batch: int | None = None,
    steps: int = 256,
    lr: float = 0.05,
    transforms: str | None | Sequence[Callable] = "standard",
    seed: int = 0,
    *,
    start: Tensor | None = None,
    decorrelate: bool = True,
    param_options: dict | None = None,
    labels: Sequence[str] | None = None,
    progress: bool | None = None,
    method: str = "optimize",
) -> VisResult:
    """Optimize ``batch`` images to maximize ``objective`` (per image), with Adam.

    Args:
        model: maps ``(N, 3, H, W)`` images in ``[0, 1]`` to ``(N, K)`` logits (a Classifier).
        objective: an :class:`~gaplens.visualize.objectives.Objective` (``channel("layer3", 5)``,
            ``class_logit([0, 1]) - 0.5 * l2()``, ...).
        param: ``"fourier"`` (1/f-scaled spectrum, Lucid's default), ``"pixel"``, or a ready
            :class:`~gaplens.visualize.param.ImageParam` (then ``size``/``batch``/``start`` are
            taken from it).
        size: ``H = W`` or ``(H, W)``, sides at most 4096; default the model's ``input_size``, else 128.
        batch: number of images; default: one per target the objective lists
            (``class_logit([0, 1, 2])`` -> 3), else 1.
        steps: optimizer steps, at most :data:`MAX_STEPS` (100000); lr: Adam's learning rate.
        transforms: ``"standard"`` (Lucid's list), ``None``/``"none"``, or a list of transforms
            ``t(images, generator) -> images``.
        seed: seeds the initial parameters and the transforms (local generators only).
        start: ``(3, H, W)`` / ``(B, 3, H, W)`` images in ``[0, 1]`` to start from instead of noise.
        decorrelate: optimize decorrelated colour components (see ``param.py``).
        param_options: extra options of the parameterization (``sd``, ``decay_power``).
        labels: one label per image for figures and records.
        progress: show a tqdm bar over steps; ``None`` (default): on a terminal, from 1000 steps on.

    Returns:
        A :class:`VisResult`; ``images`` ``(B, 3, H, W)`` on the model's device.

    Raises:
        LayerNotFoundError: a layer of the objective does not exist (nearest names listed).
        InputError: bad arguments, or the objective does not fit the model (channel out of range,
            a 2-D layer for ``channel``/``neuron``, ...) - raised at the first forward pass.
    """
    objective = _as_objective(objective)
    steps = _positive_int(steps, "steps", MAX_STEPS)
    lr = _positive_float(lr, "lr")
    device, dtype = model_device(model), _model_dtype(model)
    if isinstance(param, ImageParam):
        parameterization = param
        if start is not None or batch not in (None, param.batch):
            raise InputError("param is a ready ImageParam: give its batch and start image when you build it")
        if param.params[0].device != device:
            raise InputError(f"param lives on {param.params[0].device} but the model on {device}; build it with "
                             f"device={str(device)!r}")
    else:
        if batch is None:
            batch = objective.batch_hint or (start.shape[0] if start is not None and start.ndim == 4 else 1)
        options = {"decorrelate": decorrelate, "device": device, "seed": seed, **(param_options or {})}
        hw = None if start is not None and size is None else _image_size(model, size)
        parameterization = image_param(param, batch, hw, start=start, **options)
    b = parameterization.batch
    pipeline = resolve_transforms(transforms, parameterization.size)
    names = [str(v) for v in labels] if labels is not None else [f"image {i}" for i in range(b)]
    if len(names) != b:
        raise InputError(f"labels has {len(names)} entries for {b} images")
    generator = torch.Generator().manual_seed(int(seed) + 1)
    optimizer = _Adam(parameterization.params, lr=lr)
    history = torch.empty(steps, b)

    from tqdm.auto import tqdm

    with frozen(model, no_grad=False), capture(model, objective.layers, keep_graph=True) as cap, torch.enable_grad():
        for step in tqdm(range(steps), desc=method, disable=_bar_disabled(progress, steps), unit="step"):
            cap.clear()
            optimizer.zero_grad()
            images = parameterization()
            inputs = pipeline(images, generator).to(dtype)
            logits = model(inputs)
            values = objective(Context(images, inputs, logits, cap.activations))
            (-values.sum()).backward()
            optimizer.step()
            history[step] = values.detach().float().cpu()
        cap.clear()
        with torch.no_grad():
            final = parameterization().detach()
            clean = objective(Context(final, final, model(final.to(dtype)), cap.activations)).float().cpu()
        cap.clear()
    settings = {"param": parameterization.kind, "size": f"{final.shape[-2]}x{final.shape[-1]}", "steps": steps,
                "lr": lr, "transforms": repr(pipeline), "seed": seed, "decorrelate": parameterization.decorrelate}
    desc = objective.description
    return VisResult(final, history, desc, names, _records(method, desc, names, history, settings, clean), settings)


# -- front ends ------------------------------------------------------------------------------------


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _targets(value: str | int | Sequence[int] | None, count: int, what: str) -> list[int]:
    if value is None or value == "all":
        return list(range(count))
    if isinstance(value, str):
        raise InputError(f"{what}={value!r}; expected 'all', an int or a list of ints")
    if isinstance(value, Tensor):
        value = value.flatten().tolist()
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else list(value)
    if not items or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise InputError(f"{what}={value!r}; expected 'all', an int or a non-empty list of ints")
    bad = [v for v in items if not 0 <= v < count]
    if bad:
        raise InputError(f"{what}: {bad[0]} is out of range; expected 0..{count - 1} (there are {count})")
    return items


def _mean_colour(model: nn.Module) -> Tensor:
    """The colour that is "zero" in the model's input space: a Classifier's mean, else grey.

    A Classifier with the identity normalization (mean 0, std 1: the network takes ``[0, 1]``
    images as they are) says nothing about its data's mean; grey 0.5 is used then.
    """
    mean, std = getattr(model, "mean", None), getattr(model, "std", None)
    if isinstance(mean, Tensor) and mean.numel() == 3:
        identity = bool((mean == 0).all()) and isinstance(std, Tensor) and bool((std == 1).all())
        if not identity:
            return mean.detach().flatten().float().clamp(0.05, 0.95).cpu()
    return torch.full((3,), 0.5)


def class_model(
    model: nn.Module,
    classes: str | int | Sequence[int] = "all",
    l2: float = 30.0,
    score: str = "logit",
    *,
    param: str = "pixel",
    size: int | Sequence[int] | None = None,
    steps: int = 256,
    lr: float = 0.05,
    transforms: str | None | Sequence[Callable] = "scaled",
    tv: float = 0.0,
    decorrelate: bool = True,
    batch_size: int = 16,
    k: int = 3,
    seed: int = 0,
    progress: bool | None = None,
) -> ClassModelResult:
    """Class models (Simonyan et al. 2013): ``argmax_I S_c(I) - l2 * ||I - m||^2`` for each class ``c``.

    Each image starts from "zero": the constant colour ``m`` that the model's normalization maps
    to 0 (a Classifier's ``mean``; grey 0.5 without one or with the identity normalization), plus
    noise of std :data:`START_NOISE`. ``||I - m||^2`` is the mean over pixels and channels of the
    squared deviation from ``m`` (image values in ``[0, 1]``). The classes of a chunk of
    ``batch_size`` are optimized as one batch (one forward/backward per step).

    The defaults (pixel parameterization with decorrelated colour, 256 Adam steps, the standard
    transforms scaled to the image size, ``l2=30``) give class models that the zoo models
    classify as their class; ``param="pixel", transforms=None, decorrelate=False`` is Simonyan's
    plain gradient ascent, whose images are classified correctly but look like noise.

    Args:
        model: a classifier on images in ``[0, 1]``.
        classes: ``"all"``, a class index, or a list of them.
        l2: weight of the L2 penalty (the lecture's lambda).
        score: ``"logit"`` (the unnormalized S_c, default), ``"log_softmax"`` or ``"softmax"``:
            maximizing the posterior can succeed by pushing the other classes down instead of
            raising S_c, and the softmax's gradient vanishes where p_c is near 0.
        param, size, steps, lr, transforms, decorrelate, seed, progress: as :func:`optimize`.
        tv: weight of a total-variation penalty (0: none).
        batch_size: the most classes optimized together.
        k: how many top classes to keep per image (clipped to the number of classes).

    Returns:
        A :class:`ClassModelResult`; labels are the class names; each record carries the target
        class, its softmax probability and rank, and the top-1 class with its probability.
    """
    if score not in SCORES:
        raise InputError(f"score={score!r}; expected one of {list(SCORES)}")
    l2 = _positive_float(l2, "l2", allow_zero=True)
    tv = _positive_float(tv, "tv", allow_zero=True)
    batch_size = _positive_int(batch_size, "batch_size")
    k = _positive_int(k, "k")
    device = model_device(model)
    hw = _image_size(model, size)
    count = _num_classes(model, device, hw)
    names = _class_names(model, count)
    targets = _targets(classes, count, "classes")
    centre = _mean_colour(model)

    def goal_for(chunk: list[int]) -> Objective:
        goal = class_logit(chunk, score=score)
        if l2 > 0:
            goal = goal - l2 * l2_penalty(centre)
        if tv > 0:
            goal = goal - tv * total_variation()
        return goal

    results: list[VisResult] = []
    for chunk in _chunks(targets, batch_size):
        goal = goal_for(chunk)
        noise = torch.randn(len(chunk), 3, *hw, generator=torch.Generator().manual_seed(int(seed)))
        start = (centre.view(1, 3, 1, 1) + START_NOISE * noise).clamp(0.0, 1.0)
        results.append(optimize(model, goal, param=param, batch=len(chunk), steps=steps, lr=lr,
                                transforms=transforms, seed=seed, start=start, decorrelate=decorrelate,
                                labels=[names[c] for c in chunk], progress=progress, method="class_model"))
    images = torch.cat([r.images for r in results])
    history = torch.cat([r.history for r in results], dim=1)
    ranked, probs = (t.cpu() for t in top_classes(model, images, k=count))  # every class, best first
    records = []
    for offset, row in enumerate(r for res in results for r in res.records):
        target, order = targets[offset], ranked[offset]
        rank = int((order == target).nonzero()[0, 0])
        records.append({**row, "image": offset, "score": score, "class": target, "class_name": names[target],
                        "target_probability": float(probs[offset, rank]), "target_rank": rank + 1,
                        "top1": int(order[0]), "top1_name": names[int(order[0])],
                        "top1_probability": float(probs[offset, 0]), "is_top1": rank == 0})
    settings = {**results[0].settings, "l2": l2, "tv": tv, "score": score}
    kept = min(k, count)
    return ClassModelResult(images, history, goal_for(targets).description, [names[c] for c in targets], records,
                            settings, classes=torch.tensor(targets), top_classes=ranked[:, :kept],
                            top_scores=probs[:, :kept], class_names=names, score=score)


def channel_images(
    model: nn.Module,
    layer: str,
    channels: str | int | Sequence[int] = "all",
    *,
    unit: str = "channel",
    batch_size: int = 16,
    **options,
) -> VisResult:
    """Feature visualization of channels of ``layer``, ``batch_size`` channels per optimized batch.

    ``unit="channel"`` maximizes each channel's mean over positions; ``"neuron"`` its centre
    unit. ``options`` go to :func:`optimize` (``param``, ``size``, ``steps``, ``lr``,
    ``transforms``, ``seed``, ...). Labels are ``"layer:channel"``.
    """
    if unit not in ("channel", "neuron"):
        raise InputError(f"unit={unit!r}; expected 'channel' or 'neuron'")
    batch_size = _positive_int(batch_size, "batch_size")
    device = model_device(model)
    hw = _image_size(model, options.get("size"))
    with frozen(model), capture(model, layer) as cap:
        model(torch.zeros(1, 3, *hw, device=device, dtype=_model_dtype(model)))
        act = cap.activations.get(layer)
    if act is None or act.ndim != 4:
        shape = None if act is None else tuple(act.shape)
        raise InputError(f"channel_images(layer={layer!r}): output shape {shape}; expected a 4-D (N, C, H, W) "
                         "feature map")
    targets = _targets(channels, int(act.shape[1]), "channels")
    factory = channel if unit == "channel" else neuron
    results = [optimize(model, factory(layer, chunk), batch=len(chunk), labels=[f"{layer}:{c}" for c in chunk],
                        method="channel_images", **options) for chunk in _chunks(targets, batch_size)]
    labels = [f"{layer}:{c}" for c in targets]
    records = [{**row, "image": i, "layer": layer, "channel": targets[i], "unit": unit}
               for i, row in enumerate(r for res in results for r in res.records)]
    return VisResult(torch.cat([r.images for r in results]), torch.cat([r.history for r in results], dim=1),
                     f"{unit}({layer!r}, {targets})", labels, records, {**results[0].settings, "layer": layer})


def top_classes(model: nn.Module, images: Tensor, k: int = 5, score: str = "softmax",
                batch_size: int = 64) -> tuple[Tensor, Tensor]:
    """The ``k`` classes each image activates most: ``(classes (N, k) long, scores (N, k))``.

    ``score`` is ``"softmax"`` (probabilities, default) or ``"logit"``. ``images`` is
    ``(N, 3, H, W)`` (or one ``(3, H, W)``) in ``[0, 1]`` on any device; the model's device is used
    and the results come back on the images' device. ``k`` larger than the number of classes is
    clipped to it.
    """
    if score not in ("softmax", "logit"):
        raise InputError(f"score={score!r}; expected 'softmax' or 'logit'")
    k = _positive_int(k, "k")
    batch_size = _positive_int(batch_size, "batch_size")
    if not isinstance(images, Tensor) or images.ndim not in (3, 4) or images.shape[-3] != 3:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise InputError(f"images has shape {shape}; expected (N, 3, H, W) images in [0, 1]")
    batch = images if images.ndim == 4 else images.unsqueeze(0)
    device = model_device(model)
    with frozen(model):
        logits = map_batches(lambda images: model(images.to(device=device, dtype=_model_dtype(model))), batch,
                             batch_size=batch_size)
    values = logits.softmax(1) if score == "softmax" else logits
    top = values.topk(min(k, values.shape[1]), dim=1)
    return top.indices.to(images.device), top.values.to(images.device)


# -- DeepDream -------------------------------------------------------------------------------------

#: Smallest side (pixels) an octave may have; smaller images are enlarged (with a warning).
MIN_OCTAVE_SIZE = 32


def _prepare_photo(image: Tensor, size: int | Sequence[int] | None, octaves: int, octave_scale: float) -> Tensor:
    if not isinstance(image, Tensor) or image.ndim not in (3, 4) or image.shape[-3] != 3:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise InputError(f"image has shape {shape}; expected an RGB image (3, H, W) or images (N, 3, H, W) in "
                         "[0, 1] (greyscale: image.expand(3, -1, -1))")
    if not image.is_floating_point() or not torch.isfinite(image).all():
        raise InputError("image must hold finite floats in [0, 1]")
    batch = (image if image.ndim == 4 else image.unsqueeze(0)).float()
    height, width = batch.shape[-2:]
    if size is not None:
        target = _image_size(None, size)
        if target != (height, width):
            batch = F.interpolate(batch, size=target, mode="bilinear", align_corners=False, antialias=True)
        height, width = target
    if max(height, width) > MAX_SIDE:
        raise InputError(f"image is {height}x{width}; deepdream works on sides of at most {MAX_SIDE} pixels: "
                         "pass size= to resize it")
    smallest = min(height, width) / octave_scale ** (octaves - 1)
    if smallest < MIN_OCTAVE_SIZE:
        factor = MIN_OCTAVE_SIZE / smallest
        target = (math.ceil(height * factor), math.ceil(width * factor))
        if max(target) > MAX_SIDE:
            fit = 1 + int(math.log(min(height, width) / MIN_OCTAVE_SIZE) / math.log(octave_scale)) \
                if octave_scale > 1 and min(height, width) >= MIN_OCTAVE_SIZE else 1
            raise InputError(
                f"octaves={octaves}: at octave_scale {octave_scale:g} the smallest octave of a {height}x{width} "
                f"image would be {smallest:.2g} px (at least {MIN_OCTAVE_SIZE} px needed), and enlarging the "
                f"image to {target[0]}x{target[1]} exceeds {MAX_SIDE} px; use at most {fit} octaves"
            )
        warnings.warn(
            f"deepdream: a {height}x{width} image is too small for {octaves} octaves at scale {octave_scale:g} (the "
            f"smallest octave would be {smallest:.0f} px, under {MIN_OCTAVE_SIZE} px); resized to "
            f"{target[0]}x{target[1]}. Pass a larger image or size=, or fewer octaves",
            UserWarning, stacklevel=3,
        )
        batch = F.interpolate(batch, size=target, mode="bilinear", align_corners=False)
    return batch.clamp(0.0, 1.0)


def deepdream(
    model: nn.Module,
    image: Tensor,
    layer: str | Objective,
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps_per_octave: int = 10,
    step_size: float = 1.5,
    jitter: int = 32,
    *,
    size: int | Sequence[int] | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> DreamResult:
    """DeepDream (Mordvintsev et al. 2015): amplify what ``layer`` sees in a photograph.

    The classic algorithm: an image pyramid of ``octaves`` levels, each ``octave_scale`` times
    smaller than the next; from the smallest up, the level plus the detail dreamed so far is
    improved by ``steps_per_octave`` steps of normalized gradient ascent on ``layer_l2(layer)``,
    each under a random circular shift of up to ``jitter`` pixels.

    Args:
        model: a classifier on images in ``[0, 1]``.
        image: ``(3, H, W)`` or ``(N, 3, H, W)`` in ``[0, 1]``, e.g. ``sample_image("astronaut")``.
        layer: a layer name (objective ``layer_l2(layer)``), or any :class:`Objective`.
        octaves, octave_scale: pyramid levels and the scale between them.
        steps_per_octave: gradient steps per level.
        step_size: each step changes pixels by ``step_size / 255`` on average (mean |gradient|
            normalized per image), i.e. ``step_size`` 8-bit intensity levels, as in the original.
        jitter: the largest random shift, in pixels.
        size: resize the photograph to ``H = W`` or ``(H, W)`` first (default: keep its size). A
            photograph whose smallest octave would be under 32 px is enlarged, with a warning.
        seed: seeds the shifts.
        progress: show a tqdm bar.

    Returns:
        A :class:`DreamResult`: ``images`` the final dream ``(N, 3, H, W)``, ``octaves`` each level's
        result, ``original`` the (resized) photograph, ``history`` ``(octaves * steps_per_octave, N)``;
        all on the photograph's device.
    """
    objective = layer_l2(layer) if isinstance(layer, str) else _as_objective(layer)
    octaves = _positive_int(octaves, "octaves")
    steps_per_octave = _positive_int(steps_per_octave, "steps_per_octave")
    if octaves * steps_per_octave > MAX_STEPS:
        raise InputError(f"octaves={octaves} x steps_per_octave={steps_per_octave} = {octaves * steps_per_octave} "
                         f"steps; expected at most {MAX_STEPS}")
    octave_scale = _positive_float(octave_scale, "octave_scale")
    if octave_scale < 1:
        raise InputError(f"octave_scale={octave_scale}; expected >= 1 (each octave this much larger than the last)")
    step_size = _positive_float(step_size, "step_size")
    if isinstance(jitter, bool) or not isinstance(jitter, int) or jitter < 0:
        raise InputError(f"jitter={jitter!r}; expected a number of pixels >= 0")
    device, dtype = model_device(model), _model_dtype(model)
    home = image.device if isinstance(image, Tensor) else torch.device("cpu")
    photo = _prepare_photo(image, size, octaves, octave_scale).to(device)
    height, width = photo.shape[-2:]
    sizes = [(max(1, round(height / octave_scale**i)), max(1, round(width / octave_scale**i)))
             for i in reversed(range(octaves))]
    generator = torch.Generator().manual_seed(int(seed))
    history = torch.empty(octaves * steps_per_octave, photo.shape[0])
    results: list[Tensor] = []
    detail = None
    step = 0

    from tqdm.auto import tqdm

    bar = tqdm(total=octaves * steps_per_octave, desc="deepdream",
               disable=_bar_disabled(progress, octaves * steps_per_octave), unit="step")
    with frozen(model, no_grad=False), capture(model, objective.layers, keep_graph=True) as cap, torch.enable_grad():
        for hw in sizes:
            base = photo if hw == (height, width) else F.interpolate(photo, size=hw, mode="bilinear",
                                                                     align_corners=False, antialias=True)
            if detail is None:
                detail = torch.zeros_like(base)
            elif detail.shape[-2:] != base.shape[-2:]:
                detail = F.interpolate(detail, size=hw, mode="bilinear", align_corners=False)
            src = (base + detail).clamp(0.0, 1.0)
            for _ in range(steps_per_octave):
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
                shifted = torch.roll(src, shifts=(dy, dx), dims=(-2, -1)).to(dtype).requires_grad_(True)
                cap.clear()
                values = objective(Context(shifted, shifted, model(shifted), cap.activations))
                (grad,) = torch.autograd.grad(values.sum(), shifted)
                grad = torch.roll(grad, shifts=(-dy, -dx), dims=(-2, -1)).to(src.dtype)
                scale = grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
                src = (src + (step_size / 255.0) * grad / scale).clamp(0.0, 1.0).detach()
                history[step] = values.detach().float().cpu()
                step += 1
                bar.update(1)
            cap.clear()
            detail = src - base
            results.append(src.to(home))
    bar.close()
    labels = [f"image {i}" for i in range(photo.shape[0])]
    settings = {"param": "pixel", "size": f"{height}x{width}", "steps": octaves * steps_per_octave,
                "octaves": octaves, "octave_scale": octave_scale, "steps_per_octave": steps_per_octave,
                "step_size": step_size, "jitter": jitter, "seed": seed}
    final = results[-1]
    records = _records("deepdream", objective.description, labels, history, settings, history[-1])
    return DreamResult(final, history, objective.description, labels, records, settings,
                       original=photo.to(home), octaves=results)
