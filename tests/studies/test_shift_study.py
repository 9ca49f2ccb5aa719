"""The new-test-set study: a crash mid-models resumes to the capability's records, changed labels
recompute, and two comparisons in one run are kept apart."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import shift_nets, shift_sets
from torch import nn

from gaplens.core.errors import InputError
from gaplens.shift import evaluate
from gaplens.store import RunStore
from gaplens.studies import Runner, ShiftEvaluate, run_study
from gaplens.studies.models import ModelRef
from gaplens.studies.runner import Context

KEYS = ("model", "set", "n", "correct", "accuracy", "ci_low", "ci_high")


class Counting(nn.Module):
    """Counts forward calls; raises on the first call when ``crash`` is set (a killed run)."""

    def __init__(self, net: nn.Module, crash: bool = False) -> None:
        super().__init__()
        self.net, self.crash, self.calls = net, crash, 0

    def forward(self, x):
        self.calls += 1
        if self.crash:
            raise RuntimeError("simulated crash")
        return self.net(x)


def _nets(n: int = 3) -> dict:
    return shift_nets(n)


@pytest.fixture
def sets():
    return shift_sets()


def _study(models: dict[str, nn.Module], original, new, comparison: str = "shift") -> ShiftEvaluate:
    refs = [ModelRef(name, model=model, device="cpu") for name, model in models.items()]
    return ShiftEvaluate(refs, original, new, comparison=comparison, batch_size=8)


def _evals(run, comparison: str = "shift") -> list[dict]:
    """The stored per-(model, set) records of one comparison, in the capability's record layout."""
    with RunStore(run) as store:
        rows = [r for r in store.records("shift") if r.get("kind") == "eval" and r["comparison"] == comparison]
    return sorted(({k: r[k] for k in KEYS} for r in rows), key=lambda r: (r["model"], r["set"] != "original"))


def test_a_crash_mid_models_resumes_to_the_uninterrupted_result(sets, tmp_path):
    original, new = sets
    nets = _nets(3)
    reference = evaluate(nets, original, new, batch_size=8)

    crashing = {"net0": Counting(nets["net0"]), "net1": Counting(nets["net1"], crash=True),
                "net2": Counting(nets["net2"])}
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_study(_study(crashing, original, new), tmp_path, progress=False, report=False)
    assert crashing["net0"].calls > 0 and crashing["net2"].calls == 0
    with RunStore(tmp_path) as store:
        assert store.units("shift") == ["shift/net0"] and store.runs()[0]["status"] == "failed"

    again = {name: Counting(net) for name, net in nets.items()}
    result = run_study(_study(again, original, new), tmp_path, progress=False, report=False)
    assert again["net0"].calls == 0 and again["net1"].calls > 0 and again["net2"].calls > 0
    assert result.skipped == ["shift/net0"] and result.ran == ["shift/net1", "shift/net2", "shift/analysis"]
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in reference.records]
    with RunStore(tmp_path) as store:
        ctx = Context(store, tmp_path)
        for name in nets:
            for s in ("original", "new"):
                saved = ctx.load_array("shift", f"shift/{name}", f"correct_{s}")
                assert np.array_equal(saved, reference.correct[name, s].numpy())
                assert np.array_equal(ctx.load_array("shift", f"shift/{name}", f"labels_{s}"),
                                      reference.labels[s].numpy())
        drops = {r["model"]: r for r in store.records("shift") if r.get("kind") == "model"}
    assert sorted(drops) == sorted(nets)  # the analysis covers every model, resumed or not

    # a finished run: nothing is evaluated again
    done = {name: Counting(net) for name, net in nets.items()}
    result = run_study(_study(done, original, new), tmp_path, progress=False, report=False)
    assert result.ran == [] and all(m.calls == 0 for m in done.values())
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in reference.records]


def test_changed_labels_recompute_and_replace_the_units(sets, tmp_path):
    original, new = sets
    nets = _nets(2)
    first = {name: Counting(net) for name, net in nets.items()}  # the same weights digest as below
    run_study(_study(first, original, new), tmp_path, progress=False, report=False)
    relabelled = (new[0], (new[1] + 1) % 4)  # the new set changed since the first run
    counting = {name: Counting(net) for name, net in nets.items()}
    result = run_study(_study(counting, original, relabelled), tmp_path, progress=False, report=False)
    assert result.skipped == [] and all(m.calls > 0 for m in counting.values())
    expected = evaluate(nets, original, relabelled, batch_size=8)
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in expected.records]  # replaced, not duplicated
    with RunStore(tmp_path) as store:
        labels = Context(store, tmp_path).load_array("shift", "shift/net0", "labels_new")
    assert np.array_equal(labels, relabelled[1].numpy())


