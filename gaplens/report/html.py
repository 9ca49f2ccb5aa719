"""Render a run folder's ``run.db`` as one self-contained HTML page.

The page reads top to bottom as: the run folder's name and a generated-at line, one table of
findings (the number that matters of each study and its verdict, each row linking to its
section), one collapsible section per study in the store, and the table of runs (collapsed).
A study's section comes from the renderer registered for it with :func:`register_section`, or
from :func:`generic_section`, which lists its records::

    @register_section("evaluate", title="Accuracy", order=10)
    def evaluate_section(df: pandas.DataFrame, artifacts: list[dict]) -> Section:
        table = df.groupby("model")["value"].mean().to_frame("accuracy")
        figures = [a for a in artifacts if a["kind"] == "figure"]
        worst = float(table["accuracy"].min())
        return Section(title="", intro="Top-1 accuracy per model.",
                       tables=[("Mean accuracy", table)], figures=figures,
                       findings=[Finding("evaluate", "lowest accuracy", worst, "info")])

Sections are ordered by ``order`` (default 0), then by the order their studies were first
committed. Every string on the page (class names, file names, study names, parameters) is
escaped by Jinja's autoescaping; tables are built cell by cell (never ``to_html``), floats are
shown with 3 significant digits, columns that hold internal ids (``id``, ``run``, ``unit``,
``seq``, ``study``) are left out of section tables, and PNG figures are inlined as
``data:image/png`` URIs under their captions, so the page needs no other file, no network and
no JavaScript (sections fold with ``<details>``).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import numbers
import os
import struct
from collections.abc import Callable, Sequence
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
    "Finding",
    "Section",
    "SECTIONS",
    "SectionRenderer",
    "register_section",
    "generic_section",
    "render_html",
    "render_report",
    "verdict_matrix",
    "format_number",
    "VERDICTS",
    "ID_COLUMNS",
    "MAX_GENERIC_ROWS",
    "MAX_TABLE_ROWS",
]

logger = logging.getLogger(__name__)

#: Rows of records the generic fallback section shows per study.
MAX_GENERIC_ROWS = 200
#: Rows any table shows at most; the rest are counted in a note below the table.
MAX_TABLE_ROWS = 1000
#: Columns left out of section tables: the store's internal ids, which mean nothing to a reader.
ID_COLUMNS = frozenset({"id", "run", "run_id", "unit", "seq", "study"})
#: Verdicts a :class:`Finding` may carry, with the mark the page shows for each.
VERDICTS = {"pass": "\u2713", "fail": "\u2717", "warning": "!", "info": "\u00b7"}
_ERROR_MARK = "\u26a0"
_COMPARISONS = {"<": "<", ">": ">", "<=": "\u2264", ">=": "\u2265", "\u2264": "\u2264", "\u2265": "\u2265",
                "==": "=", "=": "="}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_REPORT_NAME = "report.html"


def format_number(value: Any) -> str:
    """Text of one number on the page: integers unchanged, floats with 3 significant digits.

    ``0.123456 -> "0.123"``, ``1234567.0 -> "1.23e+06"``, ``12 -> "12"``. Floats from 100 up to a
    million are rounded to a whole number instead of switching to exponent notation
    (``1234.5 -> "1234"``, never ``"1.23e+03"``). NaN is ``"\u2014"``; ``bool`` is ``"True"`` or
    ``"False"``. Anything that is not a number is returned as ``str(value)``.
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return "\u2014"
        if math.isfinite(x) and 100 <= abs(x) < 1e6:
            text = f"{x:.0f}"
        else:
            text = f"{x:.3g}"
        return "0" if text == "-0" else text
    return str(value)


