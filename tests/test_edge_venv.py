"""The Raspberry Pi install, for real: a separate venv with only `fashion-edge[edge]` (no TensorFlow)
runs `fashion-edge` on an exported model and `unseen/`, and predicts exactly what the main venv predicts.

Design choices:
- A FRESH venv in the session's tmp dir every run, installed NON-editable from a clean copy of the
  project. Non-editable proves what a Pi gets: the wheel's metadata, its console script and its package
  data — an editable install would quietly import the checkout. Fresh (not a cached `.venv-edge`)
  means a stale venv can never hide a broken dependency list, and the code under test is always the
  code in the tree. The cost is small: pip's own HTTP/wheel cache makes a repeat run ~10 s; a cold
  CI machine downloads ai-edge-litert, opencv-python-headless, numpy, pillow, typer and rich once
  (30–90 s).
- The copy holds only what the build needs (pyproject.toml, README/LICENSE, the packages listed in
  pyproject's [tool.setuptools]), so setuptools' `build/` folder never lands in the checkout and a
  stale `build/lib` can never leak deleted modules into the wheel.
- A pip failure FAILS the test: the edge install must work. Only a Python without `venv` skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNSEEN = ROOT / "unseen"
pytestmark = pytest.mark.slow

FORBIDDEN = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-keras", "tf-nightly", "keras", "tensorboard")


def _run(cmd: list, *, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def _clean_env() -> dict:
    """The environment without anything that would leak the main venv into the edge venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _project_copy(dest: Path) -> Path:
    """A minimal copy of the project for `pip install` (what an sdist would hold)."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dest.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    for extra in ("README.md", "LICENSE", "LICENSE.txt", "MANIFEST.in"):
        if (ROOT / extra).is_file():
            shutil.copy2(ROOT / extra, dest / extra)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in meta["tool"]["setuptools"]["packages"]:
        shutil.copytree(ROOT / package.replace(".", "/"), dest / package.replace(".", "/"), ignore=ignore)
    return dest


@pytest.fixture(scope="session")
def edge_venv(tmp_path_factory):
    """bin/ of a fresh venv holding only `fashion-edge[edge]` (installed from a clean copy, not editable).

    Removed afterwards (~250 MB; pytest keeps its last three sessions' tmp dirs)."""
    base = tmp_path_factory.mktemp("edge-venv")
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", venv], cwd=base, timeout=120, env=_clean_env())
    if made.returncode != 0 or not (venv / "bin" / "python").exists():
        pytest.skip(f"`python -m venv` is unavailable here (apt install python3-venv): {made.stderr.strip()[-300:]}")
    project = _project_copy(base / "src")
    pip = _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"{project}[edge]"], cwd=base, timeout=900, env=_clean_env())
    assert pip.returncode == 0, f"pip install .[edge] failed in a fresh venv:\n{pip.stdout[-3000:]}\n{pip.stderr[-3000:]}"
    yield venv / "bin"
    shutil.rmtree(base, ignore_errors=True)


def _predictions(jsonl: Path) -> list[tuple[str, str, float]]:
    records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    return [(r["source"], r["label"], r["score"]) for r in records]


def _main_fashion_edge() -> list:
    script = Path(sys.executable).parent / "fashion-edge"
    return [script] if script.exists() else [sys.executable, "-m", "edge_app.cli"]


def _assert_no_tensorflow(edge_venv: Path, tmp_path: Path) -> None:
    python = edge_venv / "python"
    probe = _run([python, "-c", "import tensorflow"], cwd=tmp_path, env=_clean_env())
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, probe.stdout + probe.stderr
    listed = _run([python, "-m", "pip", "list", "--format", "json"], cwd=tmp_path, env=_clean_env())
    assert listed.returncode == 0, listed.stderr
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert not names & set(FORBIDDEN), f"TensorFlow/Keras leaked into the edge install: {sorted(names & set(FORBIDDEN))}"
    assert {"fashion-edge", "ai-edge-litert", "numpy", "pillow", "typer"} <= names, sorted(names)
    # The installed copy, not the checkout, is what runs (the checkout is not on sys.path from tmp_path).
    where = _run([python, "-c", "import edge_app, ai_edge_litert; print(edge_app.__file__)"], cwd=tmp_path, env=_clean_env())
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(edge_venv.parent), where.stdout


# One test, not several: session fixtures are per pytest-xdist worker, so two tests on two workers
# would build two venvs (and train two models).
def test_edge_only_venv_runs_the_cli_like_the_main_venv(edge_venv, exported, tmp_path):
    _assert_no_tensorflow(edge_venv, tmp_path)
    cli = edge_venv / "fashion-edge"
    model = exported["int8"]
    assert cli.exists(), "the console script `fashion-edge` was not installed"

    helped = _run([cli, "--help"], cwd=tmp_path, env=_clean_env())
    assert helped.returncode == 0, helped.stderr
    assert all(cmd in helped.stdout for cmd in ("run", "info", "bench", "profile"))

    profiled = _run([cli, "profile", model, "--batch", "1"], cwd=tmp_path, env=_clean_env())  # the Pi's per-op profile
    assert profiled.returncode == 0, profiled.stdout + profiled.stderr
    assert "CONV_2D" in profiled.stdout and "whole model" in profiled.stdout

    info = _run([cli, "info", model], cwd=tmp_path, env=_clean_env())
    assert info.returncode == 0, info.stdout + info.stderr
    assert "labels" in info.stdout and "input" in info.stdout
    if (ROOT / "edge_app" / "models" / "default.tflite").is_file():  # package data made it into the wheel
        default = _run([cli, "info"], cwd=tmp_path, env=_clean_env())
        assert default.returncode == 0, default.stdout + default.stderr

    edge_out, main_out = tmp_path / "edge.jsonl", tmp_path / "main.jsonl"
    args = ["run", "--source", UNSEEN, "--model", model, "--quiet"]
    edge = _run([cli, *args, "--jsonl", edge_out], cwd=tmp_path, env=_clean_env())
    assert edge.returncode == 0, edge.stdout + edge.stderr
    main = _run([*_main_fashion_edge(), *args, "--jsonl", main_out], cwd=tmp_path, env=os.environ.copy())
    assert main.returncode == 0, main.stdout + main.stderr

    got, want = _predictions(edge_out), _predictions(main_out)
    assert len(want) >= 10 and len(got) == len(want)
    for (src_g, label_g, score_g), (src_w, label_w, score_w) in zip(got, want):
        assert (src_g, label_g) == (src_w, label_w)
        assert score_g == pytest.approx(score_w, abs=1e-6), src_g
