"""Stylizer, decoder training (loss goes down, resume is exact), stylized folders (layout, resume)."""

from __future__ import annotations

import csv

import pytest
import torch
from helpers import assert_same_state, model_state

from gaplens.bias import (
    Stylizer,
    decoder,
    decoder_loss,
    load_adain_weights,
    load_stimuli,
    random_encoder,
    stylize_folder,
    stylize_synthetic,
    train_decoder,
)
from gaplens.bias.stylize import STATE_FILE
from gaplens.core.errors import DataError, InputError
from gaplens.core.image_io import read_image, write_png
from gaplens.data.synthetic import generate

TINY = (4, 8, 8, 16)


@pytest.fixture(scope="module")
def data():
    return generate(48, classes=4, size=16, seed=0)


def test_stylize_batched_equals_one_at_a_time_and_leaves_the_modules_alone():
    enc = random_encoder(TINY)
    stylizer = Stylizer(enc, decoder(TINY)).train()
    before = model_state(stylizer)
    content, style = torch.rand(5, 3, 20, 18), torch.rand(5, 3, 16, 16)
    batched = stylizer.stylize(content, style, batch_size=4)
    single = torch.cat([stylizer.stylize(content[i : i + 1], style[i : i + 1]) for i in range(5)])
    assert batched.shape == (5, 3, 20, 18) and 0 <= batched.min() and batched.max() <= 1
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)
    assert_same_state(before, model_state(stylizer))
    with pytest.raises(InputError, match="style"):
        stylizer.stylize(content, style[:2])


def test_decoder_training_lowers_the_loss_and_leaves_the_encoder_alone(data, tmp_path):
    enc = random_encoder(TINY, seed=1)
    before = model_state(enc)
    content, style = data.images[:8], data.images[8:16]
    from gaplens.bias.stylize import _init_decoder

    initial = decoder_loss(enc, _init_decoder(TINY, 0), content, style)
    result = train_decoder(enc, data, data, steps=24, batch_size=8, lr=3e-3, progress=False, log_every=4,
                           checkpoint_dir=tmp_path)
    final = decoder_loss(enc, result.decoder, content, style)
    assert final[0] < 0.75 * initial[0]
    assert result.history[-1]["loss"] < 0.75 * result.history[0]["loss"]
    assert [r["step"] for r in result.history] == [4, 8, 12, 16, 20, 24]
    assert_same_state(before, model_state(enc))
    assert not result.decoder.training
    reloaded = load_adain_weights(tmp_path / "encoder.safetensors", tmp_path / "decoder.safetensors")
    torch.testing.assert_close(reloaded.stylize(content, style), result.stylizer.stylize(content, style))


def test_resumed_training_ends_with_the_same_weights(data, tmp_path):
    enc = random_encoder(TINY, seed=2)
    kwargs = dict(batch_size=4, lr=3e-3, progress=False, checkpoint_every=3)
    straight = train_decoder(enc, data, data, steps=6, checkpoint_dir=tmp_path / "a", **kwargs)
    train_decoder(enc, data, data, steps=3, checkpoint_dir=tmp_path / "b", **kwargs)  # "killed" after 3
    resumed = train_decoder(enc, data, data, steps=6, checkpoint_dir=tmp_path / "b", resume=True, **kwargs)
    for key, value in straight.decoder.state_dict().items():
        torch.testing.assert_close(resumed.decoder.state_dict()[key], value, rtol=0, atol=0)
    assert [r["step"] for r in resumed.history] == [r["step"] for r in straight.history]
    assert (tmp_path / "b" / STATE_FILE).is_file()
    with pytest.raises(InputError, match="different settings"):
        train_decoder(enc, data, data, steps=6, checkpoint_dir=tmp_path / "b", resume=True,
                      **{**kwargs, "lr": 1e-3})


def _folders(root, data, counts: dict[str, int], styles: dict[str, int]):
    i = 0
    for cls, n in counts.items():
        for j in range(n):
            write_png(root / "content" / cls / f"{j:03d}.png", data.images[i])
            i += 1
    for cls, n in styles.items():
        for j in range(n):
            write_png(root / "style" / cls / f"s{j}.png", data.images[40 + i % 8])
            i += 1
    # one content image of another size: batched separately
    write_png(root / "content" / "circle" / "big.png", torch.rand(3, 24, 20))