@dataclass
class Finding:
    """One line of the findings table at the top of the report: what a study measured and its verdict.

    Attributes:
        study: The study it belongs to (its store name, e.g. ``"sanity"``). The page shows the title of
            the section that returned it and links there.
        measure: What was measured, short (``"methods passing cascading randomization"``).
        value: The number that matters: a number (floats are shown with 3 significant digits, integers
            unchanged), or a string already formatted (``"3/4"``).
        verdict: ``"pass"`` (shown as \u2713), ``"fail"`` (\u2717), ``"warning"`` (!) or ``"info"`` (\u00b7);
            ``True``/``False`` mean pass/fail. Anything else raises :class:`InputError`.
        detail: Optional plain text shown beside it (the threshold, an interval, what failed).
    """

    study: str
    measure: str
    value: Any
    verdict: str = "info"
    detail: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.verdict, (bool, np.bool_)):
            self.verdict = "pass" if self.verdict else "fail"
        verdict = str(self.verdict).strip().lower()
        if verdict not in VERDICTS:
            raise InputError(f"Finding verdict {self.verdict!r}; expected one of {sorted(VERDICTS)}")
        self.verdict = verdict


@dataclass
class Section:
    """One study's part of the report.

    Attributes:
        title: Heading; empty means the title given to :func:`register_section` (or the study name).
        intro: Plain text shown under the heading; blank lines separate paragraphs.
        tables: ``(caption, DataFrame)`` pairs; a named index is shown as leading columns (an unnamed
            integer index, the row numbers a filter leaves, is not), and columns named like
            internal ids (:data:`ID_COLUMNS`) are left out.
        figures: Artifact dicts (as from :meth:`RunStore.artifacts`: ``path`` relative to the run folder,
            ``title``) of PNG files to inline, each under its title as caption.
        findings: :class:`Finding` lines for the findings table at the top of the page.
    """

    title: str
    intro: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


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


def verdict_matrix(
    df: pd.DataFrame,
    rows: str | Sequence[str] = "method",
    columns: str | Sequence[str] = "test",
    passed: str = "passed",
    value: str = "value",
    threshold: str = "threshold",
    check: str = "check",
    default_check: str = "<",
) -> pd.DataFrame:
    """Tidy verdict rows as a compact matrix: one row per ``rows``, one column per ``columns``.

    Each cell reads ``"\u2713 0.12 (< 0.5)"`` (passed) or ``"\u2717 0.91 (< 0.5)"`` (failed):
    the mark, the value and the threshold with the comparison a passing value satisfies, numbers
    with 3 significant digits (:func:`format_number`). A cell whose ``passed`` is missing gets
    ``"\u00b7"``; a missing threshold is left out; a (row, column) pair with no verdict row is
    ``None`` (shown as a dash).

    Args:
        df: One verdict per row, e.g. the ``kind == "verdict"`` records of the sanity study
            (``method``, ``mode``, ``passed``, ``value``, ``threshold``, ``metric``, ``check``).
        rows, columns: Column name(s) whose values label the matrix's rows and columns (several names: the
            index is a MultiIndex, column labels are joined with ``" / "``). Order of first
            appearance is kept.
        passed, value, threshold: Columns holding the verdict (bool), the measured value and the threshold.
        check: Optional column holding the comparison a passing value satisfies (``"<"``, ``">"``,
            ``"<="``, ``">="``, ``"\u2264"``, ``"\u2265"``); used where it holds one of these, else
            ``default_check`` (the sanity study's ``check`` holds a description, so it gets ``"<"``).

    Returns:
        A DataFrame of strings indexed by ``rows``; pass it to :class:`Section` as a table.

    Raises :class:`InputError` if a named column is missing, ``default_check`` is not a
    comparison, or two rows share one cell.

    >>> v = pd.DataFrame({"method": ["saliency", "saliency", "edge"], "test": ["cascading", "data", "cascading"],
    ...                   "passed": [True, False, False], "value": [0.12, 0.91, 1.0], "threshold": 0.5})
    >>> verdict_matrix(v).loc["saliency", "data"]
    '\u2717 0.91 (< 0.5)'
    """
    row_keys = [rows] if isinstance(rows, str) else list(rows)
    col_keys = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in [*row_keys, *col_keys, passed, value] if c not in df]
    if missing or not row_keys or not col_keys:
        raise InputError(f"verdict_matrix: columns {missing or 'rows/columns'} missing; the table has "
                         f"{[str(c) for c in df.columns]}")
    if default_check not in _COMPARISONS:
        raise InputError(f"default_check={default_check!r}; expected one of {sorted(_COMPARISONS)}")
    cells: dict[tuple[Any, ...], dict[str, str]] = {}
    labels: dict[str, None] = {}
    for record in df.to_dict("records"):
        row_label = tuple(record[k] for k in row_keys)
        col_label = " / ".join(str(record[k]) for k in col_keys)
        labels.setdefault(col_label)
        row = cells.setdefault(row_label, {})
        if col_label in row:
            raise InputError(f"verdict_matrix: more than one verdict for {dict(zip(row_keys, row_label, strict=True))} "
                             f"and {col_label!r}; add a column to rows or columns")
        row[col_label] = _verdict_cell(record, passed, value, threshold, check, default_check)
    index = (pd.MultiIndex.from_tuples(list(cells), names=row_keys) if len(row_keys) > 1
             else pd.Index([r[0] for r in cells], name=row_keys[0]))
    table = pd.DataFrame([[cells[r].get(c) for c in labels] for r in cells], index=index,
                         columns=list(labels), dtype=object)
    table.columns.name = " / ".join(col_keys)
    return table


