"""Render a run folder's ``run.db`` as one self-contained HTML page.

The page has the run folder's name as title, a generated-at line, the table of runs, then one
section per study in the store. A study's section comes from the renderer registered for it
with :func:`register_section`, or from :func:`generic_section`, which lists its records::

    @register_section("evaluate", title="Accuracy", order=10)
    def evaluate_section(df: pandas.DataFrame, artifacts: list[dict]) -> Section:
        table = df.groupby("model")["value"].mean().to_frame("accuracy")
        figures = [a for a in artifacts if a["kind"] == "figure"]
        return Section(title="", intro="Top-1 accuracy per model.",
                       tables=[("Mean accuracy", table)], figures=figures)

Sections are ordered by ``order`` (default 0), then by the order their studies were first
committed. Every string on the page (class names, file names, study names, parameters) is
escaped by Jinja's autoescaping; tables are built cell by cell (never ``to_html``), floats are
shown with 4 significant digits, and PNG figures are inlined as ``data:image/png`` URIs, so
the page needs no other file, no network and no JavaScript.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from gaplens.core.errors import InputError
from gaplens.store import DB_NAME, RunStore

__all__ = [
    "Section",
    "SECTIONS",
    "SectionRenderer",
    "register_section",
    "generic_section",
    "render_html",
    "render_report",
    "MAX_GENERIC_ROWS",
    "MAX_TABLE_ROWS",
]

logger = logging.getLogger(__name__)

#: Rows of records the generic fallback section shows per study.
MAX_GENERIC_ROWS = 200
#: Rows any table shows at most; the rest are counted in a note below the table.
MAX_TABLE_ROWS = 1000
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_REPORT_NAME = "report.html"


@dataclass
class Section:
    """One study's part of the report.

    Attributes
    ----------
    title:
        Heading; empty means the title given to :func:`register_section` (or the study name).
    intro:
        Plain text shown under the heading; blank lines separate paragraphs.
    tables:
        ``(caption, DataFrame)`` pairs; a non-default index is shown as leading columns.
    figures:
        Artifact dicts (as from :meth:`RunStore.artifacts`: ``path`` relative to the run folder,
        ``title``) of PNG files to inline, captioned with their titles.
    """

    title: str
    intro: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)


#: A section renderer: the study's records (columns ``study``, ``unit`` and the record keys)
#: and its artifacts in, a :class:`Section` out.
SectionRenderer = Callable[[pd.DataFrame, list[dict[str, Any]]], Section]

#: Registered renderers by study name.
SECTIONS: dict[str, SectionRenderer] = {}
_SECTION_META: dict[str, tuple[str, int]] = {}  # study -> (title, order)


def register_section(
    study: str, *, title: str | None = None, order: int = 0
) -> Callable[[SectionRenderer], SectionRenderer]:
    """Decorator: register ``fn(df, artifacts) -> Section`` as the renderer of ``study``.

    ``title`` is the heading used when the returned section's title is empty (default: the
    study name). ``order`` sorts sections (lower first); ties keep the studies' commit order.
    Registering a second, different function for one study raises :class:`InputError`
    (re-registering the same function, as on a module reload, is allowed).
    """
    if not isinstance(study, str) or not study:
        raise InputError(f"study must be a non-empty str, got {study!r}")
    if not isinstance(order, int):
        raise InputError(f"order must be an int, got {order!r}")

    def decorate(fn: SectionRenderer) -> SectionRenderer:
        old = SECTIONS.get(study)
        if old is not None and _qualname(old) != _qualname(fn):
            raise InputError(f"a section renderer is already registered for study {study!r}: "
                             f"{_qualname(old)}")
        SECTIONS[study] = fn
        _SECTION_META[study] = (title or study, order)
        return fn

    return decorate


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def generic_section(df: pd.DataFrame, artifacts: list[dict[str, Any]]) -> Section:
    """Fallback renderer: the study's records as one table (at most 200 rows), its figures,
    and a table of its other files."""
    study = str(df["study"].iloc[0]) if "study" in df and len(df) else ""
    n_units = df["unit"].nunique() if "unit" in df else 0
    body = df.drop(columns=["study", "unit"], errors="ignore")
    if len(df):
        intro = (f"{len(df)} record{'s' if len(df) != 1 else ''} in {n_units} "
                 f"unit{'s' if n_units != 1 else ''}. No section renderer is registered for "
                 "this study, so its records are listed as stored.")
    else:
        intro = "No records."
    tables: list[tuple[str, pd.DataFrame]] = []
    if len(body) and len(body.columns):
        if len(body) > MAX_GENERIC_ROWS:
            caption = f"Records (first {MAX_GENERIC_ROWS} of {len(body)})"
            intro += f" Only the first {MAX_GENERIC_ROWS} of {len(body)} records are shown."
        else:
            caption = "Records"
        tables.append((caption, body.head(MAX_GENERIC_ROWS).reset_index(drop=True)))
    figures = [a for a in artifacts if a.get("kind") == "figure"]
    others = [a for a in artifacts if a.get("kind") != "figure"]
    if others:
        files = pd.DataFrame(others, columns=["unit", "kind", "path", "title"])
        tables.append(("Other files", files.head(MAX_GENERIC_ROWS)))
    return Section(title=study, intro=intro, tables=tables, figures=figures)


# -- turning DataFrames and artifacts into template data ----------------------------------


def _format_cell(value: Any) -> dict[str, str]:
    """Text and CSS class of one table cell; the template escapes the text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return {"text": "\u2014", "cls": "na"}
    if isinstance(value, (bool, np.bool_)):
        return {"text": str(bool(value)), "cls": ""}
    if isinstance(value, numbers.Integral):
        return {"text": str(int(value)), "cls": "num"}
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return {"text": "\u2014", "cls": "na"}
        return {"text": f"{x:.4g}", "cls": "num"}
    return {"text": str(value), "cls": ""}


