"""Dataset specs for the CLI: an image folder path, or ``synthetic:key=value,...``.

``synthetic:n=2000,classes=8,texture_agreement=0.125,conflict=0,shift=0,seed=1,size=64`` is a
set made on the fly by :func:`gaplens.data.synthetic.generate` (no files needed).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from gaplens.core.errors import DataError, InputError

SYNTHETIC_PREFIX = "synthetic:"


def parse_synthetic_spec(spec: str) -> dict:
    """The keyword arguments of ``generate`` that a ``synthetic:...`` spec names."""
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
        kind = str(allowed[key].annotation)
        try:
            if "bool" in kind:
                kwargs[key] = value.strip().lower() in ("1", "true", "yes", "on")
            elif "float" in kind:
                kwargs[key] = _number(value)
            elif "int" in kind:
                kwargs[key] = int(value)
            else:
                kwargs[key] = value
        except ValueError as exc:
            raise InputError(f"dataset spec {spec!r}: {key}={value!r} is not a number") from exc
    kwargs.setdefault("n", 1000)
    return kwargs


def _number(text: str) -> float:
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den)
    return float(text)


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
