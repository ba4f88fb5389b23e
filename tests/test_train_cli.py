"""`fashion-train` (train.cli.app): one-line errors without tracebacks, a real tiny fit, compare, the registry (its --help: test_cli_help.py)."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from train.cli import app
from train.models import MODELS

runner = CliRunner()


def _one_error_line(result) -> str:
    """The failure was reported as ONE `error: …` line, with no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_models_lists_registry():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert names == list(MODELS)
    assert "50,394" in result.output


def test_unknown_model(tmp_path):
    line = _one_error_line(runner.invoke(app, ["fit", "--model", "nope", "--out", str(tmp_path)]))
    assert "'nope'" in line
    for name in (*MODELS, "study", "all"):
        assert name in line
    assert list(tmp_path.iterdir()) == []


def test_zero_epochs(tmp_path):
    line = _one_error_line(runner.invoke(app, ["fit", "--epochs", "0", "--out", str(tmp_path)]))
    assert "--epochs must be ≥ 1, got 0" in line


def test_bad_strategy(tmp_path):
    line = _one_error_line(runner.invoke(app, ["fit", "--strategy", "tpu", "--out", str(tmp_path)]))
    assert "default or mirrored" in line


def test_out_not_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "runs"
    line = _one_error_line(runner.invoke(app, ["fit", "--model", "baseline", "--epochs", "1", "--limit", "100",
                                               "--out", str(out), "--quiet"]))
    assert str(blocker) in line
    assert blocker.read_text() == "not a folder"


def test_corrupt_data(corrupt_dir, tmp_path):
    line = _one_error_line(runner.invoke(app, ["fit", "--model", "baseline", "--epochs", "1", "--limit", "100",
                                               "--data-dir", str(corrupt_dir), "--out", str(tmp_path), "--quiet"]))
    assert "checksum" in line and str(corrupt_dir) in line
    assert not (tmp_path / "baseline" / "model.keras").exists()


def test_debug_shows_traceback(tmp_path):
    result = runner.invoke(app, ["fit", "--model", "nope", "--debug", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" in result.output and "error: unknown model" in result.output


@pytest.fixture(scope="module")
def cli_run(fmnist_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-runs")
    result = runner.invoke(app, ["fit", "--model", "baseline", "--epochs", "1", "--limit", "1000",
                                 "--data-dir", str(fmnist_dir), "--out", str(out), "--quiet"])
    return out, result


def test_tiny_fit(cli_run):
    out, result = cli_run
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "baseline" / "metrics.json").read_text())
    assert f"baseline: test accuracy {metrics['test_accuracy']:.2%}" in result.output
    assert "50,394 params" in result.output and str(out / "baseline") in result.output
    assert metrics["epochs"] == 1 and metrics["config"]["limit"] == 1000
    for name in ("model.keras", "history.json", "curves.png"):
        assert (out / "baseline" / name).is_file()


def test_compare(cli_run):
    out, _ = cli_run
    result = runner.invoke(app, ["compare", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "baseline" / "metrics.json").read_text())
    row = next(line for line in result.output.splitlines() if "baseline" in line)
    assert "50,394" in row and f"{metrics['test_accuracy']:.2%}" in row
    for col in ("model", "params", "test acc", "test loss"):
        assert col in result.output
    png = out / "comparison.png"
    assert f"comparison plot: {png}" in result.output
    with Image.open(png) as img:
        assert img.format == "PNG"


def test_compare_empty_folder(tmp_path):
    line = _one_error_line(runner.invoke(app, ["compare", str(tmp_path)]))
    assert "no runs under" in line and str(tmp_path) in line
    assert not (tmp_path / "comparison.png").exists()


def test_compare_missing_folder(tmp_path):
    _one_error_line(runner.invoke(app, ["compare", str(tmp_path / "nowhere")]))


def test_speed_compares_both_pipelines():
    result = runner.invoke(app, ["speed", "--model", "baseline", "--epochs", "1", "--limit", "1000"])
    assert result.exit_code == 0, result.output
    assert "numpy" in result.output and "tf.data" in result.output and "tf.data / numpy" in result.output


def test_speed_compares_batch_norm_kernels():
    result = runner.invoke(app, ["speed", "--model", "robust", "--compare", "batch-norm", "--rounds", "2", "--steps", "3", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    keras_line, fused_line = (next(line for line in result.output.splitlines() if f" {kind} " in line) for kind in ("keras", "fused"))
    for line in (keras_line, fused_line):
        assert "ms/step" in line and len(line.split("rounds:")[1].split()) == 2  # one figure per timed round
    assert "fused / keras:" in result.output


def test_speed_refuses_zero_rounds():
    assert "--rounds must be ≥ 1" in _one_error_line(runner.invoke(app, ["speed", "--compare", "batch-norm", "--rounds", "0"]))
    assert "--compare must be" in _one_error_line(runner.invoke(app, ["speed", "--compare", "layers"]))


def test_fit_refuses_an_unknown_batch_norm(tmp_path):
    line = _one_error_line(runner.invoke(app, ["fit", "--model", "robust", "--batch-norm", "cudnn", "--out", str(tmp_path)]))
    assert "--batch-norm must be fused or keras" in line