def test_stylize_folder_keeps_class_folders_and_resumes(data, tmp_path):
    _folders(tmp_path, data, {"circle": 4, "square": 3, "triangle": 2}, {"dots": 2, "stripes": 1})
    enc = random_encoder(TINY)
    stylizer = Stylizer(enc, decoder(TINY))
    out = tmp_path / "stylized"
    first = stylize_folder(tmp_path / "content", tmp_path / "style", out, stylizer=stylizer, batch_size=3,
                           progress=False)
    assert (first.written, first.skipped) == (10, 0)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["circle", "square", "triangle"]
    assert {d.name: len(list(d.glob("*.png"))) for d in out.iterdir() if d.is_dir()} == {
        "circle": 5, "square": 3, "triangle": 2}
    assert read_image(out / "circle" / "big.png").shape == (3, 24, 20)
    with (out / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and {r["texture_class"] for r in rows} <= {"dots", "stripes"}
    assert all(r["shape_class"] == r["file"].split("/")[0] for r in rows)

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    again = stylize_folder(tmp_path / "content", tmp_path / "style", out, stylizer=stylizer, progress=False)
    assert (again.written, again.skipped) == (0, 10)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps
    assert [r["style"] for r in again.records] == [r["style"] for r in first.records]  # same draws

    (out / "square" / "001.png").unlink()
    third = stylize_folder(tmp_path / "content", tmp_path / "style", out, stylizer=stylizer, progress=False)
    assert (third.written, third.skipped) == (1, 9)
    # the output (class folders of styles) is a cue-conflict manifest
    stimuli = load_stimuli(out / "manifest.csv")
    assert len(stimuli) == 10
    assert stimuli.class_names == ["circle", "dots", "square", "stripes", "triangle"]
    assert [stimuli.class_names[i] for i in stimuli.texture_labels] == [r["texture_class"] for r in rows]


def test_stylize_folder_errors(data, tmp_path):
    stylizer = Stylizer(random_encoder(TINY), decoder(TINY))
    (tmp_path / "empty").mkdir()
    write_png(tmp_path / "content" / "a" / "x.png", data.images[0])
    with pytest.raises(DataError, match="no style images"):
        stylize_folder(tmp_path / "content", tmp_path / "empty", tmp_path / "out", stylizer=stylizer)
    write_png(tmp_path / "content" / "a" / "x.jpg", data.images[1])
    with pytest.raises(DataError, match=r"x\.png.*x\.jpg|x\.jpg.*x\.png"):
        stylize_folder(tmp_path / "content", tmp_path / "content", tmp_path / "out", stylizer=stylizer)


def test_stylize_synthetic_retextures_each_object_and_keeps_everything_else():
    data = generate(160, classes=8, size=32, seed=3, start=10)
    twin = stylize_synthetic(data)
    assert torch.equal(twin.index, data.index) and torch.equal(twin.labels, data.labels)
    assert torch.equal(twin.masks, data.masks)
    background = ~data.masks.expand(-1, 3, -1, -1)
    assert torch.equal(twin.images[background], data.images[background])  # only the object's texture changes
    kept = twin.texture_labels == data.texture_labels
    assert torch.equal(twin.images[kept], data.images[kept])
    assert 0.05 < kept.float().mean() < 0.25  # home texture again with probability 1/8
    assert twin.texture_agreement == 1 / 8
    picked = data.subset([5, 6, 7, 50, 3])
    torch.testing.assert_close(stylize_synthetic(picked).images, twin.images[[5, 6, 7, 50, 3]], rtol=0, atol=0)
    with pytest.raises(InputError, match="cue-conflict"):
        stylize_synthetic(generate(4, classes=4, size=16, conflict=True))


@pytest.mark.parametrize(("option", "value"), [
    ("style_weight", float("nan")), ("style_weight", float("inf")), ("style_weight", -1.0),
    ("lr", float("nan")), ("lr", 0.0), ("lr_decay", float("inf")),
])
def test_decoder_training_refuses_non_finite_weights_and_rates(data, option, value):
    with pytest.raises(InputError, match=rf"^{option}={value!r}; expected a finite number"):
        train_decoder(random_encoder(TINY), data.images, data.images, 1, **{option: value})
