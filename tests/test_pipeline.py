"""export.pipeline: `fashion-export all` converts and checks every run × variant with one read of the data set."""

from __future__ import annotations

import os
import sys
from collections import Counter

from export.config import EvalConfig, ExportConfig
from export.pipeline import export_all

_WATCHED: list = []  # [folder, Counter] while a test watches a folder's files being opened


def _count_opens(event: str, args: tuple) -> None:
    if event == "open" and _WATCHED and isinstance(args[0], (str, os.PathLike)):
        path = os.fspath(args[0])
        if isinstance(path, str) and path.startswith(_WATCHED[0]):
            _WATCHED[1][os.path.basename(path)] += 1


sys.addaudithook(_count_opens)  # audit hooks cannot be removed: it does nothing unless a test is watching


def test_all_reads_and_verifies_fashion_mnist_once(export_run, fmnist_copy, tmp_path):
    """The drift check's sets and the int8 calibration sample come from one verified copy, read one time."""
    opened: Counter = Counter()
    _WATCHED[:] = [str(fmnist_copy), opened]
    try:
        rows, summary = export_all(export_run.parent, ExportConfig(out=str(tmp_path), calibration=50, data_dir=str(fmnist_copy)),
                                   ("int8",), EvalConfig(unseen="unseen", test_limit=300))
    finally:
        _WATCHED.clear()
    assert [(r.model, r.variant) for r in rows] == [("baseline", "int8")] and rows[0].passed is not None, rows
    assert summary.name == "summary.md" and "| baseline | int8 |" in summary.read_text()
    assert sorted(opened) == sorted(f"{n}.gz" for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    assert set(opened.values()) == {1}, opened
