"""Evaluate many models on an original and a new test set, keeping per-example correctness.

Each model is one unit of work. With a run store, a model already done is not evaluated again
(and not even built, when it is given as a factory): its per-example correctness is read back from
``maps/``, so a killed run continues with the models not yet done and returns the same records
as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from gaplens.core.batching import check_batch_size
from gaplens.core.datasets import class_names_of, dataset_length, tensor_pair
from gaplens.core.errors import InputError
from gaplens.evaluate import predict
from gaplens.shift.intervals import clopper_pearson

if TYPE_CHECKING:
    import pandas

    from gaplens.store import RunStore

__all__ = ["ShiftEvaluation", "evaluate", "STUDY"]

#: Study name of the units written to the run store (one per model: ``model=NAME``).
STUDY = "shift"

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
        resumed: models whose results were read back from the store instead of evaluated.
    """

    records: list[dict]
    correct: dict[tuple[str, str], torch.Tensor]
    predictions: dict[tuple[str, str], torch.Tensor]
    labels: dict[str, torch.Tensor]
    set_names: tuple[str, str]
    class_names: list[str] | None = None
    resumed: list[str] = field(default_factory=list)

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


def _labels_of(dataset: object) -> torch.Tensor | None:
    """The labels, when the dataset can give them without reading images."""
    pair = tensor_pair(dataset)
    if pair is not None:
        return pair[1]
    for attr in ("labels", "targets"):
        value = getattr(dataset, attr, None)
        if value is not None:
            return torch.as_tensor(value).long().reshape(-1)
    return None


def _safe_name(name: str) -> str:
    """A file-name-safe form of ``name``, with a short hash so that two names never collide."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
    return f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


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


def _load(path, sets: dict[str, object], known_labels: dict[str, torch.Tensor | None]):
    """Per-set (predictions, labels) from a saved .npz, or None when missing or stale."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            out = {}
            for set_name, data in sets.items():
                preds = torch.from_numpy(saved[f"predictions/{set_name}"].astype(np.int64))
                labels = torch.from_numpy(saved[f"labels/{set_name}"].astype(np.int64))
                expected = known_labels[set_name]
                stale = expected is not None and not torch.equal(labels, expected)
                if preds.shape[0] != dataset_length(data) or stale:
                    return None
                out[set_name] = (preds, labels)
            return out
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def evaluate(
    models: Mapping[str, ModelLike],
    original: object,
    new: object,
    batch_size: int = 256,
    store: RunStore | None = None,
    set_names: Sequence[str] = ("original", "new"),
    study: str = STUDY,
) -> ShiftEvaluation:
    """Evaluate every model on the original and the new test set, one batched pass per model and set.

    Args:
        models: ``name -> model``; a model maps ``(N, 3, H, W)`` images in ``[0, 1]`` to logits
            ``(N, K)``. A value may also be a zero-argument factory returning the model, called only
            when the model has to be evaluated (so a resumed run does not load finished models).
            Models are put in eval mode for the pass and their modes restored afterwards.
        original, new: the two test sets: ``(images, labels)`` tensors, an object with
            ``.images``/``.labels`` (synthetic sets), or a torch Dataset of ``(image, label)``
            (an :class:`~gaplens.data.ImageFolder`). Their class indices must mean the same classes.
        batch_size: images per forward pass.
        store: a :class:`gaplens.store.RunStore`. Each model is the unit ``model=NAME`` of study
            ``study`` with its two records; its predictions, labels and correctness are saved to
            ``maps/STUDY_NAME_HASH.npz`` (atomically, before the unit is committed). A model whose
            unit is done and whose saved labels match the sets' is read back, not evaluated.
        set_names: names of the two sets in the records and keys.
        study: the store's study name; use one per pair of test sets when a run compares an
            original set with several new ones (their units and files are then kept apart).

    Returns:
        A :class:`ShiftEvaluation`; ``records`` are in model order, original set first.

    Raises:
        InputError: no models, an empty set, labels beyond a model's outputs, different class
            names on the two sets, a bad batch size or set names.
    """
    check_batch_size(batch_size)
    if not isinstance(study, str) or not study:
        raise InputError(f"study={study!r}; expected a non-empty name")
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
    known_labels = {s: _labels_of(d) for s, d in sets.items()}

    records: list[dict] = []
    correct: dict[tuple[str, str], torch.Tensor] = {}
    predictions: dict[tuple[str, str], torch.Tensor] = {}
    labels: dict[str, torch.Tensor] = {}
    resumed: list[str] = []
    for name, model in models.items():
        unit = f"model={name}"
        relpath = f"maps/{_safe_name(study)}_{_safe_name(name)}.npz"
        result = None
        if store is not None and store.is_done(study, unit):
            result = _load(store.run_dir / relpath, sets, known_labels)
            if result is None:
                warnings.warn(f"{store.run_dir}: saved results of model {name!r} are missing or do not match "
                              "the test sets; evaluating it again", stacklevel=2)
            else:
                resumed.append(name)
        fresh = result is None
        if fresh:
            net = model if isinstance(model, nn.Module) else model()
            if not isinstance(net, nn.Module):
                raise InputError(f"models[{name!r}]: the factory returned {type(net).__name__}, not an nn.Module")
            result = _run_model(net, name, sets, batch_size)
        rows = []
        for set_name, (preds, set_labels) in result.items():
            hit = preds == set_labels
            if set_name in labels and not torch.equal(labels[set_name], set_labels):
                raise InputError(f"set {set_name!r} gave different labels for model {name!r} than before: "
                                 "the dataset must be deterministic")
            labels[set_name] = set_labels
            correct[name, set_name] = hit
            predictions[name, set_name] = preds
            rows.append(_records(name, set_name, hit))
        records.extend(rows)
        if fresh and store is not None:
            buffer = io.BytesIO()
            arrays = {}
            for set_name, (preds, set_labels) in result.items():
                arrays[f"predictions/{set_name}"] = preds.numpy()
                arrays[f"labels/{set_name}"] = set_labels.numpy()
                arrays[f"correct/{set_name}"] = (preds == set_labels).numpy()
            np.savez(buffer, **arrays)
            with store.unit(study, unit) as writer:
                path = store.atomic_write_bytes(relpath, buffer.getvalue())
                writer.add_many(rows)
                writer.artifact(kind="predictions", path=path, title=f"Per-example predictions of {name}")
    return ShiftEvaluation(records=records, correct=correct, predictions=predictions, labels=labels,
                           set_names=names, class_names=class_names, resumed=resumed)