def _missing(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral)
                                       and math.isnan(float(x)))


def _verdict_cell(record: dict[str, Any], passed: str, value: str, threshold: str, check: str,
                  default_check: str) -> str:
    ok = record.get(passed)
    mark = VERDICTS["info"] if _missing(ok) else VERDICTS["pass" if bool(ok) else "fail"]
    measured = record.get(value)
    text = f"{mark} " + ("\u2014" if _missing(measured) else format_number(measured))
    limit = record.get(threshold)
    if not _missing(limit):
        sign = record.get(check)
        sign = _COMPARISONS.get(sign.strip() if isinstance(sign, str) else "", _COMPARISONS[default_check])
        text += f" ({sign} {format_number(limit)})"
    return text


# -- turning DataFrames and artifacts into template data ----------------------------------


def _format_cell(value: Any) -> dict[str, str]:
    """Text and CSS class of one table cell; the template escapes the text."""
    if _missing(value) or value is pd.NaT:
        return {"text": "\u2014", "cls": "na"}
    if isinstance(value, (bool, np.bool_)):
        return {"text": str(bool(value)), "cls": ""}
    if isinstance(value, numbers.Real):
        return {"text": format_number(value), "cls": "num"}
    text = str(value)
    if text.startswith((VERDICTS["pass"] + " ", VERDICTS["fail"] + " ")):  # a verdict_matrix cell
        return {"text": text, "cls": "verdict pass" if text[0] == VERDICTS["pass"] else "verdict fail"}
    return {"text": text, "cls": ""}


def _column_name(col: Any) -> str:
    if isinstance(col, tuple):
        return " / ".join(str(c) for c in col if str(c))
    return str(col)


def _table_view(caption: str, df: pd.DataFrame, *, drop_ids: bool = True) -> dict[str, Any]:
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"table {caption!r} must be a pandas DataFrame, got {type(df).__name__}")
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1):
        # a named index (set_index, groupby, pivot) is data; an unnamed integer one is row numbers left by a filter
        row_numbers = df.index.nlevels == 1 and df.index.name is None and pd.api.types.is_integer_dtype(df.index)
        df = df.reset_index(drop=row_numbers)
    if drop_ids:
        df = df.loc[:, [not (isinstance(c, str) and c.lower() in ID_COLUMNS) for c in df.columns]]
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
                            "src": None, "width": None, "problem": ""}
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
    view["width"] = _display_width(data)
    return view


