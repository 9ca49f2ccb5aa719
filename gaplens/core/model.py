"""Models: the :class:`Classifier` wrapper and :func:`load_model` for every kind of model spec.

A gaplens model maps images in image space, ``(N, 3, H, W)`` floats in ``[0, 1]``, to logits
``(N, K)``. The user's network usually expects normalized inputs; :class:`Classifier` carries
that normalization (mean/std), the class names and the input size, so every method works in
image space and every figure can name classes.

Model specs understood by :func:`load_model`:

============================ ==========================================================
``path/to/run/model``        a gaplens checkpoint folder (``model.safetensors``)
``path/to/model.safetensors`` a gaplens checkpoint file (architecture record inside)
``path/to/model.pt``         a TorchScript archive (``torch.jit.save``)
``torchvision:resnet18``     torchvision architecture (``weights=PATH`` for local weights)
``timm:resnet18``            timm architecture (``weights=PATH`` for local weights)
``package.module:factory``   the user's own code: ``factory()`` returns a module
============================ ==========================================================

Untrusted pickles are never loaded: weights come from safetensors, or from ``torch.load`` with
``weights_only=True``; a plain pickle file is refused with :class:`UnsafeFileError`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from gaplens.core.architectures import build_architecture
from gaplens.core.device import resolve_device
from gaplens.core.errors import CheckpointError, InputError, SpecError, UnsafeFileError
from gaplens.core.files import atomic_write

CHECKPOINT_FORMAT = "gaplens-checkpoint"
CHECKPOINT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
RECORD_FILE = "model.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Classifier(nn.Module):
    """A network plus the preprocessing that puts images in ``[0, 1]`` into its input space.

    ``forward(images)`` takes ``(N, 3, H, W)`` floats in ``[0, 1]`` and returns the network's
    logits ``(N, K)`` for ``(images - mean) / std``.

    Args:
        network: the wrapped ``nn.Module`` (its layers keep their names for hooks).
        mean, std: per-channel normalization (3 floats each); identity by default.
        class_names: K names, or ``None`` (then ``"0"``, ``"1"``, ... are used in figures).
        input_size: ``(H, W)`` the network was trained at, or ``None`` when any size works.
    """

    def __init__(
        self,
        network: nn.Module,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        class_names: Sequence[str] | None = None,
        input_size: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if len(mean) != 3 or len(std) != 3:
            raise InputError(f"mean={list(mean)} and std={list(std)} must have 3 values (RGB)")
        if any(float(s) <= 0 for s in std):
            raise InputError(f"std={list(std)} must be positive")
        self.network = network
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, 3, 1, 1))
        self.class_names = list(class_names) if class_names is not None else None
        self.input_size = tuple(int(v) for v in input_size) if input_size is not None else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network((images - self.mean.to(images.dtype)) / self.std.to(images.dtype))

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    def class_name(self, index: int) -> str:
        """The name of class ``index`` (its number when the model has no names)."""
        if self.class_names is not None and 0 <= index < len(self.class_names):
            return self.class_names[index]
        return str(index)

    def extra_repr(self) -> str:
        return f"classes={self.num_classes}, input_size={self.input_size}"


# --------------------------------------------------------------------------------------------
# gaplens checkpoints: safetensors weights with the JSON record in the header metadata, plus a
# human-readable copy of the record beside it.


def checkpoint_record(model: Classifier) -> dict:
    """The JSON record that describes a zoo-built Classifier (architecture, classes, preprocessing)."""
    arch = getattr(model.network, "gaplens_arch", None)
    if arch is None:
        raise InputError(
            "only networks built by gaplens.zoo.build (or a registered architecture) can be saved "
            "as gaplens checkpoints; save other models with torch.jit.save"
        )
    state_keys = list(model.network.state_dict())
    out_features = _num_outputs(model)
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "architecture": arch["name"],
        "kwargs": arch["kwargs"],
        "num_classes": out_features,
        "class_names": model.class_names,
        "input_size": list(model.input_size) if model.input_size else None,
        "mean": model.mean.flatten().tolist(),
        "std": model.std.flatten().tolist(),
        "num_tensors": len(state_keys),
    }


def _num_outputs(model: Classifier) -> int:
    if model.class_names is not None:
        return len(model.class_names)
    num = getattr(model.network, "num_classes", None)
    if num is None:
        raise InputError("cannot tell the number of classes: give the Classifier class_names")
    return int(num)


def save_checkpoint(model: Classifier, path: str | os.PathLike) -> Path:
    """Save a zoo-built Classifier as a gaplens checkpoint folder; returns the folder.

    The folder holds ``model.safetensors`` (weights; the record in its metadata) and
    ``model.json`` (the same record, for people). Both are written atomically.
    """
    from safetensors.torch import save as st_save

    folder = Path(path)
    if folder.suffix == ".safetensors":
        raise InputError(f"save_checkpoint(path={str(path)!r}): give a folder, not a file name")
    folder.mkdir(parents=True, exist_ok=True)
    record = checkpoint_record(model)
    state = {k: v.detach().cpu().contiguous() for k, v in model.network.state_dict().items()}
    blob = st_save(state, metadata={"gaplens": json.dumps(record)})
    atomic_write(folder / WEIGHTS_FILE, blob)
    atomic_write(folder / RECORD_FILE, (json.dumps(record, indent=2) + "\n").encode())
    return folder


def _read_checkpoint(file: Path) -> Classifier:
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    data = file.read_bytes()
    try:
        state = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file}: not a valid safetensors file ({exc})") from exc
    meta = header.get("__metadata__") or {}
    if "gaplens" not in meta:
        raise CheckpointError(
            f"{file}: a safetensors file without a gaplens record (bare weights); load the "
            "architecture by spec and pass this file as weights="
        )
    try:
        record = json.loads(meta["gaplens"])
        if record.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"format {record.get('format')!r}")
        if int(record.get("version", 0)) > CHECKPOINT_VERSION:
            raise ValueError(f"version {record.get('version')} is newer than this gaplens")
        network = build_architecture(
            record["architecture"], int(record["num_classes"]), **record.get("kwargs", {})
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{file}: malformed gaplens record ({exc})") from exc
    _load_state(network, state, file)
    return Classifier(
        network,
        mean=record.get("mean", (0.0, 0.0, 0.0)),
        std=record.get("std", (1.0, 1.0, 1.0)),
        class_names=record.get("class_names"),
        input_size=record.get("input_size"),
    )


def list_keys(keys: Sequence[str], limit: int = 10) -> str:
    """``['a', 'b', ...] (n)``: at most ``limit`` keys, and how many there are."""
    shown = ", ".join(repr(k) for k in keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}] ({len(keys)})"


def state_mismatches(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor],
                     order: Callable[[str], object] | None = None) -> list[str]:
    """What keeps ``state`` from loading into a network whose state dict is ``own``, as message parts.

    Missing keys, unexpected keys and wrong shapes (sorted by ``order``, default by name); an
    empty list means the state dict loads strictly.
    """
    missing = sorted(set(own) - set(state), key=order)
    unexpected = sorted(set(state) - set(own), key=order)
    wrong = sorted((k for k in set(own) & set(state) if own[k].shape != state[k].shape), key=order)
    parts = []
    if missing:
        parts.append(f"missing keys {list_keys(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {list_keys(unexpected)}")
    if wrong:
        shapes = ", ".join(f"{k}: {tuple(state[k].shape)} instead of {tuple(own[k].shape)}" for k in wrong[:10])
        parts.append(f"wrong shapes [{shapes}{', ...' if len(wrong) > 10 else ''}]")
    return parts


def _load_state(network: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    parts = state_mismatches(network.state_dict(), state)
    if parts:
        raise CheckpointError(f"{source}: weights do not match the architecture: " + "; ".join(parts))
    network.load_state_dict(state)


def load_weights(network: nn.Module, weights: str | os.PathLike) -> None:
    """Load a state dict from ``weights`` (.safetensors, or a torch file read with weights_only)."""
    file = Path(weights)
    if not file.is_file():
        raise SpecError(f"weights={str(weights)!r}: no such file")
    if file.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(file))
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{file}: not a valid safetensors file ({exc})") from exc
    else:
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
            raise UnsafeFileError(
                f"{file}: refused; it is not a plain tensor state dict that loads with "
                f"weights_only=True ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            ) from exc
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{file}: expected a dict of tensors (a state dict)")
    _load_state(network, state, file)


def _file_kind(file: Path) -> str:
    """'safetensors', 'torchscript', 'torch-export', 'torch-zip' (torch.save), 'pickle' or 'unknown'."""
    with file.open("rb") as fh:
        head = fh.read(16)
    if zipfile.is_zipfile(file):
        with zipfile.ZipFile(file) as zf:
            names = zf.namelist()
        if any("/code/" in n or n.startswith("code/") for n in names) and any(
            n.endswith("constants.pkl") for n in names
        ):
            return "torchscript"
        if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
            return "torch-export"
        if any(n.endswith("data.pkl") for n in names):
            return "torch-zip"
        return "unknown"
    if head[:1] == b"\x80" or file.suffix in {".pkl", ".pickle"}:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


_FACTORY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")


def load_model(
    spec: str | os.PathLike | nn.Module,
    device: str | torch.device = "auto",
    weights: str | os.PathLike | None = None,
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    input_size: Sequence[int] | None = None,
) -> Classifier:
    """Load a model from a spec (see the module docstring) as an eval-mode :class:`Classifier`.

    Args:
        spec: checkpoint folder/file, TorchScript file, ``torchvision:NAME``, ``timm:NAME``,
            ``package.module:factory``, or an ``nn.Module`` to wrap.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
        weights: a local weights file for ``torchvision:``/``timm:``/factory specs.
        class_names, mean, std, input_size: override or supply what the spec does not record
            (torchvision/timm default to ImageNet's mean/std).

    Raises:
        SpecError: unknown spec kind, missing file, package not installed.
        UnsafeFileError: the file is a pickle (never unpickled).
        CheckpointError: malformed checkpoint or weights that do not match.

    >>> from gaplens.zoo import build
    >>> m = load_model(build("vgg", num_classes=3), device="cpu")
    >>> m(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 3])
    """
    dev = resolve_device(device)
    defaults: dict = {}
    if isinstance(spec, nn.Module):
        model = spec if isinstance(spec, Classifier) else Classifier(spec)
    else:
        text = str(spec)
        path = Path(text)
        if text.startswith(("torchvision:", "timm:")):
            model = _load_hub_architecture(text)
            defaults = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
        elif path.exists():
            model = _load_path(path)
        elif _FACTORY.match(text):
            model = _load_factory(text)
        else:
            raise SpecError(
                f"model spec {text!r}: no such file or folder, and not 'torchvision:NAME', "
                "'timm:NAME' or 'package.module:factory'"
            )
        if weights is not None:
            load_weights(model.network, weights)
    if mean is not None or "mean" in defaults:
        model.mean.copy_(torch.tensor(mean if mean is not None else defaults["mean"]).view(1, 3, 1, 1))
    if std is not None or "std" in defaults:
        model.std.copy_(torch.tensor(std if std is not None else defaults["std"]).view(1, 3, 1, 1))
    if class_names is not None:
        model.class_names = list(class_names)
    if input_size is not None:
        model.input_size = tuple(int(v) for v in input_size)
    return model.to(dev).eval()


def _load_path(path: Path) -> Classifier:
    if path.is_dir():
        file = path / WEIGHTS_FILE
        if not file.is_file():
            raise SpecError(f"{path}: a folder without {WEIGHTS_FILE}; expected a gaplens checkpoint folder")
        return _read_checkpoint(file)
    kind = _file_kind(path)
    if kind == "safetensors":
        return _read_checkpoint(path)
    if kind == "torchscript":
        try:
            # TorchScript is deprecated in recent torch but is still the one self-describing
            # format whose loader never runs a full Python unpickler.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                network = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: TorchScript archive failed to load ({exc})") from exc
        return Classifier(network)
    if kind == "torch-export":
        raise UnsafeFileError(
            f"{path}: a torch.export (.pt2) archive; torch.export.load unpickles parts of it with "
            "weights_only=False, so gaplens refuses it. Save the model with torch.jit.save, or as a "
            "state dict in safetensors with a module:factory spec"
        )
    if kind == "torch-zip":
        raise UnsafeFileError(
            f"{path}: a torch.save archive (pickled objects), not a model gaplens can load safely; "
            "save the model with torch.jit.save, or pass an architecture spec with weights=PATH "
            "(state dicts are read with weights_only=True)"
        )
    if kind == "pickle":
        raise UnsafeFileError(
            f"{path}: a Python pickle; gaplens never unpickles untrusted files. Convert it to a "
            "safetensors state dict or a TorchScript archive"
        )
    raise SpecError(
        f"{path}: unrecognised model file; expected a gaplens checkpoint (.safetensors or folder) "
        "or a TorchScript archive"
    )


def _load_hub_architecture(spec: str) -> Classifier:
    package, _, name = spec.partition(":")
    try:
        lib = importlib.import_module(package)
    except ImportError as exc:
        raise SpecError(f"model spec {spec!r}: {package} is not installed (pip install 'gaplens[{package}]')") from exc
    if package == "torchvision":
        try:
            network = lib.models.get_model(name, weights=None)
        except (ValueError, KeyError) as exc:
            raise SpecError(f"model spec {spec!r}: torchvision has no model {name!r}") from exc
    else:
        try:
            network = lib.create_model(name, pretrained=False)
        except RuntimeError as exc:
            raise SpecError(f"model spec {spec!r}: timm has no model {name!r}") from exc
    return Classifier(network, mean=IMAGENET_MEAN, std=IMAGENET_STD)


def _load_factory(spec: str) -> Classifier:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(f"model spec {spec!r}: cannot import module {module_name!r} ({exc})") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise SpecError(f"model spec {spec!r}: {module_name} has no callable {attr!r}")
    network = factory()
    if not isinstance(network, nn.Module):
        raise SpecError(f"model spec {spec!r}: {attr}() returned {type(network).__name__}, expected an nn.Module")
    return network if isinstance(network, Classifier) else Classifier(network)
