"""Analyse per-model results on an original and a new test set: accuracies, drops, the linear fit.

The input is a table with one row per model, from :meth:`ShiftEvaluation.table` or a CSV of
published or precomputed numbers::

    model,correct_original,n_original,correct_new,n_new
    resnet18,6970,10000,5730,10000

Accuracies with their test-set sizes are accepted instead of counts (``accuracy_original``,
``accuracy_new`` as fractions in [0, 1]); counts are then ``round(accuracy * n)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gaplens.core.errors import DataError, InputError
from gaplens.shift.fit import Fit, _check_scale, linear_fit
from gaplens.shift.intervals import clopper_pearson, drop_interval

if TYPE_CHECKING:
    import pandas

__all__ = ["AnalysisResult", "analyze", "read_table", "REQUIRED_COLUMNS"]

#: The columns of the count form; ``accuracy_original``/``accuracy_new`` may replace the ``correct_*``.
REQUIRED_COLUMNS = ("model", "correct_original", "n_original", "correct_new", "n_new")
SETS = ("original", "new")


@dataclass
class AnalysisResult:
    """Per-model accuracies and drops, and the linear fit of new against original accuracy.

    Attributes:
        records: one flat dict per model: ``model``; for each set ``s`` in (original, new):
            ``n_s, correct_s, accuracy_s, ci_low_s, ci_high_s`` (Clopper-Pearson, 95%);
            ``drop = accuracy_original - accuracy_new`` with ``drop_ci_low, drop_ci_high`` (MOVER
            from the two exact intervals); with a fit, ``predicted_new`` (the line's new-set
            accuracy at the model's original accuracy) and ``residual = accuracy_new -
            predicted_new`` (accuracy points above the line); ``from_accuracy`` tells whether the
            counts were rebuilt from accuracies.
        fit: the :class:`~gaplens.shift.Fit`, or ``None`` with fewer than 2 models or when all
            original accuracies are equal.
        scale: the fit's scale.
        source: the file read, or ``"table"``.
        notes: why there is no fit, or other remarks for the report.
    """

    records: list[dict]
    fit: Fit | None
    scale: str
    source: str
    notes: list[str] = field(default_factory=list)

    def frame(self) -> pandas.DataFrame:
        """``records`` as a DataFrame (one row per model)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.records)

    @property
    def summary(self) -> dict:
        """One flat record: number of models, mean and median drop, and the fit (when there is one)."""
        drops = np.array([r["drop"] for r in self.records])
        out = {"source": self.source, "n_models": len(self.records), "mean_drop": float(drops.mean()),
               "median_drop": float(np.median(drops)), "min_drop": float(drops.min()),
               "max_drop": float(drops.max())}
        if self.fit is not None:
            out.update({k: v for k, v in self.fit.record.items() if k != "n_models"})
        return out


def _where(source: str) -> str:
    return source if source == "table" else f"file {source}"


def _rows(df: pandas.DataFrame, mask: np.ndarray, limit: int = 5) -> str:
    """'row 3 (model 'x'), ...' for the rows where mask is true (1-based data rows)."""
    hits = np.flatnonzero(mask)
    models = df["model"].tolist() if "model" in df.columns else [None] * len(df)
    parts = [f"row {i + 1}" + (f" (model {models[i]!r})" if models[i] is not None else "") for i in hits[:limit]]
    more = f" and {len(hits) - limit} more" if len(hits) > limit else ""
    return ", ".join(parts) + more


def _numeric(df: pandas.DataFrame, column: str, where: str) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{where}: column {column!r} must hold numbers; missing or not a number at {_rows(df, bad)}")
    return values


def _counts(df: pandas.DataFrame, column: str, where: str) -> np.ndarray:
    values = _numeric(df, column, where)
    if (values < 0).any():
        raise DataError(f"{where}: column {column!r} holds negative counts at {_rows(df, values < 0)}; "
                        "expected counts >= 0")
    fractional = np.abs(values - np.round(values)) > 1e-9
    if fractional.any():
        raise DataError(f"{where}: column {column!r} must hold whole counts; found "
                        f"{values[fractional][0]:g} at {_rows(df, fractional)}")
    return np.round(values).astype(np.int64)


