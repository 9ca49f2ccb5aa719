"""Tests of gaplens.report.figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gaplens.core.errors import InputError
from gaplens.report.figures import confusion_matrix_figure, save_figure


def test_confusion_figure_saves_png_with_labels(tmp_path: Path) -> None:
    counts = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]])
    fig = confusion_matrix_figure(counts, ["cat", "dog", "$x$ <b>"], "test set")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert ax.get_title() == "test set"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "$x$ <b>"]
    cells = [t.get_text() for t in ax.texts]
    assert cells == ["8", "2", "0", "1", "9", "0", "0", "0", "0"]
    colours = ax.images[0].get_array()
    np.testing.assert_allclose(colours[0], [0.8, 0.2, 0.0])  # row-normalized
    np.testing.assert_allclose(colours[2], 0.0)  # empty row stays 0, no NaN

    path = save_figure(fig, tmp_path / "sub" / "cm.png")
    assert path == tmp_path / "sub" / "cm.png"
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["cm.png"]


def test_confusion_figure_16_classes_from_torch(tmp_path: Path) -> None:
    counts = torch.randint(0, 20, (16, 16)) + 50 * torch.eye(16, dtype=torch.long)
    names = [f"class number {i} with a long name" for i in range(16)]
    fig = confusion_matrix_figure(counts, names, "sixteen")
    assert isinstance(fig, Figure) and len(fig.axes[0].texts) == 256
    path = save_figure(fig, tmp_path / "cm16.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and min(img.size) > 400


@pytest.mark.parametrize(
    ("confusion", "names"),
    [(np.zeros((2, 3)), ["a", "b"]), (np.ones((2, 2)), ["a"]), (-np.ones((2, 2)), ["a", "b"])],
)
def test_confusion_figure_rejects_bad_input(confusion: np.ndarray, names: list[str]) -> None:
    with pytest.raises(InputError):
        confusion_matrix_figure(confusion, names, "bad")


def test_save_figure_requires_png_suffix(tmp_path: Path) -> None:
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    with pytest.raises(InputError, match=r"\.png"):
        save_figure(fig, tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []


def _overlaps(fig: Figure) -> list[str]:
    """Panel titles whose drawn box intersects the suptitle's (after the layout engine ran)."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    sup = [t for t in fig.texts if t.get_text() and t.get_text() == fig.get_suptitle()]
    assert len(sup) == 1
    box = sup[0].get_window_extent(renderer)
    return [ax.title.get_text() for ax in fig.axes
            if ax.title.get_text() and box.overlaps(ax.title.get_window_extent(renderer))]


def test_suptitles_clear_of_panel_titles() -> None:
    from types import SimpleNamespace

    from gaplens.report.figures import sample_grid_figure, training_curves_figure

    history = [{"epoch": e, "train_loss": 1 / (e + 1), "train_accuracy": 0.5, "val_accuracy": 0.4} for e in range(3)]
    data = SimpleNamespace(images=torch.rand(4, 3, 8, 8), labels=torch.arange(4), class_names=list("abcd"),
                           texture_labels=torch.arange(4), texture_names=list("wxyz"))
    for fig in (training_curves_figure(history, "Training of a model with a long name"),
                sample_grid_figure({"train": data}, per_set=4)):
        assert _overlaps(fig) == []
