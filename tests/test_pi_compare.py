"""scripts/pi_compare.py: what the emulated-Pi check (`make check-pi-run`) accepts and what fails it."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pi_compare.py"
spec = importlib.util.spec_from_file_location("pi_compare", SCRIPT)
pi_compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pi_compare)
STEP = 1 / 256


def _write(work: Path, arch: str, rows: list[tuple[str, str, float]], probs: np.ndarray, pixels: np.ndarray) -> None:
    names = [r[0] for r in rows]
    lines = [json.dumps({"source": n, "label": label, "top_k": [{"label": label, "score": score}]}) for n, label, score in rows]
    (work / f"{arch}-unseen.jsonl").write_text("\n".join(lines) + "\n")
    np.savez(work / f"inputs-{arch}.npz", names=np.array(names), pixels=pixels)
    if arch == "x86":
        np.savez(work / "model-x86.npz", names=np.array(names), probs=probs)
    else:
        np.savez(work / "model-arm.npz", names=np.array(names), probs=probs)


@pytest.fixture
def agreeing(tmp_path):
    rows = [("unseen/bag/a.png", "Bag", 0.5), ("unseen/coat/b.png", "Coat", 0.25)]
    probs = np.full((2, 10), 0.1, np.float32)
    pixels = np.zeros((2, 28, 28), np.uint8)
    _write(tmp_path, "x86", rows, probs, pixels)
    _write(tmp_path, "arm", rows, probs, pixels)
    return tmp_path, rows, probs, pixels


def test_identical_results_pass(agreeing, capsys):
    work, *_ = agreeing
    assert pi_compare.compare(str(work)) == 0
    out = capsys.readouterr().out
    assert "2 of 2 outputs bit-identical" in out and "labels identical on 2 of 2" in out and "OK" in out


def test_a_different_label_fails(agreeing, capsys):
    work, rows, probs, pixels = agreeing
    _write(work, "arm", [rows[0], ("unseen/coat/b.png", "Shirt", 0.25)], probs, pixels)
    assert pi_compare.compare(str(work)) == 1
    assert "labels identical on 1 of 2" in capsys.readouterr().out


def test_model_outputs_three_steps_apart_fail(agreeing, capsys):
    work, rows, probs, pixels = agreeing
    moved = probs.copy()
    moved[1, 3] += 3 * STEP
    _write(work, "arm", rows, moved, pixels)
    assert pi_compare.compare(str(work)) == 1
    assert "largest difference 3.0 output steps" in capsys.readouterr().out


def test_score_may_move_where_the_mask_moved_the_input(agreeing, capsys):
    work, rows, probs, pixels = agreeing
    other = pixels.copy()
    other[1, 5, 5] = 200  # the mask's edge moved by a pixel on ARM
    _write(work, "arm", [rows[0], ("unseen/coat/b.png", "Coat", 0.25 + 10 * STEP)], probs, other)
    assert pi_compare.compare(str(work)) == 0
    out = capsys.readouterr().out
    assert "input differs on 1" in out and "0.0 steps where the input is the same, 10.0 over all" in out


def test_the_same_score_gap_on_an_unchanged_input_fails(agreeing):
    work, rows, probs, pixels = agreeing
    _write(work, "arm", [rows[0], ("unseen/coat/b.png", "Coat", 0.25 + 10 * STEP)], probs, pixels)
    assert pi_compare.compare(str(work)) == 1


def test_a_missing_image_fails(agreeing, capsys):
    work, rows, probs, pixels = agreeing
    _write(work, "arm", rows[:1], probs[:1], pixels[:1])
    assert pi_compare.compare(str(work)) == 1
