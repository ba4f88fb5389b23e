"""`fashion-edge` through typer's CliRunner and in subprocesses: sources, outputs, faults, no TensorFlow."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from edge_app.cli import SOME_FAILED, app
from edge_app.preprocess import VERSION

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def photos(tmp_path):
    """A folder with good images (in class folders) and broken ones."""
    root = tmp_path / "photos"
    for src in sorted((ROOT / "unseen").glob("*/*.png"))[:: 15]:
        dest = root / src.parent.name / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.png").write_text("not an image")
    return root


def test_folder_run_writes_jsonl_and_csv_and_reports_failures(exported, photos, tmp_path):
    jsonl, table = tmp_path / "out.jsonl", tmp_path / "out.csv"
    result = _invoke("run", "--source", photos, "--model", exported["int8"], "--jsonl", jsonl, "--csv", table, "--top-k", 2)
    assert result.exit_code == SOME_FAILED, result.output  # two unreadable files, the rest classified
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    good = [r for r in records if not r["error"]]
    bad = [r for r in records if r["error"]]
    assert len(bad) == 2 and {Path(r["source"]).name for r in bad} == {"empty.jpg", "notes.png"}
    assert len(good) >= 6
    for r in good:
        assert set(r) >= {"source", "label", "score", "top_k", "ms_preprocess", "ms_inference", "error"}
        assert len(r["top_k"]) == 2 and r["top_k"][0]["label"] == r["label"]
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == len(records)
    assert "summary:" in result.output and "2 errors" in result.output


def test_predictions_are_deterministic(exported, photos, tmp_path):
    outs = []
    for i in range(2):
        _invoke("run", "--source", photos, "--model", exported["int8"], "--jsonl", tmp_path / f"{i}.jsonl", "--quiet")
        outs.append([(r["source"], r["label"]) for r in map(json.loads, (tmp_path / f"{i}.jsonl").read_text().splitlines())])
    assert outs[0] == outs[1]


def test_glob_single_file_roi_and_max_frames(exported, photos, tmp_path):
    one = next(photos.glob("*/*.png"))
    result = _invoke("run", "--source", one, "--model", exported["int8"])
    assert result.exit_code == 0 and one.name in result.output
    result = _invoke("run", "--source", f"{photos}/*/*.png", "--model", exported["int8"], "--max-frames", 2, "--roi", "0,0,40,40")
    assert result.exit_code == 0 and "2 frames" in result.output


def test_video_source_with_smoothing_and_save_dir(exported, tmp_path):
    cv2 = pytest.importorskip("cv2")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(8):
        frame = np.full((120, 160, 3), 235, np.uint8)
        frame[20 + i : 100 + i, 50:110] = 40
        writer.write(frame)
    writer.release()
    out = tmp_path / "frames"
    result = _invoke("run", "--source", video, "--model", exported["int8"], "--smooth", 4, "--save-dir", out, "--jsonl", tmp_path / "v.jsonl")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert len(records) == 8 and all("#" in r["source"] for r in records)
    assert len(list(out.glob("*.jpg"))) == 8


def test_blank_frame_answers_no_item(exported, tmp_path):
    Image.new("RGB", (64, 48), (120, 120, 120)).save(tmp_path / "blank.png")
    result = _invoke("run", "--source", tmp_path / "blank.png", "--model", exported["int8"], "--jsonl", tmp_path / "b.jsonl")
    assert result.exit_code == 0
    assert json.loads((tmp_path / "b.jsonl").read_text())["label"] == "no item"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", "97"], "camera 97"),
        (["--source", "/no/such/dir"], "no such file or folder"),
        (["--top-k", "0"], "--top-k"),
        (["--roi", "1,2,3"], "--roi"),
        (["--threshold", "2"], "--threshold"),
    ],
)
def test_bad_input_is_one_clear_line(exported, args, message):
    result = _invoke("run", "--model", exported["int8"], *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_model_faults(exported, tmp_path):
    (tmp_path / "junk.tflite").write_bytes(b"junk")
    result = _invoke("run", "--model", tmp_path / "junk.tflite", "--source", ROOT / "unseen")
    assert result.exit_code == 1 and "not a TFLite model" in result.output
    result = _invoke("info", tmp_path / "missing.tflite")
    assert result.exit_code == 1 and "cannot read model" in result.output


def test_info_prints_the_contract(exported):
    result = _invoke("info", exported["int8"])
    assert result.exit_code == 0
    assert "uint8" in result.output and "Ankle boot" in result.output and f"preprocess   photo v{VERSION}: " in result.output
    raw = _invoke("info", exported["int8"], "--json")
    assert json.loads(raw.output)["variant"] == "int8"
    float_ops = json.loads(raw.output)["quantization"]["float_ops"]
    line = next(l for l in result.output.splitlines() if l.startswith("float ops"))
    assert all(o["op"] in line for o in float_ops) and "first conv: float, logits: float, fixed" in line  # what runs in float32, and why


def test_bench_prints_stages(exported):
    result = _invoke("bench", "--model", exported["int8"], "--frames", 20)
    assert result.exit_code == 0
    for stage in ("decode JPEG", "preprocess", "inference", "decode excluded", "decode included"):
        assert stage in result.output


def test_cli_never_imports_tensorflow(exported):
    """The Pi has no TensorFlow: a whole run in a fresh interpreter must not load it."""
    code = (
        "import sys\n"
        "from edge_app.cli import app\n"
        f"sys.argv = ['fashion-edge', 'run', '--source', {str(ROOT / 'unseen')!r}, '--model', {str(exported['int8'])!r}, '--quiet']\n"
        "try:\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'train', 'export'))\n"
        "print('LOADED', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "LOADED []" in out.stdout, out.stdout + out.stderr
    assert out.returncode == 0


def test_edge_modules_import_only_stdlib_numpy_pillow_at_module_level():
    code = (
        "import sys, importlib, pkgutil, edge_app\n"
        "for m in pkgutil.iter_modules(edge_app.__path__):\n"
        "    importlib.import_module('edge_app.' + m.name)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'cv2', 'ai_edge_litert', 'tflite_runtime', 'train', 'export', 'matplotlib'})\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_show_without_a_gui_build_points_to_serve(exported, headless_opencv):
    result = _invoke("run", "--source", ROOT / "unseen" / "bag", "--model", exported["int8"], "--show", "--max-frames", 1)
    assert result.exit_code == 1
    assert "--serve" in result.output and "Traceback" not in result.output


def test_an_output_that_cannot_open_fails_cleanly(exported, tmp_path, monkeypatch):
    """--serve on a busy port: one line, exit 1, and no file opened (the live sinks open first)."""
    import socket

    from edge_app import outputs

    opened = []
    real_open = open

    def tracking_open(*args, **kwargs):
        f = real_open(*args, **kwargs)
        opened.append(f)
        return f

    monkeypatch.setattr(outputs, "open", tracking_open, raising=False)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        result = _invoke("run", "--source", ROOT / "unseen" / "bag", "--model", exported["int8"],
                         "--jsonl", tmp_path / "o.jsonl", "--serve", busy.getsockname()[1])
    finally:
        busy.close()
    assert result.exit_code == 1 and "Traceback" not in result.output and "port in use" in result.output
    assert all(f.closed for f in opened) and not (tmp_path / "o.jsonl").exists()


def test_bench_hides_the_runtimes_info_line_unless_verbose():
    import subprocess
    import sys

    def bench(*extra):
        return subprocess.run([sys.executable, "-m", "edge_app.cli", "bench", "--frames", "3", *extra],
                              capture_output=True, text=True, timeout=120)

    quiet, loud = bench(), bench("--verbose")
    assert quiet.returncode == 0 and "decode excluded" in quiet.stdout
    assert "INFO: Created TensorFlow Lite" not in quiet.stderr + quiet.stdout
    assert "INFO: Created TensorFlow Lite" in loud.stderr
