"""Evaluate a classifier on a labelled set: accuracy with an exact interval, per class, confusion."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from gaplens.core.batching import check_batch_size
from gaplens.core.datasets import class_names_of, dataset_length, iterate_batches
from gaplens.core.device import model_device
from gaplens.core.errors import InputError
from gaplens.core.hooks import frozen
from gaplens.core.stats import clopper_pearson


@dataclass
class Evaluation:
    """Accuracy of one model on one set.

    ``predictions`` (N,) and ``labels`` (N,) are int64 tensors; ``confusion[i, j]`` counts images
    of true class i predicted as j; ``interval`` is the Clopper-Pearson 95% interval;
    ``records`` has one overall row (``class == "all"``) and one row per class.
    """

    n: int
    correct: int
    accuracy: float
    interval: tuple[float, float]
    confusion: np.ndarray
    predictions: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    records: list[dict] = field(default_factory=list)


def predict(model: nn.Module, dataset: object, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits (N, K), labels (N,))`` for a dataset, batched, on the model's device, eval mode.

    The model's ``training`` flags are restored afterwards.
    """
    check_batch_size(batch_size)
    dev = model_device(model)
    logits, labels = [], []
    with frozen(model):
        for _, images, targets in iterate_batches(dataset, batch_size):
            logits.append(model(images.to(dev)).float().cpu())
            labels.append(targets)
    if not logits:
        raise InputError("dataset is empty: nothing to evaluate")
    return torch.cat(logits), torch.cat(labels)


def evaluate(
    model: nn.Module,
    dataset: object,
    batch_size: int = 256,
    model_name: str = "model",
    set_name: str = "test",
    class_names: list[str] | None = None,
) -> Evaluation:
    """Top-1 accuracy, its 95% Clopper-Pearson interval, per-class accuracy and the confusion matrix.

    Args:
        model: maps ``(N, 3, H, W)`` in ``[0, 1]`` to logits ``(N, K)``.
        dataset: tensors, an object with ``.images``/``.labels``, or a torch Dataset.
        batch_size: images per forward pass.
        model_name, set_name: written into the records.
        class_names: defaults to the dataset's, then the model's, then ``"0".."K-1"``.
    """
    if dataset_length(dataset) == 0:
        raise InputError(f"set {set_name!r} is empty: nothing to evaluate")
    logits, labels = predict(model, dataset, batch_size)
    k = logits.shape[1]
    if int(labels.max()) >= k or int(labels.min()) < 0:
        raise InputError(
            f"set {set_name!r} has labels up to {int(labels.max())} but the model has {k} outputs"
        )
    preds = logits.argmax(1)
    names = class_names or class_names_of(dataset) or getattr(model, "class_names", None)
    names = list(names) if names is not None and len(names) == k else [str(i) for i in range(k)]
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels.numpy(), preds.numpy()), 1)
    n = int(labels.shape[0])
    correct = int((preds == labels).sum())
    low, high = clopper_pearson(correct, n)
    records = [{"model": model_name, "set": set_name, "class": "all", "n": n, "correct": correct,
                "accuracy": correct / n, "ci_low": low, "ci_high": high}]
    for c in range(k):
        n_c = int(confusion[c].sum())
        if n_c == 0:
            continue
        lo_c, hi_c = clopper_pearson(int(confusion[c, c]), n_c)
        records.append({"model": model_name, "set": set_name, "class": names[c], "n": n_c,
                        "correct": int(confusion[c, c]), "accuracy": confusion[c, c] / n_c,
                        "ci_low": lo_c, "ci_high": hi_c})
    return Evaluation(n=n, correct=correct, accuracy=correct / n, interval=(low, high),
                      confusion=confusion, predictions=preds, labels=labels, class_names=names,
                      records=records)
