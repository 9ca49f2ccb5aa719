"""The resumable state of a training loop: one file, written atomically, read without unpickling code.

:func:`gaplens.train.fit` and :func:`gaplens.bias.train_decoder` both save, after each epoch or
every few steps, the network, optimizer and scheduler states with the loop's position, its
settings and its history; a resumed run refuses different settings, so it ends exactly where an
uninterrupted run would.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import torch

from gaplens.core.errors import CheckpointError, InputError, load_failure
from gaplens.core.files import atomic_write


def save_training_state(path: Path, position_key: str, position: int, parts: Mapping[str, object],
                        settings: dict, history: list[dict]) -> None:
    """Write ``{position_key: position, name: part.state_dict() for parts, settings, history}`` atomically."""
    buffer = io.BytesIO()
    torch.save({position_key: position, **{name: part.state_dict() for name, part in parts.items()},
                "settings": settings, "history": history}, buffer)
    atomic_write(path, buffer.getvalue())


def load_training_state(path: Path, position_key: str, parts: Mapping[str, object],
                        settings: dict) -> tuple[int, list[dict]]:
    """Load ``parts`` (modules, optimizers, schedulers) from ``path``; returns (position, history).

    Raises:
        CheckpointError: the file is unreadable (or would need unpickling code).
        InputError: it was written with other settings (the differing ones are listed).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # one line, without torch's advice to load it with weights_only=False
        raise CheckpointError(f"{path}: cannot resume, the training state is unreadable ({load_failure(exc)}); "
                              "delete it to start over") from exc
    missing = [k for k in (position_key, "history", *parts) if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path}: cannot resume, the training state lacks {missing}; delete it to start over")
    saved = state.get("settings", {})
    if saved != settings:
        changed = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
        raise InputError(
            f"{path}: cannot resume with different settings (saved vs now: {changed}); "
            "use another checkpoint folder or the original settings"
        )
    for name, part in parts.items():
        try:
            part.load_state_dict(state[name])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise CheckpointError(f"{path}: cannot resume, its {name!r} state does not fit ({first}); "
                                  "delete it to start over") from exc
    return int(state[position_key]), list(state["history"])
