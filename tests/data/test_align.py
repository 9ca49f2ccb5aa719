"""Class indices matched by name between a dataset and a model."""

from __future__ import annotations

import pytest
import torch

from gaplens.core.datasets import iterate_batches
from gaplens.core.errors import DataError
from gaplens.data.align import align_classes
from gaplens.data.synthetic import generate


def test_sorted_folder_order_is_mapped_to_the_model_order(tmp_path):
    from gaplens.data.export import write_synthetic
    from gaplens.data.folder import ImageFolder

    data = generate(12, classes=4, size=16, seed=3)
    write_synthetic(data, tmp_path)
    folder = ImageFolder(tmp_path / "images")
    assert folder.class_names != data.class_names  # sorted by name vs. the generator's order
    aligned = align_classes(folder, data.class_names)
    labels = torch.cat([y for _, _, y in iterate_batches(aligned, 64)])
    by_file = {p: data.class_names[int(y)] for (p, _), y in zip(folder.samples, labels, strict=True)}
    assert all(f"/{name}/" in path for path, name in by_file.items())


def test_tensor_sets_are_relabelled_and_equal_names_are_untouched():
    data = generate(10, classes=3, size=16, seed=1)
    assert align_classes(data, data.class_names) is data
    reversed_names = data.class_names[::-1]
    aligned = align_classes(data, reversed_names)
    expected = torch.tensor([reversed_names.index(data.class_names[int(y)]) for y in data.labels])
    assert torch.equal(aligned.labels, expected) and aligned.class_names == reversed_names


def test_partly_different_names_are_an_error_and_disjoint_ones_a_warning():
    data = generate(6, classes=3, size=16, seed=1)
    with pytest.raises(DataError, match="not among the model's classes"):
        align_classes(data, [data.class_names[0], "x", "y"])
    with pytest.warns(UserWarning, match="matching them by index"):
        assert align_classes(data, ["a", "b", "c"]) is data
