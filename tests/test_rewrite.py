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
