"""Analyse per-model results on an original and a new test set: accuracies, drops, the linear fit.

The input is a table with one row per model, from :meth:`ShiftEvaluation.table` or a CSV of
published or precomputed numbers::

    model,correct_original,n_original,correct_new,n_new
    resnet18,6970,10000,5730,10000

Accuracies with their test-set sizes are accepted instead of counts (``accuracy_original``,
``accuracy_new`` as fractions in [0, 1], or in percent with ``percent=True``); counts are then
``round(accuracy * n)``.

**Which fit.** Both the linear and the probit fit are always computed (:attr:`AnalysisResult.fits`)
and reported side by side; ``scale`` picks the *primary* one, whose line the figure draws and
whose residuals flag outliers. Recht et al. (2019) draw their main figure (Figure 1) on linear
axes with the linear fit and its 95% band from 100,000 bootstrap resamples (ImageNet: slope about
1.1; on the 64 non-Fisher-vector models of ImageNetV2 MatchedFrequency slope 1.110 [1.079, 1.190],
offset -20.3%), and show in their appendix that the relation is closer to linear on probit axes.
gaplens' default primary scale is probit (the better-fitting model of the trend); pass
``scale="linear"`` and ``n_boot=100_000`` for the paper's Figure 1 numbers.

**Outliers.** A model whose externally studentized residual under the primary fit exceeds
``outlier_threshold`` (default :data:`~gaplens.shift.fit.OUTLIER_THRESHOLD` = 3) in absolute value
is flagged (record field ``outlier``) and named in :attr:`AnalysisResult.notes` with the slope the
fit would have without the flagged models; the reported fit still uses every model, as the paper's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gaplens.core.errors import DataError, InputError
from gaplens.shift.fit import OUTLIER_THRESHOLD, Fit, _check_scale, linear_fit
from gaplens.shift.intervals import clopper_pearson, drop_interval

if TYPE_CHECKING:
    import pandas

__all__ = ["AnalysisResult", "analyze", "read_table", "REQUIRED_COLUMNS", "SIDE_BY_SIDE"]

#: The columns of the count form; ``accuracy_original``/``accuracy_new`` may replace the ``correct_*``.
REQUIRED_COLUMNS = ("model", "correct_original", "n_original", "correct_new", "n_new")
SETS = ("original", "new")
#: The scales always fitted and reported side by side (the primary ``scale`` is added when it is another).
SIDE_BY_SIDE = ("linear", "probit")


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
    fits: dict[str, Fit] = field(default_factory=dict)
    outlier_threshold: float = OUTLIER_THRESHOLD

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
            out["n_outliers"] = sum(bool(r.get("outlier")) for r in self.records)
        return out

    def fit_records(self) -> list[dict]:
        """One record per fitted scale (linear, probit, and ``scale``), primary first.

        Keys: the :attr:`Fit.record` keys, ``primary`` (bool) and ``n_outliers`` (models with
        ``|t| > outlier_threshold`` under that scale's fit).
        """
        rows = []
        for scale in sorted(self.fits, key=lambda s: s != self.scale):
            fit = self.fits[scale]
            t = np.abs(fit.studentized)
            rows.append({**fit.record, "primary": scale == self.scale,
                         "n_outliers": int(np.sum(np.isfinite(t) & (t > self.outlier_threshold)))})
        return rows


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


def read_table(table: pandas.DataFrame | str | os.PathLike, percent: bool = False) -> tuple[pandas.DataFrame, str]:
    """Validate a per-model table (or read a CSV file) into ``(frame, source)``.

    ``frame`` has the columns ``model, correct_original, n_original, correct_new, n_new`` (ints)
    and ``from_accuracy`` (bool). Column names are matched case-insensitively, surrounding
    spaces ignored; other columns are ignored. Where a set has both ``correct_*`` and
    ``accuracy_*``, the counts are used. ``percent=True``: the ``accuracy_*`` columns are in
    percent (0-100), as published tables print them; counts are unaffected.

    Raises:
        DataError: the file is missing or not a CSV; columns are missing (all of them are listed);
            values are missing or not numbers; a count is negative or fractional; an ``n`` is 0;
            ``correct > n``; an accuracy is outside [0, 1] (``[0, 100]`` with ``percent``); a
            model name is empty or repeated; ``percent=True`` but no accuracy column is used.
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
    used_accuracy = False
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
            top = 100.0 if percent else 1.0
            outside = (acc < 0) | (acc > top)
            if outside.any():
                hint = ("; percentages? pass percent=True (--percent)"
                        if not percent and (acc[outside] <= 100).all() and (acc >= 0).all() else "")
                raise DataError(f"{where}: column 'accuracy_{s}' must lie in [0, {top:g}]; found "
                                f"{acc[outside][0]:g} at {_rows(df, outside)}{hint}")
            used_accuracy = True
            k = np.round(acc / top * n).astype(np.int64)
            from_accuracy[:] = True
        out[f"correct_{s}"] = k
        out[f"n_{s}"] = n
    if percent and not used_accuracy:
        raise DataError(f"{where}: percent=True but the table gives counts (correct_original, correct_new), "
                        "no accuracy column to read in percent; drop percent")
    out["from_accuracy"] = from_accuracy
    frame = pd.DataFrame(out, columns=[*REQUIRED_COLUMNS, "from_accuracy"])
    return frame, source


def analyze(
    table: pandas.DataFrame | str | os.PathLike,
    scale: str = "probit",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    *,
    percent: bool = False,
    outlier_threshold: float = OUTLIER_THRESHOLD,
) -> AnalysisResult:
    """Accuracies with exact intervals, drops with intervals, the linear and probit fits, outliers.

    Args:
        table: a DataFrame or a CSV path with columns ``model, correct_original, n_original,
            correct_new, n_new`` (or ``accuracy_original``/``accuracy_new`` with the ``n_*``
            columns); e.g. :meth:`ShiftEvaluation.table`.
        scale: the primary fit's scale: ``"probit"`` (default), ``"logit"`` or ``"linear"``
            (Recht et al.'s Figure 1; see the module docs). The linear and the probit fits are
            computed in any case (:attr:`AnalysisResult.fits`). Ordinary least squares over
            models, as in the paper (for weights, call :func:`~gaplens.shift.linear_fit`).
        n_boot, seed: bootstrap resamples of the models for the fits' intervals and their seed
            (see :func:`~gaplens.shift.linear_fit`; the paper used 100,000).
        alpha: ``1 - alpha`` is the level of every interval (accuracies, drops, slopes).
        percent: the ``accuracy_*`` columns are in percent (0-100).
        outlier_threshold: flag a model when the absolute externally studentized residual of
            the primary fit exceeds this (see :func:`~gaplens.shift.fit.studentized_residuals`).

    Returns:
        An :class:`AnalysisResult`.

    Raises:
        DataError / InputError: see :func:`read_table`; bad ``scale``, ``alpha``, ``n_boot`` or
            ``outlier_threshold``.
    """
    scale = _check_scale(scale)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InputError(f"alpha={alpha!r}; expected a value in (0, 1)")
    if isinstance(outlier_threshold, bool) or not isinstance(outlier_threshold, (int, float)) \
            or not 0 < outlier_threshold < np.inf:
        raise InputError(f"outlier_threshold={outlier_threshold!r}; expected a positive number, e.g. 3")
    frame, source = read_table(table, percent=percent)
    k1, n1 = frame["correct_original"].to_numpy(), frame["n_original"].to_numpy()
    k2, n2 = frame["correct_new"].to_numpy(), frame["n_new"].to_numpy()
    p1, p2 = k1 / n1, k2 / n2
    lo1, hi1 = clopper_pearson(k1, n1, alpha)
    lo2, hi2 = clopper_pearson(k2, n2, alpha)
    drop, dlo, dhi = drop_interval(k1, n1, k2, n2, alpha)

    notes: list[str] = []
    fits: dict[str, Fit] = {}
    if len(frame) < 2:
        notes.append("no linear fit: it needs at least 2 models")
    elif np.all(p1 == p1[0]):
        notes.append("no linear fit: all models have the same original-set accuracy")
    else:
        for name in dict.fromkeys((scale, *SIDE_BY_SIDE)):
            fits[name] = linear_fit(p1, p2, scale=name, n_boot=n_boot, seed=seed, level=1 - alpha,
                                    n_orig=n1, n_new=n2)
    fit = fits.get(scale)
    predicted = fit.predict(p1) if fit is not None else None
    t = fit.studentized if fit is not None else np.full(len(frame), np.nan)
    outlier = np.isfinite(t) & (np.abs(t) > outlier_threshold)
    if fit is not None and len(frame) < 4:
        notes.append("no outlier check: studentized residuals need at least 4 models")
    if outlier.any():
        names = frame["model"].to_numpy()[outlier]
        kept = ~outlier
        described = ", ".join(f"{m} (t = {v:+.1f})" for m, v in zip(names, t[outlier], strict=True))
        without = ""
        if kept.sum() >= 2 and np.ptp(p1[kept]) > 0:
            refit = linear_fit(p1[kept], p2[kept], scale=scale, n_boot=0, n_orig=n1[kept], n_new=n2[kept])
            without = f"; without them the {scale} slope would be {refit.slope:.3f} (with them {fit.slope:.3f})"
        notes.append(f"outlier(s) by studentized residual |t| > {outlier_threshold:g} in {scale} scale: "
                     f"{described}; they are kept in the fit{without}")

    records = []
    for i, model in enumerate(frame["model"]):
        row = {"model": model}
        for s, k, n, p, lo, hi in (("original", k1, n1, p1, lo1, hi1), ("new", k2, n2, p2, lo2, hi2)):
            row.update({f"n_{s}": int(n[i]), f"correct_{s}": int(k[i]), f"accuracy_{s}": float(p[i]),
                        f"ci_low_{s}": float(lo[i]), f"ci_high_{s}": float(hi[i])})
        row.update({"drop": float(drop[i]), "drop_ci_low": float(dlo[i]), "drop_ci_high": float(dhi[i])})
        if predicted is not None:
            row.update({"predicted_new": float(predicted[i]), "residual": float(p2[i] - predicted[i]),
                        "studentized_residual": float(t[i]), "outlier": bool(outlier[i])})
        row["from_accuracy"] = bool(frame["from_accuracy"].iloc[i])
        records.append(row)
    return AnalysisResult(records=records, fit=fit, scale=scale, source=source, notes=notes, fits=fits,
                          outlier_threshold=float(outlier_threshold))
