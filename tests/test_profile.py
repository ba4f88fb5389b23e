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
    # uint8 I/O: the input dequantized for the float stem (pool_first's max / min of the image, its 1×1 conv),
    # quantized after it; the last Dense and Softmax in float after a DEQUANTIZE, one QUANTIZE to uint8 at the end
    n = len(read_model(exported["int8"])[1].quantization["float_ops"]) - 2
    assert names[0] == "DEQUANTIZE" and names[n] == "CONV_2D" and names[n + 1] == "QUANTIZE"
    assert names[-4:] == ["DEQUANTIZE", "FULLY_CONNECTED", "SOFTMAX", "QUANTIZE"] and names.count("FULLY_CONNECTED") == 2
    assert [o.index for o in ops] == list(range(len(ops)))
    assert all(o.output_shape[0] == 4 for o in ops)  # every op ran on the whole batch
    assert ops[0].output_shape == (4, 28, 28, 1) and ops[0].dtype == "float32" and ops[-1].dtype == "uint8"
    assert [o.dtype for o in ops[1 : n + 2]] == ["float32"] * n + ["int8"]
    assert all(o.delegated for o in ops[: n + 2])  # XNNPACK takes the uint8 → float DEQUANTIZE, the float stem and its QUANTIZE
    assert all(o.delegated for o in ops[-4:]) and ops[-2].dtype == "float32"  # …and the float tail, to the uint8 scores
    assert all(o.us > 0 for o in ops)


def test_reports_for_two_models_and_batches(exported, tmp_path):
    result = profile_models([exported["float32"], exported["int8"]], batches=(1, 8), out=tmp_path, min_seconds=0.01, rounds=3)
    assert set(result["models"]) == {"baseline-float32", "baseline-int8"}
    for per in result["models"].values():
        assert set(per) == {"1", "8"} and all(per[b]["whole_us"] > 0 and per[b]["ops"] for b in per)
        assert all(len(per[b]["whole_rounds_us"]) == 3 and per[b]["whole_spread_pct"] >= 0 for b in per)
    md = (tmp_path / "profile.md").read_text()
    assert "#### baseline-int8 — batch 8" in md and "whole model" in md and "XNNPACK" in md
    assert "side by side — 3 interleaved round(s)" in md and "| baseline | " in md  # the int8 ÷ float32 row
    saved = json.loads((tmp_path / "profile.json").read_text())
    assert saved["batches"] == [1, 8] and saved["rounds"] == 3
    machine = saved["machine"]
    assert machine["cpu"] and isinstance(machine["isa"], dict)
    if machine["arch"] == "x86_64" and machine["isa"]:
        assert {"avx2", "avx512_vnni", "amx_int8"} <= set(machine["isa"])  # asked for whether present or not
    assert machine["cpu"] in md


def test_whole_models_are_timed_in_interleaved_rounds(exported, monkeypatch):
    """ABAB…: each round times every model once; the figure is the median of the per-round medians."""
    from edge_app import profile

    calls = []
    per_round = {0: [5.0, 3.0, 9.0, 4.0], 1: [8.0, 2.0, 7.0, 6.0]}  # model → what each of its rounds measures

    models = {}  # interpreter → model index, in the order the models were first timed

    def fake_time_invoke(interp, seed=0, min_seconds=0.1):
        model = models.setdefault(id(interp), len(models))
        calls.append((model, interp))
        return per_round[model][sum(1 for m, _ in calls if m == model) - 1]

    monkeypatch.setattr(profile, "time_invoke", fake_time_invoke)
    flats = {"a": read_flat(exported["float32"]), "b": read_flat(exported["int8"])}
    result = profile.interleaved_whole_us(flats, batch=2, rounds=4)
    assert [m for m, _ in calls] == [0, 1, 0, 1, 0, 1, 0, 1]
    assert len(models) == 2  # one interpreter per model, kept across rounds
    assert result["a"]["rounds_us"] == per_round[0] and result["a"]["us"] == 4.5  # median of 5, 3, 9, 4
    assert result["b"]["us"] == 6.5 and result["b"]["spread_pct"] == 100 * (8 - 2) / 6.5


def read_flat(path):
    from edge_app.contract import read_model

    return read_model(path)[0]


def test_cpu_facts_name_the_instruction_sets_that_pick_the_kernels():
    from edge_app.machine import cpu_facts, isa_summary

    pi5 = ("processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
           "CPU part\t: 0xd0b\n\nprocessor\t: 1\nCPU part\t: 0xd0b\n\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n")
    facts = cpu_facts(pi5, "aarch64")
    assert facts["cpu"] == "Raspberry Pi 5 Model B Rev 1.0 (Cortex-A76)"
    assert facts["isa"]["asimddp"] and facts["isa"]["asimd"] and not facts["isa"]["i8mm"]
    pi4 = pi5.replace(" asimddp", "").replace("0xd0b", "0xd08").replace("Pi 5", "Pi 4")
    assert not cpu_facts(pi4, "aarch64")["isa"]["asimddp"] and "Cortex-A72" in cpu_facts(pi4, "aarch64")["cpu"]
    xeon = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 avx512f avx512_vnni amx_tile amx_int8\n"
    facts = cpu_facts(xeon, "x86_64")
    assert facts["cpu"] == "Intel(R) Xeon(R) Processor"
    assert facts["isa"]["avx512_vnni"] and facts["isa"]["amx_int8"] and not facts["isa"]["avx_vnni"]
    assert "avx_vnni" in isa_summary(facts).split("(no ")[1] and cpu_facts("", "x86_64")["isa"] == {}  # unknown, not "absent"


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
    assert "CONV_2D" in [o["op"] for o in ops] and all(o["delegated"] for o in ops)  # float: all XNNPACK


def test_bad_inputs_are_one_line_errors(exported, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    runner = CliRunner()
    for args, message in (([str(junk)], "not a .tflite model"),
                          ([str(exported["int8"]), "--batch", "0"], "--batch takes"),
                          ([str(exported["int8"]), "--threads", "0"], "--threads must be"),
                          ([str(exported["int8"]), "--rounds", "0"], "--rounds must be"),
                          ([str(tmp_path / "missing.tflite")], "no such model file")):
        result = runner.invoke(app, ["profile", *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)


def test_int8_logits_end_on_a_built_in_kernel(export_run, tmp_path):
    """What the float tail removes: with int8 logits the graph ends in an int8 → uint8 QUANTIZE XNNPACK does not take."""
    from edge_app.contract import read_model
    from export.config import ExportConfig
    from export.convert import convert

    path = convert(export_run, "int8", ExportConfig(out=str(tmp_path), calibration=200, logits="decision"))
    ops = profile_ops(read_model(path)[0], batch=2, min_seconds=0.01)
    assert [o.op for o in ops[-2:]] == ["SOFTMAX", "QUANTIZE"] and ops[-2].dtype == "int8"
    assert not ops[-1].delegated and ops[-1].dtype == "uint8"  # LiteRT's built-in kernel
