"""The gan and pix2pix command groups through typer's CliRunner (on their own apps)."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from gaplens.cli.gan import gan_app, pix2pix_app
from gaplens.gan import Pix2Pix, load_network

runner = CliRunner()


def test_gan_train_resume_and_sample_images(tmp_path):
    out = tmp_path / "dcgan"
    args = ["train", "--out", str(out), "--data", "shapes", "--n", "32", "--size", "16", "--steps", "6",
            "--width", "4", "--z-dim", "8", "--batch-size", "16", "--device", "cpu", "--json"]
    result = runner.invoke(gan_app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 6
    assert sorted(p.name for p in (out / "samples").iterdir())  # grids, one per epoch (2 steps) and the end
    g = load_network(out, "generator")
    again = runner.invoke(gan_app, [*args, "--resume"])  # finished: resuming changes nothing
    assert again.exit_code == 0, again.output
    assert torch.equal(load_network(out, "generator").state_dict()["net.0.weight"], g.state_dict()["net.0.weight"])
    sample = runner.invoke(gan_app, ["sample", "--model", str(out), "--n", "9", "-o", str(tmp_path / "s.png")])
    assert sample.exit_code == 0, sample.output
    assert Image.open(tmp_path / "s.png").size == (8 * 17 + 1, 2 * 17 + 1)  # 8 per row, 1 px gaps


def test_gan_on_points_writes_a_csv_and_bad_arguments_exit_2(tmp_path):
    out = tmp_path / "ring"
    result = runner.invoke(gan_app, ["train", "--out", str(out), "--data", "ring", "--steps", "4", "--width", "8",
                                     "--device", "cpu"])
    assert result.exit_code == 0, result.output
    csv = tmp_path / "p.csv"
    assert runner.invoke(gan_app, ["sample", "--model", str(out), "--n", "5", "-o", str(csv)]).exit_code == 0
    assert np.loadtxt(csv, delimiter=",", skiprows=1).shape == (5, 2)
    bad = runner.invoke(gan_app, ["train", "--out", str(out), "--data", "cifar", "--steps", "1"])
    assert bad.exit_code == 2 and "data='cifar'" in bad.output
    loss = runner.invoke(gan_app, ["train", "--out", str(tmp_path / "x"), "--data", "ring", "--loss", "hinge",
                                   "--steps", "1"])
    assert loss.exit_code == 2 and "loss='hinge'" in loss.output


def test_pix2pix_train_and_translate(tmp_path):
    out = tmp_path / "p2p"
    result = runner.invoke(pix2pix_app, ["train", "--out", str(out), "--pairs", "silhouette", "--n", "6", "--size",
                                         "32", "--epochs", "1", "--width", "4", "--batch-size", "3",
                                         "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (out / "samples" / "epoch-0001.png").is_file()
    assert Pix2Pix.load(out).in_channels == 1
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(inputs / "a1.png")
    done = runner.invoke(pix2pix_app, ["translate", "--model", str(out), "--images", str(inputs),
                                       "-o", str(tmp_path / "o")])
    assert done.exit_code == 0, done.output
    assert Image.open(tmp_path / "o" / "a1.png").size == (32, 32)
    unmatched = tmp_path / "pairs"
    (unmatched / "A").mkdir(parents=True)
    (unmatched / "B").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(unmatched / "A" / "x.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(unmatched / "B" / "y.png")
    bad = runner.invoke(pix2pix_app, ["train", "--out", str(tmp_path / "q"), "--pairs", str(unmatched),
                                      "--size", "8"])
    assert bad.exit_code == 1 and "only in" in bad.output
