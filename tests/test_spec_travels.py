"""A model's preprocessing travels with it: registry entry → training → metrics.json → contract → edge app."""

import json
from dataclasses import replace

import pytest

from edge_app.classifier import Classifier
from edge_app.contract import read_contract, update_contract
from edge_app.preprocess import VERSION, PhotoParams, PreprocessSpec
from export.config import ExportConfig
from export.convert import convert
from export.runs import contract_preprocess
from train.models import MODELS


@pytest.mark.parametrize("name", list(MODELS))
def test_every_registry_entry_names_a_current_spec(name):
    spec = MODELS[name].preprocess
    assert isinstance(spec, PreprocessSpec) and spec.version == VERSION and spec.mismatch() is None


def test_training_records_the_spec_and_export_copies_it(export_run, exported):
    metrics = json.loads((export_run / "metrics.json").read_text())
    assert metrics["preprocess"] == MODELS["baseline"].preprocess.to_dict()
    for path in exported.values():
        assert read_contract(path).preprocess == metrics["preprocess"]


def test_export_keeps_a_spec_other_than_the_default(export_run, tmp_path):
    # a run trained with other photo parameters: its contract says so, not the default
    metrics_path = export_run / "metrics.json"
    original = metrics_path.read_text()
    custom = PreprocessSpec("photo", PhotoParams(work_size=80, iterations=3))
    try:
        metrics_path.write_text(json.dumps({**json.loads(original), "preprocess": custom.to_dict()}))
        path = convert(export_run, "float32", ExportConfig(out=str(tmp_path)))
    finally:
        metrics_path.write_text(original)
    assert PreprocessSpec.from_dict(read_contract(path).preprocess) == custom
    assert Classifier(path).spec == custom  # the edge app runs what the model was trained with


def test_explicit_choice_overrides_and_old_runs_fall_back_to_the_registry():
    assert contract_preprocess({}, "edge", "seed")["mode"] == "seed"
    assert contract_preprocess({}, "edge") == MODELS["edge"].preprocess.to_dict()  # metrics.json from before specs
    assert contract_preprocess({}, "not-registered") == PreprocessSpec().to_dict()


def test_edge_app_warns_about_a_spec_it_was_not_trained_with(exported, tmp_path, capsys):
    import shutil

    path = tmp_path / "m.tflite"
    shutil.copy(exported["int8"], path)
    assert Classifier(path).warning is None
    assert capsys.readouterr().err.count("warning:") == 0
    clf = Classifier(path, preprocess=PreprocessSpec("seed"))
    assert "runs with seed preprocessing" in clf.warning
    old = dict(read_contract(path).preprocess, version=1)
    update_contract(path, preprocess=old)  # a model trained before the colour mask
    clf = Classifier(path)
    assert "v1" in clf.warning and f"v{VERSION}" in clf.warning
    err = capsys.readouterr().err
    assert err.count("warning:") == 2 and "m.tflite" in err


def test_changed_params_change_the_spec_identity():
    a, b = PreprocessSpec(), PreprocessSpec("photo", replace(PhotoParams(), iterations=0))
    assert a != b and PreprocessSpec.from_dict(b.to_dict()) == b
