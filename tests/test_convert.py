"""Conversion: every variant from a tiny trained run, contracts, sizes, inert augmentation, bad input."""

import json

import numpy as np
import pytest

from edge_app.classifier import Classifier
from edge_app.contract import read_contract
from export.config import VARIANTS, ExportConfig, ExportError
from export.convert import convert
from export.runs import load_keras


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_converts_with_its_contract(exported, export_run, variant):
    path = exported[variant]
    assert path.name == f"baseline-{variant}.tflite"
    c = read_contract(path)
    metrics = json.loads((export_run / "metrics.json").read_text())
    assert c.variant == variant and c.model_name == "baseline"
    assert c.input_shape == [1, 28, 28, 1]
    assert c.labels[0] == "T-shirt/top" and len(c.labels) == 10
    assert c.training["test_accuracy"] == metrics["test_accuracy"]
    assert len(c.source_sha256) == 64 and c.exported_at.endswith("Z")
    assert c.preprocess["mode"] == "photo" and c.preprocess["params"]["fit"] == 28
    if variant == "int8":
        assert c.input_dtype == "uint8" and c.input_zero_point == 0
        assert c.input_scale == pytest.approx(1 / 255, rel=1e-5)
        assert c.output_dtype == "uint8" and c.training["calibration"]["images"] == 200
    else:
        assert c.input_dtype == "float32"


def test_sizes_shrink(exported):
    size = {v: p.stat().st_size for v, p in exported.items()}
    assert size["float16"] <= 0.55 * size["float32"]
    assert size["int8"] <= 0.33 * size["float32"]  # int8 weights are a quarter; the contract and float ends add a little
    assert size["dynamic"] <= 0.32 * size["float32"]


def test_float_export_matches_keras(exported, export_run):
    from train.data import load_dataset
    from edge_app.preprocess import to_input

    x = load_dataset().x_test[:500]
    keras_probs = load_keras(export_run / "model.keras").predict(to_input(x), verbose=0)
    tfl = Classifier(exported["float32"]).probabilities(x)
    np.testing.assert_allclose(tfl, keras_probs, atol=1e-4)


def test_augmentation_and_dropout_are_inert(tmp_path):
    """`robust`'s RandomFlip layers and Dropout must not act in the exported graph."""
    import keras

    from export.convert import to_tflite
    from edge_app.runtime import make_interpreter
    from train.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("robust")
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    expected = model.predict(x, verbose=0)
    interp = make_interpreter(to_tflite(model, "float32"))
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(i["index"], [8, 28, 28, 1])
    interp.allocate_tensors()
    for _ in range(3):  # active flips would change the result from call to call
        interp.set_tensor(i["index"], x)
        interp.invoke()
        np.testing.assert_allclose(interp.get_tensor(o["index"]), expected, atol=1e-5)


def test_int8_io_options(export_run, tmp_path):
    from export.convert import calibration_images

    cal = calibration_images(50)
    p = convert(export_run, "int8", ExportConfig(out=str(tmp_path), io="int8"), cal)
    c = read_contract(p)
    assert c.input_dtype == "int8" and c.input_zero_point == -128
    x = calibration_images(20, seed=1)
    assert Classifier(p).probabilities(x).shape == (20, 10)


def test_not_a_keras_file_is_refused(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ExportError, match="not a loadable Keras model"):
        convert(tmp_path, "float32", ExportConfig(out=str(tmp_path / "m")))


def test_missing_run_is_refused(tmp_path):
    with pytest.raises(ExportError, match="no model.keras"):
        convert(tmp_path / "nothing", "float32")


def test_wrong_input_shape_is_refused(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp_path / "model.keras")
    with pytest.raises(ExportError, match="expected \\(28, 28, 1\\)"):
        convert(tmp_path, "float32", ExportConfig(out=str(tmp_path / "m")))


def test_unwritable_out_leaves_nothing_half_written(export_run, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot write"):
        convert(export_run, "float32", ExportConfig(out=str(blocker / "models")))


def test_unknown_variant(export_run):
    with pytest.raises(ExportError, match="unknown variant"):
        convert(export_run, "int4")
