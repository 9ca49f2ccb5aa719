"""Figures: class-model grid (top-k under each image), channel grid, DeepDream octave progression."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.errors import InputError
from gaplens.report.figures import save_figure
from gaplens.visualize import (
    channel_grid_figure,
    channel_images,
    class_model,
    class_model_figure,
    deepdream,
    deepdream_figure,
)


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label)]


def test_class_model_grid_logit_beside_softmax(tiny_resnet, tmp_path):
    tiny_resnet.class_names = ["$x^2$ class", "b", "c", "d"]  # user strings are drawn as plain text
    logit = class_model(tiny_resnet, classes=[0, 1, 2], steps=2, size=32)
    softmax = class_model(tiny_resnet, classes=[0, 1, 2], steps=2, size=32, score="softmax")
    fig = class_model_figure({"maximize logit": logit, "maximize softmax": softmax}, columns=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6 and len(fig.axes) == 8  # two blocks of 2x2 cells, one empty cell each
    texts = _texts(fig)
    assert "$x^2$ class" in texts and "maximize softmax" in texts
    top1 = tiny_resnet.class_name(int(logit.top_classes[0, 0]))
    assert any(t.startswith(f"{top1} {float(logit.top_scores[0, 0]):.2f}") for t in texts)
    path = save_figure(fig, tmp_path / "class_models.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InputError, match="expected a ClassModelResult"):
        class_model_figure({"x": object()})


def test_channel_grid_and_dream_progression(tiny_vgg, tmp_path):
    units = channel_images(tiny_vgg, "features.3", channels=[0, 1, 2], steps=2, size=32)
    assert units.labels == ["features.3:0", "features.3:1", "features.3:2"]
    fig = channel_grid_figure(units, columns=2)
    assert [t for t in _texts(fig) if t.startswith("features")] == units.labels
    save_figure(fig, tmp_path / "units.png")
    dream = deepdream(tiny_vgg, torch.rand(2, 3, 64, 64), "features.3", octaves=3, steps_per_octave=1)
    fig = deepdream_figure(dream)
    assert len(fig.axes) == 2 * 4
    assert "octave 3 (64x64 px)" in _texts(fig)
    assert (tmp_path / "units.png").is_file() and save_figure(fig, tmp_path / "dream.png").is_file()
    with pytest.raises(InputError, match="expected a DreamResult"):
        deepdream_figure(units)
