"""Write a synthetic set to disk: an image folder, mask PNGs and a manifest.

Layout (``gaplens data synth --out DIR``)::

    DIR/images/<class name>/<split>_<index>.png    one folder per shape class
    DIR/masks/<class name>/<split>_<index>.png      the silhouette (white = object)
    DIR/manifest.csv                                file, mask, shape_class, texture_class, split

``DIR/images`` is an :class:`~gaplens.data.ImageFolder`. Files are written atomically and a
re-run skips images already on disk, so an interrupted export resumes.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from gaplens.core.errors import InputError
from gaplens.core.files import atomic_write
from gaplens.core.image_io import write_png

MANIFEST_COLUMNS = ("file", "mask", "shape_class", "texture_class", "split")

#: What a split or class name may be: it becomes part of a file or folder name.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def check_name(value: object, argument: str) -> str:
    """``value`` if it is safe as one file-name component, else :class:`InputError` naming ``argument``.

    Letters, digits and ``_ . + -``, starting with a letter or digit, at most 64 characters: no
    path separator, no ``..``, nothing hidden, so the name cannot leave its folder.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        raise InputError(f"{argument}={value!r}: expected a plain name (letters, digits, '_', '.', '+', '-', "
                         "starting with a letter or digit, at most 64 characters, no '/' or '..')")
    return value


def write_synthetic(dataset, out: str | os.PathLike, split: str = "train", progress: bool = True) -> Path:
    """Write ``dataset`` (a ``SyntheticSet``) under ``out``; returns the manifest's path.

    Rows for this split replace earlier rows of the same split in ``manifest.csv``; other
    splits' rows are kept, so train and test sets can be written into one folder.

    Raises:
        InputError: ``split`` or a class name is not a plain file-name component (checked before
            anything is written), or ``out`` exists and is not a folder.
    """
    from tqdm.auto import tqdm

    split = check_name(split, "split")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise InputError(f"out={os.fspath(out)!r}: exists and is not a folder; expected a folder to write into")
    rows = []
    names = [check_name(name, "class name") for name in dataset.class_names]
    texture_names = list(getattr(dataset, "texture_names", names))
    start = int(getattr(dataset, "start", 0))
    for i in tqdm(range(len(dataset.labels)), desc=f"writing {split}", disable=not progress, unit="img"):
        shape = names[int(dataset.shape_labels[i])]
        stem = f"{split}_{start + i:06d}.png"
        image_rel = Path("images") / shape / stem
        mask_rel = Path("masks") / shape / stem
        if not (root / image_rel).is_file():
            write_png(root / image_rel, dataset.images[i])
        if not (root / mask_rel).is_file():
            write_png(root / mask_rel, dataset.masks[i, 0])
        rows.append({"file": image_rel.as_posix(), "mask": mask_rel.as_posix(), "shape_class": shape,
                     "texture_class": texture_names[int(dataset.texture_labels[i])], "split": split})
    manifest = root / "manifest.csv"
    kept = []
    if manifest.is_file():
        with manifest.open(newline="") as fh:
            kept = [row for row in csv.DictReader(fh) if row.get("split") != split]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept + rows)
    atomic_write(manifest, buffer.getvalue().encode())
    return manifest
