"""Model specs: every installed kind round-trips; pickles and malformed files are refused."""

from __future__ import annotations

import json
import pickle
import sys
import textwrap

import pytest
import torch

import gaplens
from gaplens.core.errors import (
    CheckpointError,
    GaplensError,
    InputError,
    SpecError,
    UnsafeFileError,
    UntrustedCodeError,
)
from gaplens.core.model import Classifier, load_model, load_weights, save_checkpoint
from gaplens.zoo import build


def _x(seed=1):
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ["vgg", "resnet"])
def test_checkpoint_round_trip(tmp_path, arch):
    torch.manual_seed(0)
    net = build(arch, num_classes=5)
    # give BatchNorm non-trivial running statistics so buffers are checked too
    net.train()
    net(torch.rand(8, 3, 32, 32))
    model = Classifier(net, mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7), class_names=list("vwxyz"),
                       input_size=(32, 32)).eval()
    folder = save_checkpoint(model, tmp_path / "ckpt")
    assert json.loads((folder / "model.json").read_text())["architecture"] == arch
    for spec in (folder, folder / "model.safetensors", str(folder)):
        loaded = load_model(spec, device="cpu")
        assert loaded.class_names == list("vwxyz")
        assert loaded.input_size == (32, 32)
        assert not loaded.training
        assert torch.equal(loaded(_x()), model(_x()))


