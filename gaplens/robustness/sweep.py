"""Accuracy against distortion level: the sweep of Geirhos et al. (2018), Figure 3.

For every distortion and level, the whole evaluation set is distorted (per-image randomness keyed
by the image's position in the set, so results do not depend on the batch size) and classified;
each (model, distortion, level) gives one record with the number correct, the accuracy and its
Clopper-Pearson 95% interval. All levels of one distortion are evaluated in one pass over the set
(each batch is read once). Resuming a killed sweep is the study runner's work
(:class:`gaplens.studies.Sweep`: one unit per model and distortion).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from gaplens.core.batching import check_batch_size
from gaplens.core.datasets import class_names_of, dataset_length, iterate_batches
from gaplens.core.device import model_device
from gaplens.core.errors import InputError
from gaplens.core.hooks import frozen
from gaplens.core.stats import clopper_pearson
from gaplens.robustness import imagenet16
from gaplens.robustness.base import DISTORTIONS, check_options, distort, resolve_levels, select_distortions
from gaplens.robustness.published import PUBLISHED_SPECTRUM_SIZE
from gaplens.robustness.spectral import mean_amplitude_spectrum

__all__ = ["sweep"]

Decision = Callable[[torch.Tensor], torch.Tensor]


def _decision(decision: str | Decision, class_names: list[str] | None
              ) -> tuple[Decision, str, Callable[[int], int]]:
    """``(decide, name, n_classes)``; ``n_classes(outputs)`` is the number of classes decided among."""
    if callable(decision):
        return decision, getattr(decision, "__name__", "custom"), lambda k: len(class_names) if class_names else k
    if decision == "argmax":
        return (lambda logits: logits.argmax(dim=1)), "argmax", lambda k: k
    if decision == "imagenet16":
        count = len(class_names) if class_names else len(imagenet16.CATEGORIES)
        return (lambda logits: imagenet16.decide(logits, class_names)), "imagenet16", lambda k: count
    raise InputError(f"decision={decision!r}; expected 'argmax', 'imagenet16' or a callable logits -> classes")


def _record(model_name: str, name: str, index: int, level: object, n: int, correct: int, chance: float,
            decision_name: str, seed: int) -> dict:
    low, high = clopper_pearson(correct, n)
    return {"model": model_name, "distortion": name, "level": level, "level_index": index, "n": n,
            "correct": correct, "accuracy": correct / n, "ci_low": low, "ci_high": high, "chance": chance,
            "decision": decision_name, "seed": seed}


def sweep(
    model: nn.Module,
    dataset: object,
    distortions: str | Sequence[str] = "all",
    levels: str | Mapping[str, Sequence[object]] = "published",
    decision: str | Decision = "argmax",
    batch_size: int = 64,
    seed: int = 0,
    model_name: str = "model",
    options: Mapping[str, Mapping[str, object]] | None = None,
    progress: bool = False,
) -> list[dict]:
    """Accuracy of ``model`` on ``dataset`` under every distortion and level.

    Args:
        model: maps ``(N, 3, H, W)`` images in ``[0, 1]`` to logits; evaluated in eval mode on its
            own device (its modes are restored afterwards).
        dataset: ``(images, labels)`` tensors, an object with ``.images``/``.labels``, or a torch
            Dataset of ``(image, label)`` with images in ``[0, 1]``.
        distortions: ``"all"``, ``"all-but:NAME,..."``, ``"NAME,NAME"`` or a list of names.
        levels: ``"published"`` or a dict name -> levels (names not in it get the published levels).
        decision: ``"argmax"`` (class = highest logit), ``"imagenet16"`` (a 1000-class ImageNet model
            on a dataset of the 16 categories: mean probability over each category's members,
            :func:`gaplens.robustness.imagenet16.decide`; labels index the dataset's class names,
            or :data:`~gaplens.robustness.imagenet16.CATEGORIES` without them) or a callable
            ``logits (N, K) -> classes (N,)``.
        batch_size: images per forward pass (and per distortion call).
        seed: seed of the random distortions; image ``i`` of the set uses ``(seed, i)``.
        model_name: the ``model`` of the records.
        options: dict distortion name -> its options, e.g. ``{"power_equalisation":
            {"target_spectrum": spectrum}}``. Without a ``target_spectrum``, power equalisation uses
            the published ImageNet mean spectrum on 224 x 224 images (the paper's target) and the
            mean amplitude spectrum of the evaluated set (computed once) at other sizes.
        progress: show a tqdm bar over the distortions.

    Returns:
        One record per (distortion, level), in sweep order: ``model``, ``distortion``, ``level``,
        ``level_index`` (position in the swept levels), ``n``, ``correct``, ``accuracy``,
        ``ci_low``, ``ci_high`` (Clopper-Pearson 95%), ``chance`` (1 / number of classes),
        ``decision``, ``seed``.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> data = (torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 0, 1, 0, 1]))
    >>> rows = sweep(net, data, distortions=["contrast"], levels={"contrast": [1.0, 0.1]})
    >>> [(r["level"], r["n"]) for r in rows]
    [(1.0, 6), (0.1, 6)]
    """
    check_batch_size(batch_size)
    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(model_name, str) or not model_name:
        raise InputError(f"model_name={model_name!r}; expected a non-empty name")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed={seed!r}; expected a non-negative integer")
    n_images = dataset_length(dataset)
    if n_images == 0:
        raise InputError("dataset is empty: nothing to evaluate")
    names = select_distortions(distortions)
    swept = resolve_levels(names, levels)
    opts = check_options(names, options)
    class_names = class_names_of(dataset)
    decide, decision_name, n_classes = _decision(decision, class_names)
    if decision == "imagenet16" and class_names is not None:
        imagenet16.decide(torch.zeros(1, 1000), class_names)  # checks the class names up front

    from tqdm.auto import tqdm

    records: list[dict] = []
    device = model_device(model)
    with frozen(model):
        for name in tqdm(names, desc="distortions", disable=not progress, leave=False):
            todo = list(enumerate(swept[name]))
            options_here = dict(opts[name])
            if name == "power_equalisation" and options_here.get("target_spectrum") is None and any(
                    lv != DISTORTIONS[name].clean_level for _, lv in todo) \
                    and _image_size(dataset) != PUBLISHED_SPECTRUM_SIZE:
                options_here["target_spectrum"] = mean_amplitude_spectrum(dataset, batch_size)
            counts, classes = _evaluate(model, dataset, name, todo, options_here, decide, n_classes, batch_size,
                                        seed, device, n_images)
            records.extend(_record(model_name, name, i, lv, n_images, correct, 1.0 / classes, decision_name, seed)
                           for (i, lv), correct in zip(todo, counts, strict=True))
    return records


def _image_size(dataset: object) -> tuple[int, int]:
    """``(H, W)`` of the first image of a dataset."""
    _, images, _ = next(iter(iterate_batches(dataset, 1)))
    return tuple(images.shape[-2:])


def _evaluate(model: nn.Module, dataset: object, name: str, todo: list[tuple[int, object]], options: dict,
              decide: Decision, n_classes: Callable[[int], int], batch_size: int, seed: int,
              device: torch.device, n_images: int) -> tuple[list[int], int]:
    """``(correct counts, number of classes)`` of one distortion at several levels, in one pass over the set."""
    correct = [0] * len(todo)
    classes = 0
    seen = 0
    for index, images, labels in iterate_batches(dataset, batch_size):
        images = images.to(device)
        labels = labels.to(device)
        for slot, (_, level) in enumerate(todo):
            logits = model(distort(images, name, level, seed=seed, index=index, **options))
            if not classes:
                classes = n_classes(logits.shape[1])
                if int(labels.min()) < 0 or int(labels.max()) >= classes:
                    raise InputError(f"the dataset has labels in [{int(labels.min())}, {int(labels.max())}] but "
                                     f"the decision has {classes} classes")
            correct[slot] += int((decide(logits) == labels).sum())
        if classes and (int(labels.min()) < 0 or int(labels.max()) >= classes):
            raise InputError(f"the dataset has labels in [{int(labels.min())}, {int(labels.max())}] but the "
                             f"decision has {classes} classes")
        seen += labels.shape[0]
    if seen != n_images:
        raise InputError(f"the dataset yielded {seen} images but has length {n_images}")
    return correct, classes
