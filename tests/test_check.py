"""The drift gate: passes a faithful export, fails a deliberately broken one, writes its reports."""

import json

import numpy as np
import pytest

from edge_app.classifier import Classifier
from edge_app.contract import read_contract
from export.check import check, compare_sets, write_report
from export.config import EvalConfig, ExportConfig
from export.convert import convert
from export.evalsets import EvalData

UNSEEN_LIMIT = 1000  # test images: enough for a stable gate, fast enough for CI


@pytest.fixture(scope="module")
def evaldata():
    return EvalData.load(EvalConfig(unseen="unseen", test_limit=UNSEEN_LIMIT))


def test_good_export_passes_and_reports(exported, export_run, evaldata):
    report = check(exported["float16"], export_run, evaldata, max_drift=0.5)
    assert set(report.sets) == {"test", "unseen", "corrupted"}
    assert report.passed, report.failures
    for s in report.sets.values():
        assert abs(s.delta_pp) <= 0.5 and s.agreement >= 0.99
    json_path, md_path = write_report(report)
    data = json.loads(json_path.read_text())
    for name in ("test", "unseen", "corrupted"):
        entry = data["sets"][name]
        for key in ("reference_acc", "candidate_acc", "delta_pp", "agreement", "per_class", "flipped"):
            assert key in entry
    assert data["sets"]["test"]["n"] == UNSEEN_LIMIT
    assert "| test |" in md_path.read_text()
    assert read_contract(exported["float16"]).checks["passed"] is True  # the result travels in the model


def test_int8_drift_is_small(exported, export_run, evaldata):
    report = check(exported["int8"], export_run, evaldata, max_drift=2.0)
    assert abs(report.sets["test"].delta_pp) <= 2.0
    assert report.sets["test"].agreement >= 0.95


def test_broken_calibration_fails_the_gate(export_run, evaldata, tmp_path):
    """A calibration set of one constant image quantizes activations to nonsense."""
    constant = np.full((1, 28, 28), 7, np.uint8)
    broken = convert(export_run, "int8", ExportConfig(out=str(tmp_path)), calibration=constant)
    report = check(broken, export_run, evaldata, max_drift=0.5)
    assert not report.passed
    assert "test" in report.failures
    assert report.sets["test"].agreement < 0.9


def test_unseen_flips_are_named_by_file(exported, export_run, evaldata):
    report = check(exported["int8"], export_run, evaldata)
    for flip in report.sets["unseen"].flipped:
        assert flip["id"].endswith(".png") and "/" in flip["id"]


def test_compare_sets_figures():
    labels = np.array([0, 0, 1, 1])
    ref = np.array([0, 0, 1, 0])  # 3/4 right
    cand = np.array([0, 1, 1, 0])  # 2/4 right
    s = compare_sets(ref, cand, labels, ["a", "b", "c", "d"])
    assert s.reference_acc == 0.75 and s.candidate_acc == 0.5
    assert s.delta_pp == pytest.approx(-25.0) and s.agreement == 0.75
    assert s.worst_class == "T-shirt/top"
    assert s.flipped == [{"id": "b", "label": "T-shirt/top", "reference": "T-shirt/top", "candidate": "Trouser"}]


def test_empty_unseen_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no labelled images"):
        EvalData.load(EvalConfig(unseen=str(tmp_path / "empty"), test_limit=10))


def test_an_unreadable_unseen_file_is_skipped_not_fatal(exported, export_run, tmp_path):
    from PIL import Image

    (tmp_path / "bag").mkdir()
    Image.new("RGB", (40, 40), "white").save(tmp_path / "bag" / "good.png")
    (tmp_path / "bag" / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    data = EvalData.load(EvalConfig(unseen=str(tmp_path), test_limit=100))
    assert data.unseen_ids == ["bag/good.png"] and len(data.unseen_skipped) == 1
    report = check(exported["float16"], export_run, data)
    assert report.sets["unseen"].n == 1


def test_every_variant_is_checked_against_one_reference(exported, export_run):
    """The float model's outputs are computed once per (model, preprocessing) and shared: the reports of two
    variants quote the very same reference, and it is what the Keras model itself gives on those pixels."""
    from export.runs import keras_probabilities, load_keras

    data = EvalData.load(EvalConfig(unseen="unseen", test_limit=200))
    model = load_keras(export_run / "model.keras")
    reports = [check(exported[v], export_run, data, keras_model=model) for v in ("float32", "int8")]
    spec = Classifier(exported["int8"]).spec
    first, again = data.reference(model, spec), data.reference(model, spec)
    assert all(first[name] is again[name] for name in ("test", "unseen", "corrupted"))
    assert np.array_equal(first["test"], keras_probabilities(model, data.test_x))
    for name in ("test", "unseen", "corrupted"):
        assert reports[0].sets[name].reference_acc == reports[1].sets[name].reference_acc
    assert reports[0].sets["test"].reference_acc == float((first["test"].argmax(1) == data.test_y).mean())