def _display_width(png: bytes) -> int | None:
    """CSS pixels that show a PNG at its physical size (from its pHYs chunk; ``None`` if it has none).

    Figures are saved at 120 dpi; shown one image pixel per CSS pixel (96 per inch) they would be
    a quarter larger than drawn. The page still caps them at its width.
    """
    if len(png) < 24 or png[12:16] != b"IHDR":
        return None
    width = struct.unpack(">I", png[16:20])[0]
    pos = 8
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"pHYs" and length == 9:
            per_metre, _, unit = struct.unpack(">IIB", png[pos + 8:pos + 17])
            if unit != 1 or per_metre <= 0:
                return None
            return max(1, round(width * 96 / (per_metre * 0.0254)))
        if kind in (b"IDAT", b"IEND"):
            return None
        pos += 12 + length
    return None


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
    view = _table_view("", df, drop_ids=False)
    params_col = view["columns"].index("params")
    for row in view["rows"]:
        row[params_col]["cls"] = "code"
    return view


def _study_df(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=["study", "unit"])
    return pd.DataFrame.from_records(rows)


def _finding_view(finding: Any) -> dict[str, str]:
    if not isinstance(finding, Finding):
        raise TypeError(f"Section.findings holds a {type(finding).__name__}, not a Finding")
    value = finding.value
    return {
        "measure": str(finding.measure),
        "value": "\u2014" if _missing(value) else format_number(value),
        "verdict": finding.verdict,
        "mark": VERDICTS[finding.verdict],
        "detail": str(finding.detail or ""),
    }


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
        tables = [t for t in tables if t["columns"]]  # nothing left once the id columns are out
        figures = [_figure_view(run_dir, a) for a in section.figures]
        findings = [_finding_view(f) for f in section.findings]
        error = ""
    except Exception as exc:
        if strict:
            raise
        logger.exception("report section for study %r failed", study)
        section = Section(title=default_title)
        tables, figures = [], []
        error = f"{type(exc).__name__}: {exc}"
        findings = [{"measure": "report section", "value": "not rendered", "verdict": "error",
                     "mark": _ERROR_MARK, "detail": error}]
    intro = [p.strip() for p in str(section.intro or "").split("\n\n") if p.strip()]
    return {
        "title": str(section.title or default_title),
        "intro": intro,
        "tables": tables,
        "figures": figures,
        "findings": findings,
        "error": error,
        "error_mark": _ERROR_MARK,
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
    sections, findings = [], []
    for i, (_, _, view) in enumerate(views):
        view["anchor"] = f"section-{i + 1}"
        sections.append(view)
        findings += [{**f, "section": view["title"], "anchor": view["anchor"]} for f in view["findings"]]
    template = _environment().get_template("template.html.j2")
    return template.render(
        title=root.name,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        version=_version(),
        db_name=DB_NAME,
        runs=_runs_view(runs),
        sections=sections,
        findings=findings,
        findings_detail=any(f["detail"] for f in findings),
    )


def render_report(run_dir: str | os.PathLike[str], *, strict: bool = False) -> Path:
    """Render ``run_dir/run.db`` into ``run_dir/report.html`` (written atomically).

    Returns the path of the page. A section renderer that raises (or returns something that
    cannot be shown: not a :class:`Section`, a table that is not a DataFrame, a finding that is
    not a :class:`Finding`) is shown as an error box in place of its section, marked \u26a0 in
    its heading and in the findings table, and logged, unless ``strict`` is true, in which case
    the error propagates and no page is written.
    Raises :class:`~gaplens.core.errors.StoreError` if ``run_dir`` holds no usable ``run.db``.
    """
    page = render_html(run_dir, strict=strict)
    with RunStore(run_dir, create=False) as store:
        return store.atomic_write_bytes(_REPORT_NAME, page.encode("utf-8"))
