"""What native libraries print: caught at the file-descriptor level, so it can be hidden or redacted.

LiteRT prints `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` and OpenCV/FFmpeg print
`[ WARN ]` lines (quoting a stream URL, password included) straight to file descriptor 2, past
`sys.stderr`. They interleave with the results, so the edge app hides them unless `--verbose`.

    >>> with native_stderr() as caught:
    ...     make_interpreter(model)
    >>> caught.text   # 'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n'
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass

_LOCK = threading.Lock()  # fd 2 is one per process: two redirections at once would tangle
# TensorFlow's start-up banners (absl logs them before TF_CPP_MIN_LOG_LEVEL is read, in TF ≥ 2.18):
# nothing a user can act on, and they land in the middle of the progress bars.
TF_BANNERS = re.compile(
    r"oneDNN custom operations|cudart_stub|Could not find cuda drivers|cpu_feature_guard|"
    r"This TensorFlow binary is optimized|To enable the following instructions|"
    r"All log messages before absl::InitializeLog|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation placer already registered|TF-TRT Warning|failed call to cuInit|Could not find TensorRT"
)


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
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport("tensorflow"))


class _QuietImport(importlib.abc.MetaPathFinder):
    """Imports one package (TensorFlow) with fd 2 caught, then passes on every line but the banners.

    Wherever the package is first imported (train.fit, export.convert), so the CLIs stay thin."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once, and not for the lookup just below
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            caught = None
            try:
                with native_stderr() as caught:
                    real_exec(module)
            finally:  # an import that fails still shows what it printed
                if caught is not None:
                    _pass_on(caught.text)

        spec.loader.exec_module = exec_module
        return spec


def _pass_on(text: str) -> None:
    """Write `text` to stderr again, without TensorFlow's banner lines."""
    kept = [line for line in text.splitlines(keepends=True) if line.strip() and not TF_BANNERS.search(line)]
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
