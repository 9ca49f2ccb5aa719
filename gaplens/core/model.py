"""Models: the :class:`Classifier` wrapper and :func:`load_model` for every kind of model spec.

A gaplens model maps images in image space, ``(N, 3, H, W)`` floats in ``[0, 1]``, to logits
``(N, K)``. The user's network usually expects normalized inputs; :class:`Classifier` carries
that normalization (mean/std), the class names and the input size, so every method works in
image space and every figure can name classes.

Model specs understood by :func:`load_model`:

============================ ==========================================================
``path/to/run/model``        a gaplens checkpoint folder (``model.safetensors``)
``path/to/model.safetensors`` a gaplens checkpoint file (architecture record inside)
``path/to/model.pt``         a TorchScript archive (``torch.jit.save``): code, needs ``trust_code=True``
``torchvision:resnet18``     torchvision architecture (``weights=PATH`` for local weights)
``timm:resnet18``            timm architecture (``weights=PATH`` for local weights)
``package.module:factory``   the user's own code: ``factory()`` returns a module; needs ``trust_code=True``
============================ ==========================================================

**Data, not code.** A gaplens checkpoint is data: safetensors weights plus a JSON record that
can only name a registered architecture, with bounded kwargs (see
:mod:`gaplens.core.architectures`); the network is built on the ``meta`` device and compared with
the file's tensor names and shapes before any memory is allocated. A TorchScript archive and a
``module:factory`` spec are code: loading them runs whatever the file or module holds (a
TorchScript ``forward`` can write files), so :func:`load_model` refuses them with
:class:`UntrustedCodeError` unless ``trust_code=True`` (the CLI's ``--trust-code``) says the user
trusts them. Untrusted pickles are never loaded: weights come from safetensors, or from
``torch.load`` with ``weights_only=True``; a pickle file is refused with :class:`UnsafeFileError`.
"""

from __future__ import annotations

import importlib
import json
import math
import numbers
import os
import pickletools
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from gaplens.core.architectures import build_architecture, build_on_meta, check_record_kwargs
from gaplens.core.device import resolve_device
from gaplens.core.errors import (
    CheckpointError,
    InputError,
    SpecError,
    UnsafeFileError,
    UntrustedCodeError,
    load_failure,
)
from gaplens.core.files import atomic_write

CHECKPOINT_FORMAT = "gaplens-checkpoint"
CHECKPOINT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
RECORD_FILE = "model.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The largest input side (pixels) a model may declare as its ``input_size``.
MAX_INPUT_SIDE = 8192

_CODE_ADVICE = (
    "pass trust_code=True (--trust-code) only for files and code you trust, or use a gaplens checkpoint "
    "(safetensors weights + a registered architecture), which is data"
)


