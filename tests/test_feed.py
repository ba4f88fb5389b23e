"""train.feed: the per-epoch tf.data pipeline — shuffled, photo copies sampled, originals re-lit, all seeded."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from train.config import TrainConfig
from train.feed import images_per_epoch, training_feed
from train.models import MODELS


def _set(n_orig=300, n_photo=300):
    """`n_orig` originals then `n_photo` photo copies, all alike; the labels are their indices."""
    n = n_orig + n_photo
    x = np.zeros((n, 28, 28, 1), np.float32)
    x[:, 4:24, 4:24] = 0.8
    ids = np.arange(n)
    original = ids < n_orig
    return x, ids, original


def _epochs(feed, k=2):
    out = []
    for _ in range(k):
        xs, ys = zip(*[(b[0].numpy(), b[1].numpy()) for b in feed])
        out.append((np.concatenate(xs), np.concatenate(ys)))
    return out


def test_images_per_epoch_counts_originals_and_the_photo_share():
    original = np.arange(10) < 4
    assert images_per_epoch(original, 1.0) == 10
    assert images_per_epoch(original, 0.5) == 7


def test_photo_share_draws_a_fresh_half_of_the_copies_each_epoch_and_keeps_every_original():
    x, ids, original = _set()
    spec = replace(MODELS["edge"], photo_share=0.5, photometric=0.0)
    (x1, y1), (x2, y2) = _epochs(training_feed(x, ids, original, spec, batch_size=64, seed=3))
    for y in (y1, y2):
        assert set(range(300)) <= set(y.tolist())  # every original, each epoch
        assert len(set(y.tolist())) == len(y)  # nothing twice
        assert 110 < (y >= 300).sum() < 190  # about half of the 300 copies
    assert set(y1[y1 >= 300].tolist()) != set(y2[y2 >= 300].tolist())  # another half next epoch
    np.testing.assert_array_equal(x1, x[y1])  # photometric 0: images pass untouched
    (again, _), _ = _epochs(training_feed(x, ids, original, spec, batch_size=64, seed=3))
    np.testing.assert_array_equal(again, x1)  # the same run for the same seed


def test_full_share_and_relighting_touch_only_originals():
    x, ids, original = _set(200, 100)
    spec = replace(MODELS["edge"], photo_share=1.0, photometric=0.5)
    [(xs, ys)] = _epochs(training_feed(x, ids, original, spec, batch_size=50, seed=0), 1)
    assert sorted(ys.tolist()) == list(range(300))
    changed = (xs != x[ys]).any(axis=(1, 2, 3))
    assert not changed[ys >= 200].any()  # photo copies are never re-lit
    assert 0.3 < changed[ys < 200].mean() < 0.7


def test_labels_stay_paired_with_their_images_after_shuffling():
    x, ids, original = _set(100, 100)
    x[:, 0, 0, 0] = ids / 255.0  # the image itself says which it is
    spec = replace(MODELS["edge"], photo_share=0.5, photometric=0.0)
    [(xs, ys)] = _epochs(training_feed(x, ids, original, spec, batch_size=32, seed=1), 1)
    np.testing.assert_allclose(xs[:, 0, 0, 0] * 255.0, ys, atol=1e-3)
    assert not np.array_equal(ys[:100], np.arange(100))  # shuffled


def test_config_takes_the_models_own_epochs_and_batch_unless_given():
    spec = MODELS["edge"]
    assert TrainConfig(model="edge").for_model(spec).epochs == spec.epochs
    assert TrainConfig(model="edge").for_model(spec).batch_size == spec.batch_size
    assert TrainConfig(model="edge", epochs=3, batch_size=16).for_model(spec) == TrainConfig(model="edge", epochs=3, batch_size=16)
    study = TrainConfig(model="deep").for_model(MODELS["deep"])
    assert (study.epochs, study.batch_size) == (10, 32)  # the study's settings
    with pytest.raises(ValueError, match="--epochs must be ≥ 1"):
        TrainConfig(epochs=0)
