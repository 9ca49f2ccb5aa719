"""Evaluate many models on an original and a new test set, keeping per-example correctness.

Each model is evaluated in one batched pass per set; a model may be given as a zero-argument
factory, built only when its turn comes (so the models need not all be in memory at once).
Resuming a killed evaluation is the study runner's work (:class:`gaplens.studies.ShiftEvaluate`:
one unit per model, its per-example correctness saved as arrays).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from gaplens.core.batching import check_batch_size
from gaplens.core.datasets import class_names_of, dataset_length
from gaplens.core.errors import InputError
from gaplens.evaluate import predict
from gaplens.shift.intervals import clopper_pearson

if TYPE_CHECKING:
    import pandas

__all__ = ["ShiftEvaluation", "evaluate"]

ModelLike = nn.Module | Callable[[], nn.Module]


@dataclass
class ShiftEvaluation:
    """Accuracies of several models on two test sets, with per-example correctness.

    Attributes:
        records: per model (in the order given) and set: ``model, set, n, correct, accuracy,
            ci_low, ci_high`` (Clopper-Pearson 95%).
        correct: ``(model, set) -> (N_set,) bool`` tensor, whether the model got each image right.
        predictions: ``(model, set) -> (N_set,) int64`` tensor of predicted classes.
        labels: ``set -> (N_set,) int64`` tensor of true classes.
        set_names: ``(original, new)`` names used in the records and keys.
        class_names: the datasets' class names when known, else ``None``.
    """

    records: list[dict]
    correct: dict[tuple[str, str], torch.Tensor]
    predictions: dict[tuple[str, str], torch.Tensor]
    labels: dict[str, torch.Tensor]
    set_names: tuple[str, str]
    class_names: list[str] | None = None

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.records))

    def table(self) -> pandas.DataFrame:
        """One row per model with the columns :func:`gaplens.shift.analyze` reads:
        ``model, correct_original, n_original, correct_new, n_new``."""
        import pandas as pd

        orig, new = self.set_names
        by_key = {(r["model"], r["set"]): r for r in self.records}
        rows = [{"model": m, "correct_original": by_key[m, orig]["correct"], "n_original": by_key[m, orig]["n"],
                 "correct_new": by_key[m, new]["correct"], "n_new": by_key[m, new]["n"]} for m in self.models]
        return pd.DataFrame(rows, columns=["model", "correct_original", "n_original", "correct_new", "n_new"])


def _records(model: str, set_name: str, correct: torch.Tensor) -> dict:
    n = int(correct.shape[0])
    k = int(correct.sum())
    low, high = clopper_pearson(k, n)
    return {"model": model, "set": set_name, "n": n, "correct": k, "accuracy": k / n,
            "ci_low": low, "ci_high": high}


def _run_model(model: nn.Module, name: str, sets: dict[str, object], batch_size: int):
    out = {}
    for set_name, data in sets.items():
        logits, labels = predict(model, data, batch_size)
        k = logits.shape[1]
        if int(labels.max()) >= k or int(labels.min()) < 0:
            raise InputError(f"set {set_name!r} has labels up to {int(labels.max())} but model {name!r} "
                             f"has {k} outputs")
        preds = logits.argmax(1)
        out[set_name] = (preds, labels)
    return out


def evaluate(
    models: Mapping[str, ModelLike],
    original: object,
    new: object,
    batch_size: int = 256,
    set_names: Sequence[str] = ("original", "new"),
) -> ShiftEvaluation:
    """Evaluate every model on the original and the new test set, one batched pass per model and set.

    Args:
        models: ``name -> model``; a model maps ``(N, 3, H, W)`` images in ``[0, 1]`` to logits
            ``(N, K)``. A value may also be a zero-argument factory returning the model, called
            when that model's turn comes (so only one factory-made model is held at a time).
            Models are put in eval mode for the pass and their modes restored afterwards.
        original, new: the two test sets: ``(images, labels)`` tensors, an object with
            ``.images``/``.labels`` (synthetic sets), or a torch Dataset of ``(image, label)``
            (an :class:`~gaplens.data.ImageFolder`). Their class indices must mean the same classes.
        batch_size: images per forward pass.
        set_names: names of the two sets in the records and keys.

    Returns:
        A :class:`ShiftEvaluation`; ``records`` are in model order, original set first.

    Raises:
        InputError: no models, an empty set, labels beyond a model's outputs, different class
            names on the two sets, a factory that does not return a model, a bad batch size or
            set names.
    """
    check_batch_size(batch_size)
    if not isinstance(models, Mapping) or not models:
        raise InputError("models: expected a non-empty dict of name -> model")
    names = tuple(str(s) for s in set_names)
    if len(names) != 2 or names[0] == names[1] or not all(names):
        raise InputError(f"set_names={tuple(set_names)!r}; expected two different non-empty names")
    for name, model in models.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"models: names must be non-empty strings, got {name!r}")
        if not (isinstance(model, nn.Module) or callable(model)):
            raise InputError(f"models[{name!r}]: expected an nn.Module or a factory, got {type(model).__name__}")
    sets = dict(zip(names, (original, new), strict=True))
    for set_name, data in sets.items():
        if dataset_length(data) == 0:
            raise InputError(f"set {set_name!r} is empty: nothing to evaluate")
    class_sets = [class_names_of(d) for d in sets.values()]
    if class_sets[0] is not None and class_sets[1] is not None and class_sets[0] != class_sets[1]:
        raise InputError(f"the sets have different classes: {names[0]} has {class_sets[0]}, "
                         f"{names[1]} has {class_sets[1]}; class indices must mean the same classes")
    class_names = class_sets[0] or class_sets[1]

    records: list[dict] = []
    correct: dict[tuple[str, str], torch.Tensor] = {}
    predictions: dict[tuple[str, str], torch.Tensor] = {}
    labels: dict[str, torch.Tensor] = {}
    for name, model in models.items():
        net = model if isinstance(model, nn.Module) else model()
        if not isinstance(net, nn.Module):
            raise InputError(f"models[{name!r}]: the factory returned {type(net).__name__}, not an nn.Module")
        for set_name, (preds, set_labels) in _run_model(net, name, sets, batch_size).items():
            if set_name in labels and not torch.equal(labels[set_name], set_labels):
                raise InputError(f"set {set_name!r} gave different labels for model {name!r} than before: "
                                 "the dataset must be deterministic")
            labels[set_name] = set_labels
            hit = preds == set_labels
            correct[name, set_name] = hit
            predictions[name, set_name] = preds
            records.append(_records(name, set_name, hit))
    return ShiftEvaluation(records=records, correct=correct, predictions=predictions, labels=labels,
                           set_names=names, class_names=class_names)
