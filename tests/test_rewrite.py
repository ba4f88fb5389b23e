"""Export-time graph rewrites: exact where they apply, refused where they would not be."""

import numpy as np
import pytest

from export.convert import exportable
from export.rewrite import fold_batchnorm, inference_graph


def _trained_like(model, seed=0):
    """Give BatchNorm non-trivial statistics, as training would."""
    from keras import layers

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), rng.uniform(0.1, 2, n)])
    return model


def test_robust_fold_is_exact_and_drops_the_bn():
    from keras import layers

    from train.models import build_model

    model = _trained_like(build_model("robust"))
    folded, notes = fold_batchnorm(model)
    assert len(notes) == 1 and "folded into" in notes[0]
    assert not any(isinstance(l, layers.BatchNormalization) for l in folded.layers)
    x = np.random.default_rng(1).random((32, 28, 28, 1), np.float32)
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert folded.count_params() < model.count_params()


def test_negative_scale_is_not_folded():
    from keras import layers

    from train.models import build_model

    model = _trained_like(build_model("robust"))
    bn = next(l for l in model.layers if isinstance(l, layers.BatchNormalization))
    g, b, m, v = bn.get_weights()
    g[0] = -1.0  # MaxPool no longer commutes with the affine map
    bn.set_weights([g, b, m, v])
    folded, notes = fold_batchnorm(model)
    assert folded is model and notes == []


@pytest.mark.parametrize("name", ["baseline", "deep", "edge"])
def test_models_without_a_foldable_bn_keep_their_bns(name):
    from train.models import build_model

    model = build_model(name)
    assert fold_batchnorm(model) == (model, [])


def test_edge_is_left_as_it_is():
    from train.models import build_model

    model = build_model("edge")  # functional, BN right after each conv: the converter folds those
    assert exportable(model) == (model, [])


@pytest.mark.parametrize("name", ["baseline", "deep", "robust"])
def test_flatten_becomes_one_constant_reshape(name):
    from edge_app.runtime import make_interpreter
    from export.convert import to_tflite
    from train.models import build_model

    model = _trained_like(build_model(name))
    graph, notes = exportable(model)
    assert any("constant reshape" in n for n in notes)
    interp = make_interpreter(to_tflite(graph, "float32"))
    ops = [op["op_name"] for op in interp._get_ops_details()]
    assert "SHAPE" not in ops and "PACK" not in ops and ops.count("RESHAPE") == 1
    x = np.random.default_rng(2).random((5, 28, 28, 1), np.float32)
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(i["index"], [5, 28, 28, 1])  # the batch is still resizable
    interp.allocate_tensors()
    interp.set_tensor(i["index"], x)
    interp.invoke()
    np.testing.assert_allclose(interp.get_tensor(o["index"]), model.predict(x, verbose=0), atol=1e-5)


def _signed_weights(model, seed=3):
    """Conv weights of both signs (and a non-zero bias), as training leaves them."""
    from keras import layers

    rng = np.random.default_rng(seed)
    conv = next(l for l in model.layers if isinstance(l, layers.Conv2D))
    kernel, bias = conv.get_weights()
    conv.set_weights([rng.normal(0, 1, kernel.shape).astype(np.float32), rng.normal(0, 0.5, bias.shape).astype(np.float32)])
    return model


def test_baseline_pools_first_and_keeps_its_outputs():
    from keras import layers

    from export.rewrite import pool_first
    from train.models import build_model

    model = _signed_weights(build_model("baseline"))
    kernel = model.layers[0].get_weights()[0]
    assert (kernel > 0).any() and (kernel < 0).any()  # both halves of the rewrite are exercised
    pooled, notes = pool_first(model)
    assert len(notes) == 1 and "first" in notes[0]
    conv = next(l for l in pooled.layers if isinstance(l, layers.Conv2D))
    assert conv.get_weights()[0].shape == (1, 1, 2, 16)  # on the pooled [max x, max −x]
    assert not any(isinstance(l, layers.MaxPooling2D) for l in pooled.layers)
    x = np.random.default_rng(4).random((32, 28, 28, 1), np.float32)
    np.testing.assert_allclose(pooled.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # the layer itself, not just the softmax: the pooled conv's output is the trained conv + pool's
    import keras

    ref = keras.Model(model.inputs, model.layers[1].output).predict(x, verbose=0)
    got = keras.Model(pooled.inputs, conv.output).predict(x, verbose=0)
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize("change", ["3x3 kernel", "gelu", "same pool", "three channels"])
def test_pool_first_is_refused_where_it_would_not_be_exact(change):
    import keras
    from keras import layers

    from export.rewrite import pool_first

    kernel, act, pad, channels = (3 if change == "3x3 kernel" else 1, "gelu" if change == "gelu" else "relu",
                                  "same" if change == "same pool" else "valid", 3 if change == "three channels" else 1)
    model = keras.Sequential([keras.Input((28, 28, channels)), layers.Conv2D(8, kernel, activation=act),
                              layers.MaxPooling2D(padding=pad), layers.Flatten(), layers.Dense(10)])
    assert pool_first(model) == (model, [])


@pytest.mark.parametrize("name", ["deep", "robust", "edge"])
def test_other_models_do_not_pool_first(name):
    from export.rewrite import pool_first
    from train.models import build_model

    model = build_model(name)
    assert pool_first(model) == (model, [])
