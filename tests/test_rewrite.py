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
    tail = ops[len(ops) - ops[::-1].index("CONV_2D"):]  # after the last conv (baseline's stem has reshapes of its own)
    assert "SHAPE" not in ops and "PACK" not in ops and tail.count("RESHAPE") == 1
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


def _live(conv):
    """Channels of a ReLU conv on the one-channel image that can be non-zero for some input ≥ 0."""
    kernel, bias = conv.get_weights()
    w = kernel.reshape(-1)
    return np.flatnonzero(~((w <= 0) & (bias <= 0)))


def test_baseline_pools_first_and_keeps_its_outputs():
    import keras
    from keras import layers

    from export.rewrite import pool_first
    from train.models import build_model

    model = _signed_weights(build_model("baseline"))
    kernel, bias = model.layers[0].get_weights()
    live = _live(model.layers[0])
    assert (kernel > 0).any() and (kernel < 0).any()  # both halves of the rewrite are exercised
    assert 0 < len(live) < 16  # and the dead-channel drop (seeded: some w ≤ 0 with b ≤ 0)
    pooled, notes = pool_first(model)
    assert len(notes) == 2 and "first" in notes[0] and f"{16 - len(live)} of 16" in notes[1]
    conv = next(l for l in pooled.layers if isinstance(l, layers.Conv2D))
    assert conv.get_weights()[0].shape == (1, 1, 2, len(live))  # on the pooled [max x, min x], live channels only
    assert not any(isinstance(l, layers.MaxPooling2D) for l in pooled.layers)
    dense = next(l for l in pooled.layers if isinstance(l, layers.Dense))
    assert dense.get_weights()[0].shape == (14 * 14 * len(live), 16)
    x = np.random.default_rng(4).random((32, 28, 28, 1), np.float32)
    np.testing.assert_allclose(pooled.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # the layer itself, not just the softmax: the pooled conv's output is the trained conv + pool's, and the
    # dropped channels are zero there
    ref = keras.Model(model.inputs, model.layers[1].output).predict(x, verbose=0)
    got = keras.Model(pooled.inputs, conv.output).predict(x, verbose=0)
    np.testing.assert_allclose(got, ref[..., live], atol=1e-6)
    assert not np.delete(ref, live, axis=-1).any()


def test_pair_pool_is_the_max_and_min_of_each_window_bit_for_bit():
    """Only max, min and moves of the image's own pixels: equal, not close, to a max-pool of x and of −x."""
    import keras
    from keras import layers

    from export.rewrite import pool_first
    from train.models import build_model

    model = _signed_weights(build_model("baseline"))
    pooled, _ = pool_first(model)
    stem = keras.Model(pooled.inputs, pooled.layers[0].output)
    x = np.random.default_rng(5).random((8, 28, 28, 1), np.float32)
    got = stem.predict(x, verbose=0)
    pool = layers.MaxPooling2D()
    expected = np.concatenate([pool(x), -pool(-x)], axis=-1)
    assert got.shape == (8, 14, 14, 2) and np.array_equal(got, expected)


def test_all_positive_weights_pool_the_max_alone():
    from keras import layers

    from export.rewrite import pool_first
    from train.models import build_model

    model = build_model("baseline")
    conv = model.layers[0]
    kernel, bias = conv.get_weights()
    conv.set_weights([np.abs(kernel) + 0.1, bias + 0.01])  # every channel rises with x: no min needed, none dead
    pooled, notes = pool_first(model)
    assert len(notes) == 1 and "1 channel(s)" in notes[0]
    assert next(l for l in pooled.layers if isinstance(l, layers.Conv2D)).get_weights()[0].shape == (1, 1, 1, 16)
    x = np.random.default_rng(6).random((16, 28, 28, 1), np.float32)
    np.testing.assert_allclose(pooled.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("activation", ["sigmoid", "linear"])
def test_channels_are_dropped_only_under_relu(activation):
    """sigmoid(w·x + b) is never 0: a channel with w, b ≤ 0 still counts; the rewrite stays exact, all 16 kept."""
    import keras
    from keras import layers

    from export.rewrite import pool_first

    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(16, 1, activation=activation), layers.MaxPooling2D(),
                              layers.Flatten(), layers.Dense(10)])
    _signed_weights(model)
    pooled, notes = pool_first(model)
    assert len(notes) == 1
    assert next(l for l in pooled.layers if isinstance(l, layers.Conv2D)).filters == 16
    x = np.random.default_rng(7).random((16, 28, 28, 1), np.float32)
    np.testing.assert_allclose(pooled.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_other_pool_sizes_max_pool_signed_channels():
    """A 3×3 pool (not 2×2): the [x, −x] max-pool form, still exact, dead channels still dropped."""
    import keras
    from keras import layers

    from export.rewrite import pool_first

    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(16, 1, activation="relu"), layers.MaxPooling2D(3),
                              layers.Flatten(), layers.Dense(10)])
    _signed_weights(model)
    live = _live(model.layers[0])
    pooled, notes = pool_first(model)
    assert "[x, −x] max-pooled" in notes[0] and len(notes) == 2
    dense = next(l for l in pooled.layers if isinstance(l, layers.Dense))
    assert dense.get_weights()[0].shape == (9 * 9 * len(live), 10)
    x = np.random.default_rng(8).random((16, 28, 28, 1), np.float32)
    np.testing.assert_allclose(pooled.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


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
