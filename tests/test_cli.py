"""The CLI through Typer's runner: commands work end to end, user mistakes get exit 2 and one line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gaplens.cli import app
from gaplens.store import records

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_of_every_command_has_an_example():
    for command in (["demo"], ["data", "synth"], ["train"], ["evaluate"], ["layers"], ["report"], ["stylize"],
                    ["stylize", "train-decoder"], ["stylize", "convert-weights"]):
        result = invoke(*command, "--help")
        assert result.exit_code == 0, command
        assert "Example: gaplens" in result.output, command


def test_data_synth_writes_folder_and_manifest(tmp_path):
    out = tmp_path / "synth"
    result = invoke("data", "synth", "--out", str(out), "--n", "12", "--classes", "3", "--size", "24",
                    "--conflict", "--seed", "4", "--split", "test")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows) == 12
    assert all(r["shape_class"] != r["texture_class"] for r in rows)
    assert all((out / r["file"]).is_file() and (out / r["mask"]).is_file() for r in rows)
    from gaplens.data import ImageFolder

    folder = ImageFolder(out / "images")
    assert len(folder) == 12 and len(folder.class_names) <= 3


def test_train_evaluate_layers_report(tmp_path):
    run = tmp_path / "run"
    data = "synthetic:n=64,classes=2,size=16,seed=1"
    result = invoke("train", "--data", data, "--arch", "vgg", "--epochs", "1", "--out", str(run), "--device", "cpu")
    assert result.exit_code == 0, result.output
    model = run / "models" / "vgg"
    assert (model / "model.safetensors").is_file()

    result = invoke("evaluate", "--model", str(model), "--data", "synthetic:n=40,classes=2,size=16,seed=9",
                    "--out", str(run), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0]["n"] == 40 and 0 <= rows[0]["ci_low"] <= rows[0]["accuracy"] <= rows[0]["ci_high"] <= 1

    result = invoke("layers", str(model), "--json")
    assert result.exit_code == 0 and "features.0" in json.loads(result.output)

    result = invoke("report", str(run))
    assert result.exit_code == 0
    page = (run / "report.html").read_text()
    assert "Training" in page and "Evaluation" in page
    df = records(run)
    assert set(df["study"]) == {"train", "evaluate"}


def test_user_mistakes_exit_2_with_one_line(tmp_path):
    result = runner.invoke(app, ["layers", str(tmp_path / "missing.pt")])
    assert result.exit_code == 2
    assert result.output.startswith("error:") and "missing.pt" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", "--data", "synthetic:n=8,bogus=1", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "bogus" in result.output
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "r")])  # missing --data: usage error
    assert result.exit_code == 2
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "run.db" in result.output


def test_failures_exit_1(tmp_path):
    bad = tmp_path / "imgs" / "cat"
    bad.mkdir(parents=True)
    (bad / "x.png").write_bytes(b"not an image")
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "x.png" in result.output


def test_python_dash_m_equals_command():
    result = subprocess.run([sys.executable, "-m", "gaplens", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "demo" in result.stdout


def test_explain_writes_maps_records_and_figure(tmp_path):
    run = tmp_path / "run"
    invoke("train", "--data", "synthetic:n=32,classes=3,size=16,seed=1", "--arch", "vgg", "--epochs", "1",
           "--out", str(run), "--device", "cpu")
    result = invoke("explain", "--model", str(run / "models" / "vgg"),
                    "--images", "synthetic:n=3,classes=3,size=16,seed=7", "--methods", "gradient,grad_cam,edge",
                    "--target", "label", "--out", str(run), "--json")
    assert result.exit_code == 0, result.output
    summary = {row["method"]: row for row in json.loads(result.output)}
    assert set(summary) == {"gradient", "grad_cam", "edge"} and summary["gradient"]["images"] == 3
    df = records(run)
    rows = df[(df["study"] == "explain") & df["method"].notna()]
    assert len(rows) == 9 and rows["mask_fraction"].between(0, 1).all()
    import numpy as np

    maps = np.load(run / "maps" / "explain_vgg_grad_cam_maps.npy")
    assert maps.shape == (3, 1, 16, 16)
    assert (run / "figures" / "explain_vgg_figure_grid.png").is_file()
    assert "explains the true label" in (run / "report.html").read_text()  # the prose follows --target
    result = runner.invoke(app, ["explain", "--model", str(run / "models" / "vgg"), "--images", "sample:astronaut",
                                 "--methods", "gradiant", "--out", str(run)])
    assert result.exit_code == 2 and "closest" in result.output


def test_shift_analyze_and_evaluate(tmp_path):
    csv_path = tmp_path / "published.csv"
    csv_path.write_text("model,correct_original,n_original,correct_new,n_new\n"
                        "a,930,1000,850,1000\nb,960,1000,900,1000\nc,900,1000,800,1000\n")
    result = invoke("shift", "analyze", "--csv", str(csv_path), "--scale", "linear", "--out", str(tmp_path / "r"),
                    "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_models"] == 3 and summary["mean_drop"] == pytest.approx(0.08)
    assert summary["slope"] == pytest.approx(5 / 3)  # through (0.9, 0.8), (0.93, 0.85), (0.96, 0.9)
    bad = tmp_path / "bad.csv"
    bad.write_text("model,correct_original,n_original\na,1,2\n")
    result = runner.invoke(app, ["shift", "analyze", "--csv", str(bad), "--out", str(tmp_path / "r2")])
    assert result.exit_code == 1 and "correct_new" in result.output

    run = tmp_path / "run"
    for seed in ("1", "2"):
        invoke("train", "--data", "synthetic:n=32,classes=2,size=16,seed=1", "--arch", "vgg", "--epochs", seed,
               "--name", f"m{seed}", "--out", str(run), "--device", "cpu")
    result = invoke("shift", "evaluate", "--models", str(run / "models" / "m1"), "--models", str(run / "models" / "m2"),
                    "--original", "synthetic:n=40,classes=2,size=16,seed=5",
                    "--new", "synthetic:n=40,classes=2,size=16,seed=6,shift=0.5", "--out", str(run), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n_models"] == 2
    assert invoke("report", str(run)).exit_code == 0
    assert "New test sets" in (run / "report.html").read_text()


def test_visualize_commands(tmp_path):
    run = tmp_path / "run"
    invoke("train", "--data", "synthetic:n=32,classes=3,size=32,seed=1", "--arch", "resnet", "--epochs", "1",
           "--out", str(run), "--device", "cpu")
    model = str(run / "models" / "resnet")
    result = invoke("visualize", "class", "--model", model, "--classes", "0-1", "--score", "logit,softmax",
                    "--steps", "4", "--out", str(run))
    assert result.exit_code == 0, result.output
    result = invoke("visualize", "unit", "--model", model, "--layer", "layer2", "--channels", "0,3", "--steps", "4",
                    "--out", str(run))
    assert result.exit_code == 0, result.output
    result = invoke("visualize", "dream", "--model", model, "--layer", "layer2", "--image", "sample:coffee",
                    "--octaves", "2", "--steps-per-octave", "2", "--size", "64", "--out", str(run))
    assert result.exit_code == 0, result.output
    df = records(run)
    vis = df[df["study"] == "visualize"]
    assert set(vis["kind"]) == {"class_model", "unit", "deepdream"}
    assert len(vis[vis["kind"] == "class_model"]) == 4  # 2 classes x 2 scores
    assert len(list((run / "figures").glob("*.png"))) >= 4
    result = runner.invoke(app, ["visualize", "unit", "--model", model, "--layer", "layer9", "--out", str(run)])
    assert result.exit_code == 2 and "layer2" in result.output


def test_sanity_command(tmp_path):
    run = tmp_path / "run"
    invoke("train", "--data", "synthetic:n=32,classes=3,size=32,seed=1", "--arch", "resnet", "--epochs", "1",
           "--out", str(run), "--device", "cpu")
    result = invoke("sanity", "--model", str(run / "models" / "resnet"), "--images",
                    "synthetic:n=2,classes=3,size=32,seed=4", "--methods", "gradient,edge", "--modes", "cascading",
                    "--train-random-labels", "synthetic:n=32,classes=3,size=32,seed=1", "--epochs", "1",
                    "--out", str(run), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("["):])  # progress bars go to stderr
    expected = {(t, m) for t in ("cascading", "data") for m in ("gradient", "edge")}
    assert {(r["test"], r["method"]) for r in rows} == expected
    edge = [r for r in rows if r["method"] == "edge"]
    assert all(r["value"] == pytest.approx(1.0) and not r["passed"] for r in edge)
    page = (run / "report.html")
    invoke("report", str(run))
    assert "Sanity checks" in page.read_text()


def test_shape_bias_command(tmp_path):
    run = tmp_path / "run"
    invoke("train", "--data", "synthetic:n=64,classes=3,size=32,seed=1", "--arch", "resnet", "--epochs", "1",
           "--out", str(run), "--device", "cpu")
    result = invoke("shape-bias", "--models", str(run / "models" / "resnet"),
                    "--stimuli", "synthetic:n=60,classes=3,size=32,conflict=1,seed=5", "--out", str(run), "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert 0.0 <= row["shape_bias"] <= 1.0
    df = records(run)
    overall = df[(df["study"] == "shape_bias") & (df["category"] == "all")]
    assert overall["n_shape"].iloc[0] + overall["n_texture"].iloc[0] <= 60


def test_distort_and_robustness_commands(tmp_path):
    result = invoke("distort", "--images", "synthetic:n=2,classes=3,size=32,seed=2", "--distortion", "contrast",
                    "--level", "0.3", "--out", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "d").glob("*_contrast_0.3.png"))) == 2
    result = runner.invoke(app, ["distort", "--images", "sample:coffee", "--distortion", "contrast", "--level",
                                 "high", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "0.3" in result.output
    run = tmp_path / "run"
    result = invoke("robustness", "train", "--data", "synthetic:n=32,classes=2,size=32,seed=1",
                    "--test", "synthetic:n=16,classes=2,size=32,seed=3", "--distortions", "contrast,rotation",
                    "--epochs", "1", "--name", "m", "--out", str(run), "--device", "cpu")
    assert result.exit_code == 0, result.output
    df = records(run)
    sweep = df[(df["study"] == "robustness") & df["distortion"].notna()]
    assert set(sweep["distortion"]) >= {"contrast", "rotation", "uniform_noise"}
    assert (sweep["n"] == 16).all()
    invoke("report", str(run))
    assert "Distortion robustness" in (run / "report.html").read_text()


def test_stylize_commands_train_convert_and_stylize(tmp_path):
    import torch

    from gaplens.bias import decoder, load_adain_weights, random_encoder
    from gaplens.core.image_io import write_png
    from gaplens.data.synthetic import generate

    data = generate(14, classes=3, size=16, seed=0)
    for i in range(10):
        write_png(tmp_path / "content" / data.class_names[int(data.labels[i])] / f"{i}.png", data.images[i])
    for i in range(10, 14):
        write_png(tmp_path / "style" / f"s{i}.png", data.images[i])
    adain = tmp_path / "adain"
    result = invoke("stylize", "train-decoder", "--content", str(tmp_path / "content"), "--style",
                    str(tmp_path / "style"), "--steps", "2", "--batch-size", "2", "--size", "16",
                    "--checkpoint-every", "1", "--out", str(adain), "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 2 and summary["loss"] > 0
    assert {"encoder.safetensors", "decoder.safetensors", "decoder_state.pt", "history.csv"} <= {
        p.name for p in adain.iterdir()}
    # the trained decoder belongs to the offline random encoder (seed 0) it was trained for
    stylizer = load_adain_weights(adain / "encoder.safetensors", adain / "decoder.safetensors")
    assert torch.equal(stylizer.encoder[2].weight, random_encoder(seed=0)[2].weight)

    out = tmp_path / "stylized"
    args = ("stylize", "--content", str(tmp_path / "content"), "--style", str(tmp_path / "style"),
            "--weights", str(adain), "--out", str(out), "--device", "cpu", "--json")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert (json.loads(first.stdout)["written"], json.loads(first.stdout)["skipped"]) == (10, 0)
    counts = {d.name: len(list(d.glob("*.png"))) for d in out.iterdir() if d.is_dir()}
    assert counts == {d.name: len(list(d.glob("*.png"))) for d in (tmp_path / "content").iterdir()}
    again = invoke(*args)
    assert (json.loads(again.stdout)["written"], json.loads(again.stdout)["skipped"]) == (0, 10)

    tiny = (4, 8, 8, 16)
    enc_state = {k: torch.randn(v.shape) for k, v in random_encoder(tiny).state_dict().items()}
    torch.save(enc_state, tmp_path / "vgg_normalized.pth")
    torch.save({k: torch.randn(v.shape) for k, v in decoder(tiny).state_dict().items()}, tmp_path / "decoder.pth")
    result = invoke("stylize", "convert-weights", "--encoder", str(tmp_path / "vgg_normalized.pth"),
                    "--decoder", str(tmp_path / "decoder.pth"), "--out", str(tmp_path / "converted"), "--json")
    assert result.exit_code == 0, result.output
    converted = load_adain_weights(tmp_path / "converted" / "encoder.safetensors",
                                   tmp_path / "converted" / "decoder.safetensors")
    assert torch.equal(converted.encoder[2].weight, enc_state["2.weight"])


@pytest.mark.parametrize(("args", "message"), [
    (["stylize", "--content", "c", "--style", "s"], "needs --out"),
    (["stylize", "--content", "c", "train-decoder", "--style", "s", "--out", "o"], "after the sub-command"),
    (["stylize", "--content", "nowhere", "--style", "s", "--out", "o", "--weights", "w"], "--content 'nowhere'"),
    (["stylize", "train-decoder", "--content", ".", "--style", ".", "--out", "o", "--encoder", "random:x"],
     "random:SEED"),
    (["stylize", "convert-weights", "--encoder", "missing.pth", "--decoder", "d.pth", "--out", "o"],
     "missing.pth"),
])
def test_stylize_mistakes_exit_2_with_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_distort_power_equalisation_with_a_target_spectrum(tmp_path):
    import numpy as np

    from gaplens.core.image_io import read_image

    freq = np.hypot(*np.meshgrid(np.arange(32) - 16, np.arange(32) - 16, indexing="ij"))
    np.save(tmp_path / "one_over_f.npy", 1000.0 / np.maximum(freq, 1.0))
    spec = "synthetic:n=1,classes=3,size=32,seed=2"
    common = ("distort", "--images", spec, "--distortion", "power_equalisation", "--level", "equalised")
    plain = invoke(*common, "--out", str(tmp_path / "plain"))
    assert plain.exit_code == 0, plain.output
    target = invoke(*common, "--spectrum", str(tmp_path / "one_over_f.npy"), "--out", str(tmp_path / "target"))
    assert target.exit_code == 0, target.output
    (plain_png,), (target_png,) = (list((tmp_path / d).glob("*.png")) for d in ("plain", "target"))
    original = invoke("distort", "--images", spec, "--distortion", "colour", "--level", "greyscale",
                      "--out", str(tmp_path / "grey"))
    assert original.exit_code == 0
    (grey_png,) = list((tmp_path / "grey").glob("*.png"))
    # one image is its own mean spectrum: unchanged; a 1/f target changes it
    assert (read_image(plain_png) - read_image(grey_png)).abs().max() <= 1 / 255
    assert (read_image(target_png) - read_image(grey_png)).abs().max() > 0.1

    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    for args, message in (((), "give --size"), (("--size", "24"), "give --size"), (("--size", "32"), None)):
        result = runner.invoke(app, [*common, "--spectrum", str(tmp_path / "one_over_f.npy"), *args,
                                     "--images", "sample:coffee", "--out", str(tmp_path / "x")])
        if message is None:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 2 and message in result.output
    result = runner.invoke(app, [*common, "--spectrum", str(tmp_path / "objects.npy"), "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "not a plain .npy" in result.output


def test_a_failing_command_leaves_its_run_failed_and_exits_1(tmp_path):
    from gaplens.store import RunStore

    model_run = tmp_path / "m"
    invoke("train", "--data", "synthetic:n=32,classes=2,size=16,seed=1", "--arch", "vgg", "--epochs", "1",
           "--out", str(model_run), "--device", "cpu")
    bad = tmp_path / "imgs" / "circle"
    bad.mkdir(parents=True)
    (bad / "x.png").write_bytes(b"not an image")
    result = runner.invoke(app, ["evaluate", "--model", str(model_run / "models" / "vgg"), "--data",
                                 str(tmp_path / "imgs"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "x.png" in result.output and "Traceback" not in result.output
    with RunStore(tmp_path / "run") as store:
        assert [r["status"] for r in store.runs()] == ["failed"]


def test_fresh_recomputes_and_a_rerun_skips(tmp_path):
    run = tmp_path / "run"
    args = ["shift", "analyze", "--csv", str(tmp_path / "p.csv"), "--out", str(run)]
    (tmp_path / "p.csv").write_text("model,correct_original,n_original,correct_new,n_new\na,9,10,8,10\nb,8,10,6,10\n")
    invoke(*args)
    from gaplens.store import RunStore

    with RunStore(run) as store:
        first = store.runs()
        committed = store._read("SELECT committed, run_id FROM units")
    invoke(*args)
    with RunStore(run) as store:
        assert store._read("SELECT committed, run_id FROM units") == committed  # skipped: same run id
    invoke(*args, "--fresh")
    with RunStore(run) as store:
        assert store._read("SELECT run_id FROM units")[0][0] == len(first) + 2  # recomputed by the third run


def test_audit_of_a_trained_model_on_an_exported_folder(tmp_path):
    run = tmp_path / "run"
    invoke("train", "--data", "synthetic:n=96,classes=3,size=32,seed=1", "--arch", "resnet", "--epochs", "1",
           "--out", str(run), "--device", "cpu")
    invoke("data", "synth", "--out", str(tmp_path / "data"), "--n", "24", "--classes", "3", "--size", "32",
           "--seed", "5")
    result = invoke("audit", "--model", str(run / "models" / "resnet"), "--images", str(tmp_path / "data" / "images"),
                    "--stimuli", "synthetic:n=24,classes=3,size=32,conflict=1,seed=6",
                    "--new", "synthetic:n=24,classes=3,size=32,shift=1,seed=7", "--quick", "--out", str(tmp_path / "a"),
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "a" / "report.html").read_text()
    assert "could not be rendered" not in page
    for heading in ("Findings", "Audit", "Evaluation", "Explanations", "Sanity checks", "Feature visualization",
                    "Distortion robustness", "Texture vs. shape", "New test sets"):
        assert heading in page, heading
    df = records(tmp_path / "a")
    assert set(df["study"]) == {"audit", "evaluate", "explain", "sanity", "visualize", "robustness", "shape_bias",
                                "shift"}
    left_out = df[(df["study"] == "audit") & df["left_out"].astype(bool)]
    assert left_out.empty  # every study applied
    # an unlabeled folder: no evaluation, no sweep, and the report says why
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, png in enumerate(sorted((tmp_path / "data" / "images").rglob("*.png"))[:3]):
        (flat / f"{i}.png").write_bytes(png.read_bytes())
    result = invoke("audit", "--model", str(run / "models" / "resnet"), "--images", str(flat), "--quick",
                    "--studies", "evaluate,explain,robustness", "--out", str(tmp_path / "b"), "--device", "cpu")
    assert result.exit_code == 0, result.output
    df = records(tmp_path / "b")
    assert set(df["study"]) == {"audit", "explain"}
    assert "the images have no labels" in (tmp_path / "b" / "report.html").read_text()


def test_usage_errors_of_the_installed_command_are_one_line():
    for args, expected in ((["train", "--out", "x"], "Missing option '--data'"),
                           (["explain", "--bogus"], "No such option: --bogus")):
        result = subprocess.run([sys.executable, "-m", "gaplens", *args], capture_output=True, text=True)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
        assert "╭" not in result.stderr and "Traceback" not in result.stderr
