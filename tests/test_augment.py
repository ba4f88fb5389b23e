"""Photo-pipeline augmentation for `edge`, and that model's full-integer export."""

import numpy as np
import pytest

from train.augment import PhotoAugment, Relight, photo_augment, photo_pipeline, relight, render_photo


def _items(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        h, w = rng.integers(10, 24, 2)
        y0, x0 = (28 - h) // 2, (28 - w) // 2
        x[i, y0 : y0 + h, x0 : x0 + w] = rng.integers(120, 256)
    return x


def test_render_is_a_photo_of_the_item():
    photo = render_photo(_items(1)[0], np.random.default_rng(0))
    a = PhotoAugment()
    assert photo.shape == (a.canvas, a.canvas) and photo.dtype == np.uint8
    assert photo.std() > 5  # an item on a background, not a flat field


def test_pipeline_is_deterministic_and_fashion_mnist_shaped():
    x = _items()
    a, b = photo_pipeline(x, seed=3, workers=1), photo_pipeline(x, seed=3, workers=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == np.uint8
    assert (a[:, 0, :] == 0).mean() > 0.8  # background black at the borders, like the data set
    assert not np.array_equal(a, photo_pipeline(x, seed=4, workers=1))


def test_augment_doubles_the_set_and_keeps_labels():
    x, y = _items(), np.arange(12) % 10
    xa, ya = photo_augment(x, y, seed=0)
    assert len(xa) == 24 and np.array_equal(ya, np.concatenate([y, y]))
    np.testing.assert_array_equal(xa[:12], x)  # the originals are kept as they are


def test_relight_changes_a_seeded_fraction_within_its_bounds():
    x = _items(200)
    out = relight(x, seed=1, fraction=0.5)
    np.testing.assert_array_equal(out, relight(x, seed=1, fraction=0.5))  # deterministic
    changed = (out != x).any(axis=(1, 2))
    assert 0.35 < changed.mean() < 0.65 and out.dtype == np.uint8 and out.shape == x.shape
    np.testing.assert_array_equal(out[~changed], x[~changed])
    # a re-lit item is dimmer than the original, and its background lifted at most `lift` (+ haze and noise)
    r = Relight()
    assert (out[changed].max(axis=(1, 2)) <= x[changed].max(axis=(1, 2)) + 255 * (r.lift[1] + r.haze + 4 * r.noise)).all()
    assert np.median(out[changed][:, 0, :]) > np.median(x[changed][:, 0, :])  # backgrounds lifted
    np.testing.assert_array_equal(relight(x, seed=1, fraction=0.0), x)


def test_photometric_relights_only_the_originals():
    x, y = _items(), np.arange(12) % 10
    clean, _ = photo_augment(x, y, seed=0)
    lit, _ = photo_augment(x, y, seed=0, photometric=1.0)
    np.testing.assert_array_equal(lit[12:], clean[12:])  # the photo copies are the same
    assert (lit[:12] != x).any(axis=(1, 2)).all()


def test_edge_model_exports_to_full_integer():
    from edge_app.contract import Contract, write_model
    from edge_app.runtime import make_interpreter
    from export.convert import to_tflite
    from train.models import build_model

    model = build_model("edge")
    assert model.count_params() <= 100_000
    flat = to_tflite(model, "int8", _items(40), "uint8")
    interp = make_interpreter(flat)
    ops = {op["op_name"] for op in interp._get_ops_details()}
    assert "DEQUANTIZE" not in ops  # no float islands inside the graph
    for detail in interp.get_tensor_details():
        if detail["dtype"] == np.float32:
            pytest.fail(f"float tensor {detail['name']} in the int8 graph")
    assert len(flat) < 300 * 1024


def test_pipeline_augmenter_keeps_shape_and_range_and_varies_per_epoch():
    import tensorflow as tf

    from edge_app.preprocess import to_input
    from train.augment import pipeline_augmenter

    x, y = to_input(_items(16)), np.arange(16) % 10
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(pipeline_augmenter(0))
    first, second = [b[0].numpy() for b in ds], [b[0].numpy() for b in ds]
    assert first[0].shape == (8, 28, 28, 1) and first[0].dtype == np.float32
    assert 0.0 <= first[0].min() and first[0].max() <= 1.0
    assert not np.allclose(first[0], second[0])  # fresh draws each epoch
    assert [b[1].numpy().tolist() for b in ds] == [y[:8].tolist(), y[8:].tolist()]  # labels untouched
