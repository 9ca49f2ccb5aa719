"""Hostile and odd inputs (issue 13): each gets its own error type and one line naming the argument or file.

The hostile files are built here (symlink loops, a FIFO, a PNG header claiming a huge image); every
case is refused before any expensive work, so the whole file runs in seconds.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch

from gaplens.core import image_io
from gaplens.core.errors import ImageReadError, InputError
from gaplens.core.image_io import read_image, write_png
from gaplens.core.text import plain
from gaplens.data import ImageFolder
from gaplens.data.export import write_synthetic
from gaplens.data.spec import load_dataset
from gaplens.data.synthetic import generate
from gaplens.robustness import distort
from gaplens.train import fit
from gaplens.zoo import build


def _one_line(info: pytest.ExceptionInfo, *names: str) -> None:
    message = str(info.value)
    assert "\n" not in message and all(name in message for name in names), message


def test_symlink_loops_in_an_image_folder(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        write_png(tmp_path / cls / "0.png", torch.rand(3, 4, 4))
    os.symlink(".", tmp_path / "a" / "self")
    os.symlink("../b/l2", tmp_path / "b" / "l1")
    (tmp_path / "b" / "l2").mkdir()
    os.symlink("../l1", tmp_path / "b" / "l2" / "back")
    assert len(ImageFolder(tmp_path)) == 2


@pytest.mark.parametrize(("spec", "argument"), [
    ("synthetic:n=10,texture_agreement=1/0", "texture_agreement="), ("synthetic:n=99999999999", "n:"),
    ("synthetic:conflict=maybe", "conflict="), ("synthetic:n=10,n=20", "n is given twice"),
])
def test_synthetic_specs(spec: str, argument: str) -> None:
    with pytest.raises(InputError) as info:
        load_dataset(spec)
    _one_line(info, argument)


def test_split_that_escapes_the_folder_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        write_synthetic(generate(2, size=16), tmp_path / "out", split="../../x", progress=False)
    _one_line(info, "split=")
    assert list(tmp_path.iterdir()) == []


def test_devices_and_fifos_are_not_read(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError) as info:
        read_image("/dev/zero")
    _one_line(info, "/dev/zero", "not a regular file")
    os.mkfifo(tmp_path / "fifo.png")
    with pytest.raises(ImageReadError) as info:
        read_image(tmp_path / "fifo.png")
    _one_line(info, "fifo.png", "FIFO")


def test_images_above_the_pixel_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_png(tmp_path / "wide.png", torch.rand(3, 10, 30))
    monkeypatch.setattr(image_io, "MAX_PIXELS", 200)
    with pytest.raises(ImageReadError) as info:
        read_image(tmp_path / "wide.png")
    _one_line(info, "wide.png", "max_pixels=")
    assert read_image(tmp_path / "wide.png", max_pixels=300).shape == (3, 10, 30)


def test_visualization_bounds() -> None:
    from gaplens.core.model import load_model
    from gaplens.visualize import class_model, deepdream

    model = load_model(build("vgg", 2, widths=(4,), convs_per_stage=(1,)), device="cpu")
    photo = torch.rand(3, 64, 64)
    for call, name in [(lambda: deepdream(model, photo, "features.0", octaves=50), "octaves=50"),
                       (lambda: deepdream(model, photo, "features.0", size=100000), "size=100000"),
                       (lambda: class_model(model, steps=10**9), "steps=1000000000")]:
        with pytest.raises(InputError) as info:
            call()
        _one_line(info, name)


def test_distortion_level_bound() -> None:
    with pytest.raises(InputError) as info:
        distort(torch.rand(1, 3, 8, 8), "low_pass", 1e12)
    _one_line(info, "level=", "low_pass")


@pytest.mark.parametrize("lr", [-1.0, float("nan"), float("inf")])
def test_training_rates(lr: float) -> None:
    with pytest.raises(InputError) as info:
        fit(build("vgg", 2, widths=(4,), convs_per_stage=(1,)), generate(4, classes=2, size=16), epochs=1,
            lr=lr, progress=False)
    _one_line(info, "lr=")


def test_style_weight() -> None:
    from gaplens.bias import random_encoder, train_decoder

    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(InputError) as info:
        train_decoder(random_encoder((4, 8, 8, 16)), images, images, 1, style_weight=float("nan"))
    _one_line(info, "style_weight=")


def test_dollar_signs_in_model_names_reach_a_legend_literally() -> None:
    from gaplens.report.figures import accuracy_figure

    name = r"$\notacmd$"
    rows = [{"model": name, "set": "$test$", "accuracy": 0.5, "ci_low": 0.4, "ci_high": 0.6}]
    fig = accuracy_figure(rows, title=name)
    fig.axes[0].legend()
    fig.savefig(io.BytesIO(), format="png")  # mathtext would raise ValueError here
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [plain(name)]
