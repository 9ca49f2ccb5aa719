"""Tests of gaplens.data.folder: class order, validation, bad files, loading."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from gaplens.core.errors import DataError, ImageReadError, InputError
from gaplens.data import ImageFolder


def _write(path: Path, value: int, size: tuple[int, int] = (6, 8), fmt: str | None = None) -> Path:
    """A constant image whose red channel is ``value`` (so tests can tell files apart)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((*size, 3), np.uint8)
    array[..., 0] = value
    Image.fromarray(array).save(path, format=fmt)
    return path


def _folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (6, 8)) -> Path:
    """``root/<class>/<i>.png``; each image's red value is ``10 * <position of class> + i``."""
    for c, (name, count) in enumerate(classes.items()):
        for i in range(count):
            _write(root / name / f"{i}.png", 10 * c + i, size)
    return root


def _red(image: torch.Tensor) -> int:
    return round(float(image[0, 0, 0]) * 255)


def _truncated_png(path: Path) -> Path:
    _write(path, 7, (64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# --------------------------------------------------------------------------- class order


def test_numeric_folders_sort_numerically(tmp_path: Path) -> None:
    # creation order 10, 2, 1 -> red values 0.., 10.., 20..
    root = _folder(tmp_path, {"10": 1, "2": 1, "1": 1})
    data = ImageFolder(root)
    assert data.class_names == ["1", "2", "10"]  # not ["1", "10", "2"]
    assert data.class_to_idx == {"1": 0, "2": 1, "10": 2}
    # each label must follow its folder: folder "2" -> label 1
    by_label = {label: _red(data[i][0]) for i, label in enumerate(data.targets)}
    assert by_label == {0: 20, 1: 10, 2: 0}
    assert [Path(p).parent.name for p, _ in data.samples] == ["1", "2", "10"]


def test_imagenetv2_style_many_numeric_classes(tmp_path: Path) -> None:
    names = [str(i) for i in range(12)]
    for name in names:
        _write(tmp_path / name / "a.png", int(name))
    data = ImageFolder(tmp_path)
    assert data.class_names == names
    for (path, label), image_label in zip(data.samples, data.targets, strict=True):
        assert label == image_label == int(Path(path).parent.name)
        assert _red(data[label][0]) == label


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["10", "2", "cat"], ["10", "2", "cat"]),
        (["b", "A", "a"], ["A", "a", "b"]),
        (["n02", "n10", "n1"], ["n02", "n1", "n10"]),
        (["2", "-1", "10"], ["-1", "10", "2"]),
    ],
)
def test_other_folder_names_sort_lexicographically(tmp_path: Path, names, expected) -> None:
    for name in names:
        _write(tmp_path / name / "x.png", 1)
    data = ImageFolder(tmp_path)
    assert data.class_names == expected
    assert [Path(p).parent.name for p, _ in data.samples] == expected
    assert data.targets == list(range(len(names)))


# --------------------------------------------------------------------------- contents


def test_items_lengths_and_targets(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"cat": 3, "dog": 2})
    data = ImageFolder(root)
    assert len(data) == 5
    assert data.targets == [0, 0, 0, 1, 1]
    assert [label for _, label in data.samples] == data.targets
    image, label = data[4]
    assert image.shape == (3, 6, 8) and image.dtype == torch.float32
    assert label == 1 and isinstance(label, int)
    assert _red(image) == 11
    assert data.skipped == []
    assert "images=5" in repr(data)


def test_hidden_and_foreign_files_are_ignored_nested_and_uppercase_found(tmp_path: Path) -> None:
    _write(tmp_path / "cat" / "a.png", 1)
    _write(tmp_path / "cat" / "sub" / "b.PNG", 2, fmt="PNG")
    _write(tmp_path / "cat" / "c.JPeG", 3, fmt="JPEG")
    (tmp_path / "cat" / ".hidden.png").write_text("not an image")  # hidden: not checked
    (tmp_path / "cat" / ".cache").mkdir()
    (tmp_path / "cat" / ".cache" / "x.png").write_text("not an image")
    (tmp_path / "cat" / "README.txt").write_text("notes")
    (tmp_path / ".git").mkdir()
    _write(tmp_path / ".git" / "z.png", 9)
    (tmp_path / "labels.csv").write_text("a,b\n")  # a file at top level: not a class
    data = ImageFolder(tmp_path)
    assert data.class_names == ["cat"]
    assert sorted(Path(p).name for p, _ in data.samples) == ["a.png", "b.PNG", "c.JPeG"]


def test_extensions_argument(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "x.png", 1)
    _write(tmp_path / "a" / "y.bmp", 2)
    assert len(ImageFolder(tmp_path, extensions="bmp")) == 1
    assert len(ImageFolder(tmp_path, extensions=(".PNG", "bmp"))) == 2
    with pytest.raises(InputError, match="extensions"):
        ImageFolder(tmp_path, extensions=())


def test_size_resizes_items(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "x.png", 100, (10, 20))
    assert ImageFolder(tmp_path, size=(4, 5))[0][0].shape == (3, 4, 5)
    square = ImageFolder(tmp_path, size=6)[0][0]
    assert square.shape == (3, 6, 6)
    assert _red(square) == 100
    with pytest.raises(InputError, match="size"):
        ImageFolder(tmp_path, size=(4, -1))


def test_empty_class_folder_keeps_its_index_and_warns(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "x.png", 1)
    (tmp_path / "b").mkdir()
    _write(tmp_path / "c" / "x.png", 2)
    with pytest.warns(UserWarning, match="1 class folder.*b"):
        data = ImageFolder(tmp_path)
    assert data.class_names == ["a", "b", "c"]
    assert data.targets == [0, 2]


