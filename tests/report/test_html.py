"""Tests of gaplens.report.html: the self-contained HTML report."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gaplens.core.errors import InputError, StoreError
from gaplens.report import SECTIONS, Finding, Section, register_section, render_html, render_report, verdict_matrix
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


def test_page_has_sections_in_commit_order_then_runs(run: Path) -> None:
    path = render_report(run)
    assert path == run.absolute() / "report.html"
    page = path.read_text(encoding="utf-8")
    parsed = _parse(page)
    assert parsed.h2 == ["toy", f"study {EVIL}", "Runs"]  # no findings: no findings table
    assert 'id="findings"' not in page
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
    with Image.open(run / "figures" / "cm.png") as img:  # saved at 120 dpi, shown at its drawn size
        assert re.search(rf'<img src="data:[^"]+" width="{round(img.width * 96 / 120)}" alt=', page)
    for dpi, width in (((120, 120), 80), ((96, 96), 100), (None, None)):  # no pHYs chunk: natural size
        buf = io.BytesIO()
        Image.new("RGB", (100, 10)).save(buf, "PNG", **({"dpi": dpi} if dpi else {}))
        assert report_html._display_width(buf.getvalue()) == width
    assert "the file is missing" in page and "figures/gone.png" in page
    assert "lost figure" in page


def test_self_contained_no_external_urls_one_inline_script(run: Path) -> None:
    page = render_report(run).read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(?!data:|#)", page)
    assert "http://" not in page and "https://" not in page
    assert "<style>" in page
    # the one script is the template's table sorter, inline, after the content (no user data in it)
    assert page.lower().count("<script") == 1
    script = page.split("<script>")[1].split("</script>")[0]
    assert "aria-sort" in script and page.index("<script>") > page.index("</main>")


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
    assert '<td class="num">0.123</td>' in section  # 3 significant digits
    assert '<td class="num">12</td>' in section  # integers unchanged
    assert '<td class="na">' in section  # NaN
    assert "2 records in 1 unit" in section
    assert '<td class="num">1.23e+06</td>' in page
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
    assert parsed.h2 == [f"study {EVIL}", "Accuracy <per class>", "Runs"]
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


# -- findings, collapsible sections, numbers, id columns, verdict matrix, failures ------------


def _section_html(page: str, anchor: str) -> str:
    return page.split(f'<section id="{anchor}"')[1].split("</section>")[0]


def _anchor_of(page: str, title: str) -> str:
    match = re.search(r'<section id="(section-\d+)"[^>]*>\s*<details open>\s*<summary><h2>' + re.escape(title), page)
    assert match, title
    return match.group(1)


def test_findings_table_first_and_linked(run: Path, registry: None) -> None:
    @register_section("toy", title="Toy study")
    def toy(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        return Section(title="", findings=[
            Finding("toy", "accuracy of a", df["accuracy"].iloc[0], "pass", detail="at least 0.1"),
            Finding("toy", "methods passing", "3/4", "fail", detail="failing: saliency"),
            Finding("toy", "hardest distortion", np.float64(1234.5678), "warning"),
            Finding("toy", "images", 12),
        ])

    @register_section(f"study {EVIL}")
    def other(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        return Section(title="Other", findings=[Finding(f"study {EVIL}", "ok?", True, verdict=True)])

    page = render_report(run).read_text(encoding="utf-8")
    parsed = _parse(page)
    assert parsed.h2 == ["Findings", "Toy study", "Other", "Runs"]
    findings = _section_html(page, "findings")
    assert page.index('<section id="findings">') < page.index('<nav') < page.index('<section id="section-1"')
    rows = re.findall(r"<tr class=\"v-(\w+)\"><td><a href=\"#(section-\d+)\">(.*?)</a></td><td>(.*?)</td>"
                      r"<td class=\"value\">(.*?)</td><td class=\"mark \w+\">(.*?)</td><td>(.*?)</td></tr>", findings)
    toy_anchor, other_anchor = _anchor_of(page, "Toy study"), _anchor_of(page, "Other")
    assert rows == [
        ("pass", toy_anchor, "Toy study", "accuracy of a", "0.123", "\u2713 pass", "at least 0.1"),
        ("fail", toy_anchor, "Toy study", "methods passing", "3/4", "\u2717 fail", "failing: saliency"),
        ("warning", toy_anchor, "Toy study", "hardest distortion", "1235", "! warning", ""),
        ("info", toy_anchor, "Toy study", "images", "12", "\u00b7 info", ""),
        ("pass", other_anchor, "Other", "ok?", "True", "\u2713 pass", ""),
    ]


def test_sections_collapsible_runs_collapsed_at_the_bottom(run: Path) -> None:
    page = render_report(run).read_text(encoding="utf-8")
    assert page.count("<details open>") == 2  # one per study, open
    runs = _section_html(page, "runs")
    assert "<details>\n<summary><h2>Runs</h2></summary>" in runs  # collapsed by default
    assert page.index('<section id="runs">') > page.rindex('<section id="section-')
    assert '<th scope="col">run</th>' in runs  # the run number stays, plainly labelled


def test_figure_caption_above_image(run: Path) -> None:
    page = render_report(run).read_text(encoding="utf-8")
    figure = page.split("<figure>")[1].split("</figure>")[0]
    assert figure.index("<figcaption>") < figure.index("<img ")


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.123456789, "0.123"), (1234567.0, "1.23e+06"), (0.000123456, "0.000123"), (2.0, "2"), (99.95, "100"),
     (1234.5678, "1235"), (-0.5, "-0.5"), (-1e-9, "-1e-09"), (12, "12"), (np.int64(10**12), "1000000000000"),
     (np.float32(0.5), "0.5"), (float("nan"), "\u2014"), (float("inf"), "inf"), (True, "True"), ("3/4", "3/4")],
)
def test_numbers_three_significant_digits(value: object, text: str) -> None:
    assert report_html.format_number(value) == text


def test_id_columns_dropped_from_section_tables(tmp_path: Path, registry: None) -> None:
    with RunStore(tmp_path / "r") as store:
        store.finish_run(store.start_run("ids", {}))
        with store.unit("ids", "u") as u:
            u.add({"seq": 3, "model": "a", "value": 0.5})

    @register_section("ids")
    def ids(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        table = df.assign(id=7, run=1, run_id=1)
        filtered = pd.DataFrame({"model": ["a", "b", "c"], "value": [1, 2, 3]})[lambda d: d["value"] > 1]
        return Section(title="Ids", tables=[("all", table), ("indexed", table.set_index("unit")),
                                            ("filtered", filtered), ("only ids", df[["study", "unit"]])])

    page = render_report(tmp_path / "r").read_text(encoding="utf-8")
    section = _section_html(page, _anchor_of(page, "Ids"))
    for caption in ("all", "indexed", "filtered"):  # the filter's row numbers 1, 2 are not shown either
        table = section.split(f"<caption>{caption}</caption>")[1].split("</table>")[0]
        assert re.findall(r'<th scope="col">(.*?)</th>', table) == ["model", "value"]
    assert "only ids" not in section  # a table with nothing but ids is left out


def test_verdict_matrix_hand_made() -> None:
    rows = pd.DataFrame([
        # sanity's records: passed = value <= threshold, check holds a description (-> default "<")
        {"method": "saliency", "mode": "cascading", "passed": True, "value": 0.1234, "threshold": 0.5,
         "metric": "spearman_abs", "check": "model randomization, cascading: all 4 blocks randomized"},
        {"method": "saliency", "mode": "independent", "passed": False, "value": 0.91, "threshold": 0.5,
         "metric": "spearman_abs", "check": "model randomization, independent"},
        {"method": "edge", "mode": "cascading", "passed": False, "value": 1.0, "threshold": 0.5,
         "metric": "spearman_abs", "check": "<"},
        {"method": "gradcam", "mode": "independent", "passed": True, "value": 1234.5, "threshold": 1000,
         "metric": "x", "check": ">="},
        {"method": "gradcam", "mode": "cascading", "passed": None, "value": float("nan"), "threshold": None,
         "metric": "x", "check": ">"},
    ])
    expected = pd.DataFrame(
        {"cascading": ["\u2713 0.123 (< 0.5)", "\u2717 1 (< 0.5)", "\u00b7 \u2014"],
         "independent": ["\u2717 0.91 (< 0.5)", None, "\u2713 1234 (\u2265 1000)"]},
        index=pd.Index(["saliency", "edge", "gradcam"], name="method"), dtype=object)
    expected.columns.name = "mode"
    pd.testing.assert_frame_equal(verdict_matrix(rows, columns="mode"), expected)

    two = verdict_matrix(rows.assign(model="m"), rows=["model", "method"], columns=["mode", "metric"],
                         default_check=">")
    assert list(two.index) == [("m", "saliency"), ("m", "edge"), ("m", "gradcam")]
    assert list(two.columns) == ["cascading / spearman_abs", "independent / spearman_abs", "independent / x",
                                 "cascading / x"]
    assert two.loc[("m", "saliency"), "cascading / spearman_abs"] == "\u2713 0.123 (> 0.5)"

    with pytest.raises(InputError, match="more than one verdict"):
        verdict_matrix(pd.concat([rows, rows]), columns="mode")
    with pytest.raises(InputError, match="test"):
        verdict_matrix(rows)  # no "test" column
    with pytest.raises(InputError, match="default_check"):
        verdict_matrix(rows, columns="mode", default_check="about")


def test_verdict_matrix_cells_marked_on_the_page(run: Path, registry: None) -> None:
    verdicts = pd.DataFrame({"method": ["a", "b"], "test": ["t", "t"], "passed": [True, False],
                             "value": [0.1, 0.9], "threshold": [0.5, 0.5]})

    @register_section("toy")
    def toy(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        return Section(title="Verdicts", tables=[("matrix", verdict_matrix(verdicts))])

    page = render_report(run, strict=True).read_text(encoding="utf-8")
    assert '<td class="verdict pass">\u2713 0.1 (&lt; 0.5)</td>' in page
    assert '<td class="verdict fail">\u2717 0.9 (&lt; 0.5)</td>' in page
    assert '<th scope="col">method</th><th scope="col">t</th>' in page


def test_failing_section_strict_raises_otherwise_error_box_and_finding(run: Path, registry: None) -> None:
    @register_section("toy", title="Broken")
    def broken(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        raise KeyError(EVIL)

    @register_section(f"study {EVIL}", title="Fine")
    def fine(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        return Section(title="", findings=[Finding(f"study {EVIL}", "value", df["value"].iloc[0], "info")])

    (run / "report.html").write_text("old")
    with pytest.raises(KeyError):
        render_report(run, strict=True)
    assert (run / "report.html").read_text() == "old"  # nothing written

    page = render_report(run).read_text(encoding="utf-8")
    parsed = _parse(page)
    assert EVIL not in page
    assert parsed.h2 == ["Findings", "\u26a0 Broken", "Fine", "Runs"]
    anchor = _anchor_of(page, '<span class="error-mark">\u26a0</span> Broken')
    section = _section_html(page, anchor)
    assert 'class="study failed"' in page.split(f'<section id="{anchor}"')[1].split(">")[0]
    assert f'<p class="error">\u26a0 This section could not be rendered: KeyError: &#39;{ESCAPED}&#39;</p>' in section
    assert "<table" not in section and "<figure" not in section  # not a normal-looking section
    findings = _section_html(page, "findings")
    assert findings.index("Broken") < findings.index("Fine")  # rows in section order
    error_row = findings.split('<tr class="v-error">')[1].split("</tr>")[0]
    assert f'href="#{anchor}"' in error_row and "\u26a0 error" in error_row and "not rendered" in error_row
    assert f"KeyError: &#39;{ESCAPED}&#39;" in error_row
    assert "\u26a0 Broken</a></li>" in page  # and in the contents


@pytest.mark.parametrize(
    "bad",
    [lambda: Section(title="x", findings=["not a finding"]),  # type: ignore[list-item]
     lambda: Section(title="x", findings=[Finding("toy", "m", 1, "great")]),
     lambda: Section(title="x", tables=[("t", [1, 2])]),  # type: ignore[list-item]
     lambda: "not a section"],
)
def test_malformed_sections_fail_loudly(run: Path, registry: None, bad) -> None:
    register_section("toy")(lambda df, artifacts: bad())
    with pytest.raises((TypeError, InputError)):
        render_html(run, strict=True)
    assert "could not be rendered" in render_html(run)


def test_finding_verdicts() -> None:
    assert Finding("s", "m", 1, " PASS ").verdict == "pass"
    assert Finding("s", "m", 1, np.bool_(False)).verdict == "fail"
    assert Finding("s", "m", 1).verdict == "info"
    with pytest.raises(InputError, match="verdict"):
        Finding("s", "m", 1, "ok")


def test_hostile_strings_escaped_everywhere(run: Path, registry: None) -> None:
    @register_section("toy", title=EVIL)
    def toy(df: pd.DataFrame, artifacts: list[dict]) -> Section:
        return Section(title="", intro=EVIL, tables=[(EVIL, pd.DataFrame({EVIL: [EVIL], "n": [1]}))],
                       figures=[{"path": "figures/cm.png", "title": EVIL}],
                       findings=[Finding(EVIL, EVIL, EVIL, "fail", detail=EVIL)])

    page = render_report(run, strict=True).read_text(encoding="utf-8")
    assert EVIL not in page and page.lower().count("<script") == 1  # only the template's own sorter
    assert f"<td>{ESCAPED}</td>" in _section_html(page, "findings")  # finding measure and detail
    assert f'<td class="value">{ESCAPED}</td>' in page  # finding value
    assert f'<a href="#section-1">{ESCAPED}</a>' in page  # section title in the findings
    assert f"<summary><h2>{ESCAPED}</h2></summary>" in page
    assert f"<caption>{ESCAPED}</caption>" in page and f'<th scope="col">{ESCAPED}</th>' in page
    assert f"<td>{ESCAPED}</td><td class=\"num\">1</td>" in page  # table cell
    assert f"<figcaption>{ESCAPED}</figcaption>" in page and f'alt="{ESCAPED}"' in page
    assert f'<p class="intro">{ESCAPED}</p>' in page