def test_classifier_normalizes():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())
    model = Classifier(net, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    x = torch.full((1, 3, 1, 1), 0.75)
    assert torch.allclose(model(x), torch.tensor([[1.0, 0.5, 0.25]]))


def test_torchscript_round_trip(tmp_path, tiny_resnet):
    path = tmp_path / "model.pt"
    with pytest.warns(DeprecationWarning):  # TorchScript is deprecated upstream, still supported here
        torch.jit.save(torch.jit.trace(tiny_resnet, _x()), str(path))
    with pytest.raises(UntrustedCodeError, match="trust_code=True") as info:
        load_model(path, device="cpu")
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    loaded = load_model(path, device="cpu", trust_code=True)
    assert torch.allclose(loaded(_x(2)), tiny_resnet(_x(2)), atol=1e-6)


def test_factory_spec(tmp_path, monkeypatch):
    (tmp_path / "user_models.py").write_text(textwrap.dedent("""
        import torch
        def make():
            torch.manual_seed(3)
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
        def not_a_model():
            return 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UntrustedCodeError, match="module:factory spec is code"):
        load_model("user_models:make", device="cpu")
    assert "user_models" not in sys.modules  # refused before importing anything
    model = load_model("user_models:make", device="cpu", class_names=["no", "yes"], trust_code=True)
    assert model.class_names == ["no", "yes"]
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 2)
    with pytest.raises(SpecError, match="not_a_model"):
        load_model("user_models:not_a_model", device="cpu", trust_code=True)
    with pytest.raises(SpecError, match="missing"):
        load_model("user_models:missing", device="cpu", trust_code=True)
    sys.modules.pop("user_models", None)


def test_factory_with_safetensors_and_torch_weights(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    (tmp_path / "user_models2.py").write_text(
        "import torch\ndef make():\n    return torch.nn.Linear(4, 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    state = {"weight": torch.arange(8.0).view(2, 4), "bias": torch.tensor([1.0, -1.0])}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, tmp_path / "w.pt")
    for weights in ("w.safetensors", "w.pt"):
        model = load_model("user_models2:make", device="cpu", weights=tmp_path / weights, trust_code=True)
        assert torch.equal(model.network.weight, state["weight"])
    bad = {"weight": torch.zeros(3, 4), "extra": torch.zeros(1)}
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError) as info:
        load_model("user_models2:make", device="cpu", weights=tmp_path / "bad.safetensors", trust_code=True)
    message = str(info.value)
    assert "missing keys ['bias']" in message and "unexpected keys ['extra']" in message
    sys.modules.pop("user_models2", None)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickles_are_refused(tmp_path, capsys):
    raw = tmp_path / "model.pkl"
    raw.write_bytes(pickle.dumps({"model": _Evil()}))
    with pytest.raises(UnsafeFileError, match="pickle"):
        load_model(raw, device="cpu")
    saved = tmp_path / "model.pth"
    torch.save({"model": _Evil()}, saved)
    with pytest.raises(UnsafeFileError, match="torch.save"):
        load_model(saved, device="cpu")
    # as weights: torch.load(weights_only=True) refuses to run the payload
    with pytest.raises(UnsafeFileError, match="weights_only"):
        load_weights(torch.nn.Linear(2, 2), saved)
    assert "pwned" not in capsys.readouterr().out
    # the way out is data (safetensors), never TorchScript, which is code
    for spec in (raw, saved):
        with pytest.raises(UnsafeFileError) as info:
            load_model(spec, device="cpu")
        assert "safetensors" in str(info.value)
        assert "TorchScript" not in str(info.value) and "jit" not in str(info.value)


def test_classifier_refuses_bad_normalization_names_and_size():
    net = torch.nn.Flatten()
    for kwargs, field in (({"std": (float("nan"),) * 3}, "std"), ({"mean": (0.0, float("inf"), 0.0)}, "mean"),
                          ({"std": (1.0, 0.0, 1.0)}, "positive"), ({"mean": "abc"}, "mean"),
                          ({"class_names": "abc"}, "class_names"), ({"class_names": {"a": 0}}, "class_names"),
                          ({"class_names": [1, 2]}, "strings"), ({"input_size": "ab"}, "input_size"),
                          ({"input_size": (0, 4)}, "input_size"), ({"input_size": (4.5, 4)}, "input_size")):
        with pytest.raises(InputError, match=field):
            Classifier(net, **kwargs)
    with pytest.raises(InputError, match="2 names for 8 outputs"):
        load_model(build("vgg", 8), device="cpu", class_names=["a", "b"])
    with pytest.raises(InputError, match="finite"):
        load_model(build("vgg", 8), device="cpu", std=[float("nan")] * 3)


def test_torch_export_archive_is_refused(tmp_path):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    program = torch.export.export(net, (torch.rand(2, 3, 2, 2),))
    path = tmp_path / "model.pt2"
    torch.export.save(program, path)
    with pytest.raises(UnsafeFileError, match="torch.export"):
        load_model(path, device="cpu")


def test_malformed_files(tmp_path):
    garbage = tmp_path / "model.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match=str(garbage.name)):
        load_model(garbage, device="cpu")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(SpecError, match="unrecognised"):
        load_model(text, device="cpu")
    empty = tmp_path / "emptydir"
    empty.mkdir()
    with pytest.raises(SpecError, match="model.safetensors"):
        load_model(empty, device="cpu")


def test_bare_safetensors_and_bad_record(tmp_path, tiny_vgg):
    from safetensors.torch import save_file

    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))
    with pytest.raises(CheckpointError, match="without a gaplens record"):
        load_model(bare, device="cpu")
    odd = tmp_path / "odd.safetensors"
    record = {"format": "gaplens-checkpoint", "version": 1, "architecture": "no-such-arch", "num_classes": 2}
    save_file({"w": torch.zeros(2)}, str(odd), metadata={"gaplens": json.dumps(record)})
    with pytest.raises(GaplensError, match="no-such-arch"):
        load_model(odd, device="cpu")


def test_unknown_specs():
    for spec in ("does/not/exist.pt", "not a spec", "torchvision"):
        with pytest.raises(SpecError, match="no such file"):
            load_model(spec, device="cpu")
    with pytest.raises(SpecError, match="cannot import"):
        load_model("no_such_package_xyz.models:make", device="cpu", trust_code=True)


def test_hub_specs_without_package():
    pytest.importorskip("torch")
    for package in ("torchvision", "timm"):
        try:
            __import__(package)
        except ImportError:
            with pytest.raises(SpecError, match="not installed"):
                load_model(f"{package}:resnet18", device="cpu")


def test_save_requires_zoo_network(tmp_path):
    with pytest.raises(InputError, match="zoo"):
        save_checkpoint(Classifier(torch.nn.Linear(2, 2)), tmp_path / "x")


def test_public_names():
    assert gaplens.load_model is load_model
    assert issubclass(UnsafeFileError, gaplens.GaplensError)


def test_bad_device():
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            load_model(build("vgg", 2), device="cuda")
