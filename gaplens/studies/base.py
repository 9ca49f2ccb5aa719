"""The study interface: typed parameters, the units they imply, one unit's work, a report section.

A study is what a user runs into a run folder (explain, sanity, robustness, ...). A concrete
study is a dataclass whose fields are its parameters; it says

- which units of work those parameters imply (:meth:`Study.units`): each :class:`Unit` has a
  key unique within the study, the JSON-able ``inputs`` that determine its result (model weight
  digests, data digests, options, seeds: the runner hashes them into the unit's fingerprint),
  and a ``scope`` (usually one model's label): the units a run plans for a scope replace every
  older unit of that scope, so a run folder never mixes the records of two different requests;
- how to run one unit (:meth:`Study.run_unit`), returning records, arrays and figures in a
  :class:`UnitOutput`, never touching the store;
- its report section and findings (:meth:`Study.section`), reading only its own records.

:class:`gaplens.studies.runner.Runner` does the rest for every study.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from gaplens.report.html import Section
    from gaplens.studies.runner import Context


@dataclass(frozen=True)
class Unit:
    """One unit of work of a study.

    Attributes:
        key: unique within the study, e.g. ``"texture-world/gradient"``.
        inputs: everything that determines the result, JSON-able (digests, options, seeds).
        scope: the group the unit belongs to (e.g. a model label); ``None``: never pruned.
        depends: keys of earlier units of the same plan whose results this unit reads (a summary
            figure): their fingerprints are part of this unit's fingerprint.
        payload: whatever :meth:`Study.run_unit` needs that ``inputs`` already determines (a
            distortion name, a loaded batch); not hashed.
    """

    key: str
    inputs: Mapping[str, Any]
    scope: str | None = None
    depends: tuple[str, ...] = ()
    payload: Any = None


@dataclass
class UnitOutput:
    """What one unit produced; the runner writes it into the run folder in one transaction.

    Attributes:
        records: flat dicts (str/int/float/bool/None values).
        figures: ``(name, figure, title)``: saved as ``figures/NAME.png`` and closed.
        arrays: ``(name, array, title)``: saved as ``maps/NAME.npy`` (never pickled).
        files: ``(kind, path, title)`` of other files the unit wrote inside the run folder
            (e.g. a checkpoint).
    """

    records: list[dict] = field(default_factory=list)
    figures: list[tuple[str, Figure, str]] = field(default_factory=list)
    arrays: list[tuple[str, np.ndarray, str]] = field(default_factory=list)
    files: list[tuple[str, Path, str]] = field(default_factory=list)


class Study(ABC):
    """Base class of every study; subclasses are dataclasses of their parameters."""

    #: Name of the study in the run database (``records.study``); several classes may share one.
    name: ClassVar[str]
    #: Heading of its report section.
    title: ClassVar[str]
    #: Position of its section in the report (lower first).
    order: ClassVar[int] = 0

    @abstractmethod
    def units(self, ctx: Context) -> list[Unit]:
        """The units these parameters imply, in the order they run (dependencies first)."""

    @abstractmethod
    def run_unit(self, unit: Unit, ctx: Context) -> UnitOutput:
        """Do one unit's work; records, arrays and figures out, nothing written."""

    def describe(self) -> dict[str, Any]:
        """The parameters as they are recorded in the run table (JSON-able, short)."""
        from dataclasses import fields, is_dataclass

        if not is_dataclass(self):
            return {}
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value if isinstance(value, (str, int, float, bool, type(None))) else _short(value)
        return out

    @staticmethod
    def section(df: pd.DataFrame, artifacts: list[dict]) -> Section:  # pragma: no cover - overridden
        raise NotImplementedError


def _short(value: object) -> str:
    label = getattr(value, "label", None)
    if isinstance(label, str):
        return label
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def figures_of(artifacts: list[dict]) -> list[dict]:
    """The figure artifacts among a study's artifacts, in commit order."""
    return [a for a in artifacts if a.get("kind") == "figure"]


def per_model(values: dict[str, str], limit: int = 6) -> str:
    """``"a: 0.87; b: 0.70"`` for a finding's detail (at most ``limit`` models, then a count)."""
    items = [f"{k}: {v}" for k, v in values.items()]
    if len(items) > limit:
        items = items[:limit] + [f"and {len(items) - limit} more"]
    return "; ".join(items)


def span(values) -> str | float:
    """One number, or ``"lo–hi"`` over several (3 significant digits): a finding's value for many models."""
    values = [float(v) for v in values]
    if len(values) == 1:
        return values[0]
    return f"{min(values):.3g}–{max(values):.3g}"
