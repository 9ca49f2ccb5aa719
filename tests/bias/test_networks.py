"""AdaIN networks and weight files: the public layout, strict loading, refusing pickled code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from gaplens.bias import (
    Stylizer,
    convert_adain_weights,
    decoder,
    load_adain_weights,
    load_encoder,
    random_encoder,
    vgg19_encoder,
)
from gaplens.core.errors import CheckpointError, InputError, SpecError, UnsafeFileError

TINY = (4, 8, 8, 16)
# The conv indices of the released vgg_normalized.pth / decoder.pth (pytorch-AdaIN's net.py).
ENCODER_CONVS = [0, 2, 5, 9, 12, 16, 19, 22, 25, 29]
DECODER_CONVS = [1, 5, 8, 11, 14, 18, 21, 25, 28]


def _keys(indices):
    return [f"{i}.{p}" for i in indices for p in ("weight", "bias")]


def test_layouts_match_the_released_state_dict_keys_and_shapes():
    enc, dec = vgg19_encoder(), decoder()
    assert list(enc.state_dict()) == _keys(ENCODER_CONVS)
    assert list(dec.state_dict()) == _keys(DECODER_CONVS)
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert shapes["0.weight"] == (3, 3, 1, 1) and shapes["2.weight"] == (64, 3, 3, 3)
    assert shapes["29.weight"] == (512, 256, 3, 3)
    assert tuple(dec.state_dict()["1.weight"].shape) == (256, 512, 3, 3)
    assert tuple(dec.state_dict()["28.weight"].shape) == (3, 64, 3, 3)


def test_features_are_relu1_to_relu4_and_the_decoder_restores_the_size():
    enc = random_encoder(TINY)
    feats = enc.features(torch.rand(2, 3, 32, 32))
    assert [tuple(f.shape) for f in feats] == [(2, 4, 32, 32), (2, 8, 16, 16), (2, 8, 8, 8), (2, 16, 4, 4)]
    assert all((f >= 0).all() for f in feats)
    torch.testing.assert_close(enc(torch.ones(1, 3, 9, 9)), enc.features(torch.ones(1, 3, 9, 9))[-1])
    with pytest.raises(InputError, match="at least 9 x 9"):
        enc(torch.ones(1, 3, 8, 20))
    assert decoder(TINY)(feats[-1]).shape == (2, 3, 32, 32)
    assert torch.equal(random_encoder(TINY, seed=3)[2].weight, random_encoder(TINY, seed=3)[2].weight)


def _full_vgg_state(widths=TINY) -> dict[str, torch.Tensor]:
    """A stand-in for vgg_normalized.pth: the encoder's keys plus the VGG-19 layers after relu4_1."""
    state = {k: torch.randn(v.shape) for k, v in vgg19_encoder(widths).state_dict().items()}
    w4 = widths[3]
    for i in (32, 35, 38, 42, 45, 48, 51):
        state[f"{i}.weight"], state[f"{i}.bias"] = torch.randn(w4, w4, 3, 3), torch.randn(w4)
    return state


def test_released_style_files_load_and_convert_to_safetensors(tmp_path):
    state = _full_vgg_state()
    dec_state = {k: torch.randn(v.shape) for k, v in decoder(TINY).state_dict().items()}
    torch.save(state, tmp_path / "vgg_normalized.pth")
    torch.save(dec_state, tmp_path / "decoder.pth")
    stylizer = load_adain_weights(tmp_path / "vgg_normalized.pth", tmp_path / "decoder.pth")
    assert isinstance(stylizer, Stylizer) and stylizer.encoder.widths == TINY
    assert torch.equal(stylizer.encoder.state_dict()["29.weight"], state["29.weight"])
    enc_file, dec_file = convert_adain_weights(tmp_path / "vgg_normalized.pth", tmp_path / "decoder.pth",
                                               tmp_path / "converted")
    assert enc_file.suffix == dec_file.suffix == ".safetensors"
    again = load_adain_weights(enc_file, dec_file)
    content, style = torch.rand(2, 3, 24, 24), torch.rand(2, 3, 24, 24)
    torch.testing.assert_close(again.stylize(content, style), stylizer.stylize(content, style))


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop("5.weight"), r"missing keys \['5\.weight'\]"),
    (lambda s: s.__setitem__("fc.weight", torch.zeros(2)), r"unexpected keys \['fc\.weight'\]"),
    (lambda s: s.__setitem__("12.weight", torch.zeros(8, 8, 1, 1)), r"wrong shapes \[12\.weight: \(8, 8, 1, 1\) "
                                                                     r"instead of \(8, 8, 3, 3\)\]"),
])
def test_mismatched_encoder_files_are_rejected_with_the_keys(tmp_path, change, message):
    state = _full_vgg_state()
    change(state)
    path = tmp_path / "vgg_normalized.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=message) as info:
        load_encoder(path)
    assert str(path) in str(info.value) and "encoder" in str(info.value)


def test_a_decoder_for_other_widths_is_rejected(tmp_path):
    torch.save(_full_vgg_state(), tmp_path / "enc.pth")
    torch.save(decoder((4, 8, 16, 16)).state_dict(), tmp_path / "dec.pth")
    with pytest.raises(CheckpointError, match=r"dec\.pth.*decoder.*wrong shapes.*14\.weight"):
        load_adain_weights(tmp_path / "enc.pth", tmp_path / "dec.pth")


class _Payload:
    """Pickles to a call of os.mkdir: loading it with a full unpickler would create a folder."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_pickle_containing_code_is_refused_and_never_run(tmp_path, writer):
    marker = tmp_path / "pwned"
    state = {"0.weight": torch.zeros(3, 3, 1, 1), "payload": _Payload(str(marker))}
    path = tmp_path / "vgg_normalized.pth"
    if writer == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state, protocol=2))
    with pytest.raises(UnsafeFileError, match=r"vgg_normalized\.pth.*weights_only=True") as info:
        load_adain_weights(path, path)
    assert "never unpickled" in str(info.value)
    assert not marker.exists()


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(SpecError, match="no such weights file"):
        load_encoder(tmp_path / "nope.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_encoder(tmp_path / "bad.safetensors")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="dict of tensors"):
        load_encoder(tmp_path / "list.pth")
