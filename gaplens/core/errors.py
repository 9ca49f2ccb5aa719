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


class UntrustedCodeError(SpecError, UnsafeFileError):
    """A model spec is code (a TorchScript archive, ``module:factory``) and ``trust_code`` was not given.

    A bad argument (the CLI exits with code 2), and, like :class:`UnsafeFileError`, a refusal to
    run what a file holds.
    """


def load_failure(exc: BaseException, limit: int = 200) -> str:
    """One line that says why ``torch.load`` / ``torch.jit.load`` failed, without torch's advice.

    torch's weights-only errors span several lines and advise re-running with
    ``weights_only=False`` (which runs the file's code); gaplens never repeats that. The
    specific reason (``WeightsUnpickler error: ...``) is kept, else the first line of the message.
    """
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        reason = " ".join(text.split(marker, 1)[1].split("\n\n")[0].split()) or " ".join(
            text.split(marker, 1)[1].split())
        reason = reason.split(". Please use", 1)[0].split("Check the documentation", 1)[0]
        text = f"weights-only unpickler: {reason.strip().rstrip('.')}"
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = lines[0] if lines else type(exc).__name__
    if "weights_only" in text and "False" in text:
        text = "the file holds objects other than tensors"
    text = text.replace("\x1b[1m", "").replace("\x1b[0m", "")
    return f"{type(exc).__name__}: {text[:limit]}"
