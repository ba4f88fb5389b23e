"""Makefile: `make train` passes the knobs it documents to `fashion-train fit` (dry runs, nothing trains)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make here")


def _fit_line(*variables: str) -> str:
    out = subprocess.run(["make", "-n", "train", *variables], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if "fashion-train fit" in line)


def test_train_uses_fits_defaults_unless_told():
    line = _fit_line()
    assert "--batch-norm" not in line and "--epochs" not in line and "--model all" in line


def test_batch_norm_and_epochs_reach_fit():
    line = _fit_line("BATCH_NORM=keras", "EPOCHS=3")
    assert "--batch-norm keras" in line and "--epochs 3" in line