def test_a_second_comparison_in_one_run_is_kept_apart(sets, tmp_path):
    original, new = sets
    nets = _nets(2)
    relabelled = (new[0], (new[1] + 1) % 4)
    wrapped = {name: Counting(net) for name, net in nets.items()}  # the same weights digest as below
    with Runner(tmp_path, progress=False, report=False) as runner:
        runner.run(_study(wrapped, original, new))
        other = runner.run(_study(wrapped, original, relabelled, comparison="other"))
    assert other.ran == ["other/net0", "other/net1", "other/analysis"] and other.pruned == []
    with RunStore(tmp_path) as store:
        assert store.units("shift") == ["shift/net0", "shift/net1", "shift/analysis",
                                        "other/net0", "other/net1", "other/analysis"]
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in evaluate(nets, original, new, batch_size=8).records]
    assert _evals(tmp_path, "other") == [{k: r[k] for k in KEYS}
                                         for r in evaluate(nets, original, relabelled, batch_size=8).records]
    counting = {name: Counting(net) for name, net in nets.items()}  # the first comparison is still done
    first = run_study(_study(counting, original, new), tmp_path, progress=False, report=False)
    assert first.ran == [] and all(m.calls == 0 for m in counting.values())


def test_a_finished_run_does_not_build_factory_models(sets, tmp_path):
    original, new = sets
    nets = _nets(2)

    def refs(make):
        return [ModelRef(name, factory=make(name), identity={"net": name}, device="cpu") for name in nets]

    run_study(ShiftEvaluate(refs(lambda name: lambda: nets[name]), original, new, batch_size=8), tmp_path,
              progress=False, report=False)

    def never(name):
        def build_again():
            raise AssertionError(f"the finished model {name} was built again")
        return build_again

    done = run_study(ShiftEvaluate(refs(never), original, new, batch_size=8), tmp_path, progress=False, report=False)
    assert done.ran == [] and len(done.skipped) == 3
    assert _evals(tmp_path) == [{k: r[k] for k in KEYS} for r in evaluate(nets, original, new, batch_size=8).records]


def _testbed_csv(path, outlier: bool = True) -> None:
    """12 models on a line (new = 1.1 original - 0.2) in percent, one of them far below it."""
    orig = np.linspace(55.0, 80.0, 12)
    new = 1.1 * orig - 20 + 0.6 * np.sin(2.5 * np.arange(12))
    if outlier:
        new[4] -= 8
    rows = "".join(f"m{i},{a:.2f},10000,{b:.2f},10000\n" for i, (a, b) in enumerate(zip(orig, new, strict=True)))
    path.write_text("model,accuracy_original,n_original,accuracy_new,n_new\n" + rows)


def test_analyze_options_fingerprint_and_the_report_shows_both_fits_and_the_outlier(tmp_path):
    from gaplens.shift import analyze
    from gaplens.studies import ShiftAnalyze
    from gaplens.studies.report import render_report

    csv = tmp_path / "published.csv"
    _testbed_csv(csv)
    run = tmp_path / "run"
    study = ShiftAnalyze(csv, scale="linear", n_boot=300, seed=4, alpha=0.1, percent=True)
    first = run_study(study, run, progress=False, report=False)
    reference = analyze(csv, scale="linear", n_boot=300, seed=4, alpha=0.1, percent=True)
    fits = {r["scale"]: r for r in first.records if r.get("kind") == "fit"}
    assert set(fits) == {"linear", "probit"} and fits["linear"]["primary"] and not fits["probit"]["primary"]
    for scale, row in fits.items():
        assert row["slope"] == pytest.approx(reference.fits[scale].slope)
        assert (row["slope_ci_low"], row["slope_ci_high"]) == pytest.approx(reference.fits[scale].slope_ci)
        assert row["level"] == pytest.approx(0.9)
    models = {r["model"]: r for r in first.records if r.get("kind") == "model"}
    assert [m for m, r in models.items() if r["outlier"]] == ["m4"]
    assert models["m4"]["studentized_residual"] == pytest.approx(reference.fit.studentized[4])

    # unchanged options: skipped; each analysis option is part of the fingerprint
    assert run_study(ShiftAnalyze(csv, scale="linear", n_boot=300, seed=4, alpha=0.1, percent=True), run,
                     progress=False, report=False).skipped == ["csv/published"]
    for change in ({"n_boot": 301}, {"seed": 5}, {"alpha": 0.05}, {"outlier_threshold": 4.0}):
        options = {"scale": "linear", "n_boot": 300, "seed": 4, "alpha": 0.1, "percent": True, **change}
        assert run_study(ShiftAnalyze(csv, **options), run, progress=False, report=False).ran == ["csv/published"]

    page = render_report(run, strict=True).read_text()
    assert "Linear and probit fits side by side" in page and "outlier model(s) off the linear fit: m4" in page
    with pytest.raises(InputError, match="alpha"):
        ShiftAnalyze(csv, alpha=1.5)
    with pytest.raises(InputError, match="n_boot"):
        ShiftAnalyze(csv, n_boot=-1)


def test_evaluate_passes_the_analysis_options(sets, tmp_path):
    original, new = sets
    nets = _nets(4)
    refs = [ModelRef(name, model=model, device="cpu") for name, model in nets.items()]
    result = run_study(ShiftEvaluate(refs, original, new, batch_size=8, n_boot=50, seed=2, alpha=0.2), tmp_path,
                       progress=False, report=False)
    summary = next(r for r in result.records if r.get("kind") == "summary")
    assert summary["level"] == pytest.approx(0.8)
    again = run_study(ShiftEvaluate(refs, original, new, batch_size=8, n_boot=50, seed=3, alpha=0.2), tmp_path,
                      progress=False, report=False)
    assert again.ran == ["shift/analysis"]  # only the analysis depends on the bootstrap seed
