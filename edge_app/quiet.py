"""What native libraries print: caught at the file-descriptor level, so it can be hidden or redacted.

LiteRT prints `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` and OpenCV/FFmpeg print
`[ WARN ]` lines (quoting a stream URL, password included) straight to file descriptor 2, past
`sys.stderr`. They interleave with the results, so the edge app hides them unless `--verbose`.

    >>> with native_stderr() as caught:
    ...     make_interpreter(model)
    >>> caught.text   # 'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n'
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass

_LOCK = threading.Lock()  # fd 2 is one per process: two redirections at once would tangle


@dataclass
class Caught:
    text: str = ""  # everything written to fd 2 inside the block


@contextmanager
def native_stderr():
    """Redirect fd 2 into a temporary file for the block; `.text` holds what was written.

    Falls back to doing nothing when fd 2 cannot be duplicated (an embedded interpreter)."""
    caught = Caught()
    with _LOCK:
        try:
            saved = os.dup(2)
        except OSError:
            yield caught
            return
        with tempfile.TemporaryFile(mode="w+b") as tmp:
            _flush()
            os.dup2(tmp.fileno(), 2)
            try:
                yield caught
            finally:
                _flush()
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                caught.text = tmp.read().decode("utf-8", "replace")


def _flush() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass


def hush_native_logs(verbose: bool) -> None:
    """Quiet TensorFlow's C++ logging (CUDA/oneDNN banners) and OpenCV's `[ WARN ]` lines unless
    `verbose`; must run before those libraries are imported. An explicit setting is kept."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # INFO and WARNING hidden; errors still shown
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
