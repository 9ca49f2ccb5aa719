"""Device selection: "auto" means CUDA when present, and work follows the model's device."""

from __future__ import annotations

import torch
from torch import nn

from gaplens.core.errors import InputError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` / ``None`` / a name / a ``torch.device`` into a ``torch.device``.

    ``"auto"`` picks ``cuda`` when a GPU is available, else ``cpu``. An unavailable CUDA device
    raises :class:`InputError` rather than failing later inside a forward pass.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device={device!r} is not a device; expected 'auto', 'cpu', 'cuda[:i]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device!r} asked for CUDA but no GPU is available; use 'cpu' or 'auto'")
    return dev


def model_device(model: nn.Module, default: torch.device | None = None) -> torch.device:
    """The device of a model's first parameter (or buffer).

    A model with neither runs wherever its input is: ``default`` (e.g. ``inputs.device``) is
    returned, or the CPU when no default is given.

    >>> model_device(torch.nn.Linear(2, 2))
    device(type='cpu')
    >>> model_device(torch.nn.ReLU(), default=torch.device("meta"))
    device(type='meta')
    """
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return default if default is not None else torch.device("cpu")
