"""The export-time BatchNorm fold: exact where it applies, refused where it would not be."""

import numpy as np
import pytest

from export.convert import exportable
from export.fold import fold_batchnorm


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
def test_models_without_a_foldable_bn_are_untouched(name):
    from train.models import build_model

    model = build_model(name)
    assert exportable(model) == (model, [])
