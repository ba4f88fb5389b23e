"""Photo-pipeline augmentation for `edge` (rendered photos through the model's own preprocessing), and its int8 export."""

import numpy as np
import pytest

from edge_app.preprocess import PhotoParams, PreprocessSpec
from train.augment import Relight, photo_augment, photo_pipeline


def _items(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        h, w = rng.integers(10, 24, 2)
        y0, x0 = (28 - h) // 2, (28 - w) // 2
        x[i, y0 : y0 + h, x0 : x0 + w] = rng.integers(120, 256)
    return x


def test_pipeline_is_deterministic_and_fashion_mnist_shaped():
    x, y = _items(), np.arange(12) % 10
    a, b = photo_pipeline(x, y, seed=3, workers=1), photo_pipeline(x, y, seed=3, workers=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == np.uint8
    assert (a[:, 0, :] == 0).mean() > 0.8  # background black at the borders, like the data set
    assert not np.array_equal(a, photo_pipeline(x, y, seed=4, workers=1))
    assert ((a > 0).mean(axis=(1, 2)) > 0.1).mean() > 0.8  # the items were found again, not blanks


def test_pipeline_uses_the_spec_it_is_given():
    x, y = _items(), np.arange(12) % 10
    small = photo_pipeline(x, y, PreprocessSpec("photo", PhotoParams(fit=16)), seed=3, workers=1)
    full = photo_pipeline(x, y, seed=3, workers=1)
    extent = lambda imgs: np.mean([max(np.ptp(np.nonzero(i)[0]), np.ptp(np.nonzero(i)[1])) for i in imgs if i.any()])  # noqa: E731
    assert extent(small) < extent(full) - 6  # items fitted to 16 px, not 28


def test_augment_doubles_the_set_and_keeps_labels():
    x, y = _items(), np.arange(12) % 10
    xa, ya, original = photo_augment(x, y, seed=0)
    assert len(xa) == 24 and np.array_equal(ya, np.concatenate([y, y]))
    np.testing.assert_array_equal(xa[:12], x)  # the originals are kept as they are
    assert original.tolist() == [True] * 12 + [False] * 12


def test_more_copies_are_new_renderings_and_the_first_stays_the_same():
    x, y = _items(), np.arange(12) % 10
    one, _, _ = photo_augment(x, y, seed=0)
    xa, ya, original = photo_augment(x, y, seed=0, copies=2)
    assert len(xa) == 36 and np.array_equal(ya, np.concatenate([y, y, y])) and original.sum() == 12
    np.testing.assert_array_equal(xa[:24], one)  # a run with one copy renders exactly what it did
    assert (xa[12:24] != xa[24:]).any(axis=(1, 2)).mean() > 0.8  # the second copy is another scene
    with pytest.raises(ValueError, match="at least 1"):
        photo_augment(x, y, copies=0)


def _relit_epochs(x, original, fraction=0.5, seed=1, epochs=2):
    """Run the training feed (re-lighting only) for `epochs` passes; one array per pass, in input order."""
    from dataclasses import replace

    from train.feed import training_feed
    from train.models import MODELS

    spec = replace(MODELS["edge"], photometric=fraction, photo_share=1.0)
    feed = training_feed(x, np.arange(len(x)), original, spec, batch_size=50, seed=seed)
    passes = []
    for _ in range(epochs):
        images, ids = zip(*[(b[0].numpy(), b[1].numpy()) for b in feed])
        passes.append(np.concatenate(images)[np.argsort(np.concatenate(ids))])
    return passes


def test_relighter_relights_a_fresh_seeded_fraction_of_the_originals_each_epoch():
    from edge_app.preprocess import to_input

    x = to_input(_items(200))
    original = np.arange(200) < 150
    first, second = _relit_epochs(x, original)
    again, _ = _relit_epochs(x, original)
    np.testing.assert_array_equal(first, again)  # a run repeats exactly for its seed
    changed = [(e != x).any(axis=(1, 2, 3)) for e in (first, second)]
    assert not changed[0][150:].any() and not changed[1][150:].any()  # photo copies are never re-lit
    for c in changed:
        assert 0.35 < c[:150].mean() < 0.65
    assert (changed[0] != changed[1]).any()  # another share each epoch
    # a re-lit image stays in range, on 8-bit steps, with its background lifted at most by lift + haze + noise
    r, lit, orig = Relight(), first[changed[0]], x[changed[0]]
    assert lit.dtype == np.float32 and lit.min() >= 0.0 and lit.max() <= 1.0
    np.testing.assert_allclose(lit * 255, np.round(lit * 255), atol=1e-3)
    assert np.median(lit[:, 0]) > np.median(orig[:, 0])  # backgrounds lifted
    assert (lit.max(axis=(1, 2, 3)) <= orig.max(axis=(1, 2, 3)) + r.lift[1] + r.haze + 4 * r.noise).all()
    [unchanged] = _relit_epochs(x, original, fraction=0.0, epochs=1)
    np.testing.assert_array_equal(unchanged, x)


def test_edge_model_exports_to_full_integer():
    from edge_app.contract import Contract, write_model
    from edge_app.runtime import make_interpreter
    from export.convert import to_tflite
    from train.models import build_model

    model = build_model("edge")
    assert model.count_params() <= 100_000
    flat = to_tflite(model, "int8", _items(40), "uint8", logits="decision", first_conv="int8")
    interp = make_interpreter(flat)
    ops = {op["op_name"] for op in interp._get_ops_details()}
    assert "DEQUANTIZE" not in ops  # every op has an int8 kernel: no float islands inside the graph
    for detail in interp.get_tensor_details():
        if detail["dtype"] == np.float32:
            pytest.fail(f"float tensor {detail['name']} in the int8 graph")
    assert len(flat) < 300 * 1024
    # the default export keeps three ops in float: the first conv, on the one-channel input, and the last
    # Dense with its Softmax (issue 16)
    from export.convert import float_ops

    assert [o["op"] for o in float_ops(to_tflite(model, "int8", _items(40), "uint8"))] == ["CONV_2D", "FULLY_CONNECTED", "SOFTMAX"]


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
