"""Bounded-memory batching: apply a function to a large batch in chunks.

Every method that evaluates many inputs bounds its memory with ``batch_size``: rows that
already exist as tensors (images and their targets) go through :func:`map_batches`; inputs made
on the fly (IG steps, SmoothGrad samples, occlusion windows) are generated and evaluated one
chunk at a time, so that the whole expanded batch never exists at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from gaplens.core.errors import InputError


def check_batch_size(batch_size: int) -> int:
    """Validate a ``batch_size`` argument (a positive int) and return it."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size={batch_size!r}; expected a positive integer")
    return batch_size


def chunks(n: int, batch_size: int) -> Iterator[slice]:
    """Slices ``[0:b], [b:2b], ...`` covering ``range(n)`` with at most ``batch_size`` items each."""
    check_batch_size(batch_size)
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def map_batches(
    fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]],
    *tensors: torch.Tensor,
    batch_size: int,
    progress: bool | str = False,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Apply ``fn`` to aligned chunks of ``tensors`` (split along dim 0) and concatenate.

    Args:
        fn: called as ``fn(*chunk_tensors)``; returns a tensor or a tuple of tensors whose first
            dimension matches the chunk.
        tensors: tensors with the same length along dim 0.
        batch_size: the most rows passed to one call.
        progress: show a tqdm bar (a string is used as its description).

    Returns:
        The concatenation (dim 0) of ``fn``'s outputs, as a tensor or a tuple of tensors.

    >>> import torch
    >>> map_batches(lambda x: x * 2, torch.arange(5), batch_size=2)
    tensor([0, 2, 4, 6, 8])
    """
    if not tensors:
        raise InputError("map_batches needs at least one tensor")
    n = tensors[0].shape[0]
    for t in tensors[1:]:
        if t.shape[0] != n:
            raise InputError(f"map_batches: tensors differ in length along dim 0 ({n} vs {t.shape[0]})")
    slices = list(chunks(n, batch_size))
    if progress:
        from tqdm.auto import tqdm

        slices = tqdm(slices, desc=progress if isinstance(progress, str) else None, leave=False)
    outputs = [fn(*(t[s] for t in tensors)) for s in slices]
    if not outputs:
        raise InputError("map_batches got an empty batch (length 0 along dim 0)")
    if isinstance(outputs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outputs, strict=True))
    return torch.cat(outputs)
