"""The model the edge app ships: small, int8, checked, and usable with no --model at all."""

import json
from dataclasses import asdict
from pathlib import Path

from typer.testing import CliRunner

from edge_app.classifier import DEFAULT_MODEL, Classifier
from edge_app.cli import app
from edge_app.contract import read_contract
from edge_app.labelled import labelled_images
from edge_app.labels import LABELS
from edge_app.preprocess import VERSION
from train.models import get_spec

ROOT = Path(__file__).resolve().parents[1]


def test_default_model_is_a_checked_int8_model_under_300_kb():
    assert DEFAULT_MODEL.stat().st_size < 300 * 1024
    c = read_contract(DEFAULT_MODEL)
    assert c.variant == "int8" and c.input_dtype == "uint8"
    assert c.preprocess["mode"] == "photo"
    assert c.preprocess["version"] == VERSION and c.preprocess["params"] == asdict(get_spec("edge").preprocess.photo)  # trained as the registry says
    assert c.training["test_accuracy"] > 0.85 and c.training["calibration"]["images"] > 0
    drift = c.checks["drift"]
    assert abs(drift["test"]["delta_pp"]) <= c.checks["max_drift_pp"]
    assert drift["test"]["n"] == 10000


def test_run_without_model_flag_uses_it(tmp_path):
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["run", "--source", str(ROOT / "unseen"), "--jsonl", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    records = {Path(r["source"]).resolve(): r["label"] for r in map(json.loads, out.read_text().splitlines())}
    truth = {item.path.resolve(): LABELS[item.label] for item in labelled_images(ROOT / "unseen")}
    assert set(records) == set(truth)
    correct = sum(records[p] == truth[p] for p in truth)
    assert correct >= 0.4 * len(truth)  # far above chance (10 %) on drawings unlike the training data


def test_default_classifier_loads():
    clf = Classifier()
    assert clf.labels[9] == "Ankle boot"