def read_table(table: pandas.DataFrame | str | os.PathLike) -> tuple[pandas.DataFrame, str]:
    """Validate a per-model table (or read a CSV file) into ``(frame, source)``.

    ``frame`` has the columns ``model, correct_original, n_original, correct_new, n_new`` (ints)
    and ``from_accuracy`` (bool). Column names are matched case-insensitively, surrounding
    spaces ignored; other columns are ignored. Where a set has both ``correct_*`` and
    ``accuracy_*``, the counts are used.

    Raises:
        DataError: the file is missing or not a CSV; columns are missing (all of them are listed);
            values are missing or not numbers; a count is negative or fractional; an ``n`` is 0;
            ``correct > n``; an accuracy is outside [0, 1]; a model name is empty or repeated.
            Messages name the file, the column and the rows.
        InputError: ``table`` is neither a DataFrame nor a path.
    """
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        source = "table"
        df = table.copy()
    elif isinstance(table, (str, os.PathLike)):
        path = Path(table)
        source = str(path)
        if not path.is_file():
            raise DataError(f"{path}: no such file (expected a CSV with columns {', '.join(REQUIRED_COLUMNS)})")
        try:
            df = pd.read_csv(path, skipinitialspace=True)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    else:
        raise InputError(f"table: expected a pandas DataFrame or a CSV path, got {type(table).__name__}")
    where = _where(source)
    df.columns = [str(c).strip().lower() for c in df.columns]
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        raise DataError(f"{where}: column(s) {', '.join(dupes)} appear more than once")
    present = set(df.columns)
    missing = [c for c in ("model",) if c not in present]
    for s in SETS:
        if f"correct_{s}" not in present and f"accuracy_{s}" not in present:
            missing.append(f"correct_{s} (or accuracy_{s})")
        if f"n_{s}" not in present:
            missing.append(f"n_{s}")
    if missing:
        raise DataError(
            f"{where}: missing column(s) {', '.join(missing)}; expected columns {', '.join(REQUIRED_COLUMNS)} "
            f"(or accuracy_original/accuracy_new with n_original/n_new); found {', '.join(df.columns) or 'none'}"
        )
    if len(df) == 0:
        raise DataError(f"{where}: no rows; expected one row per model")
    names = df["model"]
    empty = names.isna().to_numpy() | (names.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        raise DataError(f"{where}: column 'model' is empty at {_rows(df, empty)}")
    names = names.astype(str).str.strip()
    repeated = names.duplicated(keep=False).to_numpy()
    if repeated.any():
        raise DataError(f"{where}: column 'model' repeats {sorted(set(names[repeated]))}; one row per model")
    df["model"] = names

    out = {"model": names.tolist()}
    from_accuracy = np.zeros(len(df), dtype=bool)
    for s in SETS:
        n = _counts(df, f"n_{s}", where)
        if (n == 0).any():
            raise DataError(f"{where}: column 'n_{s}' is 0 at {_rows(df, n == 0)}; a test set needs at least one image")
        if f"correct_{s}" in present:
            k = _counts(df, f"correct_{s}", where)
            over = k > n
            if over.any():
                i = int(np.flatnonzero(over)[0])
                raise DataError(f"{where}: column 'correct_{s}' exceeds 'n_{s}' at {_rows(df, over)} "
                                f"({k[i]} > {n[i]}); expected correct_{s} <= n_{s}")
        else:
            acc = _numeric(df, f"accuracy_{s}", where)
            outside = (acc < 0) | (acc > 1)
            if outside.any():
                hint = "; percentages? divide them by 100" if (acc[outside] <= 100).all() and (acc >= 0).all() else ""
                raise DataError(f"{where}: column 'accuracy_{s}' must lie in [0, 1]; found "
                                f"{acc[outside][0]:g} at {_rows(df, outside)}{hint}")
            k = np.round(acc * n).astype(np.int64)
            from_accuracy[:] = True
        out[f"correct_{s}"] = k
        out[f"n_{s}"] = n
    out["from_accuracy"] = from_accuracy
    frame = pd.DataFrame(out, columns=[*REQUIRED_COLUMNS, "from_accuracy"])
    return frame, source


def analyze(
    table: pandas.DataFrame | str | os.PathLike,
    scale: str = "probit",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> AnalysisResult:
    """Accuracies with exact intervals, drops with intervals, and the linear fit, per model.

    Args:
        table: a DataFrame or a CSV path with columns ``model, correct_original, n_original,
            correct_new, n_new`` (or ``accuracy_original``/``accuracy_new`` in [0, 1] with the
            ``n_*`` columns); e.g. :meth:`ShiftEvaluation.table`.
        scale: scale of the fit: ``"probit"`` (default, Recht et al.), ``"logit"`` or ``"linear"``;
            ordinary least squares over models, as in the paper (for weights, call
            :func:`~gaplens.shift.linear_fit` on the records).
        n_boot, seed: bootstrap of the fit's intervals (see :func:`linear_fit`).
        alpha: ``1 - alpha`` is the level of every interval (accuracies, drops, slope).

    Returns:
        An :class:`AnalysisResult`.

    Raises:
        DataError / InputError: see :func:`read_table`; bad ``scale`` or ``alpha``.
    """
    scale = _check_scale(scale)
    if not 0 < alpha < 1:
        raise InputError(f"alpha={alpha!r}; expected a value in (0, 1)")
    frame, source = read_table(table)
    k1, n1 = frame["correct_original"].to_numpy(), frame["n_original"].to_numpy()
    k2, n2 = frame["correct_new"].to_numpy(), frame["n_new"].to_numpy()
    p1, p2 = k1 / n1, k2 / n2
    lo1, hi1 = clopper_pearson(k1, n1, alpha)
    lo2, hi2 = clopper_pearson(k2, n2, alpha)
    drop, dlo, dhi = drop_interval(k1, n1, k2, n2, alpha)

    notes: list[str] = []
    fit = None
    if len(frame) < 2:
        notes.append("no linear fit: it needs at least 2 models")
    elif np.all(p1 == p1[0]):
        notes.append("no linear fit: all models have the same original-set accuracy")
    else:
        fit = linear_fit(p1, p2, scale=scale, n_boot=n_boot, seed=seed, level=1 - alpha,
                         n_orig=n1, n_new=n2)
    predicted = fit.predict(p1) if fit is not None else None

    records = []
    for i, model in enumerate(frame["model"]):
        row = {"model": model}
        for s, k, n, p, lo, hi in (("original", k1, n1, p1, lo1, hi1), ("new", k2, n2, p2, lo2, hi2)):
            row.update({f"n_{s}": int(n[i]), f"correct_{s}": int(k[i]), f"accuracy_{s}": float(p[i]),
                        f"ci_low_{s}": float(lo[i]), f"ci_high_{s}": float(hi[i])})
        row.update({"drop": float(drop[i]), "drop_ci_low": float(dlo[i]), "drop_ci_high": float(dhi[i])})
        if predicted is not None:
            row.update({"predicted_new": float(predicted[i]), "residual": float(p2[i] - predicted[i])})
        row["from_accuracy"] = bool(frame["from_accuracy"].iloc[i])
        records.append(row)
    return AnalysisResult(records=records, fit=fit, scale=scale, source=source, notes=notes)

