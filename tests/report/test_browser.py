"""report.html in a real browser: headless Debian chromium driven by Playwright (no browser download).

The run behind the page is small but real (an evaluation and a distortion sweep of a tiny model whose
first class is called ``a<script>alert(1)</script>``). The page must work offline: every request that
is not the file itself (or an inlined ``data:`` figure) is blocked and counted.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from gaplens.core.model import Classifier
from gaplens.report.html import SECTIONS
from gaplens.store import RunStore
from gaplens.studies import Evaluate, Runner, Sweep
from gaplens.zoo import build

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (it is in gaplens[dev])")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install "
                                                         "chromium; .ci/run installs it)")

HOSTILE = "a<script>alert(1)</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    torch.manual_seed(0)
    net = build("resnet", num_classes=3, widths=(4, 8), blocks=(1, 1))
    model = Classifier(net, class_names=[HOSTILE, "square", "triangle"], input_size=(16, 16)).eval()
    torch.manual_seed(1)
    data = (torch.rand(9, 3, 16, 16), torch.arange(9) % 3)
    out = tmp_path_factory.mktemp("run")
    with Runner(out, "browser test", progress=False) as runner:
        runner.run(Evaluate({"tiny": model}, {"noise": data}, batch_size=16))
        runner.run(Sweep({"tiny": model}, data, "contrast,uniform_noise", batch_size=16))
    with RunStore(out) as store:
        studies = store.studies()
    return runner.report_path, studies


@pytest.fixture(scope="module")
def page(report):
    path, _ = report
    events: dict[str, list] = {"console": [], "errors": [], "blocked": [], "dialogs": []}
    with sync_api.sync_playwright() as pw:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses its sandbox as root
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page()

        def route(r):
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                events["blocked"].append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: events["console"].append(m) if m.type == "error" else None)
        page.on("pageerror", lambda e: events["errors"].append(str(e)))
        page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
        page.goto(path.absolute().as_uri(), wait_until="load")
        yield page, events
        browser.close()


def test_the_page_loads_offline_without_console_errors(page):
    page, events = page
    assert [m.text for m in events["console"]] == [] and events["errors"] == []
    assert events["blocked"] == []  # nothing asked for the network (no CDN)


def test_every_figure_decodes(page):
    page, _ = page
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
    assert len(widths) >= 3  # the confusion matrix, the accuracy figure and the sweep figure
    assert all(complete and width > 0 for complete, width in widths), widths


def test_every_section_of_the_run_is_there_and_rendered(page, report):
    page, _ = page
    _, studies = report
    headings = page.eval_on_selector_all("section.study h2", "hs => hs.map(h => h.textContent.trim())")
    assert page.locator("section.failed").count() == 0
    titles = {"evaluate": "Evaluation", "robustness": "Distortion robustness"}
    assert set(studies) == set(titles) and all(s in SECTIONS for s in studies)
    assert [t for t in titles.values() if t not in headings] == []


def test_a_class_name_with_a_script_tag_is_text_and_never_runs(page):
    page, events = page
    assert events["dialogs"] == []  # alert(1) never ran
    cells = page.eval_on_selector_all("td, th", "cs => cs.map(c => c.textContent)")
    assert any(HOSTILE in text for text in cells)
    assert page.eval_on_selector_all("main script", "s => s.length") == 0


def _column(page, table_index: int, column: int) -> list[str]:
    return page.evaluate(
        "([t, c]) => Array.from(document.querySelectorAll('table')[t].tBodies[0].rows)"
        ".map(r => r.cells[c].textContent.trim())", [table_index, column])


def test_a_table_sorts_by_clicking_its_header(page):
    page, events = page
    # the first table with at least three rows whose third column is numeric ("n", "accuracy", ...)
    tables = page.eval_on_selector_all(
        "table", "ts => ts.map(t => [t.tBodies[0] ? t.tBodies[0].rows.length : 0, "
                 "t.tHead ? t.tHead.rows[0].cells.length : 0])")
    index = next(i for i, (rows, cols) in enumerate(tables) if rows >= 3 and cols >= 3)
    column = next(c for c in range(tables[index][1])
                  if all(_is_number(v) for v in _column(page, index, c)) and len(set(_column(page, index, c))) > 1)
    header = page.locator("table").nth(index).locator("thead th").nth(column)
    header.click()
    up = [float(v) for v in _column(page, index, column)]
    header.click()
    down = [float(v) for v in _column(page, index, column)]
    assert up == sorted(up) and down == sorted(down, reverse=True) and up != down
    assert events["blocked"] == [] and events["errors"] == []


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
