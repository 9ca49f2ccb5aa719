"""Hostile and odd model files (issue 13): code is refused unless trusted, checkpoints cannot
exhaust memory, and every bad file gets one ``error:`` line naming it, never a traceback."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
import warnings

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from gaplens.cli import app
from gaplens.core.errors import CheckpointError, InputError, UnsafeFileError, UntrustedCodeError
from gaplens.core.hooks import capture, layer_names
from gaplens.core.model import Classifier, load_model, save_checkpoint
from gaplens.core.training_state import load_training_state
from gaplens.zoo import build

runner = CliRunner()
DATA = "synthetic:n=8,classes=8,size=16,seed=3"


class _Evil(torch.nn.Module):
    """A TorchScript program whose forward writes ``pwned`` into a file of its choice."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.fc = torch.nn.Linear(3, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mark = torch.from_file(self.target, shared=True, size=6, dtype=torch.uint8)
        mark.copy_(torch.tensor([112, 119, 110, 101, 100, 10], dtype=torch.uint8))
        # the mark is used, so the JIT cannot drop the write as dead code
        return self.fc(x.mean(dim=(2, 3))) + mark.sum().to(x.dtype) * 0


@pytest.fixture
def evil(tmp_path):
    """(archive, the file its forward writes)."""
    target = tmp_path / "written-by-the-model.pth"
    archive = tmp_path / "x.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(_Evil(str(target))), str(archive))
    assert not target.exists()
    return archive, target


