"""Decision-range calibration of the int8 logits: the range itself, the export, and what it buys."""

import numpy as np
import pytest

from edge_app.classifier import Classifier
from edge_app.contract import read_contract
from export.config import ExportConfig, ExportError
from export.convert import calibration_images, convert, export_flat, load_run
from export.logits_range import MIN_IMAGES, decision_range, quantized_range


def test_decision_range_spans_lowest_winner_to_highest_runner_up():
    logits = np.array([[5.0, 1.0, -30.0], [2.0, 0.0, -20.0], [-1.0, 12.0, 11.5]])
    # lowest winner 2.0, highest runner-up 11.5; margin 3 → [-1.0, 14.5], capped by the data's max (12)
    assert decision_range(logits, margin=3.0) == (-1.0, 12.0)
    # a margin wider than the data keeps the data's own range
    assert decision_range(logits, margin=100.0) == (-30.0, 12.0)


@pytest.fixture(scope="module")
def both_ranges(export_run, tmp_path_factory):
    """The tiny run exported to int8 logits twice: decision range and full range."""
    cal = calibration_images(200)
    out = tmp_path_factory.mktemp("logits")
    decision = convert(export_run, "int8", ExportConfig(out=str(out / "decision"), logits="decision"), cal)
    full = convert(export_run, "int8", ExportConfig(out=str(out / "full"), logits="full"), cal)
    return decision, full


@pytest.fixture(scope="module")
def float_logits(export_run, tmp_path_factory):
    """The same run with the default export: the last Dense and Softmax in float32."""
    return convert(export_run, "int8", ExportConfig(out=str(tmp_path_factory.mktemp("float-logits"))), calibration_images(200))


def test_contract_records_the_range_the_file_has(both_ranges):
    from edge_app.contract import read_model

    decision, full = (read_contract(p).training["calibration"]["logits_range"] for p in both_ranges)
    assert decision["mode"] == "decision" and decision["margin"] == 8.0
    lo, hi = decision["used"]
    cal_lo, cal_hi = decision["calibrated"]
    assert cal_lo - 0.5 <= lo < 0 < hi <= cal_hi + 0.5 and (hi - lo) < 0.95 * (cal_hi - cal_lo)
    assert full["mode"] == "full" and "--logits full" in full["reason"] and full["used"][1] - full["used"][0] > hi - lo
    for path, note in zip(both_ranges, (decision, full)):  # `used` is read back from the file's own scale/zero point
        assert quantized_range(read_model(path)[0]) == pytest.approx(tuple(note["used"]))


@pytest.mark.parametrize("logits", ["float", "decision"])
@pytest.mark.parametrize("io", ["int8", "float32"])
def test_other_io_types_take_the_same_logits(export_run, tmp_path, io, logits):
    cal = calibration_images(200)
    path = convert(export_run, "int8", ExportConfig(out=str(tmp_path), io=io, logits=logits), cal)
    c = read_contract(path)
    assert (c.input_dtype, c.output_dtype) == (io, io) and c.training["calibration"]["logits_range"]["mode"] == logits
    probs = Classifier(path).probabilities(calibration_images(20, seed=3))
    assert probs.shape == (20, 10) and np.allclose(probs.sum(1), 1, atol=0.05)


def test_float_logits_end_in_one_quantize_to_uint8(float_logits):
    from edge_app.contract import read_model
    from tensorflow.lite.tools import flatbuffer_utils

    from export.logits_range import logits_nodes, merge_output_quantize, softmax_input

    flat, c = read_model(float_logits)
    note = c.training["calibration"]["logits_range"]
    assert note["mode"] == "float" and "never quantized" in note["reason"] and "used" not in note
    model = flatbuffer_utils.convert_bytearray_to_object(flat)
    graph = model.subgraphs[0]
    logits = graph.tensors[softmax_input(model)]
    assert logits.type == 0 and graph.tensors[graph.outputs[0]].type == 3  # float32 logits, uint8 output
    assert len(logits_nodes(model)) == 2 and quantized_range(flat) is None  # nothing quantized to read back
    assert merge_output_quantize(flat) == flat  # already one QUANTIZE: nothing left to merge
    assert (c.output_dtype, c.output_scale, c.output_zero_point) == ("uint8", 1 / 256, 0)


def test_float_logits_agree_at_least_as_well_as_int8_logits(float_logits, both_ranges, export_run):
    images = calibration_images(2000, seed=7)  # not the calibration sample
    reference = load_run(export_run).model.predict(images[..., None].astype(np.float32) / 255, verbose=0).argmax(1)
    agree = [float((Classifier(p).probabilities(images).argmax(1) == reference).mean()) for p in (float_logits, *both_ranges)]
    assert agree[0] >= max(agree[1:]) - 0.002 and agree[0] > 0.97


def test_few_calibration_images_keep_the_full_range(export_run):
    flat, note = export_flat(load_run(export_run).model, "int8", calibration_images(MIN_IMAGES // 2), "uint8", "decision")
    assert note.mode == "full" and "calibration images" in note.reason
    assert quantized_range(flat) == pytest.approx(note.used)


def test_io_contract_is_unchanged(both_ranges):
    a, b = (read_contract(p) for p in both_ranges)
    assert (a.input_dtype, a.input_scale, a.input_zero_point) == (b.input_dtype, b.input_scale, b.input_zero_point) == ("uint8", pytest.approx(1 / 255), 0)
    assert (a.output_dtype, a.output_scale) == (b.output_dtype, b.output_scale) == ("uint8", 1 / 256)


def test_finer_logits_agree_at_least_as_well_and_tie_less(both_ranges, export_run):
    images = calibration_images(2000, seed=7)  # not the calibration sample
    reference = load_run(export_run).model.predict(images[..., None].astype(np.float32) / 255, verbose=0).argmax(1)
    results = {}
    for path in both_ranges:
        scores = Classifier(path).probabilities(images)
        ranked = np.sort(scores, axis=1)
        results[read_contract(path).training["calibration"]["logits_range"]["mode"]] = (
            float((scores.argmax(1) == reference).mean()), float((ranked[:, -1] == ranked[:, -2]).mean()))
    (agree_decision, ties_decision), (agree_full, ties_full) = results["decision"], results["full"]
    assert ties_decision < ties_full
    assert agree_decision >= agree_full - 0.002  # never worse by more than 0.2 % (4 of the 2000 images)
    assert agree_decision > 0.97


def test_graph_without_softmax_keeps_the_full_range():
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    flat, note = export_flat(model, "int8", calibration_images(20), "uint8", "decision")
    assert flat[4:8] == b"TFL3" and note.mode == "full" and "Softmax" in note.reason


def test_unknown_logits_mode(export_run):
    with pytest.raises(ExportError, match="unknown --logits"):
        export_flat(load_run(export_run).model, "int8", calibration_images(20), "uint8", "widest")


def test_a_range_that_would_barely_narrow_is_kept_full(export_run, monkeypatch):
    import export.logits_range as lr

    monkeypatch.setattr(lr, "MIN_GAIN", 1.0)  # demand more narrowing than any range can give
    flat, note = export_flat(load_run(export_run).model, "int8", calibration_images(200), "uint8", "decision")
    assert note.mode == "full" and "covers" in note.reason
    assert quantized_range(flat) == pytest.approx(note.used)
    assert note.used[1] - note.used[0] == pytest.approx(note.calibrated[1] - note.calibrated[0], rel=0.02)
