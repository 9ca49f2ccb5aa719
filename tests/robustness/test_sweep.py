"""The sweep against a brute-force loop, its resumption from a run store, the 16-class decision,
the accuracy figure, the stimulus sheet and the training augmentation."""

from __future__ import annotations

import importlib

import pytest
import torch
from helpers import assert_same_state, model_state
from matplotlib.figure import Figure
from torch import nn

from gaplens.core.errors import InputError
from gaplens.report.figures import save_figure
from gaplens.robustness import (
    DISTORTIONS,
    accuracy_vs_level_figure,
    distort,
    distortion_augment,
    mean_amplitude_spectrum,
    select_distortions,
    stimulus_sheet_figure,
    sweep,
)


def _model(classes: int = 3, size: int = 16) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, classes)).eval()


def _data(n: int = 6, size: int = 16):
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, size, size, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def test_counts_match_a_brute_force_loop():
    model, (x, y) = _model(), _data()
    records = sweep(model, (x, y), batch_size=4, seed=3, model_name="net")
    assert len(records) == sum(len(d.levels) for _, d in DISTORTIONS.items())
    target = mean_amplitude_spectrum(x)
    with torch.no_grad():
        for r in records:
            options = {"target_spectrum": target} if r["distortion"] == "power_equalisation" else {}
            correct = sum(int(model(distort(x[i:i + 1], r["distortion"], r["level"], seed=3, index=[i], **options))
                              .argmax(1)[0] == y[i]) for i in range(len(y)))
            assert (r["n"], r["correct"]) == (6, correct), (r["distortion"], r["level"])
            assert r["accuracy"] == correct / 6 and r["ci_low"] <= r["accuracy"] <= r["ci_high"]
            assert r["model"] == "net" and r["chance"] == pytest.approx(1 / 3) and r["seed"] == 3
            assert DISTORTIONS[r["distortion"]].levels[r["level_index"]] == r["level"]


def test_the_model_is_left_as_found():
    model, data = _model(), _data()
    model.train()
    before = model_state(model)
    sweep(model, data, distortions=["contrast"], levels={"contrast": [0.1]})
    assert_same_state(before, model_state(model))


def test_results_do_not_depend_on_the_batch_size():
    data = _data()
    names = ["phase_noise", "salt_and_pepper", "eidolon_III"]
    levels = {"phase_noise": [90], "salt_and_pepper": [0.5], "eidolon_III": [4, 64]}
    assert sweep(_model(), data, names, levels, batch_size=4) == sweep(_model(), data, names, levels, batch_size=6)


def test_power_equalisation_spectrum_is_computed_once(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return mean_amplitude_spectrum(*args, **kwargs)

    monkeypatch.setattr(importlib.import_module("gaplens.robustness.sweep"), "mean_amplitude_spectrum", counting)
    sweep(_model(), _data(), distortions=["power_equalisation", "contrast"], batch_size=4)
    assert len(calls) == 1
    sweep(_model(), _data(), distortions=["power_equalisation"],
          options={"power_equalisation": {"target_spectrum": torch.ones(16, 16)}})
    assert len(calls) == 1


class _AlwaysCat(nn.Module):
    def forward(self, x):
        logits = torch.zeros(x.shape[0], 1000)
        logits[:, 281] = 10.0  # tabby cat
        return logits


def test_imagenet16_decision():
    class Set:
        images = torch.rand(3, 3, 8, 8)
        labels = torch.tensor([0, 0, 1])
        class_names = ["cat", "dog"]

    records = sweep(_AlwaysCat(), Set(), distortions=["contrast"], levels={"contrast": [1.0, 0.1]},
                    decision="imagenet16")
    assert [(r["correct"], r["chance"], r["decision"]) for r in records] == [(2, 0.5, "imagenet16")] * 2
    Set.class_names = ["cat", "zebra"]
    with pytest.raises(InputError, match="not 16-class-ImageNet"):
        sweep(_AlwaysCat(), Set(), distortions=["contrast"], decision="imagenet16")


def test_selection_and_argument_errors():
    assert select_distortions("all") == DISTORTIONS.names()
    assert "uniform_noise" not in select_distortions("all-but:uniform_noise")
    assert select_distortions("rotation, contrast") == ["rotation", "contrast"]
    model, data = _model(), _data()
    with pytest.raises(InputError, match="closest"):
        sweep(model, data, distortions="all-but:unifrom_noise")
    with pytest.raises(InputError, match="levels"):
        sweep(model, data, distortions=["contrast"], levels={"rotation": [90]})
    with pytest.raises(InputError, match="decision"):
        sweep(model, data, decision="top5")
    with pytest.raises(InputError, match="labels"):
        sweep(model, (data[0], data[1] + 5), distortions=["contrast"])
    with pytest.raises(InputError, match="unknown option"):
        sweep(model, data, distortions=["contrast"], options={"contrast": {"grey_mean": 0.5}})


def test_accuracy_figure_and_stimulus_sheet(tmp_path):
    data = _data()
    records = sweep(_model(), data, distortions=["contrast", "rotation"], model_name="a")
    records += sweep(_model(classes=4), data, distortions=["contrast", "rotation"], model_name="b")
    fig = accuracy_vs_level_figure(records)
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["contrast", "rotation"]
    assert len(panels[0].lines) >= 3  # two models and the chance line
    assert save_figure(fig, tmp_path / "acc.png").stat().st_size > 0
    sheet = stimulus_sheet_figure(torch.rand(2, 3, 16, 16), distortions=["colour", "rotation"])
    assert sum(ax.axison for ax in sheet.axes) == 2 + 4
    with pytest.raises(InputError, match="record"):
        accuracy_vs_level_figure([])


def test_augmentation_is_seeded_by_torch_and_distorts_every_image():
    x = torch.rand(12, 3, 16, 16)
    augment = distortion_augment("all-but:eidolon_I,eidolon_II")
    torch.manual_seed(0)
    first = augment(x)
    torch.manual_seed(0)
    assert torch.equal(augment(x), first)
    assert first.shape == x.shape and first.min() >= 0 and first.max() <= 1
    assert ((first - x).flatten(1).abs().amax(1) > 1e-4).all()  # no undistorted level is drawn


def test_augmentation_clean_fraction_and_fit():
    x = torch.rand(200, 3, 8, 8)
    augment = distortion_augment(["contrast"], levels={"contrast": [1.0, 0.5]}, clean_fraction=0.5)
    assert augment.levels == {"contrast": [0.5]}
    torch.manual_seed(1)
    out = augment(x)
    kept = (out == x).flatten(1).all(1)
    assert torch.equal(out[~kept], distort(x[~kept], "contrast", 0.5))
    assert 0.35 < float(kept.double().mean()) < 0.65
    with pytest.raises(InputError, match="undistorted"):
        distortion_augment(["rotation"], levels={"rotation": [0]})

    from gaplens.train import fit
    from gaplens.zoo import build

    labels = torch.randint(0, 2, (16,))
    result = fit(build("vgg", 2, widths=(4,), convs_per_stage=(1,)), (x[:16], labels), epochs=1, batch_size=8,
                 augment=distortion_augment("all-but:eidolon_I,eidolon_II,eidolon_III"), progress=False)
    assert len(result.history) == 1
