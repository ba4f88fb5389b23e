"""Atomic file writes: a temp file beside the target, then a rename, so that an interrupted run
never leaves half a file and never destroys the previous one.

    >>> atomic_write("runs/baseline/metrics.json", b"{}")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write `data` (bytes, or text as UTF-8) to `path` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return atomic_save(path, lambda tmp: Path(tmp).write_bytes(payload))


def atomic_save(path: str | os.PathLike, save: Callable[[str], object]) -> Path:
    """Let `save(tmp_path)` write a file (e.g. `model.save`, `fig.savefig`), then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a result should read like any other file
    try:
        save(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