def check_normalization(name: str, values: object) -> tuple[float, float, float]:
    """``values`` as 3 finite floats (``name`` is ``"mean"`` or ``"std"``; std must be positive)."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence) or len(values) != 3 or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        raise InputError(f"{name}={values!r}; expected 3 numbers (R, G, B)")
    floats = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in floats):
        raise InputError(f"{name}={list(floats)}; every value must be finite (not NaN or infinite)")
    if name == "std" and any(v <= 0 for v in floats):
        raise InputError(f"std={list(floats)} must be positive")
    return floats  # type: ignore[return-value]


def check_class_names(names: object, num_classes: int | None = None) -> list[str] | None:
    """``names`` as a list of strings (``None`` stays ``None``), ``num_classes`` long when given."""
    if names is None:
        return None
    if isinstance(names, (str, bytes, Mapping)) or not isinstance(names, Sequence):
        raise InputError(f"class_names is a {type(names).__name__}; expected a list of strings, one per class")
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise InputError(f"class_names holds {type(bad[0]).__name__} {bad[0]!r}; expected strings only")
    if num_classes is not None and len(names) != num_classes:
        raise InputError(f"class_names has {len(names)} names for {num_classes} outputs; give one name per output")
    return list(names)


def check_input_size(size: object) -> tuple[int, int] | None:
    """``size`` as ``(H, W)``: two integers in ``1..MAX_INPUT_SIDE`` (``None`` stays ``None``)."""
    if size is None:
        return None
    if (isinstance(size, (str, bytes, Mapping)) or not isinstance(size, Sequence) or len(size) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in size)
            or not all(1 <= int(v) <= MAX_INPUT_SIDE for v in size)):
        raise InputError(f"input_size={size!r}; expected two integers (H, W) in 1..{MAX_INPUT_SIDE}")
    return int(size[0]), int(size[1])


class Classifier(nn.Module):
    """A network plus the preprocessing that puts images in ``[0, 1]`` into its input space.

    ``forward(images)`` takes ``(N, 3, H, W)`` floats in ``[0, 1]`` and returns the network's
    logits ``(N, K)`` for ``(images - mean) / std``.

    Args:
        network: the wrapped ``nn.Module`` (its layers keep their names for hooks).
        mean, std: per-channel normalization (3 finite floats each, std positive); identity by
            default.
        class_names: K names (a list of strings), or ``None`` (then ``"0"``, ``"1"``, ... are
            used in figures).
        input_size: ``(H, W)`` the network was trained at (positive integers), or ``None`` when
            any size works.

    Raises:
        InputError: NaN or infinite mean/std, a non-positive std, class names that are not a
            list of strings, an input size that is not two positive integers.
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
        mean, std = check_normalization("mean", mean), check_normalization("std", std)
        self.network = network
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.class_names = check_class_names(class_names)
        self.input_size = check_input_size(input_size)

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
            "as gaplens checkpoints; save other models' state dict as safetensors and load it with "
            "weights=PATH on their architecture"
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