# --------------------------------------------------------------------------- root errors


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as info:
        ImageFolder(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


def test_root_is_a_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.png", 1)
    with pytest.raises(DataError, match="not a directory") as info:
        ImageFolder(path)
    assert str(path) in str(info.value)


def test_root_without_class_folders(tmp_path: Path) -> None:
    _write(tmp_path / "x.png", 1)  # images directly in root: no class folders
    with pytest.raises(DataError, match="no class sub-folders") as info:
        ImageFolder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_class_folders_without_images(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="no image files") as info:
        ImageFolder(tmp_path)
    assert str(tmp_path) in str(info.value)


# --------------------------------------------------------------------------- bad files


def _with_bad_files(root: Path) -> list[Path]:
    _folder(root, {"a": 2, "b": 2})
    bad = [
        root / "a" / "notes.png",
        root / "b" / "empty.jpg",
        _truncated_png(root / "b" / "cut.png"),
    ]
    bad[0].write_text("this is not an image")
    bad[1].touch()
    return bad


def test_all_bad_files_are_listed_in_one_error(tmp_path: Path) -> None:
    bad = _with_bad_files(tmp_path)
    with pytest.raises(DataError) as info:
        ImageFolder(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "3 of 7" in message and "skip_bad=True" in message
    for path in bad:
        assert str(path) in message
    assert "not a recognised image" in message
    assert "empty" in message
    assert "truncated" in message.lower()
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_skip_bad_leaves_them_out_and_warns(tmp_path: Path) -> None:
    bad = _with_bad_files(tmp_path)
    with pytest.warns(UserWarning, match="skipped 3 unreadable"):
        data = ImageFolder(tmp_path, skip_bad=True)
    assert len(data) == 4
    assert data.targets == [0, 0, 1, 1]
    assert sorted(p for p, _ in data.skipped) == sorted(str(p) for p in bad)
    reasons = dict(data.skipped)
    assert "empty" in reasons[str(bad[1])]
    assert not reasons[str(bad[1])].startswith(str(bad[1]))  # the reason alone
    assert all(Path(p) not in bad for p, _ in data.samples)
    images, labels = data.load_all()
    assert images.shape == (4, 3, 6, 8)


def test_skip_bad_with_nothing_readable(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_text("no")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="none of its 1 image files") as info:
            ImageFolder(tmp_path, skip_bad=True)
    assert str(tmp_path) in str(info.value)


def test_truncated_jpeg_caught_by_full_check_or_on_read(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "ok.png", 1)
    path = tmp_path / "a" / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    dataset = ImageFolder(tmp_path)  # header check passes a truncated JPEG (documented)
    index = [p for p, _ in dataset.samples].index(str(path))
    with pytest.raises(ImageReadError, match="truncated") as info:
        dataset[index]
    assert str(path) in str(info.value)
    with pytest.raises(DataError, match="cut.jpg"):
        ImageFolder(tmp_path, full_check=True)


# --------------------------------------------------------------------------- load_all


def test_load_all_matches_items(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"x": 3, "y": 2})
    data = ImageFolder(root)
    images, labels = data.load_all(batch_size=2)
    assert images.shape == (5, 3, 6, 8) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == data.targets
    for i in range(len(data)):
        assert torch.equal(images[i], data[i][0])


def test_load_all_with_unequal_sizes(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "1.png", 1, (6, 8))
    _write(tmp_path / "a" / "2.png", 2, (6, 8))
    _write(tmp_path / "b" / "odd.png", 3, (9, 4))
    with pytest.raises(InputError, match="size=") as info:
        ImageFolder(tmp_path).load_all()
    message = str(info.value)
    assert "(6, 8): 2 file(s)" in message and "(9, 4): 1 file(s)" in message
    assert "odd.png" in message
    images, labels = ImageFolder(tmp_path, size=(5, 5)).load_all()
    assert images.shape == (3, 3, 5, 5) and labels.tolist() == [0, 0, 1]


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"num_workers": -1},
                                    {"batch_size": 2.5}])
def test_load_all_rejects_bad_arguments(tmp_path: Path, kwargs) -> None:
    data = ImageFolder(_folder(tmp_path, {"a": 1}))
    with pytest.raises(InputError, match=next(iter(kwargs))):
        data.load_all(**kwargs)


def test_symlink_loops_count_each_image_once_and_do_not_hang(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds", {"a": 2, "b": 1})
    (root / "a" / "self").symlink_to(".")  # ln -s . a/self
    (root / "a" / "up").symlink_to("..")  # back to the root: other classes must not leak in
    (root / "b" / "l1").mkdir()
    (root / "b" / "l2").mkdir()
    (root / "b" / "l1" / "to2").symlink_to("../l2")  # two links pointing at each other
    (root / "b" / "l2" / "to1").symlink_to("../l1")
    data = ImageFolder(root)
    assert [(Path(p).relative_to(root).as_posix(), y) for p, y in data.samples] == [
        ("a/0.png", 0), ("a/1.png", 0), ("b/0.png", 1)]


def test_symlinked_folder_is_still_followed(tmp_path: Path) -> None:
    elsewhere = _folder(tmp_path / "other", {"x": 2}) / "x"
    root = _folder(tmp_path / "ds", {"a": 1, "b": 1})
    (root / "b" / "more").symlink_to(elsewhere, target_is_directory=True)
    data = ImageFolder(root)
    assert data.targets == [0, 1, 1, 1]
