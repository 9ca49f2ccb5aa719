"""What the GAN and pix2pix loops share: the checkpoint folder, resume, and the per-chunk seed.

A loop runs in chunks of ``save_every`` steps. Each chunk starts by seeding the global RNG from
``(seed, step)``, and after each chunk the whole state (networks, optimizers, position, history,
sample snapshots) is written atomically to ``out/STATE_FILE``. A run killed at any point and
restarted with ``resume=True`` restarts from the last finished chunk with the same RNG stream, so
it ends with the same weights as a run never interrupted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gaplens.core.errors import InputError
from gaplens.gan.state import load_state, save_state

STATE_FILE = "train_state.safetensors"


def chunk_seed(seed: int, step: int) -> int:
    """The global RNG seed at the start of the chunk that begins at ``step``."""
    return (seed * 1_000_003 + step) % (2 ** 63)


def check_steps(**values: object) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{name}={v!r}; expected an integer >= 1")


class Checkpoints:
    """The state file of one loop in ``out`` (``None``: no files; the loop still seeds its chunks)."""

    def __init__(self, out: str | os.PathLike | None, parts: Mapping[str, Any], settings: dict,
                 resume: bool) -> None:
        if resume and out is None:
            raise InputError("resume=True needs out= (the folder where the interrupted run saved its state)")
        self.folder = Path(out) if out is not None else None
        self.parts, self.settings = parts, settings
        self.resume = resume

    def load(self) -> tuple[int, list[dict], dict[str, Any]]:
        """``(first step, history, extra tensors)``: from the state file when resuming and it exists."""
        if self.resume and self.folder is not None and (self.folder / STATE_FILE).is_file():
            return load_state(self.folder / STATE_FILE, self.parts, self.settings)
        return 0, [], {}

    def save(self, position: int, history: list[dict], extra: Mapping[str, torch.Tensor] | None = None) -> None:
        if self.folder is not None:
            save_state(self.folder / STATE_FILE, position, self.parts, self.settings, history, extra)
