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


def test_study_models_are_the_registrys_first_and_keep_the_studys_batches_and_epochs():
    """`--model study` trains the study's three with its recipe: 10 epochs of batch 32 unless told otherwise."""
    from train.config import TrainConfig

    assert list(MODELS)[: len(STUDY_MODELS)] == list(STUDY_MODELS) and "edge" in MODELS
    for name in STUDY_MODELS:
        config = TrainConfig(model=name).for_model(MODELS[name])
        assert (config.epochs, config.batch_size) == (10, 32)
        assert TrainConfig(model=name, epochs=3, batch_size=8).for_model(MODELS[name]).epochs == 3


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


@pytest.mark.parametrize("name", list(MODELS))
def test_training_hints_reach_the_compiled_model(name):
    """What the registry entry says is what fit compiles: the study's Adam 1e-3 on sparse labels; edge's
    label smoothing and a cosine decay to 0 over exactly the planned steps."""
    from train.config import TrainConfig
    from train.fit import compile_model

    spec = MODELS[name]
    config = TrainConfig(model=name).for_model(spec)
    original = np.array([True] * 100 + [False] * 100)  # 100 originals and their 100 photo copies
    model = compile_model(spec, config, original)
    rate = model.optimizer.get_config()["learning_rate"]  # a number, or the serialized schedule
    if name in STUDY_MODELS:
        assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
        assert rate == pytest.approx(1e-3)
    else:
        assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
        assert spec.label_smoothing > 0 and model.loss.get_config()["label_smoothing"] == pytest.approx(spec.label_smoothing)
        schedule = keras.optimizers.schedules.deserialize(rate)
        assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
        per_epoch = -(-(100 + round(spec.photo_share * 100)) // config.batch_size)
        assert schedule.decay_steps == config.epochs * per_epoch
        assert float(schedule(0)) == pytest.approx(spec.learning_rate)
        assert float(schedule(schedule.decay_steps)) == pytest.approx(0.0, abs=1e-9)


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
