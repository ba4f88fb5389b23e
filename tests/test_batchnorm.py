"""train.batchnorm: the fused training step computes what Keras's BatchNormalization computes."""

from __future__ import annotations

import numpy as np
import pytest

from train.batchnorm import fuse_batch_norm
from train.models import MODELS, build_model

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def _pair(**kwargs):
    """Two identical BatchNormalization layers (same weights), the second fused, in one-layer models."""
    models = []
    for _ in range(2):
        x = keras.Input((6, 5, 4))
        models.append(keras.Model(x, keras.layers.BatchNormalization(**kwargs)(x)))
    rng = np.random.default_rng(0)
    weights = [rng.normal(1.0, 0.3, w.shape).astype("float32") if "variance" not in w.path else rng.uniform(0.5, 2, w.shape).astype("float32")
               for w in models[0].weights]
    for m in models:
        m.set_weights(weights)
    assert fuse_batch_norm(models[1]) == 1
    return models


@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"scale": False, "momentum": 0.9, "epsilon": 1e-2}])
def test_training_step_matches_keras(kwargs):
    plain, fused = _pair(**kwargs)
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, (8, 6, 5, 4)).astype("float32"))
    grads, outputs = [], []
    for m in (plain, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = m(x, training=True)
            loss = tf.reduce_sum(y * tf.range(1.0, 5.0))  # a loss that depends on every channel differently
        grads.append(tape.gradient(loss, [x, *m.trainable_weights]))
        outputs.append(y)
    np.testing.assert_allclose(outputs[1], outputs[0], atol=2e-5)
    for a, b in zip(grads[0], grads[1]):
        np.testing.assert_allclose(b, a, atol=2e-4)
    # The moving averages take the same (biased) batch variance, not the kernel's unbiased one.
    for a, b in zip(plain.non_trainable_weights, fused.non_trainable_weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5)


def _ops(model, training: bool) -> set[str]:
    graph = tf.function(lambda x: model(x, training=training)).get_concrete_function(tf.TensorSpec((2, 6, 5, 4))).graph
    return {op.type for op in graph.get_operations()}


def test_the_fused_kernel_runs_only_in_training():
    plain, fused = _pair()
    assert "FusedBatchNormV3" in _ops(fused, True)
    assert "FusedBatchNormV3" not in _ops(plain, True) | _ops(fused, False)


def test_inference_and_other_shapes_run_keras_code():
    plain, fused = _pair()
    x = np.random.default_rng(2).normal(0, 1, (3, 6, 5, 4)).astype("float32")
    np.testing.assert_array_equal(fused(x, training=False), plain(x, training=False))
    dense = [keras.Sequential([keras.Input((7,)), keras.layers.BatchNormalization()]) for _ in range(2)]
    assert fuse_batch_norm(dense[1]) == 1
    batch = np.random.default_rng(3).normal(1, 2, (4, 7)).astype("float32")
    out = [np.asarray(m(batch, training=True)) for m in dense]  # 2-D: Keras's own branch in both
    np.testing.assert_array_equal(out[1], out[0])
    np.testing.assert_array_equal(dense[1].get_weights()[2], dense[0].get_weights()[2])  # moving mean


@pytest.mark.parametrize("name", list(MODELS))
def test_saved_model_stays_plain_keras(name, tmp_path):
    model = build_model(name)
    expected = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert fuse_batch_norm(model) == expected
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))
