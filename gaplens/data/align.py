"""Match a dataset's class indices to a model's by class name.

An image folder numbers its classes in sorted order (``circle, square, star, triangle``); the
model may have learned another order (the synthetic generator's ``circle, square, triangle,
star``). Comparing indices would then score a correct model as wrong, silently. Whenever both
sides name their classes, labels are mapped by name; when the names differ, it is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from gaplens.core.datasets import class_names_of, tensor_pair
from gaplens.core.errors import DataError

__all__ = ["align_classes"]


class _Relabelled(Dataset):
    """A dataset of ``(image, label)`` whose labels are mapped through ``mapping``."""

    def __init__(self, base: Dataset, mapping: list[int], class_names: list[str]) -> None:
        self.base = base
        self.mapping = mapping
        self.class_names = class_names

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        image, label = self.base[index]
        return image, self.mapping[int(label)]


class _RelabelledTensors:
    """Tensors ``images``, ``labels`` (mapped) and ``class_names``, as the generator's sets have."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, class_names: list[str]) -> None:
        self.images = images
        self.labels = labels
        self.class_names = class_names


def align_classes(dataset: object, model_classes: Sequence[str] | None, what: str = "dataset") -> object:
    """``dataset`` with its labels re-indexed to ``model_classes`` by name (unchanged when they agree).

    Raises :class:`DataError` naming both lists when the dataset has classes the model does not.
    A dataset or model without class names is returned as it is (indices are all there is).
    """
    data_classes = class_names_of(dataset)
    if model_classes is None or data_classes is None:
        return dataset
    data_classes, model_classes = [str(c) for c in data_classes], [str(c) for c in model_classes]
    if data_classes == model_classes:
        return dataset
    index = {name: i for i, name in enumerate(model_classes)}
    missing = [c for c in data_classes if c not in index]
    if len(missing) == len(data_classes):
        # two vocabularies (folder ids vs. readable names): indices are all there is to match
        warnings.warn(f"{what}: none of its classes {data_classes[:5]} is among the model's classes "
                      f"{model_classes[:5]}; matching them by index", stacklevel=2)
        return dataset
    if missing:
        raise DataError(f"{what}: classes {missing} are not among the model's classes {model_classes}; "
                        "the dataset's class folders must be named like the model's classes")
    mapping = [index[c] for c in data_classes]
    pair = tensor_pair(dataset)
    if pair is not None:
        images, labels = pair
        return _RelabelledTensors(images, torch.tensor(mapping, dtype=torch.long)[labels], model_classes)
    return _Relabelled(dataset, mapping, model_classes)
