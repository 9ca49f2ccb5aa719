"""Where does the drop come from? Hard examples (Recht et al. 2019) and per-class drops.

Both work on per-example correctness: ``(model, set) -> (N_set,) bool``, as kept by
:func:`gaplens.shift.evaluate` (pass its result directly).

- :func:`hard_example_check`: leave out the examples that at least a given fraction of the models
  misclassify (or whose supplied difficulty score passes a threshold) and recompute each model's
  drop. If the drop shrinks to nothing, a few hard examples of the new set explain it; if it stays,
  the new set is harder throughout.
- :func:`per_class_drop`: the drop of each model on each class (which classes lose most).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from gaplens.core.errors import InputError
from gaplens.shift.intervals import clopper_pearson, drop_interval

__all__ = ["hard_example_check", "per_class_drop"]


def _to_numpy(value, what: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise InputError(f"{what}: expected a 1-D array, got shape {arr.shape}")
    return arr


def _correctness(correct, set_names: Sequence[str] | None):
    """``(models, (orig, new), {set: (M, N_set) bool})`` from a ShiftEvaluation or a dict."""
    if hasattr(correct, "correct") and hasattr(correct, "set_names"):
        set_names = set_names or correct.set_names
        correct = correct.correct
    if not isinstance(correct, Mapping) or not correct:
        raise InputError("per_example_correct: expected a non-empty dict (model, set) -> (N,) bool, "
                         "or the result of gaplens.shift.evaluate")
    for key in correct:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise InputError(f"per_example_correct: keys must be (model, set) pairs, got {key!r}")
    found = list(dict.fromkeys(s for _, s in correct))
    if set_names is None:
        if {"original", "new"} <= set(found):
            set_names = ("original", "new")
        elif len(found) == 2:
            set_names = tuple(found)
        else:
            raise InputError(f"per_example_correct has sets {found}; pass set_names=(original, new)")
    set_names = tuple(set_names)
    if len(set_names) != 2:
        raise InputError(f"set_names={set_names!r}; expected (original, new)")
    models = list(dict.fromkeys(m for m, _ in correct))
    stacked = {}
    for s in set_names:
        rows = []
        for m in models:
            if (m, s) not in correct:
                raise InputError(f"per_example_correct has no entry for model {m!r} on set {s!r}")
            arr = _to_numpy(correct[m, s], f"per_example_correct[{m!r}, {s!r}]")
            if arr.dtype != bool:
                if not np.isin(arr, (0, 1)).all():
                    raise InputError(f"per_example_correct[{m!r}, {s!r}]: expected booleans (or 0/1)")
                arr = arr.astype(bool)
            if rows and arr.shape != rows[0].shape:
                raise InputError(f"per_example_correct[{m!r}, {s!r}] has {arr.shape[0]} examples; "
                                 f"model {models[0]!r} has {rows[0].shape[0]} on set {s!r}")
            rows.append(arr)
        if rows[0].shape[0] == 0:
            raise InputError(f"set {s!r} has no examples")
        stacked[s] = np.stack(rows)
    return models, set_names, stacked


def _accuracy(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, k / np.maximum(n, 1), np.nan)


def _drop_fields(k1, n1, k2, n2) -> dict:
    """accuracies, drop and its interval; NaN where a set has no examples left."""
    if n1 > 0 and n2 > 0:
        drop, low, high = drop_interval(int(k1), int(n1), int(k2), int(n2))
    else:
        drop = low = high = float("nan")
    return {"accuracy_original": float(_accuracy(np.array(k1), np.array(n1))),
            "accuracy_new": float(_accuracy(np.array(k2), np.array(n2))),
            "drop": drop, "drop_ci_low": low, "drop_ci_high": high}


def hard_example_check(
    per_example_correct,
    threshold: float | Sequence[float] = (1.0, 0.75, 0.5),
    difficulty: Mapping[str, object] | None = None,
    higher_is_harder: bool = True,
    set_names: Sequence[str] | None = None,
) -> list[dict]:
    """Each model's drop after leaving out the hard examples of both sets, per threshold.

    Args:
        per_example_correct: the result of :func:`gaplens.shift.evaluate`, or a dict
            ``(model, set) -> (N_set,) bool`` array/tensor over the same models and examples.
        threshold: one value or several. Without ``difficulty``: an example is *hard* when at
            least this fraction of the models misclassify it (``0 < threshold <= 1``; 1.0 = every
            model gets it wrong). With ``difficulty``: when its score is ``>= threshold``
            (``higher_is_harder=True``) or ``<= threshold`` (``False``, e.g. for an annotator
            selection frequency, where low means hard).
        difficulty: optional ``set -> (N_set,)`` scores for both sets, replacing the fraction of
            misclassifying models.
        set_names: ``(original, new)`` (default: the evaluation's, or ``("original", "new")``).

    Returns:
        One record per threshold and model (thresholds in the order given, models in their order):
        ``model, criterion`` (``"misclassified_fraction"`` or ``"difficulty"``), ``threshold``,
        ``n_original, n_new`` (examples kept), ``left_out_original, left_out_new``,
        ``accuracy_original, accuracy_new, drop, drop_ci_low, drop_ci_high`` on the kept examples
        (NaN when a set has none left), and ``drop_all``, the drop on all examples.

    Note: the fraction of misclassifying models includes the model itself, as in the paper's
    check; with few models, prefer a threshold of 1.0 or a difficulty score from other sources.
    """
    models, (orig, new), stacked = _correctness(per_example_correct, set_names)
    thresholds = [threshold] if isinstance(threshold, numbers.Real) else list(threshold)
    if not thresholds:
        raise InputError("threshold: expected at least one value")
    hardness = {}
    if difficulty is None:
        criterion = "misclassified_fraction"
        for t in thresholds:
            if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 < t <= 1:
                raise InputError(f"threshold={t!r}; expected a fraction of models in (0, 1]")
        for s in (orig, new):
            hardness[s] = 1.0 - stacked[s].mean(0)
    else:
        criterion = "difficulty"
        for t in thresholds:
            if isinstance(t, bool) or not isinstance(t, numbers.Real) or not np.isfinite(t):
                raise InputError(f"threshold={t!r}; expected a finite number")
        for s in (orig, new):
            if s not in difficulty:
                raise InputError(f"difficulty has no scores for set {s!r}; expected scores for {orig!r} and {new!r}")
            score = _to_numpy(difficulty[s], f"difficulty[{s!r}]").astype(float)
            if score.shape[0] != stacked[s].shape[1]:
                raise InputError(f"difficulty[{s!r}] has {score.shape[0]} scores for {stacked[s].shape[1]} examples")
            if not np.isfinite(score).all():
                raise InputError(f"difficulty[{s!r}] holds NaN or inf")
            hardness[s] = score if higher_is_harder else -score
    all_k = {s: stacked[s].sum(1) for s in (orig, new)}
    all_n = {s: stacked[s].shape[1] for s in (orig, new)}
    records = []
    for t in thresholds:
        cut = float(t) if (difficulty is None or higher_is_harder) else -float(t)
        # compare with a tolerance for fractions like 2/3 computed as means of booleans
        keep = {s: hardness[s] < cut - (1e-9 if difficulty is None else 0.0) for s in (orig, new)}
        k = {s: stacked[s][:, keep[s]].sum(1) for s in (orig, new)}
        n = {s: int(keep[s].sum()) for s in (orig, new)}
        for i, m in enumerate(models):
            row = {"model": m, "criterion": criterion, "threshold": float(t),
                   "n_original": n[orig], "n_new": n[new],
                   "left_out_original": all_n[orig] - n[orig], "left_out_new": all_n[new] - n[new]}
            row.update(_drop_fields(k[orig][i], n[orig], k[new][i], n[new]))
            row["drop_all"] = float(all_k[orig][i] / all_n[orig] - all_k[new][i] / all_n[new])
            records.append(row)
    return records


def per_class_drop(
    per_example_correct,
    labels: Mapping[str, object] | None = None,
    class_names: Sequence[str] | None = None,
    set_names: Sequence[str] | None = None,
) -> list[dict]:
    """Each model's accuracy on each class of both sets and the drop, with intervals.

    Args:
        per_example_correct: the result of :func:`gaplens.shift.evaluate` (its labels and class
            names are used), or a dict ``(model, set) -> (N_set,) bool``.
        labels: ``set -> (N_set,)`` class indices (required with a dict).
        class_names: names by class index (default: the evaluation's, else ``"0"``, ``"1"``, ...).

    Returns:
        One record per model and class (models in order, classes by index; classes absent from
        both sets are skipped): ``model, class, class_index``; for each set ``s``: ``n_s,
        correct_s, accuracy_s, ci_low_s, ci_high_s``; ``drop, drop_ci_low, drop_ci_high``. Values
        of a set where the class has no example are NaN (counts 0).
    """
    if labels is None and hasattr(per_example_correct, "labels"):
        labels = per_example_correct.labels
    if class_names is None:
        class_names = getattr(per_example_correct, "class_names", None)
    models, (orig, new), stacked = _correctness(per_example_correct, set_names)
    if labels is None:
        raise InputError("per_class_drop needs labels: a dict set -> (N,) class indices")
    y = {}
    for s in (orig, new):
        if s not in labels:
            raise InputError(f"labels has no entry for set {s!r}")
        lab = _to_numpy(labels[s], f"labels[{s!r}]")
        if lab.shape[0] != stacked[s].shape[1]:
            raise InputError(f"labels[{s!r}] has {lab.shape[0]} labels for {stacked[s].shape[1]} examples")
        if not np.issubdtype(lab.dtype, np.integer) or (lab < 0).any():
            raise InputError(f"labels[{s!r}]: expected non-negative integer class indices")
        y[s] = lab.astype(np.int64)
    k_classes = int(max(y[orig].max(), y[new].max())) + 1
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) < k_classes:
            raise InputError(f"class_names has {len(class_names)} names; labels go up to {k_classes - 1}")
        k_classes = len(class_names)
    else:
        class_names = [str(c) for c in range(k_classes)]
    n = {s: np.bincount(y[s], minlength=k_classes) for s in (orig, new)}
    # (M, K) correct counts per class: bincount of labels weighted by correctness, per model
    k = {s: np.stack([np.bincount(y[s], weights=row, minlength=k_classes) for row in stacked[s]]).astype(np.int64)
         for s in (orig, new)}
    records = []
    for i, m in enumerate(models):
        for c in range(k_classes):
            if n[orig][c] == 0 and n[new][c] == 0:
                continue
            row = {"model": m, "class": class_names[c], "class_index": c}
            for s, name in ((orig, "original"), (new, "new")):
                nc, kc = int(n[s][c]), int(k[s][i, c])
                low, high = clopper_pearson(kc, nc) if nc else (float("nan"), float("nan"))
                row.update({f"n_{name}": nc, f"correct_{name}": kc,
                            f"accuracy_{name}": kc / nc if nc else float("nan"),
                            f"ci_low_{name}": low, f"ci_high_{name}": high})
            fields = _drop_fields(k[orig][i, c], n[orig][c], k[new][i, c], n[new][c])
            row.update({key: fields[key] for key in ("drop", "drop_ci_low", "drop_ci_high")})
            records.append(row)
    return records
