"""The demo end to end at its quick size: every section lands in one report, and it resumes."""

from __future__ import annotations

from gaplens.demo import QUICK, run_demo
from gaplens.robustness import DISTORTIONS
from gaplens.store import RunStore, records


def test_quick_demo_end_to_end_and_resume(tmp_path):
    report = run_demo(tmp_path / "demo", QUICK, device="cpu", progress=False)
    page = report.read_text()
    for heading in ("Data", "Training", "Evaluation", "Explanations", "New test sets",
                    "Feature visualization", "Sanity checks", "Texture vs. shape", "Distortion robustness"):
        assert heading in page
    assert "data:image/png;base64," in page
    assert "could not be rendered" not in page
    df = records(tmp_path / "demo")
    overall = df[(df["study"] == "evaluate") & (df["class"] == "all")]
    assert len(overall) == 3 * 4  # three models x four test sets
    # Geirhos et al.'s protocol: clean, one distortion, all but uniform noise; each swept on all 12
    swept = df[(df["study"] == "robustness") & df["distortion"].notna()]
    trained = swept[swept["model"].astype(str).str.startswith("trained-")]
    assert set(trained["model"]) == {"trained-clean", "trained-salt_and_pepper", "trained-all-but-uniform_noise"}
    assert trained.groupby("model")["distortion"].nunique().eq(len(DISTORTIONS)).all()
    assert "held out" in page
    # a re-run resumes: nothing is recomputed, the records are identical
    with RunStore(tmp_path / "demo") as store:
        units_before = len(store.records())
    run_demo(tmp_path / "demo", QUICK, device="cpu", progress=False)
    assert len(records(tmp_path / "demo")) == units_before
