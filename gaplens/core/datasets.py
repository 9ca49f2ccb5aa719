"""Turn the dataset shapes gaplens accepts into tensors or batches.

A dataset may be: an object with ``images`` ``(N, 3, H, W)`` and ``labels`` ``(N,)`` tensors (the
synthetic generator's sets), a ``(images, labels)`` tuple, or any ``torch.utils.data.Dataset``
yielding ``(image, label)`` (an :class:`~gaplens.data.ImageFolder`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from gaplens.core.errors import InputError


def tensor_pair(dataset: object) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(images, labels)`` when the dataset holds tensors, else ``None``."""
    if isinstance(dataset, tuple) and len(dataset) == 2:
        images, labels = dataset
    elif hasattr(dataset, "images") and hasattr(dataset, "labels"):
        images, labels = dataset.images, dataset.labels
    else:
        return None
    images = torch.as_tensor(images)
    labels = torch.as_tensor(labels).long()
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"dataset images have shape {tuple(images.shape)}; expected (N, 3, H, W)")
    if labels.shape != (images.shape[0],):
        raise InputError(f"dataset labels have shape {tuple(labels.shape)}; expected ({images.shape[0]},)")
    return images, labels


def dataset_length(dataset: object) -> int:
    pair = tensor_pair(dataset)
    if pair is not None:
        return pair[0].shape[0]
    if isinstance(dataset, Dataset) and hasattr(dataset, "__len__"):
        return len(dataset)
    raise InputError(
        f"dataset of type {type(dataset).__name__}: expected (images, labels) tensors, an object "
        "with .images/.labels, or a torch Dataset of (image, label)"
    )


def iterate_batches(
    dataset: object, batch_size: int, order: torch.Tensor | None = None, num_workers: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(indices, images, labels)`` batches, in ``order`` (a permutation) or in sequence."""
    n = dataset_length(dataset)
    order = torch.arange(n) if order is None else order
    pair = tensor_pair(dataset)
    if pair is not None:
        images, labels = pair
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield index, images[index], labels[index]
        return
    loader = DataLoader(
        torch.utils.data.Subset(dataset, order.tolist()), batch_size=batch_size, num_workers=num_workers
    )
    for start, (images, labels) in zip(range(0, n, batch_size), loader, strict=True):
        yield order[start : start + batch_size], images, torch.as_tensor(labels).long()


def class_names_of(dataset: object) -> list[str] | None:
    names = getattr(dataset, "class_names", None)
    return list(names) if names is not None else None
