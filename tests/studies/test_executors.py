"""The Ray executor gives the local executor's records and figures; a killed worker is retried.

One local Ray instance (2 CPUs, no dashboard) serves the whole module. The local executor is the
oracle: it is the runner's in-process loop that every other study test checks.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gaplens.core.errors import InputError, StoreError
from gaplens.core.model import Classifier, save_checkpoint
from gaplens.store import RunStore
from gaplens.studies import Sanity, Study, Sweep, Unit, UnitOutput, run_study
from gaplens.studies.executors import LocalExecutor, make_executor
from gaplens.studies.models import ModelRef
from gaplens.zoo import build

#: record fields that measure time, not results
TIMING = {"seconds", "time", "elapsed"}
DATA = "synthetic:n=6,size=16,classes=4,seed=3"


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'gaplens[ray]')")
    # the test-only studies below live in a module the workers cannot import: send them by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    yield ray
    ray.shutdown()


def _classifier(seed: int) -> Classifier:
    torch.manual_seed(seed)
    net = build("resnet", num_classes=4, widths=(4, 8), blocks=(1, 1))
    names = ["circle", "square", "triangle", "star"]
    return Classifier(net, class_names=names, input_size=(16, 16)).eval()


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("models")
    return [str(save_checkpoint(_classifier(i), root / f"net{i}")) for i in range(2)]


def _records(run: Path, study: str) -> list[dict]:
    with RunStore(run) as store:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in store.records(study)]


def _pixels(run: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p).convert("RGB"), dtype=np.int16)
            for p in sorted((run / "figures").glob("*.png"))}


def _assert_same_run(local: Path, remote: Path, study: str) -> None:
    expected, got = _records(local, study), _records(remote, study)
    assert len(got) == len(expected) > 0
    for e, g in zip(expected, got, strict=True):  # same order too: the store commits in plan order
        assert g.keys() == e.keys()
        for key, value in e.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-5, abs=1e-6, nan_ok=True), (e["unit"], key)
            else:
                assert g[key] == value, (e["unit"], key)
    figures_local, figures_remote = _pixels(local), _pixels(remote)
    assert figures_remote.keys() == figures_local.keys() and figures_local
    for name, pixels in figures_local.items():
        assert figures_remote[name].shape == pixels.shape, name
        assert np.abs(figures_remote[name] - pixels).max() <= 2, name


def test_a_sweep_and_a_sanity_study_on_ray_equal_the_local_run(ray_instance, specs, tmp_path):
    # two models from checkpoints (loaded on the workers) and one in memory (its weights travel)
    models = {"net0": specs[0], "mem": ModelRef("mem", model=_classifier(7), device="cpu")}
    sweep = dict(distortions="contrast,uniform_noise", batch_size=16, seed=2)
    sanity = dict(modes=["cascading"], methods=["gradient", "smoothgrad"], limit=2,
                  method_options={"smoothgrad": {"n_samples": 4}})
    for name, executor in (("local", "local"), ("ray", make_executor("ray"))):
        run = tmp_path / name
        ran = run_study(Sweep(models, DATA, **sweep), run, progress=False, report=False, executor=executor).ran
        assert len(ran) == 2 * 2 + 1  # 2 models x 2 distortions + the figure unit
        run_study(Sanity(specs[1], DATA, **sanity), run, progress=False, report=False, executor=executor)
        with RunStore(run) as store:
            assert [r["status"] for r in store.runs()] == ["ok", "ok"]
    _assert_same_run(tmp_path / "local", tmp_path / "ray", "robustness")
    _assert_same_run(tmp_path / "local", tmp_path / "ray", "sanity")
    # the Ray run's fingerprints are the local run's: re-running locally skips everything
    again = run_study(Sweep(models, DATA, **sweep), tmp_path / "ray", progress=False, report=False)
    assert again.ran == [] and len(again.skipped) == 5


@dataclass
class Suicidal(Study):
    """Unit k records k squared and the pid that computed it; the unit ``victim`` kills its own
    worker process on its first attempt (a marker file remembers that it did)."""

    name = "suicidal"
    title = "Suicidal"

    marker: str = ""
    victim: int = 2
    n: int = 6

    def units(self, ctx) -> list[Unit]:
        return [Unit(f"k{k}", {"k": k}, scope="toy", payload=k) for k in range(self.n)]

    def run_unit(self, unit: Unit, ctx) -> UnitOutput:
        marker = Path(self.marker)
        if unit.payload == self.victim and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return UnitOutput(records=[{"k": unit.payload, "square": unit.payload ** 2, "pid": os.getpid()}])

    @staticmethod
    def section(df, artifacts):  # pragma: no cover - never rendered (report=False)
        raise NotImplementedError


def test_a_worker_killed_mid_unit_is_retried_and_records_stay_complete_and_unique(ray_instance, tmp_path):
    marker = tmp_path / "killed-once"
    executor = make_executor("ray")
    result = run_study(Suicidal(str(marker)), tmp_path / "run", progress=False, report=False, executor=executor)
    assert marker.exists(), "the victim unit never ran"
    killed = int(marker.read_text())
    assert killed in executor.worker_pids
    with RunStore(tmp_path / "run") as store:
        rows = store.records("suicidal")
        assert store.units("suicidal") == [f"k{k}" for k in range(6)]  # each once, in plan order
        assert store.runs()[0]["status"] == "ok"
    assert sorted(r["k"] for r in rows) == list(range(6))
    assert all(r["square"] == r["k"] ** 2 for r in rows)
    assert next(r["pid"] for r in rows if r["k"] == 2) != killed  # computed again by a new process
    assert result.ran == [f"k{k}" for k in range(6)]


@dataclass
class Failing(Suicidal):
    """Unit ``victim`` raises (a bug, a bad input) as long as ``marker`` exists."""

    def run_unit(self, unit: Unit, ctx) -> UnitOutput:
        if unit.payload == self.victim and Path(self.marker).exists():
            raise ValueError(f"unit {unit.key} failed")
        return UnitOutput(records=[{"k": unit.payload, "square": unit.payload ** 2, "pid": os.getpid()}])


def test_a_failed_ray_run_keeps_the_units_before_the_failure_and_resumes_with_the_rest(ray_instance, tmp_path):
    marker = tmp_path / "fail"
    marker.touch()
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="unit k3 failed"):  # the worker's exception, re-raised as itself
        run_study(Failing(str(marker), victim=3), run, progress=False, report=False, executor="ray")
    with RunStore(run) as store:
        # committed in plan order: the units after k3 that workers had finished were not committed
        assert store.units("suicidal") == ["k0", "k1", "k2"] and store.runs()[0]["status"] == "failed"
    marker.unlink()
    resumed = run_study(Failing(str(marker), victim=3), run, progress=False, report=False, executor="ray")
    assert resumed.skipped == ["k0", "k1", "k2"] and resumed.ran == ["k3", "k4", "k5"]
    assert sorted(r["k"] for r in resumed.records) == list(range(6))


@dataclass
class ReadsTheStore(Study):
    """A unit that reads the store without declaring ``depends``: fine locally, refused on a worker."""

    name = "reads"
    title = "Reads"

    def units(self, ctx) -> list[Unit]:
        return [Unit("only", {})]

    def run_unit(self, unit: Unit, ctx) -> UnitOutput:
        return UnitOutput(records=[{"n_before": len(ctx.store.records(self.name))}])

    @staticmethod
    def section(df, artifacts):  # pragma: no cover - never rendered (report=False)
        raise NotImplementedError


def test_a_worker_unit_that_reads_the_store_gets_an_error_that_says_to_declare_depends(ray_instance, tmp_path):
    assert run_study(ReadsTheStore(), tmp_path / "local", progress=False, report=False).records[0]["n_before"] == 0
    with pytest.raises(StoreError, match=r"reads/only ran on a Ray worker.*Unit\.depends"):
        run_study(ReadsTheStore(), tmp_path / "ray", progress=False, report=False, executor="ray")
    with RunStore(tmp_path / "ray") as store:
        assert store.runs()[0]["status"] == "failed" and store.records("reads") == []


def test_without_ray_the_ray_executor_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(InputError, match=r"needs the ray package.*pip install 'gaplens\[ray\]'"):
        make_executor("ray")
    from gaplens.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["robustness", "sweep", "--models", "no-such-model", "--data", DATA,
                                      "--out", str(out), "--executor", "ray"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: executor='ray' needs the ray package, which is not installed: pip install 'gaplens[ray]'"]
    assert not out.exists()  # refused before the run folder was made


def test_executor_names_and_options_are_checked():
    assert isinstance(make_executor("local"), LocalExecutor)
    with pytest.raises(InputError, match=r"executor='dask': expected one of \['local', 'ray'\]"):
        make_executor("dask")
    with pytest.raises(InputError, match=r"address='auto'.*only apply to executor='ray'"):
        make_executor("local", address="auto")


def test_asking_for_more_gpus_than_the_cluster_has_is_an_error_before_any_work(ray_instance, tmp_path):
    marker = tmp_path / "never"
    with pytest.raises(InputError, match=r"gpus_per_task=1.0: the Ray cluster has 0 GPU\(s\)"):
        run_study(Suicidal(str(marker)), tmp_path / "run", progress=False, report=False,
                  executor=make_executor("ray", gpus_per_task=1))
    assert not marker.exists()
    with RunStore(tmp_path / "run") as store:
        assert store.units("suicidal") == []
