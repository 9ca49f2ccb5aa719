"""Atomic file writes: readers see the old file or the complete new one, never a partial write."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from gaplens.core.errors import InputError


def atomic_write(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, then ``os.replace``.

    Readers see either the old file or the complete new one, never a partial write. Parent
    folders are created. On failure the temp file is removed and the old file is untouched.

    Returns the path written.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"data must be bytes, got {type(data).__name__}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with mode 0o666 lets the umask decide permissions, as for a normal open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
