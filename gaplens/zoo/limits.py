"""Bounds on the zoo's architecture kwargs: a checkpoint's record is untrusted input.

A record asking for a million blocks or 100000 channels is refused before anything is built.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaplens.core.errors import InputError

#: Channels of one stage.
MAX_WIDTH = 16_384
#: Residual blocks (ResNet) or convolutions (VGG) in one stage.
MAX_BLOCKS = 64
#: Residual blocks or convolutions in the whole network (ResNet-152 has 50 blocks, VGG-19 16
#: convolutions); also keeps building a checkpoint's network to check it well under a second.
MAX_TOTAL_BLOCKS = 64
#: Stages of one network.
MAX_STAGES = 8


def check_sizes(name: str, values: Sequence[object], limit: int, total: int | None = None) -> None:
    """Each of ``values`` is an integer in ``1..limit`` (and they sum to at most ``total``), else
    :class:`InputError` naming ``name``."""
    shown = repr(list(values))
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise InputError(f"{name}={shown}; each entry must be an integer in 1..{limit}")
    if total is not None and sum(values) > total:  # type: ignore[arg-type]
        raise InputError(f"{name}={shown} sum to {sum(values)}; at most {total} are allowed")  # type: ignore[arg-type]


def check_stages(widths: Sequence[object], counts_name: str, counts: Sequence[object]) -> None:
    """The zoo's bounds on stage widths and per-stage counts (blocks or convolutions)."""
    if len(widths) > MAX_STAGES:
        raise InputError(f"widths has {len(widths)} stages; at most {MAX_STAGES} are allowed")
    check_sizes("widths", widths, MAX_WIDTH)
    check_sizes(counts_name, counts, MAX_BLOCKS, MAX_TOTAL_BLOCKS)
