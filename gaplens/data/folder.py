"""A labelled image dataset read from a folder with one sub-folder per class.

::

    root/
      cat/   001.png  002.jpg  more/003.png
      dog/   001.png  ...

The layout is torchvision's ``ImageFolder`` (same default extensions, files found recursively
inside each class folder, symlinks followed but each real folder entered once, so link loops
neither repeat images nor hang), with three differences that matter when auditing:

- **Class order.** When *every* class folder name is an integer, classes are sorted
  numerically, so ``"2"`` comes before ``"10"``. ImageNetV2 ships its 1000 classes as folders
  ``0 ... 999``; a lexicographic sort (torchvision's) maps folder ``"10"`` to index 2 and
  silently scrambles the labels. Otherwise names sort lexicographically (Python string order).
- **Validation up front.** Every file is checked when the dataset is built, and one
  :class:`~gaplens.core.errors.DataError` lists *every* unreadable file and why, rather than
  failing on the first one hours into an evaluation (or pass ``skip_bad=True``).
- Images come out as gaplens tensors: ``float32`` ``(3, H, W)`` in ``[0, 1]`` (see
  :mod:`gaplens.core.image_io` for how modes, alpha and 16-bit data are handled).

Hidden files and folders (name starting with ``"."``) are ignored everywhere, as are files
whose extension is not in ``extensions``. Class folders without images keep their index (so
labels still line up with a model's outputs) and trigger a warning.

Example:
>>> from gaplens.data import ImageFolder                     # doctest: +SKIP
>>> data = ImageFolder("imagenetv2/", size=(224, 224))      # doctest: +SKIP
>>> images, labels = data.load_all()                        # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from gaplens.core.errors import DataError, ImageReadError, InputError
from gaplens.core.image_io import Size, _check_size, probe_image, read_image, resize_image

__all__ = ["IMG_EXTENSIONS", "ImageFolder", "walk_once"]

#: File extensions read by default (torchvision's list), compared case-insensitively.
IMG_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
)

#: ``load_all`` shows a progress bar (on a terminal) above this many files.
_PROGRESS_THRESHOLD = 1000

_INTEGER_NAME = re.compile(r"[0-9]+")


def _sort_class_names(names: Iterable[str]) -> list[str]:
    """Numeric order when every name is an integer ("2" < "10"), else lexicographic."""
    names = list(names)
    if names and all(_INTEGER_NAME.fullmatch(n) for n in names):
        return sorted(names, key=lambda n: (int(n), n))
    return sorted(names)


def _normalize_extensions(extensions: str | Iterable[str]) -> tuple[str, ...]:
    """Lower-case extensions with a leading dot; a single string is one extension."""
    items = [extensions] if isinstance(extensions, str) else list(extensions)
    if not items or not all(isinstance(e, str) and e.strip(".") for e in items):
        raise InputError(
            f"extensions: expected file extensions such as ('.png', '.jpg'); got {extensions!r}"
        )
    return tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in items)


def _dir_id(path: str | os.PathLike[str]) -> tuple[int, int]:
    """The identity of the real directory ``path`` leads to (symlinks resolved)."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def walk_once(
    root: str | os.PathLike[str],
    skip_hidden: bool = True,
    visited: Iterable[str | os.PathLike[str]] = (),
) -> Iterable[tuple[str, list[str], list[str]]]:
    """``os.walk(root, followlinks=True)`` that enters each real directory at most once.

    Symlinked directories are followed (datasets are often assembled from links), but a
    directory already entered, by any path, is not entered again: a link such as
    ``cls/self -> .`` or two links pointing at each other neither repeat images nor loop
    forever. Identity is ``os.stat``'s ``(st_dev, st_ino)``. Sub-folders are visited in sorted
    order, so which of two paths to the same directory is kept is deterministic.

    Args:
        root: Folder to walk.
        skip_hidden: Leave out sub-folders whose name starts with ``"."``.
        visited: Directories to treat as already entered (e.g. a dataset root and its other
            class folders, so a link back up the tree does not pull in other classes' images).

    Yields:
        ``(dirpath, dirnames, filenames)`` as :func:`os.walk` does (``dirnames`` already pruned).
        Directories that cannot be stat'ed (dangling links, no permission) are skipped.
    """
    seen: set[tuple[int, int]] = set()
    for path in (root, *visited):
        try:
            seen.add(_dir_id(path))
        except OSError:
            continue
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        keep = []
        for name in sorted(dirnames):
            if skip_hidden and name.startswith("."):
                continue
            try:
                key = _dir_id(os.path.join(dirpath, name))
            except OSError:
                continue
            if key not in seen:
                seen.add(key)
                keep.append(name)
        dirnames[:] = keep
        yield dirpath, dirnames, filenames


