"""Tests of gaplens.report.html: the self-contained HTML report."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaplens.core.errors import InputError, StoreError
from gaplens.report import SECTIONS, Section, register_section, render_report
from gaplens.report import html as report_html
from gaplens.report.figures import confusion_matrix_figure, save_figure
from gaplens.store import RunStore

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
_VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr", "source"}


class _Balance(HTMLParser):
    """Checks that every non-void tag is closed in order; collects h2 texts and img srcs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.h2: list[str] = []
        self.srcs: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.srcs.append(dict(attrs).get("src") or "")
        if tag not in _VOID:
            self.stack.append(tag)
        if tag == "h2":
            self._in_h2 = True
            self.h2.append("")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2[-1] += data


def _parse(page: str) -> _Balance:
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    return parser


@pytest.fixture
def registry() -> Iterator[None]:
    """Restore the section registry after a test registers renderers."""
    saved, meta = dict(SECTIONS), dict(report_html._SECTION_META)
    yield
    SECTIONS.clear()
    SECTIONS.update(saved)
    report_html._SECTION_META.clear()
    report_html._SECTION_META.update(meta)


def _png(store: RunStore, name: str) -> Path:
    fig = confusion_matrix_figure(np.array([[3, 1], [0, 4]]), [EVIL, "dog"], "cm")
    return save_figure(fig, store.figures_dir / name)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run with two studies, a figure, a missing figure and hostile strings everywhere."""
    with RunStore(tmp_path / "myrun") as store:
        rid = store.start_run("toy", {"model": EVIL, "n": 3})
        with store.unit("toy", "model=a") as u:
            u.add_many(
                [
                    {"model": "a", "class": EVIL, "accuracy": 0.123456789, "n": 12},
                    {"model": "a", "class": "dog", "accuracy": float("nan"), "n": 0},
                ]
            )
            u.artifact("figure", _png(store, "cm.png"), title=f"Confusion {EVIL}")
            u.artifact("figure", "figures/gone.png", title="lost figure")
        with store.unit(f"study {EVIL}", "u1") as u:
            u.add({"value": 1234567.0, "ok": True})
        store.finish_run(rid)
    return tmp_path / "myrun"


def test_page_has_runs_then_sections_in_commit_order(run: Path) -> None:
    path = render_report(run)
    assert path == run.absolute() / "report.html"
    page = path.read_text(encoding="utf-8")
    parsed = _parse(page)
    assert parsed.h2 == ["Runs", "toy", f"study {EVIL}"]
    assert "<title>myrun" in page and "<h1>myrun</h1>" in page
    assert "Generated " in page
    # the runs table: command, params (escaped JSON), status
    assert "<td>toy</td>" in page and "<td>ok</td>" in page
    assert '&#34;n&#34;: 3' in page


def test_figures_inlined_and_missing_figure_noted(run: Path) -> None:
    page = render_report(run).read_text(encoding="utf-8")
    parsed = _parse(page)
    assert 'src="figures/' not in page
    assert len(parsed.srcs) == 1 and parsed.srcs[0].startswith("data:image/png;base64,")
    data = base64.b64decode(parsed.srcs[0].split(",", 1)[1])
    assert data == (run / "figures" / "cm.png").read_bytes()
    assert "the file is missing" in page and "figures/gone.png" in page
    assert "lost figure" in page


def test_self_contained_no_external_urls_no_script(run: Path) -> None:
    page = render_report(run).read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(?!data:|#)", page)
    assert "http://" not in page and "https://" not in page
    assert "<style>" in page
    assert "<script" not in page.lower()


def test_user_strings_escaped(run: Path) -> None:
    page = render_report(run).read_text(encoding="utf-8")
    assert EVIL not in page
    assert f"<td>{ESCAPED}</td>" in page  # class name in a record
    assert f"<h2>study {ESCAPED}</h2>" in page  # study name
    assert f"<figcaption>Confusion {ESCAPED}</figcaption>" in page  # figure title
    assert "&lt;script&gt;" in page.split("<section id=\"runs\">")[1]  # params


def test_generic_fallback_table_formats_cells(run: Path) -> None:
    page = render_report(run).read_text(encoding="utf-8")
    section = page.split("<h2>toy</h2>")[1].split("</section>")[0]
    headers = re.findall(r"<th scope=\"col\">(.*?)</th>", section)
    assert headers == ["model", "class", "accuracy", "n"]  # study/unit dropped
    assert '<td class="num">0.1235</td>' in section  # 4 significant digits
    assert '<td class="na">' in section  # NaN
    assert "2 records in 1 unit" in section
    assert '<td class="num">1.235e+06</td>' in page
    assert "<td>True</td>" in page


def test_generic_fallback_truncates(tmp_path: Path) -> None:
    with RunStore(tmp_path / "r") as store:
        with store.unit("big", "u") as u:
            u.add_many({"i": i} for i in range(250))
    page = render_report(tmp_path / "r").read_text(encoding="utf-8")
    assert page.count("<tr><td") == 200
    assert "first 200 of 250" in page


def test_registered_section_order_title_and_index(run: Path, registry: None) -> None:
    seen = {}

    @register_section("toy", title="Accuracy <per class>", order=5)
    def evaluate_section(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        seen["columns"] = list(df.columns)
        table = df.groupby("class")[["accuracy"]].mean()
        return Section(title="", intro="First paragraph.\n\nSecond <b>one</b>.",
                       tables=[("Mean <accuracy>", table)],
                       figures=[a for a in artifacts if a["kind"] == "figure"][:1])

    page = render_report(run).read_text(encoding="utf-8")
    parsed = _parse(page)
    # order=5 moves it after the unregistered study (order 0) despite committing first
    assert parsed.h2 == ["Runs", f"study {EVIL}", "Accuracy <per class>"]
    assert seen["columns"] == ["study", "unit", "model", "class", "accuracy", "n"]
    assert "<caption>Mean &lt;accuracy&gt;</caption>" in page
    assert '<th scope="col">class</th><th scope="col">accuracy</th>' in page  # index shown
    section = page.split("<h2>Accuracy &lt;per class&gt;</h2>")[1]
    assert section.count('<p class="intro">') == 2
    assert '<p class="intro">Second &lt;b&gt;one&lt;/b&gt;.</p>' in section
    assert len(parsed.srcs) == 1


def test_register_twice_rejected(registry: None) -> None:
    @register_section("dup")
    def one(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        return Section(title="one")

    with pytest.raises(InputError, match="already registered"):

        @register_section("dup")
        def two(df: pd.DataFrame, artifacts: list[dict]) -> Section:
            return Section(title="two")


def test_failing_section_shows_error_unless_strict(run: Path, registry: None) -> None:
    @register_section("toy", title="Broken")
    def broken(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        raise KeyError(EVIL)

    page = render_report(run).read_text(encoding="utf-8")
    assert "could not be rendered: KeyError" in page and EVIL not in page
    assert "<h2>Broken</h2>" in page
    with pytest.raises(KeyError):
        render_report(run, strict=True)


def test_non_png_and_outside_paths_noted(tmp_path: Path) -> None:
    with RunStore(tmp_path / "r") as store:
        (store.figures_dir / "fake.png").write_text("not a png")
        with store.unit("s", "u") as u:
            u.artifact("figure", "figures/fake.png", "fake")
    with RunStore(tmp_path / "r") as store:
        store._connection().execute("UPDATE artifacts SET path = '../../etc/passwd'")
        with store.unit("t", "u") as u:
            u.artifact("figure", "figures/fake.png", "fake")
    page = render_report(tmp_path / "r").read_text(encoding="utf-8")
    assert "outside the run folder" in page and "not a PNG" in page
    assert page.count("No records.") == 2
    assert "data:image/png" not in page


def test_empty_run_and_missing_db(tmp_path: Path) -> None:
    RunStore(tmp_path / "empty").close()
    page = render_report(tmp_path / "empty").read_text(encoding="utf-8")
    _parse(page)
    assert "No runs recorded" in page and "no committed results" in page
    with pytest.raises(StoreError):
        render_report(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_rerender_replaces_atomically(run: Path) -> None:
    first = render_report(run)
    second = render_report(run)
    assert first == second and first.is_file()
    assert sorted(p.name for p in run.iterdir()) == ["figures", "maps", "report.html", "run.db"]