def _read_header(file: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """The tensor shapes and the metadata of a safetensors file, reading its header only.

    ``safe_open`` checks that the header is valid JSON, that the offsets tile the data and that
    the file is exactly as long as they say, without reading any tensor.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as handle:
            shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}
            meta = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: not a valid safetensors file ({_one_line(exc)})") from exc
    return shapes, meta


def _one_line(exc: BaseException, limit: int = 200) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]


def _parse_record(file: Path, meta: Mapping[str, str]) -> dict:
    """The gaplens record of a checkpoint, every field checked and bounded (nothing is built)."""
    if "gaplens" not in meta:
        raise CheckpointError(
            f"{file}: a safetensors file without a gaplens record (bare weights); load the "
            "architecture by spec and pass this file as weights="
        )
    try:
        record = json.loads(meta["gaplens"])
    except ValueError as exc:
        raise CheckpointError(f"{file}: the gaplens record is not JSON ({_one_line(exc)})") from exc
    if not isinstance(record, dict):
        raise CheckpointError(f"{file}: the gaplens record is a JSON {type(record).__name__}; expected an object")

    def bad(field: str, why: str) -> CheckpointError:
        return CheckpointError(f"{file}: malformed gaplens record: {field}: {why}")

    if record.get("format") != CHECKPOINT_FORMAT:
        raise bad("format", f"{record.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    version = record.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise bad("version", f"{version!r}, expected an integer")
    if version > CHECKPOINT_VERSION:
        raise bad("version", f"{version} is newer than this gaplens ({CHECKPOINT_VERSION})")
    if not isinstance(record.get("architecture"), str):
        raise bad("architecture", f"{record.get('architecture')!r}, expected a registered architecture name")
    if "num_classes" not in record:
        raise bad("num_classes", "missing")
    record.setdefault("kwargs", {})
    try:
        check_record_kwargs(record["num_classes"], record["kwargs"])
        record["mean"] = check_normalization("mean", record.get("mean", (0.0, 0.0, 0.0)))
        record["std"] = check_normalization("std", record.get("std", (1.0, 1.0, 1.0)))
        record["class_names"] = check_class_names(record.get("class_names"), record["num_classes"])
        record["input_size"] = check_input_size(record.get("input_size"))
    except InputError as exc:
        raise CheckpointError(f"{file}: malformed gaplens record: {exc}") from exc
    return record


def _read_checkpoint(file: Path) -> Classifier:
    """Check the record and the tensor shapes against the architecture, then allocate and load.

    The network is first built on the ``meta`` device (no memory) and its parameter and buffer
    names and shapes are compared with the safetensors header; only a file that matches exactly
    is built for real and read.
    """
    from safetensors import SafetensorError, safe_open

    shapes, meta = _read_header(file)
    record = _parse_record(file, meta)
    name, num_classes, kwargs = record["architecture"], record["num_classes"], record["kwargs"]
    try:
        skeleton = build_on_meta(name, num_classes, **kwargs)
    except (TypeError, ValueError) as exc:  # InputError is a ValueError
        raise CheckpointError(f"{file}: malformed gaplens record: {_one_line(exc)}") from exc
    header = {k: torch.empty(shape, device="meta") for k, shape in shapes.items()}
    parts = state_mismatches(skeleton.state_dict(), header)
    if parts:
        raise CheckpointError(f"{file}: weights do not match the architecture: " + "; ".join(parts))
    del skeleton, header
    network = build_architecture(name, num_classes, **kwargs)
    try:
        with safe_open(str(file), framework="pt") as handle:
            state = {k: handle.get_tensor(k) for k in shapes}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: not a valid safetensors file ({_one_line(exc)})") from exc
    _load_state(network, state, file)
    return Classifier(network, mean=record["mean"], std=record["std"], class_names=record["class_names"],
                      input_size=record["input_size"])


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

        shapes, _ = _read_header(file)  # compare shapes before reading any tensor
        parts = state_mismatches(network.state_dict(),
                                 {k: torch.empty(v, device="meta") for k, v in shapes.items()})
        if parts:
            raise CheckpointError(f"{file}: weights do not match the architecture: " + "; ".join(parts))
        try:
            state = load_file(str(file))
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{file}: not a valid safetensors file ({_one_line(exc)})") from exc
    else:
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
            raise UnsafeFileError(
                f"{file}: refused; it is not a plain tensor state dict that loads with "
                f"weights_only=True ({load_failure(exc)})"
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
    if head[:1] == b"\x80" or file.suffix in {".pkl", ".pickle"} or _text_pickle(file, head):
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


# opcodes a protocol 0 or 1 pickle starts with: MARK, GLOBAL, EMPTY_LIST/DICT/TUPLE, NONE, INT,
# LONG, FLOAT, STRING, UNICODE, BININT*, BINFLOAT, SHORT_BINSTRING, BINSTRING, BINUNICODE
_TEXT_PICKLE_START = frozenset(b"(c]})NILFSVJKMGUTX")


def _text_pickle(file: Path, head: bytes) -> bool:
    """Whether ``file`` looks like a protocol 0/1 pickle (no ``\\x80`` PROTO opcode): its first
    opcodes parse (``pickletools`` only reads them, it runs nothing) and it ends with STOP."""
    if not head or head[0] not in _TEXT_PICKLE_START:
        return False
    size = file.stat().st_size
    with file.open("rb") as fh:
        fh.seek(max(0, size - 1))
        if fh.read(1) != b".":
            return False
        fh.seek(0)
        sample = fh.read(65536)
    parsed = 0
    try:
        for _ in pickletools.genops(sample):
            parsed += 1
            if parsed >= 3:
                break
    except Exception:  # noqa: BLE001  (any parse failure: not a pickle we recognise)
        pass
    return parsed >= 3


_FACTORY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")


def load_model(
    spec: str | os.PathLike | nn.Module,
    device: str | torch.device = "auto",
    weights: str | os.PathLike | None = None,
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    input_size: Sequence[int] | None = None,
    trust_code: bool = False,
    **constructor_kwargs: object,
) -> Classifier:
    """Load a model from a spec (see the module docstring) as an eval-mode :class:`Classifier`.

    Args:
        spec: checkpoint folder/file, TorchScript file, ``torchvision:NAME``, ``timm:NAME``,
            ``package.module:factory``, or an ``nn.Module`` to wrap.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
        weights: a local weights file for ``torchvision:``/``timm:``/factory specs.
        class_names, mean, std, input_size: override or supply what the spec does not record
            (torchvision/timm default to ImageNet's mean/std, the architecture's input size --
            224, 299 for Inception, what its weights' preset crops to -- and, with the default
            1000 outputs, the ImageNet class names the package ships).
        constructor_kwargs: keyword arguments for the ``torchvision:``/``timm:`` constructor,
            e.g. ``num_classes=10`` (other specs refuse them).
        trust_code: allow specs that are code: a TorchScript archive (its ``forward`` is a
            program that can read and write files) and ``package.module:factory`` (imports and
            calls the module). Pass ``True`` only for files and modules you trust; a gaplens
            checkpoint (safetensors + a registered architecture) is data and needs no trust.

    Raises:
        SpecError: unknown spec kind, missing file, package not installed.
        UntrustedCodeError: a TorchScript archive or ``module:factory`` spec without
            ``trust_code=True`` (a :class:`SpecError`; nothing of it is run).
        UnsafeFileError: the file is a pickle (never unpickled).
        CheckpointError: malformed checkpoint (fields out of bounds, NaN normalization, class
            names that are not one string per output) or weights that do not match.

    >>> from gaplens.zoo import build
    >>> m = load_model(build("vgg", num_classes=3), device="cpu")
    >>> m(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 3])
    """
    dev = resolve_device(device)
    defaults: dict = {}
    if isinstance(spec, nn.Module):
        if constructor_kwargs:
            raise SpecError(f"constructor arguments {sorted(constructor_kwargs)} given with a built module")
        model = spec if isinstance(spec, Classifier) else Classifier(spec)
    else:
        text = str(spec)
        path = Path(text)
        if constructor_kwargs and not text.startswith(("torchvision:", "timm:")):
            raise SpecError(f"model spec {text!r}: constructor arguments {sorted(constructor_kwargs)} apply to "
                            "'torchvision:NAME' and 'timm:NAME' specs only")
        if text.startswith(("torchvision:", "timm:")):
            model = _load_hub_architecture(text, constructor_kwargs)
            defaults = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
        elif path.exists():
            model = _load_path(path, trust_code)
        elif _FACTORY.match(text):
            if not trust_code:
                raise UntrustedCodeError(
                    f"model spec {text!r}: a module:factory spec is code, loading it imports and runs "
                    f"{text.partition(':')[0]}; {_CODE_ADVICE}"
                )
            model = _load_factory(text)
        else:
            raise SpecError(
                f"model spec {text!r}: no such file or folder, and not 'torchvision:NAME', "
                "'timm:NAME' or 'package.module:factory'"
            )
        if weights is not None:
            load_weights(model.network, weights)
    if mean is not None or "mean" in defaults:
        chosen = check_normalization("mean", mean if mean is not None else defaults["mean"])
        model.mean.copy_(torch.tensor(chosen).view(1, 3, 1, 1))
    if std is not None or "std" in defaults:
        chosen = check_normalization("std", std if std is not None else defaults["std"])
        model.std.copy_(torch.tensor(chosen).view(1, 3, 1, 1))
    if class_names is not None:
        outputs = getattr(model.network, "num_classes", None)
        model.class_names = check_class_names(class_names, outputs if isinstance(outputs, int) else None)
    if input_size is not None:
        model.input_size = check_input_size(input_size)
    return model.to(dev).eval()


_SAFE_FORMAT = (
    "save the weights as a safetensors state dict and load them with weights=PATH on their architecture, "
    "or save a gaplens checkpoint"
)


def _load_path(path: Path, trust_code: bool = False) -> Classifier:
    if path.is_dir():
        file = path / WEIGHTS_FILE
        if not file.is_file():
            raise SpecError(f"{path}: a folder without {WEIGHTS_FILE}; expected a gaplens checkpoint folder")
        return _read_checkpoint(file)
    if not path.is_file():
        raise SpecError(f"{path}: not a regular file (a device, a pipe, ...); expected a model file or folder")
    kind = _file_kind(path)
    if kind == "safetensors":
        return _read_checkpoint(path)
    if kind == "torchscript":
        if not trust_code:
            raise UntrustedCodeError(
                f"{path}: a TorchScript archive is code, not data: loading and running it runs the program "
                f"stored in the file; {_CODE_ADVICE}"
            )
        try:
            # TorchScript is deprecated in recent torch; still loaded, for code the user trusts
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                network = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # RuntimeError, and whatever a damaged archive makes torch raise
            raise CheckpointError(f"{path}: TorchScript archive failed to load ({load_failure(exc)})") from exc
        return Classifier(network)
    if kind == "torch-export":
        raise UnsafeFileError(
            f"{path}: a torch.export (.pt2) archive; torch.export.load unpickles parts of it with "
            f"weights_only=False, so gaplens refuses it; {_SAFE_FORMAT}"
        )
    if kind == "torch-zip":
        raise UnsafeFileError(
            f"{path}: a torch.save archive (pickled objects), not a model gaplens can load safely; "
            f"{_SAFE_FORMAT} (a torch state dict file also works as weights=PATH: it is read with "
            "weights_only=True)"
        )
    if kind == "pickle":
        raise UnsafeFileError(f"{path}: a Python pickle; gaplens never unpickles untrusted files; {_SAFE_FORMAT}")
    raise SpecError(
        f"{path}: unrecognised model file; expected a gaplens checkpoint (.safetensors or folder) "
        "or a TorchScript archive (with trust_code=True)"
    )


def _load_hub_architecture(spec: str, kwargs: dict | None = None) -> Classifier:
    """A torchvision/timm architecture (random weights) with its input size and, when it has the
    default 1000 outputs, the ImageNet class names its package ships (never downloaded)."""
    package, _, name = spec.partition(":")
    kwargs = dict(kwargs or {})
    try:
        lib = importlib.import_module(package)
    except ImportError as exc:
        raise SpecError(f"model spec {spec!r}: {package} is not installed (pip install 'gaplens[{package}]')") from exc
    if package == "torchvision":
        try:
            network = lib.models.get_model(name, weights=None, **kwargs)
        except (ValueError, KeyError) as exc:
            raise SpecError(f"model spec {spec!r}: torchvision has no model {name!r}") from exc
        except TypeError as exc:
            raise SpecError(f"model spec {spec!r}: {exc}") from exc
        size, names = _torchvision_meta(lib, name, network)
    else:
        try:
            network = lib.create_model(name, pretrained=False, **kwargs)
        except RuntimeError as exc:
            raise SpecError(f"model spec {spec!r}: timm has no model {name!r}") from exc
        except TypeError as exc:
            raise SpecError(f"model spec {spec!r}: {exc}") from exc
        size, names = _timm_meta(lib, network)
    outputs = _hub_outputs(network)
    if names is not None and outputs is not None and len(names) != outputs:
        names = None  # a new head (num_classes=...): the ImageNet names do not apply
    return Classifier(network, mean=IMAGENET_MEAN, std=IMAGENET_STD, class_names=names, input_size=size)


def _hub_outputs(network: nn.Module) -> int | None:
    for attr in ("num_classes",):
        value = getattr(network, attr, None)
        if isinstance(value, int):
            return value
    last = [m for m in network.modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else None


def _torchvision_meta(lib, name: str, network: nn.Module) -> tuple[tuple[int, int] | None, list[str] | None]:
    """Input size and class names from the architecture's default weights' metadata (no download)."""
    size = getattr(network, "image_size", None)  # ViTs record theirs
    names = None
    try:
        weights = lib.models.get_model_weights(name).DEFAULT
        names = list(weights.meta.get("categories") or []) or None
        crop = getattr(weights.transforms(), "crop_size", None)
        if size is None and crop:
            size = crop[0] if isinstance(crop, (list, tuple)) else crop
    except Exception:  # no weights enum for this architecture, or an older torchvision: leave unknown
        pass
    if size is None:
        size = 299 if name.startswith("inception") else 224
    return (int(size), int(size)), names


def _timm_meta(lib, network: nn.Module) -> tuple[tuple[int, int] | None, list[str] | None]:
    cfg = getattr(network, "pretrained_cfg", None) or getattr(network, "default_cfg", None) or {}
    shape = cfg.get("input_size")
    size = (int(shape[-2]), int(shape[-1])) if shape else None
    names = None
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(network)
        if subset:
            info = ImageNetInfo(subset)
            names = [info.index_to_description(i) for i in range(getattr(network, "num_classes", 0))]
    except Exception:  # an older timm without ImageNetInfo: leave the names unknown
        names = None
    return size, names or None


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
