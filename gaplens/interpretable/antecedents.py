"""Antecedents of rule lists: mined from a table, stored as packed bitsets.

An *antecedent* is a conjunction of literals (``sex=Male``, ``age<=25``, ``not priors=0``); its
*truth table* over ``n`` samples is packed into ``ceil(n / 64)`` ``uint64`` words, so that what
a rule captures, how many labels it gets right and what is left for the next rule are a few
vectorized ``&``/``~`` and popcounts over all antecedents at once.

Mining follows CORELS (Angelino et al., JMLR 2018; pycorels' ``mine_rules``): every column value
is an item (categorical ``col=value``; numeric: ``col<=t`` at quantile thresholds; a 0-1 column:
its name), with ``negations=True`` also ``not ITEM``; conjunctions of up to ``max_card`` items
from different columns; an antecedent is kept when its support lies in
``[min_support, 1 - min_support]``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gaplens.core.errors import InputError

__all__ = ["Literal", "Antecedents", "pack_bits", "unpack_bits", "popcount", "mine_antecedents", "as_frame"]

_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(words: np.ndarray) -> np.ndarray:
    """Number of set bits in each ``uint64`` of ``words`` (same shape, ``uint8``)."""
    if _HAS_BITWISE_COUNT:
        return np.bitwise_count(words)
    as_bytes = words.view(np.uint8).reshape(*words.shape, 8)
    return _BYTE_COUNTS[as_bytes].sum(axis=-1, dtype=np.uint8)


def pack_bits(truth: np.ndarray) -> np.ndarray:
    """Pack a boolean array ``(..., n)`` into ``(..., ceil(n / 64))`` ``uint64`` words.

    Sample ``i`` is bit ``i % 64`` of word ``i // 64``; padding bits are 0.
    """
    truth = np.asarray(truth, dtype=bool)
    n = truth.shape[-1]
    words = -(-n // 64)
    padded = np.zeros((*truth.shape[:-1], words * 64), dtype=bool)
    padded[..., :n] = truth
    packed = np.packbits(padded, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view(np.uint64).reshape(*truth.shape[:-1], words)


def unpack_bits(words: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``(..., W)`` ``uint64`` to ``(..., n)`` bool."""
    as_bytes = np.ascontiguousarray(words).view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n].astype(bool)


@dataclass(frozen=True)
class Literal:
    """One condition on one column: ``column == value`` (``op="=="``) or ``column <= value``
    (``op="<="``), negated when ``negated``. ``name`` is how it is written in a rule."""

    column: Any
    op: str
    value: Any
    name: str
    negated: bool = False

    def holds(self, values: pd.Series) -> np.ndarray:
        """Truth of the literal on a column of new data, ``(n,)`` bool (missing values: false)."""
        if self.op == "<=":
            numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            truth = numeric <= self.value
            known = ~np.isnan(numeric)
        else:
            truth = _equals(values, self.value)
            known = values.notna().to_numpy()
        return (~truth & known) if self.negated else truth

    def negation(self) -> Literal:
        return Literal(self.column, self.op, self.value, f"not {self.name}", not self.negated)


def _equals(values: pd.Series, value: Any) -> np.ndarray:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            return (numeric == value).to_numpy()
    return (values.astype(str) == str(value)).to_numpy()


@dataclass
class Antecedents:
    """A set of antecedents and their truth tables on the samples they were mined from.

    Attributes:
        terms: one tuple of :class:`Literal` per antecedent (a conjunction).
        bits: ``(R, W)`` ``uint64``, the packed truth table of each antecedent over ``n`` samples.
        n_samples: ``n``.
        columns: the input's column names (an array input: ``0, 1, ...``).
    """

    terms: list[tuple[Literal, ...]]
    bits: np.ndarray
    n_samples: int
    columns: list[Any]

    def __len__(self) -> int:
        return len(self.terms)

    @property
    def names(self) -> list[tuple[str, ...]]:
        """Each antecedent as the names of its literals, e.g. ``("age=18-20", "sex=Male")``."""
        return [tuple(lit.name for lit in term) for term in self.terms]

    def support(self) -> np.ndarray:
        """Fraction of the samples each antecedent holds on, ``(R,)``."""
        return popcount(self.bits).sum(axis=1, dtype=np.int64) / self.n_samples

    def truth(self, X: Any, indices: list[int] | None = None) -> np.ndarray:
        """Truth table of antecedents (all, or ``indices``) on new data: ``(len, n)`` bool."""
        frame = as_frame(X, self.columns)
        chosen = range(len(self.terms)) if indices is None else indices
        out = np.ones((len(chosen), len(frame)), dtype=bool)
        cache: dict[Literal, np.ndarray] = {}
        for row, i in enumerate(chosen):
            for lit in self.terms[i]:
                if lit not in cache:
                    cache[lit] = lit.holds(frame[lit.column])
                out[row] &= cache[lit]
        return out


def as_frame(X: Any, columns: list[Any] | None = None) -> pd.DataFrame:
    """``X`` (DataFrame or 2-D array) as a DataFrame with ``columns`` (checked when given)."""
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise InputError(f"X must be a table (DataFrame or 2-D array), got an array of shape {array.shape}")
        frame = pd.DataFrame(array)
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"X lacks the column(s) the rule list was fitted on: {missing}")
    return frame


