"""GAN networks as checkpoints: safetensors weights with a JSON record of the builder, never a pickle.

A folder holds ``NAME.safetensors`` (the weights; the record in its metadata) and ``NAME.json``
(the same record, for people), both written atomically. The record names a builder registered in
:data:`gaplens.gan.registry.NETWORKS` and its keyword arguments (bounded like every gaplens
checkpoint's), so loading builds the network from data and never runs code from the file.
A network gaplens did not build is saved with ``"architecture": null``: load it into your own
instance with ``load_network(folder, NAME, network=...)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from gaplens.core.architectures import check_record_kwargs
from gaplens.core.errors import CheckpointError, InputError
from gaplens.core.files import atomic_write
from gaplens.core.model import load_weights

FORMAT = "gaplens-gan-network"
VERSION = 1


def save_network(network: nn.Module, folder: str | os.PathLike, name: str, **extra: object) -> Path:
    """Write ``folder/NAME.safetensors`` and ``folder/NAME.json``; returns the weights file.

    ``extra`` (JSON-able) is stored in the record, e.g. the data range or the noise size.
    """
    from safetensors.torch import save as st_save

    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"name={name!r}; expected letters, digits, '-' and '_'")
    arch = getattr(network, "gan_arch", None)
    record = {"format": FORMAT, "version": VERSION, "architecture": arch["name"] if arch else None,
              "kwargs": arch["kwargs"] if arch else {}, **extra}
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    target = Path(folder)
    atomic_write(target / f"{name}.safetensors", st_save(state, metadata={"gaplens": json.dumps(record)}))
    atomic_write(target / f"{name}.json", (json.dumps(record, indent=2) + "\n").encode())
    return target / f"{name}.safetensors"


def read_record(folder: str | os.PathLike, name: str) -> dict:
    """The record stored in ``folder/NAME.safetensors`` (its header only)."""
    from safetensors import SafetensorError, safe_open

    file = Path(folder) / f"{name}.safetensors"
    if not file.is_file():
        raise CheckpointError(f"{file}: no such checkpoint (expected {name}.safetensors in {folder})")
    try:
        with safe_open(str(file), framework="pt") as handle:
            meta = handle.metadata() or {}
        record = json.loads(meta.get("gaplens", "null"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: not a readable GAN checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{file}: not a gaplens GAN network (its record's format is not {FORMAT!r})")
    return record


def load_network(folder: str | os.PathLike, name: str, network: nn.Module | None = None,
                 device: str | torch.device = "cpu") -> nn.Module:
    """Build the network recorded in ``folder/NAME.safetensors`` (or use ``network``) and load its weights.

    Returns it in eval mode on ``device``.

    Raises:
        CheckpointError: the file is missing, not a GAN checkpoint, or its weights do not fit.
        InputError: the record's kwargs exceed gaplens's bounds or name an unknown builder.
    """
    from gaplens.gan.networks import build_network

    record = read_record(folder, name)
    file = Path(folder) / f"{name}.safetensors"
    if network is None:
        arch = record.get("architecture")
        if arch is None:
            raise CheckpointError(f"{file}: the network was not built by gaplens; pass network= (an instance of "
                                  "its architecture) to load the weights into it")
        kwargs = record.get("kwargs", {})
        check_record_kwargs(1, kwargs)
        network = build_network(str(arch), **kwargs)
    load_weights(network, file)
    return network.to(device).eval()
