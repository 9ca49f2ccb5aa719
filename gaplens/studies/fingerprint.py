"""Fingerprints: short digests of everything that determines a unit's result.

A unit is skipped on resume only when its fingerprint is unchanged, so each input must be
digested by what it *is*, not by what it is called:

- a model by its weights: every parameter and buffer (names, dtypes, shapes, bytes), its class
  names, input size and normalization (:func:`model_digest`);
- data by content: tensors by their bytes; a ``synthetic:`` spec by its parsed arguments (the
  generator is deterministic in them); an image file by its bytes; an image folder by the
  relative path, size and modification time of each file (hashing a whole ImageNet folder's
  bytes on every run would cost more than many studies; a file rewritten in place with the same
  size within the file system's time resolution is the one change this misses);
- options by their canonical JSON (:func:`digest`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaplens.core.errors import InputError

__all__ = ["digest", "model_digest", "data_digest", "tensor_digest"]

_LENGTH = 16  # hex characters kept (64 bits): collisions among one run's units are negligible


def _hasher() -> hashlib._Hash:
    return hashlib.blake2b(digest_size=16)


def digest(value: Any) -> str:
    """Digest of a JSON-able value (dict keys sorted; tuples as lists; floats exact)."""
    text = json.dumps(value, sort_keys=True, default=_json_default, allow_nan=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:_LENGTH]


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return tensor_digest(value)
    if isinstance(value, np.ndarray):
        return tensor_digest(torch.from_numpy(value))
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise InputError(f"cannot fingerprint a value of type {type(value).__name__}; give a JSON-able description")


def _update_tensor(h: hashlib._Hash, tensor: torch.Tensor) -> None:
    t = tensor.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.numel():
        flat = t.reshape(-1)
        h.update(flat.numpy().tobytes() if t.dtype == torch.bool else flat.view(torch.uint8).numpy().tobytes())


def tensor_digest(tensor: torch.Tensor) -> str:
    """Digest of a tensor's dtype, shape and bytes."""
    h = _hasher()
    _update_tensor(h, tensor)
    return h.hexdigest()[:_LENGTH]


def model_digest(model: torch.nn.Module) -> str:
    """Digest of a model's weights: every parameter and buffer, class names, input size.

    Two models with equal weights and metadata have equal digests whatever their file names.
    """
    h = _hasher()
    h.update(type(model).__name__.encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        _update_tensor(h, tensor)
    h.update(json.dumps([getattr(model, "class_names", None), getattr(model, "input_size", None)],
                        default=str).encode())
    return h.hexdigest()[:_LENGTH]


def data_digest(data: object) -> str:
    """Digest of a dataset or image source: a spec string, a path, tensors or a dataset object."""
    if isinstance(data, (str, os.PathLike)):
        return _spec_digest(str(data))
    h = _hasher()
    if isinstance(data, torch.Tensor):
        _update_tensor(h, data)
        return h.hexdigest()[:_LENGTH]
    if isinstance(data, tuple):
        for part in data:
            h.update(data_digest(part).encode())
        return h.hexdigest()[:_LENGTH]
    images = getattr(data, "images", None)
    if isinstance(images, torch.Tensor):
        for attr in ("images", "labels", "masks", "texture_labels"):
            value = getattr(data, attr, None)
            if isinstance(value, torch.Tensor):
                h.update(attr.encode())
                _update_tensor(h, value)
        h.update(json.dumps(getattr(data, "class_names", None), default=str).encode())
        return h.hexdigest()[:_LENGTH]
    root = getattr(data, "root", None)
    if root is not None:  # an ImageFolder: its files, and the size it resizes to
        h.update(_folder_digest(Path(root)).encode())
        h.update(repr(getattr(data, "size", None)).encode())
        return h.hexdigest()[:_LENGTH]
    raise InputError(f"cannot fingerprint data of type {type(data).__name__}; give a spec, a folder or tensors")


def _spec_digest(spec: str) -> str:
    from gaplens.data.spec import SAMPLE_PREFIX, SYNTHETIC_PREFIX, parse_synthetic_spec

    if spec.startswith(SYNTHETIC_PREFIX):
        return digest({"synthetic": parse_synthetic_spec(spec)})
    if spec.startswith(SAMPLE_PREFIX):
        return digest({"sample": spec})
    path = Path(spec)
    if path.is_file():
        h = _hasher()
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()[:_LENGTH]
    if path.is_dir():
        return _folder_digest(path)
    return digest({"spec": spec})


def _folder_digest(root: Path) -> str:
    # The files an ImageFolder reads: symlinked folders followed, each real folder once (a link
    # loop neither hangs nor repeats), hidden ones included (cheap, and never wrong to include).
    from gaplens.data.folder import walk_once

    h = _hasher()
    entries = []
    for folder, _, files in walk_once(root, skip_hidden=False):
        for name in files:
            path = Path(folder) / name
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    for entry in sorted(entries):
        h.update(repr(entry).encode())
    return h.hexdigest()[:_LENGTH]