def _is_binary(values: pd.Series) -> bool:
    if values.dtype == bool:
        return True
    numeric = pd.to_numeric(values, errors="coerce")
    return bool(numeric.notna().all() and set(np.unique(numeric)) <= {0, 1})


def _column_items(column: Any, values: pd.Series, n_thresholds: int, negations: bool) -> list[Literal]:
    """The items of one column (negations included when asked)."""
    if values.isna().any():
        raise InputError(f"column {column!r} has missing values; fill or drop them before fitting")
    distinct = values.nunique()
    if distinct < 2:
        raise InputError(f"column {column!r} has a single value ({values.iloc[0]!r}): it cannot split the "
                         "samples; drop it")
    name = str(column)
    if _is_binary(values):
        items = [Literal(column, "==", 1, name)]
        return items + [items[0].negation()] if negations else items
    numeric = pd.to_numeric(values, errors="coerce")
    if pd.api.types.is_numeric_dtype(values) and numeric.notna().all():
        qs = np.linspace(0, 1, n_thresholds + 2)[1:-1]
        cuts = np.unique(np.quantile(numeric.to_numpy(dtype=float), qs, method="lower"))
        cuts = cuts[cuts < numeric.max()]
        items = [Literal(column, "<=", float(t), f"{name}<={float(t):g}") for t in cuts]
        return items + [lit.negation() for lit in items] if negations else items
    levels = sorted(values.astype(str).unique())
    items = [Literal(column, "==", v, f"{name}={v}") for v in levels]
    if negations and len(levels) > 2:   # with two levels, "not a" is the other level
        items += [lit.negation() for lit in items]
    return items


def mine_antecedents(X: Any, *, max_card: int = 2, min_support: float = 0.01, negations: bool = True,
                     n_thresholds: int = 9) -> Antecedents:
    """Mine the antecedents of ``X`` as CORELS does.

    Args:
        X: a DataFrame of categorical / numeric / 0-1 columns, or a 0-1 array ``(n, p)``.
        max_card: the most literals in one antecedent (from different columns).
        min_support: keep antecedents that hold on a fraction in ``[min_support, 1 - min_support]``
            of the samples; items used in conjunctions need support ``>= min_support``.
        negations: also use ``not ITEM`` for every item (a two-level categorical column has none:
            its negation is the other level).
        n_thresholds: numeric columns: thresholds at this many inner quantiles.

    Returns:
        :class:`Antecedents`, with duplicates of an earlier antecedent's truth table left out
        (except for a 0-1 input with ``max_card=1``: then the antecedents are exactly the given
        columns, and their negations, that pass the support filter).

    Raises:
        InputError: no rows, a column with a single value or missing values, or no antecedent
            passes the support filter.
    """
    frame = as_frame(X)
    n = len(frame)
    if n == 0:
        raise InputError("X has no rows")
    if frame.shape[1] == 0:
        raise InputError("X has no columns")
    if max_card < 1:
        raise InputError(f"max_card must be at least 1, got {max_card}")
    if not 0 <= min_support <= 0.5:
        raise InputError(f"min_support must lie in [0, 0.5], got {min_support}")
    items: list[Literal] = []
    for column in frame.columns:
        items += _column_items(column, frame[column], n_thresholds, negations)
    truth = np.stack([lit.holds(frame[lit.column]) for lit in items])
    bits = pack_bits(truth)
    counts = popcount(bits).sum(axis=1, dtype=np.int64)
    low, high = min_support * n, (1 - min_support) * n
    usable = np.flatnonzero(counts >= low)   # items that may enter a conjunction
    terms: list[tuple[Literal, ...]] = [(items[i],) for i in usable if counts[i] <= high]
    kept: list[np.ndarray] = [bits[i] for i in usable if counts[i] <= high]
    for card in range(2, max_card + 1):
        for combo in itertools.combinations(usable[:-1], card - 1):
            if len({items[i].column for i in combo}) < len(combo):
                continue
            head = np.bitwise_and.reduce(bits[list(combo)], axis=0)
            if popcount(head).sum() < low:
                continue
            tail = usable[usable > combo[-1]]
            tail = tail[[items[j].column not in {items[i].column for i in combo} for j in tail]]
            if not len(tail):
                continue
            joint = bits[tail] & head
            c = popcount(joint).sum(axis=1, dtype=np.int64)
            for j in np.flatnonzero((c >= low) & (c <= high)):
                terms.append(tuple(items[i] for i in combo) + (items[tail[j]],))
                kept.append(joint[j])
    if not terms:
        raise InputError(f"no antecedent has a support in [{min_support}, {1 - min_support}]; lower "
                         "min_support or give more varied columns")
    stacked = np.stack(kept)
    exact = max_card == 1 and all(_is_binary(frame[c]) for c in frame.columns)
    if not exact:
        _, first = np.unique(stacked, axis=0, return_index=True)
        order = np.sort(first)
        terms = [terms[i] for i in order]
        stacked = stacked[order]
    return Antecedents(terms=terms, bits=np.ascontiguousarray(stacked), n_samples=n, columns=list(frame.columns))
