"""The study runner: honest resume by fingerprint, pruning, run status, unique model labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.core.model import save_checkpoint
from gaplens.store import RunStore, records
from gaplens.studies import Explain, Runner, Study, Unit, UnitOutput, run_study, unique_labels
from gaplens.studies.models import model_refs


@dataclass
class Squares(Study):
    """A toy study with a closed form: unit k records k**power (times scale); it counts its calls."""

    name = "squares"
    title = "Squares"

    ks: tuple = (1, 2, 3)
    power: int = 2
    scale: float = 1.0
    scope: str = "toy"
    fail_at: int | None = None
    calls: list = field(default_factory=list)

    def units(self, ctx):
        units = [Unit(f"k={k}", {"k": k, "power": self.power, "scale": self.scale}, scope=self.scope, payload=k)
                 for k in self.ks]
        keys = tuple(u.key for u in units)
        return units + [Unit("total", {}, scope=self.scope, depends=keys, payload=keys)]

    def run_unit(self, unit, ctx):
        self.calls.append(unit.key)
        if unit.key == "total":
            rows = [r for r in ctx.store.records(self.name) if r["unit"] in unit.payload]
            return UnitOutput(records=[{"total": sum(r["value"] for r in rows)}])
        if unit.payload == self.fail_at:
            raise RuntimeError("killed")
        return UnitOutput(records=[{"k": unit.payload, "value": self.scale * unit.payload ** self.power}],
                          arrays=[("value", torch.full((2,), float(unit.payload)).numpy(), "value")])


def _values(run) -> dict:
    df = records(run)
    df = df[df["study"] == "squares"]
    return {r["unit"]: (r["value"] if r["unit"] != "total" else r["total"]) for _, r in df.iterrows()}


def test_same_fingerprint_skips_changed_recomputes_exactly_the_changed_units(tmp_path):
    first = Squares()
    run_study(first, tmp_path, progress=False, report=False)
    assert first.calls == ["k=1", "k=2", "k=3", "total"]
    assert _values(tmp_path) == {"k=1": 1, "k=2": 4, "k=3": 9, "total": 14}

    again = Squares()
    result = run_study(again, tmp_path, progress=False, report=False)
    assert again.calls == [] and result.skipped == ["k=1", "k=2", "k=3", "total"]

    grown = Squares(ks=(1, 2, 3, 4))  # one new unit; the total depends on it
    run_study(grown, tmp_path, progress=False, report=False)
    assert grown.calls == ["k=4", "total"]
    assert _values(tmp_path)["total"] == 30

    cubed = Squares(ks=(1, 2), power=3)  # every input changed; k=3 and k=4 are no longer planned
    result = run_study(cubed, tmp_path, progress=False, report=False)
    assert cubed.calls == ["k=1", "k=2", "total"]
    assert sorted(result.pruned) == ["k=3", "k=4"]
    assert _values(tmp_path) == {"k=1": 1, "k=2": 8, "total": 9}  # no old record is mixed in

    fresh = Squares(ks=(1, 2), power=3)
    run_study(fresh, tmp_path, fresh=True, progress=False, report=False)
    assert fresh.calls == ["k=1", "k=2", "total"]
    assert len(records(tmp_path)) == 3


def test_other_scopes_are_left_alone(tmp_path):
    run_study(Squares(scope="a"), tmp_path, progress=False, report=False)
    run_study(Squares(ks=(5,), scope="b"), tmp_path, progress=False, report=False)
    with RunStore(tmp_path) as store:
        assert store.units("squares", "a") == ["k=1", "k=2", "k=3"]
        assert sorted(store.units("squares", "b")) == ["k=5", "total"]  # the total moved to scope b


def test_a_killed_run_is_failed_and_resumes_to_the_uninterrupted_records(tmp_path):
    with pytest.raises(RuntimeError, match="killed"):
        run_study(Squares(fail_at=3), tmp_path / "killed", progress=False, report=False)
    with RunStore(tmp_path / "killed") as store:
        assert [r["status"] for r in store.runs()] == ["failed"]
        assert store.runs()[0]["finished"] is not None
        assert store.units("squares") == ["k=1", "k=2"]
    resumed = Squares()
    run_study(resumed, tmp_path / "killed", progress=False, report=False)
    assert resumed.calls == ["k=3", "total"]
    run_study(Squares(), tmp_path / "clean", progress=False, report=False)
    assert _values(tmp_path / "killed") == _values(tmp_path / "clean")
    with RunStore(tmp_path / "killed") as store:
        assert [r["status"] for r in store.runs()] == ["failed", "ok"]


def test_interrupt_marks_the_run_failed_and_still_renders_a_report(tmp_path):
    class Interrupted(Squares):
        def run_unit(self, unit, ctx):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(Interrupted(), tmp_path, progress=False)
    with RunStore(tmp_path) as store:
        assert store.runs()[0]["status"] == "failed"
    assert (tmp_path / "report.html").is_file()


def test_arrays_are_saved_without_pickle_and_read_back(tmp_path):
    with Runner(tmp_path, report=False, progress=False) as runner:
        runner.run(Squares(ks=(2,)))
        array = runner.context.load_array("squares", "k=2", "value")
    assert array.tolist() == [2.0, 2.0]


def test_unique_labels_disambiguate_by_parent_folders(tmp_path):
    for run in ("r1", "r2"):
        (tmp_path / run / "models" / "resnet").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    specs = [str(tmp_path / "r1" / "models" / "resnet"), str(tmp_path / "r2" / "models" / "resnet"),
             str(tmp_path / "other"), "torchvision:resnet18"]
    assert unique_labels(specs) == ["r1/resnet", "r2/resnet", "other", "torchvision:resnet18"]
    with pytest.raises(InputError, match="same model"):
        unique_labels([specs[0], specs[0] + "/"])


def test_two_models_with_one_folder_name_are_both_in_the_results(tmp_path, tiny_vgg, tiny_resnet):
    specs = []
    for run, model in (("r1", tiny_vgg), ("r2", tiny_resnet)):
        save_checkpoint(model, tmp_path / run / "models" / "m")
        specs.append(str(tmp_path / run / "models" / "m"))
    from gaplens.studies import Evaluate

    result = run_study(Evaluate(model_refs(specs, device="cpu"), ["synthetic:n=8,classes=4,size=32,seed=1"]),
                       tmp_path / "out", progress=False)
    overall = [r for r in result.records if r.get("class") == "all"]
    assert sorted(r["model"] for r in overall) == ["r1/m", "r2/m"]


def test_explain_resume_recomputes_exactly_what_changed(tmp_path, tiny_vgg):
    def run(images, methods, options=None):
        study = Explain([tiny_vgg], images, methods, options=options or {})
        return run_study(study, tmp_path, progress=False, report=False)

    seed5 = "synthetic:n=2,classes=4,size=32,seed=5"
    first = run(seed5, ["gradient", "smoothgrad"], {"smoothgrad": {"n_samples": 2}})
    assert first.ran == ["model1/gradient", "model1/smoothgrad", "model1/figure"]
    assert run(seed5, ["gradient", "smoothgrad"], {"smoothgrad": {"n_samples": 2}}).ran == []
    changed_option = run(seed5, ["gradient", "smoothgrad"], {"smoothgrad": {"n_samples": 3}})
    assert changed_option.ran == ["model1/smoothgrad", "model1/figure"]
    added = run(seed5, ["gradient", "smoothgrad", "input_x_gradient"], {"smoothgrad": {"n_samples": 3}})
    assert added.ran == ["model1/input_x_gradient", "model1/figure"]
    seed6 = run("synthetic:n=2,classes=4,size=32,seed=6", ["gradient"])
    assert seed6.ran == ["model1/gradient", "model1/figure"]
    assert sorted(seed6.pruned) == ["model1/input_x_gradient", "model1/smoothgrad"]
    df = records(tmp_path)
    assert set(df["method"].dropna()) == {"gradient"}
    # the maps on disk are those of the seed-6 images
    from gaplens.data.spec import load_image_batch
    from gaplens.explain import attribute

    batch = load_image_batch("synthetic:n=2,classes=4,size=32,seed=6", size=(32, 32), limit=8)
    expected = attribute(tiny_vgg, batch.images, target=tiny_vgg(batch.images).argmax(1), method="gradient")
    with Runner(tmp_path, report=False, progress=False) as runner:
        saved = runner.context.load_array("explain", "model1/gradient", "maps")
    torch.testing.assert_close(torch.from_numpy(saved), expected)


def test_training_the_same_settings_twice_gives_bit_identical_weights(tmp_path):
    from gaplens.studies import Train

    for run in ("a", "b"):
        run_study(Train("m", "synthetic:n=32,classes=2,size=16,seed=1", arch="vgg",
                        arch_kwargs={"widths": [4], "convs_per_stage": [1]}, fit={"epochs": 1, "seed": 3}),
                  tmp_path / run, device="cpu", progress=False, report=False)
    weights = [(tmp_path / run / "models" / "m" / "model.safetensors").read_bytes() for run in ("a", "b")]
    assert weights[0] == weights[1]
    run_study(Train("m", "synthetic:n=32,classes=2,size=16,seed=1", arch="vgg",
                    arch_kwargs={"widths": [4], "convs_per_stage": [1]}, fit={"epochs": 1, "seed": 4}),
              tmp_path / "c", device="cpu", progress=False, report=False)
    assert (tmp_path / "c" / "models" / "m" / "model.safetensors").read_bytes() != weights[0]


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "", ".hidden", "a b"])
def test_a_model_name_cannot_leave_the_run_folder(tmp_path, name):
    from gaplens.studies import Train

    with pytest.raises(InputError, match="model name"):
        Train(name, "synthetic:n=8")
    assert not any(tmp_path.iterdir())


def test_a_unit_whose_files_were_deleted_is_recomputed(tmp_path):
    run_study(Squares(ks=(2, 3)), tmp_path, progress=False, report=False)
    next((tmp_path / "maps").glob("*k_2*.npy")).unlink()
    again = Squares(ks=(2, 3))
    run_study(again, tmp_path, progress=False, report=False)
    assert again.calls == ["k=2"]
