"""A training loop's resumable state as one safetensors file: tensors as tensors, the rest as JSON.

The state of modules, optimizers and schedulers (nested dicts, lists and tuples of tensors and
scalars; optimizer states are keyed by integers) is split into a flat dict of tensors and a JSON
structure that points to them, and both go into one safetensors file written atomically
(:func:`gaplens.core.files.atomic_write`). Nothing is pickled, so reading never runs code. A
resumed run refuses different settings, as :mod:`gaplens.core.training_state` does for
:func:`gaplens.train.fit`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gaplens.core.errors import CheckpointError, InputError
from gaplens.core.files import atomic_write

FORMAT = "gaplens-training-state"


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, Mapping):
        return {"__dict__": [[k, _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise InputError(f"cannot save a training state holding a {type(obj).__name__}; only tensors, numbers, "
                     "strings, lists, tuples and dicts")


def _decode(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        return {k: _decode(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


def save_state(path: Path, position: int, parts: Mapping[str, Any], settings: dict, history: list[dict],
               extra_tensors: Mapping[str, torch.Tensor] | None = None) -> None:
    """Write ``parts``' state dicts, the loop ``position``, ``settings``, ``history`` and ``extra_tensors``."""
    from safetensors.torch import save as st_save

    tensors: dict[str, torch.Tensor] = {}
    structure = {name: _encode(part.state_dict(), tensors) for name, part in parts.items()}
    extra = {name: _encode(t, tensors) for name, t in (extra_tensors or {}).items()}
    record = {"format": FORMAT, "position": position, "parts": structure, "extra": extra, "settings": settings,
              "history": history}
    atomic_write(path, st_save(tensors, metadata={"state": json.dumps(record)}))


def load_state(path: Path, parts: Mapping[str, Any], settings: dict) -> tuple[int, list[dict], dict[str, Any]]:
    """Load ``parts`` from ``path``; returns ``(position, history, extra_tensors)``.

    Raises:
        CheckpointError: the file is unreadable or lacks a part; a part's state does not fit.
        InputError: it was written with other settings (the differing ones are listed).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            record = json.loads((handle.metadata() or {}).get("state", "null"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot resume, the training state is unreadable ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); delete it to start over") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path}: cannot resume, not a gaplens training state; delete it to start over")
    missing = [k for k in parts if k not in record.get("parts", {})]
    if missing:
        raise CheckpointError(f"{path}: cannot resume, the training state lacks {missing}; delete it to start over")
    saved = record.get("settings", {})
    if saved != settings:
        changed = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
        raise InputError(f"{path}: cannot resume with different settings (saved vs now: {changed}); "
                         "use another checkpoint folder or the original settings")
    for name, part in parts.items():
        try:
            part.load_state_dict(_decode(record["parts"][name], tensors))
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise CheckpointError(f"{path}: cannot resume, its {name!r} state does not fit ({first}); "
                                  "delete it to start over") from exc
    extra = {name: _decode(v, tensors) for name, v in record.get("extra", {}).items()}
    return int(record["position"]), list(record["history"]), extra
