"""The GAN theory study: D* against SciPy's densities, resume by fingerprint, the report section."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import one_thread  # noqa: F401  (autouse: one torch thread per test)
from scipy import stats

import gaplens.studies.gan  # noqa: F401  (registers the "gan" section)
from gaplens.core.errors import InputError
from gaplens.studies import run_study
from gaplens.studies.gan import DSTAR_TOLERANCE, GanTheory
from gaplens.studies.report import render_report

SMALL = dict(d_steps=200, game_steps=40, ring_steps=40, batch_size=128, snapshots=2)




def test_records_against_scipy_rerun_skips_and_a_change_reruns_one_unit(tmp_path):
    result = run_study(GanTheory.quick(**SMALL), tmp_path, progress=False)
    assert result.ran == ["optimal-discriminator", "game/minimax", "game/nonsaturating", "early-steps", "ring"]
    optimal = next(r for r in result.records if r["kind"] == "optimal")
    x, fitted, closed, _, _ = np.load(next((tmp_path / "maps").glob("*dstar*.npy")))
    p_data = 0.3 * stats.norm.pdf(x, -1.0, 0.3) + 0.7 * stats.norm.pdf(x, 1.5, 0.5)
    p_g = stats.norm.pdf(x, 0.0, 1.2)
    np.testing.assert_allclose(closed, p_data / (p_data + p_g), rtol=1e-9)
    support = (p_data + p_g) / 2 > 0.01
    assert optimal["mae"] == pytest.approx(np.abs(fitted - p_data / (p_data + p_g))[support].mean(), rel=1e-9)
    assert optimal["mae"] < DSTAR_TOLERANCE
    assert optimal["value_equal"] == pytest.approx(-math.log(4), abs=0.01)
    early = next(r for r in result.records if r["kind"] == "early")
    assert early["ratio"] < 0.5 and early["d_fake"] < 0.2  # a confident D: the minimax gradient is the smaller
    steps = {r["step"] for r in result.records if r["kind"] == "ring"}
    assert steps == {20, 40}
    again = run_study(GanTheory.quick(**SMALL), tmp_path, progress=False)
    assert not again.ran and len(again.skipped) == 5
    changed = run_study(GanTheory.quick(**{**SMALL, "ring_steps": 60}), tmp_path, progress=False)
    assert changed.ran == ["ring"]
    page = render_report(tmp_path, strict=True).read_text()
    assert "GANs: the optimal discriminator and the game" in page and "closed-form D*" in page
    assert "-log 4" in page and "Mode coverage on the ring" in page


def test_bad_parameters_name_themselves():
    with pytest.raises(InputError, match="game_steps=0"):
        GanTheory(game_steps=0)


@pytest.mark.slow  # three judge ResNets, a DCGAN, a two-sample test and three pix2pix models: ~20-40 s on 2 cores
def test_image_study_records_match_a_recomputation_and_the_section_renders(tmp_path):
    from gaplens.gan import Pix2Pix
    from gaplens.gan.pairs import silhouette_pairs
    from gaplens.studies.gan import GanImages

    study = GanImages(size=32, n_train=16, n_test=16, dcgan_steps=2, width=4, pix2pix_epochs=1, pix2pix_width=4,
                      judge_epochs=1)
    result = run_study(study, tmp_path, progress=False, device="cpu")
    assert result.ran[-1] == "pix2pix/figure" and len(result.ran) == 7
    rows = {r.get("variant"): r for r in result.records if r["kind"] == "pix2pix"}
    assert set(rows) == {"L1", "cGAN", "L1+cGAN"}
    test = silhouette_pairs(16, classes=4, size=32, seed=3)
    model = Pix2Pix.load(tmp_path / "models" / "gan-pix2pix-L1")
    torch.manual_seed(0)
    fake = model.translate(test.a).numpy()
    assert rows["L1"]["l1"] == pytest.approx(float(np.abs(fake - test.b.numpy()).mean()), rel=1e-5)
    dcgan = next(r for r in result.records if r["kind"] == "dcgan")
    assert 0.0 <= dcgan["c2st_accuracy"] <= 1.0 and dcgan["c2st_n_test"] == 16
    page = render_report(tmp_path, strict=True).read_text()
    assert "GANs on images" in page and "two-sample test accuracy" in page and "pix2pix ablation" in page
