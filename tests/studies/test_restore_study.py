"""The Deep Image Prior study: records against scikit-image, resume by fingerprint, the section, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import gaplens.studies.restore  # noqa: F401  (registers the "restore" section)
from gaplens.core.errors import InputError
from gaplens.studies import run_study
from gaplens.studies.report import render_report
from gaplens.studies.restore import Restore

TINY = {"input_depth": 8, "down": [16, 16, 16], "up": [16, 16, 16], "skip": [4, 4, 4], "ema": 0.9}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _study(**overrides) -> Restore:
    settings = dict(image="sample:astronaut", tasks=("denoise",), crop=32, steps=25, settings=TINY, prior_steps=20,
                    prior_settings=TINY)
    settings.update(overrides)
    return Restore(**settings)


def _maps(run, name):
    (path,) = sorted((run / "maps").glob(f"*{name}.npy"))
    return np.load(path, allow_pickle=False)


def test_records_match_scikit_image_and_a_rerun_skips(tmp_path):
    run = tmp_path / "run"
    result = run_study(_study(), run, progress=False)
    assert result.ran == ["denoise/astronaut", "prior/astronaut"]
    rows = {r["method"]: r for r in result.records if r["kind"] == "method"}
    summary = next(r for r in result.records if r["kind"] == "summary")
    clean = _maps(run, "denoise_astronaut_clean").transpose(1, 2, 0).astype(np.float64)
    noisy = _maps(run, "denoise_astronaut_observed").transpose(1, 2, 0).astype(np.float64)
    restored = _maps(run, "denoise_astronaut_restored").transpose(1, 2, 0).astype(np.float64)
    assert summary["input_psnr"] == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=1), abs=1e-4)
    (chosen,) = [r for m, r in rows.items() if m.startswith("DIP, stopping rule")]
    assert chosen["psnr"] == pytest.approx(peak_signal_noise_ratio(clean, restored, data_range=1), abs=1e-4)
    assert chosen["ssim"] == pytest.approx(structural_similarity(clean, restored, data_range=1, channel_axis=-1),
                                           abs=1e-4)
    history = _maps(run, "denoise_astronaut_history")
    assert history.shape == (25, 6) and summary["best_step"] == int(np.nanargmax(history[:, 4])) + 1
    assert rows["DIP, best step (oracle)"]["psnr"] == pytest.approx(np.nanmax(history[:, 4]))
    assert {"scikit-image tv_chambolle", "scikit-image nl_means"} <= set(rows)
    assert summary["baseline_psnr"] == max(r["psnr"] for m, r in rows.items() if m.startswith("scikit-image"))
    # the prior experiment: steps to the level, read again from the saved curves
    curves = _maps(run, "prior_astronaut_curves")
    prior = {r["target"]: r for r in result.records if r["kind"] == "prior"}
    assert list(prior) == ["natural", "natural + noise", "shuffled pixels", "white noise"]
    for k, name in enumerate(prior):
        below = np.nonzero(curves[k] <= 0.01)[0]
        assert prior[name]["steps_to_level"] == (int(below[0]) + 1 if len(below) else None)
    again = run_study(_study(), run, progress=False)
    assert again.skipped == ["denoise/astronaut", "prior/astronaut"] and not again.ran
    changed = run_study(_study(steps=20), run, progress=False)
    assert changed.ran == ["denoise/astronaut"] and changed.skipped == ["prior/astronaut"]
    page = render_report(run, strict=True).read_text()
    assert "Deep Image Prior" in page and "stopping rule" in page and "white noise" in page
    assert "minus the best scikit-image baseline" in page


def test_other_tasks_and_an_already_corrupted_image(tmp_path):
    from gaplens.core.image_io import write_png
    from gaplens.data import sample_image
    from gaplens.restore import add_noise

    result = run_study(_study(tasks=("inpaint", "super_resolution", "jpeg"), prior=False, steps=3), tmp_path / "a",
                       progress=False)
    assert result.ran == ["inpaint/astronaut", "super_resolution/astronaut", "jpeg/astronaut"]
    methods = {(r["task"], r["method"]) for r in result.records if r["kind"] == "method"}
    assert ("inpaint", "scikit-image biharmonic") in methods and ("super_resolution", "scikit-image bicubic") in methods
    assert _maps(tmp_path / "a", "super_resolution_astronaut_observed").shape == (3, 8, 8)
    photo = tmp_path / "noisy.png"
    write_png(photo, add_noise(sample_image("astronaut", size=32), 25))
    given = run_study(_study(image=str(photo), observed=True, steps=3), tmp_path / "b", progress=False)
    summary = next(r for r in given.records if r["kind"] == "summary")
    assert given.ran == ["denoise/noisy"] and "best_psnr" not in summary
    assert not [r for r in given.records if r["kind"] in ("method", "prior")]
    render_report(tmp_path / "b", strict=True)


def test_bad_parameters_are_clear_errors():
    with pytest.raises(InputError, match="tasks=\\['blur'\\]"):
        Restore(tasks=("blur",))
    with pytest.raises(InputError, match="mask='nowhere.png': not a file"):
        Restore(tasks=("inpaint",), mask="nowhere.png")
    with pytest.raises(InputError, match="unknown field"):
        Restore(settings={"depth": 3})
    with pytest.raises(InputError, match="stop='early'"):
        Restore(stop="early")


def test_cli_denoise(tmp_path):
    from typer.testing import CliRunner

    from gaplens.cli.restore import app

    run = tmp_path / "cli"
    args = ["denoise", "--image", "sample:astronaut", "--resize", "32", "--crop", "0", "--steps", "5", "--width", "8",
            "--scales", "3", "--prior-steps", "5", "--out", str(run), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["task"] == "denoise" and row["steps_run"] == 5 and (run / "report.html").is_file()
    assert "prior_steps_natural" in row
    # --resize 32 --crop 0: the whole photograph, shrunk
    from gaplens.core.image_io import resize_image
    from gaplens.data import sample_image

    np.testing.assert_allclose(_maps(run, "denoise_astronaut_clean"),
                               resize_image(sample_image("astronaut"), (32, 32)).numpy(), atol=1e-6)
    bad = CliRunner().invoke(app, ["inpaint", "--image", "sample:astronaut", "--mask", "nowhere.png", "--out",
                                   str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "not a file" in bad.output