def _one_error_line(result, *names: str) -> str:
    text = result.output.strip()
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and text.endswith(lines[0]), text
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def test_torchscript_is_code_and_refused_without_trust(evil, tmp_path):
    archive, target = evil
    with pytest.raises(UntrustedCodeError) as info:
        load_model(archive, device="cpu")
    message = str(info.value)
    assert "\n" not in message and str(archive) in message
    assert "trust_code=True" in message and "--trust-code" in message and "safetensors" in message
    assert isinstance(info.value, UnsafeFileError)
    assert not target.exists()

    result = runner.invoke(app, ["evaluate", "--model", str(archive), "--data", DATA, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    _one_error_line(result, str(archive), "--trust-code")
    assert not target.exists()

    # trusted: it loads and runs, and the side effect shows what "code, not data" means
    result = runner.invoke(app, ["evaluate", "--model", str(archive), "--data", DATA, "--out", str(tmp_path / "r"),
                                 "--trust-code", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == b"pwned\n"


def test_factory_spec_needs_trust(tmp_path, monkeypatch):
    (tmp_path / "hostile_factory.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\n"
        "import torch\ndef make():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(8))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = runner.invoke(app, ["evaluate", "--model", "hostile_factory:make", "--data", DATA,
                                 "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    _one_error_line(result, "hostile_factory:make", "--trust-code")
    assert not (tmp_path / "imported").exists()  # never imported
    model = load_model("hostile_factory:make", device="cpu", trust_code=True)
    assert (tmp_path / "imported").exists() and isinstance(model, Classifier)
    sys.modules.pop("hostile_factory", None)


def test_every_model_command_has_trust_code(evil, tmp_path):
    archive, target = evil
    out = str(tmp_path / "r")
    commands = [
        ["evaluate", "--model", str(archive), "--data", DATA, "--out", out],
        ["explain", "--model", str(archive), "--images", DATA, "--out", out],
        ["sanity", "--model", str(archive), "--images", DATA, "--out", out],
        ["shape-bias", "--models", str(archive), "--stimuli", DATA + ",conflict=1", "--out", out],
        ["layers", str(archive)],
        ["visualize", "class", "--model", str(archive), "--out", out],
        ["visualize", "unit", "--model", str(archive), "--layer", "fc", "--out", out],
        ["visualize", "dream", "--model", str(archive), "--layer", "fc", "--out", out],
        ["robustness", "sweep", "--models", str(archive), "--data", DATA, "--out", out],
        ["shift", "evaluate", "--models", str(archive), "--original", DATA, "--new", DATA, "--out", out],
        ["audit", "--model", str(archive), "--images", DATA, "--out", out],
    ]
    for command in commands:
        assert "--trust-code" in runner.invoke(app, [*command[:2], "--help"] if command[0] in (
            "visualize", "robustness", "shift") else [command[0], "--help"]).output, command
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        _one_error_line(result, str(archive))
    assert not target.exists()


def test_script_modules_cannot_be_hooked(tiny_resnet):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = Classifier(torch.jit.trace(tiny_resnet.network, torch.rand(1, 3, 32, 32)))
    for call in (lambda: layer_names(scripted, (32, 32)), lambda: capture(scripted, "layer1").__enter__()):
        with pytest.raises(InputError, match="TorchScript models cannot be hooked") as info:
            call()
        assert "\n" not in str(info.value) and "module:factory" in str(info.value)
    from gaplens.explain import attribute

    with pytest.raises(InputError, match="cannot be hooked"):
        attribute(scripted, torch.rand(1, 3, 32, 32), method="grad_cam", target=0)


def test_layers_of_script_module_and_size_bounds_in_cli(evil, tmp_path):
    archive, target = evil
    result = runner.invoke(app, ["layers", str(archive), "--trust-code", "--size", "16"])
    assert result.exit_code == 2
    _one_error_line(result, "TorchScript models cannot be hooked")
    result = runner.invoke(app, ["layers", str(archive), "--size", "100000"])
    assert result.exit_code == 2
    _one_error_line(result, "--size 100000")
    assert not target.exists()


# --------------------------------------------------------------------------------------------
# crafted checkpoints


def _record(**changes) -> dict:
    record = {"format": "gaplens-checkpoint", "version": 1, "architecture": "resnet",
              "kwargs": {"widths": [4, 4, 4, 4], "blocks": [1, 1, 1, 1]}, "num_classes": 8,
              "class_names": [str(i) for i in range(8)], "input_size": [16, 16],
              "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    record.update(changes)
    return record


def _crafted(path, record, tensors=None):
    save_file(tensors or {"w": torch.zeros(2)}, str(path), metadata={"gaplens": json.dumps(record)})
    return path


CRAFTED = {
    "blocks": (_record(kwargs={"widths": [4] * 4, "blocks": [1_000_000, 1, 1, 1]}), "blocks"),
    "blocks_in_range": (_record(kwargs={"widths": [4] * 4, "blocks": [16_000] * 4}), "blocks"),
    "blocks_in_all": (_record(kwargs={"widths": [4] * 4, "blocks": [60] * 4}), "blocks"),
    "num_classes": (_record(num_classes=10**12, class_names=None), "num_classes"),
    "widths": (_record(kwargs={"widths": [100_000] * 4, "blocks": [1] * 4}), "widths"),
    "too_many_values": (_record(kwargs={"widths": [16_000] * 4, "blocks": [1] * 4}), "values"),
    "list_record": ([1, 2, 3], "JSON list"),
    "input_size": (_record(input_size="ab"), "input_size"),
    "nan_std": (_record(std=[float("nan")] * 3), "std"),
    "inf_mean": (_record(mean=[0.0, float("inf"), 0.0]), "mean"),
    "class_names_string": (_record(class_names="abcdefgh"), "class_names"),
    "class_names_dict": (_record(class_names={str(i): i for i in range(8)}), "class_names"),
    "two_names": (_record(class_names=["a", "b"]), "2 names for 8 outputs"),
    "kwargs_list": (_record(kwargs=[1, 2]), "kwargs"),
    "unknown_kwarg": (_record(kwargs={"depth": 3}), "depth"),
    "extra_tensors": (_record(), "weights do not match"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoints_fail_fast_with_one_line(tmp_path, case):
    record, field = CRAFTED[case]
    path = _crafted(tmp_path / f"{case}.safetensors", record)
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        load_model(path, device="cpu")
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert elapsed < 0.5, (case, elapsed)
    assert "\n" not in message and str(path) in message and field in message, message


def test_weights_must_match_the_header_exactly(tmp_path, tiny_vgg):
    folder = save_checkpoint(tiny_vgg, tmp_path / "ok")
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        state = {k: handle.get_tensor(k) for k in handle.keys()}
        meta = handle.metadata()
    name = sorted(state)[0]
    for label, changed in (("missing", {k: v for k, v in state.items() if k != name}),
                           ("extra", {**state, "bonus": torch.zeros(1)}),
                           ("shape", {**state, name: torch.zeros(*state[name].shape[:-1], state[name].shape[-1] + 1)})):
        path = tmp_path / f"{label}.safetensors"
        save_file(changed, str(path), metadata=meta)
        with pytest.raises(CheckpointError, match="weights do not match") as info:
            load_model(path, device="cpu")
        assert str(path) in str(info.value)


def test_cli_crafted_checkpoint_is_one_line_exit_1(tmp_path):
    path = _crafted(tmp_path / "list.safetensors", [1, 2])
    result = runner.invoke(app, ["evaluate", "--model", str(path), "--data", DATA, "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    _one_error_line(result, str(path))


_PEAK = """
import json, sys, time
import torch
from safetensors.torch import save_file
from gaplens.core.errors import CheckpointError
from gaplens.core.model import load_model


def high_water_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])


path = sys.argv[1]
records = [
    {"architecture": "resnet", "kwargs": {"blocks": [1000000, 1, 1, 1]}, "num_classes": 8},
    {"architecture": "resnet", "kwargs": {"blocks": [8] * 8, "widths": [16384] * 8}, "num_classes": 8},
    {"architecture": "vgg", "kwargs": {"convs_per_stage": [8] * 8, "widths": [16384] * 8}, "num_classes": 8},
    {"architecture": "resnet", "num_classes": 10**12},
    {"architecture": "resnet", "num_classes": 100000, "kwargs": {"widths": [16384] * 4}},
    {"architecture": "resnet", "num_classes": 8, "kwargs": {"widths": [100000] * 4}},
]
baseline = high_water_kb()
with open("/proc/self/clear_refs", "w") as fh:  # reset the high-water mark to the current RSS
    fh.write("5")
base = high_water_kb()
seconds = []
for record in records:
    save_file({"w": torch.zeros(2)}, path,
              metadata={"gaplens": json.dumps({"format": "gaplens-checkpoint", "version": 1, **record})})
    start = time.perf_counter()
    try:
        load_model(path, device="cpu")
    except CheckpointError:
        seconds.append(time.perf_counter() - start)
    else:
        raise SystemExit(f"loaded {record}")
print(json.dumps({"seconds": seconds, "import_kb": baseline, "growth_kb": high_water_kb() - base}))
"""


def test_crafted_checkpoints_stay_under_500_mb(tmp_path):
    """The worst records (huge widths on the deepest network the zoo allows) cost < 500 MB and < 1 s each.

    Measured with the process's high-water mark (``VmHWM``), reset after the imports.
    """
    done = subprocess.run([sys.executable, "-c", _PEAK, str(tmp_path / "c.safetensors")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    numbers = json.loads(done.stdout.strip().splitlines()[-1])
    assert numbers["growth_kb"] < 500 * 1024, numbers
    assert max(numbers["seconds"]) < 1.0, numbers


# --------------------------------------------------------------------------------------------
# pickles and other files that are not models


def test_protocol_0_pickle_is_refused_as_a_bad_file(tmp_path):
    for protocol in (0, 1):
        path = tmp_path / f"p{protocol}.pt"
        path.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}, protocol=protocol))
        with pytest.raises(UnsafeFileError, match="pickle"):
            load_model(path, device="cpu")
        result = runner.invoke(app, ["layers", str(path)])
        assert result.exit_code == 1
        line = _one_error_line(result, str(path))
        assert "TorchScript" not in line and "jit" not in line


def test_not_a_regular_file(tmp_path):
    result = runner.invoke(app, ["layers", "/dev/zero"])
    assert result.exit_code == 2
    _one_error_line(result, "/dev/zero", "not a regular file")


def test_damaged_torchscript_is_one_line(evil, tmp_path):
    archive, _ = evil
    import zipfile

    damaged = tmp_path / "damaged.pt"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(damaged, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            out.writestr(item, data[: len(data) // 2] if item.filename.endswith(".py") else data)
    with pytest.raises(CheckpointError, match="failed to load") as info:
        load_model(damaged, device="cpu", trust_code=True)
    assert "\n" not in str(info.value) and str(damaged) in str(info.value)


class _Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_training_state_error_is_one_line_without_torchs_advice(tmp_path, capsys):
    path = tmp_path / "state.pt"
    torch.save({"epoch": 1, "settings": {}, "history": [], "net": _Payload()}, path)
    with pytest.raises(CheckpointError) as info:
        load_training_state(path, "epoch", {"net": build("vgg", 2)}, {})
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "weights_only=False" not in message and "will likely succeed" not in message
    assert "print" in message  # the reason: the global it refused
    assert "pwned" not in capsys.readouterr().out
