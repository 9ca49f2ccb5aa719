"""Aligned image pairs for pix2pix: from the synthetic generator, or from a user's ``A/`` and ``B/`` folders.

- :func:`silhouette_pairs`: the object's silhouette (1 channel) -> the textured synthetic image.
- :func:`world_pairs`: a texture-world image (texture = the class's home texture) -> the
  shape-world image of the same silhouette, position and colours (texture drawn at random):
  translation across one of gaplens's own domain gaps.
- :func:`folder_pairs`: ``ROOT/A/NAME.ext`` -> ``ROOT/B/NAME.ext``, matched by file name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gaplens.core.errors import DataError, InputError
from gaplens.core.image_io import Size, read_images


@dataclass
class PairSet:
    """Aligned pairs. ``a (N, Ca, H, W)`` and ``b (N, Cb, H, W)`` float32 in ``[0, 1]``; ``labels (N,)`` int64 when
    known (the synthetic class), ``ids`` one name per pair, ``class_names`` when labels are given."""

    a: torch.Tensor
    b: torch.Tensor
    ids: list[str]
    labels: torch.Tensor | None = None
    class_names: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.a.dim() != 4 or self.b.dim() != 4 or self.a.shape[0] != self.b.shape[0] or \
                self.a.shape[-2:] != self.b.shape[-2:]:
            raise InputError(f"pairs: a {tuple(self.a.shape)} and b {tuple(self.b.shape)}; expected (N, C, H, W) "
                             "tensors with the same N, H and W")
        if len(self.ids) != self.a.shape[0]:
            raise InputError(f"pairs: {len(self.ids)} ids for {self.a.shape[0]} pairs")

    def __len__(self) -> int:
        return int(self.a.shape[0])

    def subset(self, index: slice | torch.Tensor | list[int]) -> PairSet:
        idx = torch.arange(len(self))[index]
        return PairSet(self.a[idx], self.b[idx], [self.ids[i] for i in idx.tolist()],
                       None if self.labels is None else self.labels[idx], self.class_names)


def silhouette_pairs(n: int, classes: int = 4, size: int = 64, texture_agreement: float = 1.0,
                     seed: int = 0) -> PairSet:
    """Silhouette ``a (n, 1, size, size)`` (1 inside the object) -> textured image ``b (n, 3, size, size)``."""
    from gaplens.data.synthetic import generate

    s = generate(n, classes=classes, size=size, texture_agreement=texture_agreement, seed=seed)
    return PairSet(s.masks.float(), s.images, [f"synthetic-{seed}-{int(i)}" for i in s.index], s.labels.clone(),
                   list(s.class_names))


def world_pairs(n: int, classes: int = 4, size: int = 64, seed: int = 0) -> PairSet:
    """Texture-world image ``a`` -> shape-world image ``b`` of the same silhouette, both ``(n, 3, size, size)``.

    Both come from :func:`gaplens.data.synthetic.generate` with one seed: the silhouette, its
    placement and colours are shared; ``a``'s texture is the class's home texture (agreement 1)
    and ``b``'s one drawn independently of the class (agreement ``1/classes``).
    """
    from gaplens.data.synthetic import generate

    texture = generate(n, classes=classes, size=size, texture_agreement=1.0, seed=seed)
    shape = generate(n, classes=classes, size=size, texture_agreement=1.0 / classes, seed=seed)
    if not torch.equal(texture.masks, shape.masks):  # the generator's contract; refuse rather than mis-pair
        raise DataError("world_pairs: the two worlds' silhouettes differ for one seed; the synthetic generator "
                        "no longer shares shapes across texture agreements")
    return PairSet(texture.images, shape.images, [f"synthetic-{seed}-{int(i)}" for i in texture.index],
                   texture.labels.clone(), list(texture.class_names))


def folder_pairs(root: str | os.PathLike, size: Size | None = None) -> PairSet:
    """Pairs from ``root/A`` and ``root/B``: each image in ``A`` with the image of the same file name (stem) in ``B``.

    Args:
        root: a folder holding ``A/`` and ``B/``.
        size: resize every image (``(H, W)`` or an int); ``None``: all must share one size.

    Raises:
        DataError: a folder is missing or empty, a name is in one folder only, or one stem has
            two files in a folder; each message names the files.
        ImageReadError: a file is not a readable image.
    """
    from gaplens.data.folder import IMG_EXTENSIONS

    base = Path(root)
    found = {}
    for side in ("A", "B"):
        folder = base / side
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder; pix2pix pairs need {base}/A and {base}/B with matching "
                            "file names")
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        if not files:
            raise DataError(f"{folder}: no images (extensions {', '.join(IMG_EXTENSIONS)})")
        stems: dict[str, Path] = {}
        for p in files:
            if p.stem in stems:
                raise DataError(f"{folder}: two files named {p.stem!r} ({stems[p.stem].name}, {p.name}); "
                                "names must be unique without the extension")
            stems[p.stem] = p
        found[side] = stems
    only_a = sorted(set(found["A"]) - set(found["B"]))
    only_b = sorted(set(found["B"]) - set(found["A"]))
    if only_a or only_b:
        parts = []
        for side, names in (("A", only_a), ("B", only_b)):
            if names:
                shown = ", ".join(names[:10]) + (f", ... ({len(names)})" if len(names) > 10 else "")
                parts.append(f"only in {base / side}: {shown}")
        raise DataError("unmatched pix2pix pairs (every image in A/ needs one of the same name in B/): "
                        + "; ".join(parts))
    names = sorted(found["A"])
    a = read_images([found["A"][k] for k in names], size)
    b = read_images([found["B"][k] for k in names], size)
    if a.shape[-2:] != b.shape[-2:]:
        raise DataError(f"{base}: A/ images are {tuple(a.shape[-2:])} and B/ images {tuple(b.shape[-2:])} "
                        "pixels; give size= to resize both")
    return PairSet(a, b, names)
