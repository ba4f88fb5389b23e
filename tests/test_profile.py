"""Per-op profile: one row per operator, XNNPACK vs built-in, reports written, bad input refused."""

import json

import pytest
from typer.testing import CliRunner

from edge_app.cli import app
from edge_app.profile import profile_models, profile_ops


def test_int8_profile_names_every_op(exported):
    from edge_app.contract import read_model

    flat = read_model(exported["int8"])[0]
    ops = profile_ops(flat, batch=4, min_seconds=0.01)
    names = [o.op for o in ops]
    # uint8 I/O: the input dequantized for the float stem (pool_first's [x, −x] conv, max-pool, conv), quantized
    # after it; a QUANTIZE back to uint8 at the end
    stem = ["DEQUANTIZE", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "QUANTIZE"]
    assert names[:5] == stem and names[-1] == "QUANTIZE" and names.count("FULLY_CONNECTED") == 2
    assert [o.index for o in ops] == list(range(len(ops)))
    assert all(o.output_shape[0] == 4 for o in ops)  # every op ran on the whole batch
    assert ops[0].output_shape == (4, 28, 28, 1) and ops[0].dtype == "float32" and ops[-1].dtype == "uint8"
    assert [o.dtype for o in ops[1:5]] == ["float32"] * 3 + ["int8"]
    assert all(o.delegated for o in ops[:5])  # XNNPACK takes the uint8 → float DEQUANTIZE, the float stem and its QUANTIZE
    assert all(o.us > 0 for o in ops)


def test_reports_for_two_models_and_batches(exported, tmp_path):
    result = profile_models([exported["float32"], exported["int8"]], batches=(1, 8), out=tmp_path, min_seconds=0.01)
    assert set(result["models"]) == {"baseline-float32", "baseline-int8"}
    for per in result["models"].values():
        assert set(per) == {"1", "8"} and all(per[b]["whole_us"] > 0 and per[b]["ops"] for b in per)
    md = (tmp_path / "profile.md").read_text()
    assert "#### baseline-int8 — batch 8" in md and "whole model" in md and "built-in" in md
    assert json.loads((tmp_path / "profile.json").read_text())["batches"] == [1, 8]


def test_same_stem_in_two_folders_keeps_both(exported, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    copy = other / exported["int8"].name
    copy.write_bytes(exported["int8"].read_bytes())
    result = profile_models([exported["int8"], copy], batches=(1,), min_seconds=0.01)
    assert len(result["models"]) == 2


def test_a_plain_tflite_without_contract_profiles_too(exported, tmp_path):
    from edge_app.contract import read_model

    plain = tmp_path / "plain.tflite"
    plain.write_bytes(read_model(exported["float32"])[0])
    result = profile_models([plain], batches=(2,), min_seconds=0.01)
    ops = result["models"]["plain"]["2"]["ops"]
    assert [o["op"] for o in ops][:1] == ["CONV_2D"] and all(o["delegated"] for o in ops)  # float: all XNNPACK


def test_bad_inputs_are_one_line_errors(exported, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    runner = CliRunner()
    for args, message in (([str(junk)], "not a .tflite model"),
                          ([str(exported["int8"]), "--batch", "0"], "--batch takes"),
                          ([str(exported["int8"]), "--threads", "0"], "--threads must be"),
                          ([str(tmp_path / "missing.tflite")], "no such model file")):
        result = runner.invoke(app, ["profile", *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
