"""train.models: the registry builds every model; the study's three are kept exactly (parameter counts)."""

from __future__ import annotations

import numpy as np
import pytest

from train.models import INPUT_SHAPE, MODELS, NUM_CLASSES, STUDY_MODELS, build_model, get_spec

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

STUDY_PARAMS = {"baseline": 50_394, "deep": 225_034, "robust": 56_778}


@pytest.fixture(scope="module")
def built():
    return {name: build_model(name) for name in MODELS}


@pytest.mark.parametrize("name", list(MODELS))
def test_builds_with_contract_shapes(built, name):
    model = built[name]
    assert isinstance(model, keras.Model)
    assert model.name == name
    assert tuple(model.input_shape) == (None, *INPUT_SHAPE) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, NUM_CLASSES) == (None, 10)
    assert model.layers[-1].get_config()["activation"] == "softmax"
    probs = np.asarray(model(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32), training=False))
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(probs >= 0)


@pytest.mark.parametrize("name", list(MODELS))
def test_fresh_model_each_call(built, name):
    assert build_model(name) is not built[name]
    assert MODELS[name]() is not built[name]


@pytest.mark.parametrize("name", list(STUDY_PARAMS))
def test_study_models_exact(built, name):
    assert built[name].count_params() == STUDY_PARAMS[name]
    assert f"{STUDY_PARAMS[name]:,}" in MODELS[name].summary


@pytest.mark.parametrize("name", list(MODELS))
def test_param_budget(built, name):
    assert built[name].count_params() <= 250_000


def test_edge_fits_the_pi(built):
    assert built["edge"].count_params() <= 100_000


def test_study_models_in_registry():
    assert STUDY_MODELS == ("baseline", "deep", "robust")
    assert set(STUDY_MODELS) <= set(MODELS)
    assert "edge" in MODELS


def test_robust_layers(built):
    model = built["robust"]
    flips = [layer for layer in model.layers if isinstance(layer, layers.RandomFlip)]
    assert {f.mode for f in flips} == {"horizontal", "vertical"}
    assert any(isinstance(layer, layers.BatchNormalization) for layer in model.layers)
    l2_convs = [
        layer for layer in model.layers
        if isinstance(layer, layers.Conv2D) and isinstance(layer.kernel_regularizer, keras.regularizers.L2)
    ]
    assert l2_convs, "robust needs a Conv2D with an L2 kernel_regularizer"
    assert float(l2_convs[0].kernel_regularizer.l2) == pytest.approx(1e-3)
    assert [d.rate for d in model.layers if isinstance(d, layers.Dropout)] == [pytest.approx(0.2)]


def test_robust_flips_inert_at_inference(built):
    model = built["robust"]
    x = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), np.asarray(model(x, training=False)), rtol=1e-6)


def test_training_hints():
    assert MODELS["robust"].reduce_lr is True
    assert MODELS["baseline"].reduce_lr is False and MODELS["deep"].reduce_lr is False
    for name in STUDY_MODELS:
        assert MODELS[name].learning_rate == pytest.approx(1e-3)
        assert MODELS[name].label_smoothing == 0.0 and not MODELS[name].photo_augment


def test_unknown_model_lists_valid_names():
    with pytest.raises(KeyError) as info:
        build_model("nope")
    message = info.value.args[0]
    assert "'nope'" in message
    for name in MODELS:
        assert name in message
    with pytest.raises(KeyError, match="valid: baseline"):
        get_spec("Robust")


def test_registry_import_is_cheap():
    """Importing the registry does not import TensorFlow (the builders import Keras lazily)."""
    import subprocess
    import sys

    code = "import sys, train.models; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
