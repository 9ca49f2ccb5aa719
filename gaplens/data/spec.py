"""Dataset specs for the CLI: an image folder path, or ``synthetic:key=value,...``.

``synthetic:n=2000,classes=8,texture_agreement=0.125,conflict=0,shift=0,seed=1,size=64`` is a
set made on the fly by :func:`gaplens.data.synthetic.generate` (no files needed).
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

from gaplens.core.errors import DataError, InputError

SYNTHETIC_PREFIX = "synthetic:"


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_synthetic_spec(spec: str) -> dict:
    """The keyword arguments of ``generate`` that a ``synthetic:...`` spec names.

    Values are parsed by the parameter's type: integers, numbers (a fraction such as ``1/8``
    too), flags (``0/1/true/false/yes/no/on/off``), and for ``shift`` a flag or a number. Each
    key may appear once. Ranges (``n``, ``size``, ...) are checked by ``generate``.

    Raises:
        InputError: an unknown key, a repeated key, or a value of the wrong kind (the message
            names the spec and the key).
    """
    from gaplens.data.synthetic import generate

    allowed = inspect.signature(generate).parameters
    body = spec[len(SYNTHETIC_PREFIX):]
    kwargs: dict = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in allowed:
            raise InputError(
                f"dataset spec {spec!r}: {item!r} is not key=value with a key among {sorted(allowed)}"
            )
        if key in kwargs:
            raise InputError(f"dataset spec {spec!r}: {key} is given twice; give each key once")
        kind = str(allowed[key].annotation)
        text = value.strip().lower()
        if "bool" in kind and "float" in kind:  # shift: a flag or a strength in [0, 1]
            kwargs[key] = _flag(text) if text in _TRUE + _FALSE else _number(spec, key, text)
        elif "bool" in kind:
            if text not in _TRUE + _FALSE:
                raise InputError(f"dataset spec {spec!r}: {key}={value!r}; expected 0/1/true/false/yes/no/on/off")
            kwargs[key] = _flag(text)
        elif "float" in kind:
            kwargs[key] = _number(spec, key, text)
        elif "int" in kind:
            try:
                kwargs[key] = int(text)
            except ValueError:
                raise InputError(f"dataset spec {spec!r}: {key}={value!r} is not an integer") from None
        else:
            kwargs[key] = value
    kwargs.setdefault("n", 1000)
    return kwargs


def _flag(text: str) -> bool:
    return text in _TRUE


def _number(spec: str, key: str, text: str) -> float:
    """A finite number, or a fraction ``a/b`` of two (``1/8``); InputError naming ``key`` otherwise."""
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"dataset spec {spec!r}: {key}={text!r} is not a finite number (or a fraction such as 1/8)")
    return value


def load_dataset(spec: str, size: int | tuple[int, int] | None = None, skip_bad: bool = False):
    """A dataset from a spec: ``synthetic:...`` (generated) or an image folder (one folder per class)."""
    if spec.startswith(SYNTHETIC_PREFIX):
        from gaplens.data.synthetic import generate

        return generate(**parse_synthetic_spec(spec))
    path = Path(spec)
    if not path.exists():
        raise DataError(f"dataset {spec!r}: no such folder, and not a 'synthetic:key=value,...' spec")
    from gaplens.data.folder import ImageFolder

    return ImageFolder(path, skip_bad=skip_bad, size=size)


SAMPLE_PREFIX = "sample:"


class ImageBatch:
    """A small batch of images to study: ``images`` (N, 3, H, W) in [0, 1], with what is known of them.

    ``labels`` (N,) or ``None``; ``ids`` names per image (file names, ``synthetic:i``,
    ``sample:NAME``); ``masks`` (N, 1, H, W) bool object masks (synthetic data) or ``None``;
    ``class_names`` of the source, or ``None``.
    """

    def __init__(self, images, labels=None, ids=None, masks=None, class_names=None) -> None:
        self.images = images
        self.labels = labels
        self.ids = list(ids) if ids is not None else [f"image {i}" for i in range(images.shape[0])]
        self.masks = masks
        self.class_names = list(class_names) if class_names is not None else None

    def __len__(self) -> int:
        return self.images.shape[0]


def load_image_batch(spec: str, size: tuple[int, int] | None = None, limit: int = 8) -> ImageBatch:
    """The first ``limit`` images of a spec, resized to ``size`` (H, W) when given.

    ``spec`` is ``synthetic:...``, ``sample:NAME`` (scikit-image's photographs), an image file,
    or an image folder (one sub-folder per class).
    """
    import torch

    from gaplens.core.image_io import read_image, resize_image

    if limit < 1:
        raise InputError(f"limit={limit}; expected at least 1 image")
    if spec.startswith(SYNTHETIC_PREFIX):
        kwargs = parse_synthetic_spec(spec)
        kwargs["n"] = min(kwargs["n"], limit)
        from gaplens.data.synthetic import generate

        data = generate(**kwargs)
        images, masks = data.images, data.masks
        if size is not None and tuple(images.shape[-2:]) != tuple(size):
            images = resize_image(images, size)
            masks = resize_image(masks.float(), size) > 0.5
        return ImageBatch(images, data.labels, [f"synthetic:{int(i)}" for i in data.index], masks, data.class_names)
    if spec.startswith(SAMPLE_PREFIX):
        from gaplens.data.samples import sample_image

        image = sample_image(spec[len(SAMPLE_PREFIX):], size=size)
        return ImageBatch(image.unsqueeze(0), ids=[spec])
    path = Path(spec)
    if path.is_file():
        image = read_image(path)
        if size is not None:
            image = resize_image(image, size)
        return ImageBatch(image.unsqueeze(0), ids=[path.name])
    if path.is_dir():
        from gaplens.data.folder import ImageFolder

        folder = ImageFolder(path, size=size)
        picks = _spread(len(folder), limit)
        items = [folder[i] for i in picks]
        images = torch.stack([img for img, _ in items])
        labels = torch.tensor([label for _, label in items])
        ids = [Path(folder.samples[i][0]).name for i in picks]
        return ImageBatch(images, labels, ids, None, folder.class_names)
    raise DataError(f"images {spec!r}: not a file, a folder, 'sample:NAME' or 'synthetic:...'")


def _spread(n: int, limit: int) -> list[int]:
    """Up to ``limit`` indices spread evenly over ``range(n)`` (so every class folder is visited)."""
    if n <= limit:
        return list(range(n))
    step = n / limit
    return [int(i * step) for i in range(limit)]
