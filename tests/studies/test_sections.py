"""Every study's report section, rendered in strict mode from a small run, reads its own records."""

from __future__ import annotations

import pandas as pd
import pytest

from gaplens.report.html import Section
from gaplens.studies import (
    ClassModels,
    DataSummary,
    Evaluate,
    Explain,
    Runner,
    Sanity,
    ShapeBias,
    ShiftAnalyze,
    ShiftEvaluate,
    Sweep,
    Train,
)
from gaplens.studies.report import render_report


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import torch

    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("sections") / "run"
    data = "synthetic:n=48,classes=3,size=24,seed=1"
    csv = out.parent / "counts.csv"
    csv.write_text("model,correct_original,n_original,correct_new,n_new\na,90,100,80,100\nb,70,100,50,100\n")
    with Runner(out, "sections", progress=False, report=False) as runner:
        runner.run(DataSummary({"train": data}))
        trains = [Train(f"m{e}", data, arch="vgg", arch_kwargs={"widths": [8], "convs_per_stage": [1]},
                        fit={"epochs": e, "seed": 0}) for e in (1, 2)]
        for train in trains:
            runner.run(train)
        models = [t.model(runner.out, "cpu") for t in trains]
        runner.run(Evaluate(models, ["synthetic:n=24,classes=3,size=24,seed=2"]))
        runner.run(Explain(models[:1], "synthetic:n=2,classes=3,size=24,seed=3", ["gradient", "edge"], target="label"))
        runner.run(Sanity(models[0], "synthetic:n=2,classes=3,size=24,seed=3", ("cascading",), ["gradient", "edge"],
                          random_label_model=models[1]))
        runner.run(ClassModels(models[0], ("logit",), {"steps": 2}))
        runner.run(ShapeBias(models, "synthetic:n=24,classes=3,size=24,conflict=1,seed=4"))
        runner.run(Sweep(models[:1], "synthetic:n=12,classes=3,size=24,seed=5", "contrast,rotation"))
        runner.run(ShiftEvaluate(models, "synthetic:n=24,classes=3,size=24,seed=6",
                                 "synthetic:n=24,classes=3,size=24,seed=7,shift=1"))
        runner.run(ShiftAnalyze(csv, scale="linear"))
    return out


def test_every_section_renders_in_strict_mode_with_findings(run):
    page = render_report(run, strict=True).read_text()
    for title in ("Data", "Training", "Evaluation", "Explanations", "Sanity checks", "Feature visualization",
                  "Texture vs. shape", "Distortion robustness", "New test sets"):
        assert f">{title}<" in page or f"> {title}<" in page or title in page, title
    assert "could not be rendered" not in page
    assert page.index("Findings") < page.index("Training")  # the findings table comes first


def test_sections_read_their_own_records(run):
    from gaplens.report.html import SECTIONS
    from gaplens.store import RunStore

    with RunStore(run) as store:
        frames = {s: (pd.DataFrame(store.records(s)), store.artifacts(s)) for s in store.studies()}
    sections = {s: SECTIONS[s](*frames[s]) for s in frames}
    assert all(isinstance(sec, Section) for sec in sections.values())
    # prose from the records: targets were the true labels, the labels of synthetic data are shapes
    assert "the true label" in sections["explain"].intro and "predicted" not in sections["explain"].intro
    assert "shape class" in sections["evaluate"].intro
    # one line per study in the findings: the sanity line counts passing methods per test; the edge
    # detector (which ignores the model) fails every test but is a control, not a failing method
    (sanity,) = sections["sanity"].findings
    import re

    assert re.fullmatch(r"cascading [01]/2, data [01]/2", sanity.value)
    assert "edge" not in sanity.detail
    for study, section in sections.items():  # one finding per study (per comparison for new test sets)
        assert len(section.findings) <= (2 if study == "shift" else 1), study
    matrix = sections["sanity"].tables[0][1]
    assert set(matrix.columns) == {"cascading", "data"} and list(matrix.index) == ["gradient", "edge"]
    assert all(str(cell).startswith("✗") for cell in matrix.loc["edge"])
    # the shift section has both comparisons; the CSV one from its counts
    shift = frames["shift"][0]
    assert set(shift["comparison"].dropna()) == {"shift", "csv/counts"}
    findings = {f.measure for f in sections["shift"].findings}
    assert any("csv/counts" in m for m in findings) and any("(shift)" in m for m in findings)


def test_no_internal_ids_on_the_page(run):
    page = render_report(run, strict=True).read_text()
    assert "<th>unit</th>" not in page and "<th>study</th>" not in page
