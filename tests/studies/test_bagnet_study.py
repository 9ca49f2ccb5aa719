"""The BagNet study: records against the saved models, resume by fingerprint, the report section."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.core.model import load_model
from gaplens.data.synthetic import generate
from gaplens.interpretable import BagNet
from gaplens.studies import run_study
from gaplens.studies.bagnet import BagNetStudy
from gaplens.studies.report import render_report


def _tiny(**overrides) -> BagNetStudy:
    settings = dict(patch_sizes=(5, 9), worlds=("shape",), classes=2, size=16, n_train=24, n_test=12, n_conflict=12,
                    width=2, cnn_widths=(4, 4), fit={"epochs": 1, "lr": 3e-3, "batch_size": 12, "seed": 0})
    settings.update(overrides)
    return BagNetStudy(**settings)


def test_records_match_the_models_rerun_skips_and_the_section_renders(tmp_path):
    run = tmp_path / "run"
    result = run_study(_tiny(), run, progress=False, device="cpu")
    models = ["bagnet-5", "bagnet-9", "cnn"]
    assert result.ran == [f"shape/{m}" for m in (*models, "figures")]
    # oracle: each recorded accuracy, recomputed from the saved checkpoint on a regenerated test set
    test = generate(12, classes=2, size=16, texture_agreement=0.5, seed=1)
    rows = {(r["world"], r["model"]): r for r in result.records if r.get("accuracy") is not None}
    for model in models:
        net = load_model(run / "models" / f"bagnet-shape-{model}", device="cpu")
        assert isinstance(net.network, BagNet) == model.startswith("bagnet")
        with torch.no_grad():
            accuracy = float((net(test.images).argmax(1) == test.labels).float().mean())
        assert rows["shape", model]["accuracy"] == pytest.approx(accuracy)
        bias = rows["shape", model]
        assert bias["shape_decisions"] + bias["texture_decisions"] <= 12
    # the logit correlation, recomputed from the saved logits with an independent formula
    logits = {m: np.load(next((run / "maps").glob(f"bagnet_shape_{m}*_logits.npy"))) for m in ("cnn", "bagnet-9")}
    a, b = (x - x.mean(1, keepdims=True) for x in (logits["cnn"], logits["bagnet-9"]))
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    expected = float(a @ b / np.sqrt((a @ a) * (b @ b)))
    corr = next(r for r in result.records if r.get("logit_correlation") is not None and r["world"] == "shape"
                and r["model"] == "bagnet-9")
    assert corr["logit_correlation"] == pytest.approx(expected)

    again = run_study(_tiny(), run, progress=False, device="cpu")
    assert not again.ran and len(again.skipped) == 4
    smaller = run_study(_tiny(patch_sizes=(5,)), run, progress=False, device="cpu")
    assert smaller.ran == ["shape/figures"]  # the summaries read fewer models; the rest is reused
    assert smaller.pruned == ["shape/bagnet-9"]
    page = render_report(run, strict=True).read_text()
    assert "Bag-of-local-features" in page and "shape-world accuracy" in page and "Shape bias" in page


def test_bad_parameters_name_them():
    with pytest.raises(InputError, match="patch_sizes"):
        BagNetStudy(patch_sizes=(11,))
    with pytest.raises(InputError, match="size=16"):
        BagNetStudy(patch_sizes=(33,), size=16)
    with pytest.raises(InputError, match="worlds"):
        BagNetStudy(worlds=("photo",))


def test_evidence_study_and_cli_write_the_maps_of_the_predicted_class(tmp_path):
    from typer.testing import CliRunner

    from gaplens.cli import app
    from gaplens.core.model import Classifier, save_checkpoint
    from gaplens.interpretable import evidence
    from gaplens.zoo import build

    torch.manual_seed(0)
    model = Classifier(build("bagnet", 3, patch_size=9, width=4), class_names=["circle", "square", "triangle"]).eval()
    save_checkpoint(model, tmp_path / "m")
    spec = "synthetic:n=3,size=20,classes=3,seed=5"
    result = CliRunner().invoke(app, ["bagnet", "evidence", "--model", str(tmp_path / "m"), "--images", spec,
                                      "--border", "valid", "--device", "cpu", "--json", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    images = generate(3, classes=3, size=20, seed=5).images
    predicted = model(images).argmax(1)
    expected = evidence(model, images, target=predicted, border="valid")
    maps = np.load(next((tmp_path / "r" / "maps").glob("*_maps.npy")))
    np.testing.assert_allclose(maps, expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps.sum((1, 2)) / 12 ** 2, model(images).max(1).values.detach().numpy(), rtol=1e-5)
    assert "BagNet class evidence" in render_report(tmp_path / "r", strict=True).read_text()
    bad = CliRunner().invoke(app, ["bagnet", "evidence", "--model", str(tmp_path / "m"), "--images", spec,
                                   "--border", "reflect", "--out", str(tmp_path / "r2")])
    assert bad.exit_code == 2 and "border" in bad.output


def test_the_section_reports_what_the_records_show():
    import pandas as pd

    def rows(world, accuracies, cnn):
        out = [{"world": world, "model": f"bagnet-{p}", "patch_size": p, "accuracy": a, "shape_bias": 0.5,
                "classes": 4, "n_test": 256} for p, a in accuracies.items()]
        return out + [{"world": world, "model": "cnn", "patch_size": None, "accuracy": cnn, "shape_bias": 0.6,
                       "classes": 4, "n_test": 256}]

    rising = pd.DataFrame(rows("texture", {9: 0.99, 17: 1.0, 33: 0.97}, 0.98)
                          + rows("shape", {9: 0.4, 17: 0.7, 33: 0.8}, 0.6))
    section = BagNetStudy.section(rising, [])
    (finding,) = section.findings  # one finding per study
    assert finding.measure == "shape-world accuracy, bagnet-33 minus bagnet-9"
    assert finding.value == pytest.approx(0.4)
    assert "most accurate on shape-world: bagnet-33 (0.8)" in finding.detail
    assert "texture-world: every BagNet >= 0.97, spread over patch sizes 0.03" in finding.detail
    # two standard errors of 0.8 - 0.4 on 256 images each: 2 * sqrt((0.4 * 0.6 + 0.8 * 0.2) / 256) = 0.079
    assert ("Shape-world: bagnet-9 0.40, bagnet-17 0.70, bagnet-33 0.80, cnn 0.60. From the smallest to the largest "
            "patch, BagNet accuracy changes by +0.40 (two standard errors: 0.08; beyond noise); it rises with every "
            "step in patch size. Most accurate: bagnet-33.") in section.intro
    # 0.97 - 0.99: 2 * sqrt((0.99 * 0.01 + 0.97 * 0.03) / 256) = 0.025; next to 1.00, bagnet-9's 0.99 is within
    # 2 * sqrt(0.99 * 0.01 / 256) = 0.012 of it, the cnn's 0.98 is not (0.018)
    assert ("Texture-world: bagnet-9 0.99, bagnet-17 1.00, bagnet-33 0.97, cnn 0.98. From the smallest to the "
            "largest patch, BagNet accuracy changes by -0.02 (two standard errors: 0.02; within noise); it does not "
            "rise with every step in patch size. Most accurate: bagnet-17 (bagnet-9 within noise of it).") \
        in section.intro
    assert "Chance is 0.25; 256 test images per world." in section.intro
    flat = pd.DataFrame(rows("shape", {9: 0.5, 17: 0.45}, 0.9))
    section = BagNetStudy.section(flat, [])
    (finding,) = section.findings
    assert finding.measure == "shape-world accuracy, bagnet-17 minus bagnet-9"
    assert finding.value == pytest.approx(-0.05)
    assert "most accurate on shape-world: cnn (0.9)" in finding.detail
    assert "does not rise" in section.intro and "Texture-world:" not in section.intro
