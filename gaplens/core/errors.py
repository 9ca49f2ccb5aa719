"""The exceptions gaplens raises for user mistakes and bad data.

Every error a user can cause derives from :class:`GaplensError`, so callers (and the CLI) can
tell "your input is wrong" apart from a bug. Each subclass also derives from the builtin
exception a Python user would expect (``ValueError``, ``FileNotFoundError``, ...), so existing
``except`` clauses keep working. Messages name the offending file, argument or spec and say
what was expected.
"""

from __future__ import annotations


class GaplensError(Exception):
    """Base class of every error gaplens raises on bad input."""


class InputError(GaplensError, ValueError):
    """An argument has the wrong type, shape, range or value."""


class SpecError(GaplensError, ValueError):
    """A model spec (path, ``torchvision:NAME``, ``module:factory``, ...) cannot be resolved."""


class CheckpointError(GaplensError, ValueError):
    """A checkpoint or weights file is malformed or does not match its architecture."""


class UnsafeFileError(GaplensError, ValueError):
    """A file would have to be unpickled to be read; gaplens refuses untrusted pickles."""


class ImageReadError(GaplensError, OSError):
    """A file is not a readable image (truncated, not an image, unsupported mode)."""


class DataError(GaplensError, ValueError):
    """A dataset (folder, manifest, CSV) is malformed or empty."""


class LayerNotFoundError(GaplensError, LookupError):
    """A layer named by dotted path does not exist in the model."""


class StoreError(GaplensError, RuntimeError):
    """The run folder or its database cannot be used."""