def _find_files(
    class_dir: Path, extensions: tuple[str, ...], visited: Iterable[Path] = ()
) -> list[Path]:
    """Image files below ``class_dir`` (recursive, each real folder once, hidden names skipped)."""
    found = []
    for dirpath, _, filenames in walk_once(class_dir, visited=visited):
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions:
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(class_dir).as_posix())


class ImageFolder(Dataset):
    """Images in ``root/<class name>/...``, labelled by their class folder.

    Args:
        root: Folder holding one sub-folder per class.
        skip_bad: ``False`` (default): if any file is unreadable, raise one :class:`DataError` listing
            every bad file and its reason. ``True``: leave them out, list them in
            :attr:`skipped` and emit a warning with their count.
        size: Applied to every image when read, as :func:`~gaplens.core.image_io.resize_image`
            does: ``(H, W)`` resizes (bilinear, antialiased); an ``int`` ``s`` centre-crops to a
            square, then resizes to ``(s, s)``. ``None``: images keep their own size
            (:meth:`load_all` then needs them all equal).
        extensions: File extensions to include (case-insensitive); others are ignored.
        full_check: How files are checked at construction. ``False`` (default, fast): header and
            checksums only (Pillow ``verify()``: catches non-images, empty files and truncated
            PNGs, but not every truncated JPEG, which then fails with :class:`ImageReadError`
            when read). ``True``: decode every image once (slow, catches everything).
        max_pixels: Largest image (``width * height``) read; larger files count as unreadable.
            Default :data:`gaplens.core.image_io.MAX_PIXELS` (40 megapixels).

    Attributes:
        root (Path): The dataset folder.
        class_names (list[str]): Class folder names; index ``i`` is label ``i``.
        class_to_idx (dict[str, int]): Inverse of ``class_names``.
        samples (list[tuple[str, int]]): ``(path, label)`` of every readable image, by class then by
            relative path.
        targets (list[int]): The labels of ``samples``.
        skipped (list[tuple[str, str]]): ``(path, reason)`` of every unreadable file left out (empty
            unless ``skip_bad``).

    Raises:
        DataError: ``root`` is missing or not a folder, has no class sub-folders, holds no readable
            image, or (``skip_bad=False``) holds unreadable files.

    Items are ``(image, label)``: ``image`` a ``float32`` ``(3, H, W)`` tensor in ``[0, 1]``,
    ``label`` an ``int``. Reading an item that passed the construction check but fails to
    decode raises :class:`ImageReadError` naming the file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        skip_bad: bool = False,
        size: Size | None = None,
        extensions: str | Iterable[str] = IMG_EXTENSIONS,
        full_check: bool = False,
        max_pixels: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.size = None if size is None else _check_size(size)
        self.extensions = _normalize_extensions(extensions)
        self.skip_bad = bool(skip_bad)
        self.max_pixels = max_pixels

        if not self.root.exists():
            raise DataError(f"{self.root}: dataset root does not exist")
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset root is not a directory")
        class_dirs = {
            entry.name: Path(entry.path)
            for entry in os.scandir(self.root)
            if not entry.name.startswith(".") and entry.is_dir()
        }
        if not class_dirs:
            raise DataError(
                f"{self.root}: no class sub-folders found; expected one folder per class, "
                f"e.g. {self.root / 'cat' / '0001.png'}"
            )
        self.class_names: list[str] = _sort_class_names(class_dirs)
        self.class_to_idx: dict[str, int] = {n: i for i, n in enumerate(self.class_names)}

        candidates = [
            (path, index)
            for index, name in enumerate(self.class_names)
            for path in _find_files(class_dirs[name], self.extensions,
                                    visited=[self.root, *class_dirs.values()])
        ]
        if not candidates:
            raise DataError(
                f"{self.root}: no image files found in its {len(class_dirs)} class folder(s) "
                f"(looked for extensions {', '.join(self.extensions)})"
            )

        self.samples: list[tuple[str, int]] = []
        self.skipped: list[tuple[str, str]] = []
        self._sizes: list[tuple[int, int]] = []
        for path, index in candidates:
            try:
                hw = probe_image(path, full=full_check, max_pixels=max_pixels)
            except ImageReadError as exc:
                self.skipped.append((str(path), str(exc).removeprefix(f"{path}: ")))
                continue
            self.samples.append((str(path), index))
            self._sizes.append(hw)

        if self.skipped and not self.skip_bad:
            listing = "\n".join(f"  {p}: {reason}" for p, reason in self.skipped)
            raise DataError(
                f"{self.root}: {len(self.skipped)} of {len(candidates)} image file(s) cannot "
                f"be read (fix or remove them, or pass skip_bad=True to leave them out):\n"
                + listing
            )
        if self.skipped:
            warnings.warn(
                f"ImageFolder({self.root}): skipped {len(self.skipped)} unreadable image "
                f"file(s) of {len(candidates)}; see .skipped for the list",
                stacklevel=2,
            )
        if not self.samples:
            raise DataError(f"{self.root}: none of its {len(candidates)} image files is readable")

        self.targets: list[int] = [label for _, label in self.samples]
        counts = torch.bincount(torch.tensor(self.targets), minlength=len(self.class_names))
        empty = [self.class_names[i] for i in range(len(self.class_names)) if counts[i] == 0]
        if empty:
            warnings.warn(
                f"ImageFolder({self.root}): {len(empty)} class folder(s) hold no readable "
                f"image and keep their index: {', '.join(empty[:20])}"
                + (" ..." if len(empty) > 20 else ""),
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Return ``(image (3, H, W) float32 in [0, 1], label)`` of sample ``index``."""
        path, label = self.samples[index]
        image = read_image(path, max_pixels=self.max_pixels)
        if self.size is not None:
            image = resize_image(image, self.size)
        return image, label

    def __repr__(self) -> str:
        return (
            f"ImageFolder(root={str(self.root)!r}, images={len(self)}, "
            f"classes={len(self.class_names)}, size={self.size}, skipped={len(self.skipped)})"
        )

    def load_all(
        self, batch_size: int = 256, num_workers: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Read every image into memory.

        Args:
            batch_size: Images decoded per step (the progress bar advances by batches).
            num_workers: Worker processes decoding in parallel (``torch.utils.data.DataLoader``); ``0``
                decodes in this process.

        Returns:
            ``(images, labels)``: ``float32`` ``(N, 3, H, W)`` images in ``[0, 1]``, in
            :attr:`samples` order, and their ``int64`` ``(N,)`` labels.

        A progress bar is shown when there are more than 1000 files and stderr is a terminal.

        Raises:
            InputError: ``size`` is ``None`` and the images differ in size (checked before decoding
                anything; the message lists each size and files that have it), or bad arguments.
            ImageReadError: A file fails to decode.
        """
        for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name}: expected an int >= {low}, got {value!r}")
        if self.size is None:
            height, width = self._sizes[0]
            groups: dict[tuple[int, int], list[str]] = {}
            for (path, _), hw in zip(self.samples, self._sizes, strict=True):
                groups.setdefault(hw, []).append(path)
            if len(groups) > 1:
                lines = [
                    f"  (H, W) = {hw}: {len(paths)} file(s), e.g. {', '.join(paths[:3])}"
                    for hw, paths in sorted(groups.items(), key=lambda kv: -len(kv[1]))
                ]
                raise InputError(
                    f"{self.root}: images differ in size; create the ImageFolder with "
                    "size=(H, W) to resize them. Sizes found:\n" + "\n".join(lines)
                )
        else:
            height, width = (self.size, self.size) if isinstance(self.size, int) else self.size

        images = torch.empty((len(self), 3, height, width), dtype=torch.float32)
        labels = torch.tensor(self.targets, dtype=torch.int64)
        loader = DataLoader(self, batch_size=batch_size, shuffle=False, num_workers=num_workers)
        start = 0
        with tqdm(total=len(self), desc=f"reading {self.root.name}", unit="img",
                  disable=None if len(self) > _PROGRESS_THRESHOLD else True) as bar:
            for batch, _ in loader:
                images[start:start + len(batch)] = batch
                start += len(batch)
                bar.update(len(batch))
        return images, labels