def _column_name(col: Any) -> str:
    if isinstance(col, tuple):
        return " / ".join(str(c) for c in col if str(c))
    return str(col)


def _table_view(caption: str, df: pd.DataFrame) -> dict[str, Any]:
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"table {caption!r} must be a pandas DataFrame, got {type(df).__name__}")
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1):
        df = df.reset_index()
    note = ""
    if len(df) > MAX_TABLE_ROWS:
        note = f"Only the first {MAX_TABLE_ROWS} of {len(df)} rows are shown."
        df = df.head(MAX_TABLE_ROWS)
    rows = [[_format_cell(v) for v in row] for row in df.itertuples(index=False, name=None)]
    return {
        "caption": str(caption),
        "columns": [_column_name(c) for c in df.columns],
        "rows": rows,
        "note": note,
    }


def _figure_view(run_dir: Path, artifact: dict[str, Any]) -> dict[str, Any]:
    """Inline a PNG artifact as a data URI, or explain why it cannot be shown."""
    rel = str(artifact.get("path", ""))
    view: dict[str, Any] = {"title": str(artifact.get("title") or ""), "path": rel,
                            "src": None, "problem": ""}
    path = (run_dir / rel).resolve()
    root = run_dir.resolve()
    if not rel or (path != root and root not in path.parents):
        view["problem"] = "its path is outside the run folder"
        return view
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        view["problem"] = "the file is missing"
        return view
    except OSError as exc:
        view["problem"] = f"the file cannot be read ({exc.strerror or exc})"
        return view
    if not data.startswith(_PNG_MAGIC):
        view["problem"] = "the file is not a PNG image"
        return view
    view["src"] = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return view


def _time(iso: str | None) -> str | None:
    if not iso:
        return None
    try:
        t = datetime.fromisoformat(iso).astimezone(timezone.utc)
    except ValueError:
        return iso
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _runs_view(runs: list[dict[str, Any]]) -> dict[str, Any]:
    df = pd.DataFrame(
        [
            {
                "run": r["id"],
                "command": r["command"],
                "params": json.dumps(r["params"], ensure_ascii=False, sort_keys=True),
                "status": r["status"],
                "started (UTC)": _time(r["started"]),
                "finished (UTC)": _time(r["finished"]),
            }
            for r in runs
        ],
        columns=["run", "command", "params", "status", "started (UTC)", "finished (UTC)"],
    )
    view = _table_view("", df)
    params_col = view["columns"].index("params")
    for row in view["rows"]:
        row[params_col]["cls"] = "code"
    return view


def _study_df(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=["study", "unit"])
    return pd.DataFrame.from_records(rows)


def _render_section(
    study: str, df: pd.DataFrame, artifacts: list[dict[str, Any]], run_dir: Path, strict: bool
) -> dict[str, Any]:
    renderer = SECTIONS.get(study, generic_section)
    default_title = _SECTION_META.get(study, (study, 0))[0]
    try:
        section = renderer(df, artifacts)
        if not isinstance(section, Section):
            raise TypeError(f"section renderer {_qualname(renderer)} returned "
                            f"{type(section).__name__}, not Section")
        tables = [_table_view(caption, table) for caption, table in section.tables]
        figures = [_figure_view(run_dir, a) for a in section.figures]
        error = ""
    except Exception as exc:
        if strict:
            raise
        logger.exception("report section for study %r failed", study)
        section = Section(title=default_title)
        tables, figures = [], []
        error = f"{type(exc).__name__}: {exc}"
    intro = [p.strip() for p in str(section.intro or "").split("\n\n") if p.strip()]
    return {
        "title": str(section.title or default_title),
        "intro": intro,
        "tables": tables,
        "figures": figures,
        "error": error,
    }


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gaplens")
    except PackageNotFoundError:
        return "(not installed)"


def render_html(run_dir: str | os.PathLike[str], *, strict: bool = False) -> str:
    """The report page of ``run_dir`` as a string (see :func:`render_report`)."""
    with RunStore(run_dir, create=False) as store:
        root = store.run_dir
        runs = store.runs()
        studies = store.studies()
        data = [(s, _study_df(store.records(s)), store.artifacts(s)) for s in studies]
    views = []
    for position, (study, df, artifacts) in enumerate(data):
        order = _SECTION_META.get(study, (study, 0))[1] if study in SECTIONS else 0
        views.append((order, position, _render_section(study, df, artifacts, root, strict)))
    views.sort(key=lambda v: (v[0], v[1]))
    sections = []
    for i, (_, _, view) in enumerate(views):
        view["anchor"] = f"section-{i + 1}"
        sections.append(view)
    template = _environment().get_template("template.html.j2")
    return template.render(
        title=root.name,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        version=_version(),
        db_name=DB_NAME,
        runs=_runs_view(runs),
        sections=sections,
    )


def render_report(run_dir: str | os.PathLike[str], *, strict: bool = False) -> Path:
    """Render ``run_dir/run.db`` into ``run_dir/report.html`` (written atomically).

    Returns the path of the page. A section renderer that raises is shown as an error box in
    its section (and logged) unless ``strict`` is true, in which case the error propagates.
    Raises :class:`~gaplens.core.errors.StoreError` if ``run_dir`` holds no usable ``run.db``.
    """
    page = render_html(run_dir, strict=strict)
    with RunStore(run_dir, create=False) as store:
        return store.atomic_write_bytes(_REPORT_NAME, page.encode("utf-8"))
