"""What the model sees each epoch: the training arrays as a seeded tf.data pipeline.

    >>> ds = training_feed(x, y, original, spec, batch_size=64, seed=0)   # (inputs, labels) batches

Every epoch reshuffles, draws `spec.photo_share` of the photo copies afresh, re-lights a fresh
`spec.photometric` share of the originals (`train.augment.relighter`) and, with `spec.pipeline_augment`,
applies random camera-like layers per batch (`train.augment.pipeline_augmenter`). Each random choice
comes from its own seeded stream (`tf.data.Dataset.random(..., rerandomize_each_iteration=True)`), so
epochs differ and a run repeats exactly for its seed.
"""

from __future__ import annotations

import numpy as np


def images_per_epoch(original: np.ndarray, photo_share: float) -> int:
    """Expected images in one epoch: every original plus `photo_share` of the photo copies."""
    return int(original.sum() + round(photo_share * (~original).sum()))


def training_feed(x: np.ndarray, y: np.ndarray, original: np.ndarray, spec, batch_size: int, seed: int = 0):
    """(x, y) batches for `model.fit`; x: (N, 28, 28, 1) float32 inputs, original: (N,) bool."""
    import tensorflow as tf

    def stream(offset: int):  # an independent seeded random stream, new values each epoch
        return tf.data.Dataset.random(seed=seed * 1000 + offset, rerandomize_each_iteration=True)

    ds = tf.data.Dataset.from_tensor_slices((x, y, original)).cache()
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if spec.photo_share < 1.0:  # keep each photo copy with probability photo_share, drawn per epoch
        keep = int(round(spec.photo_share * 2**20))

        def kept(item, r):  # named functions, not two lambdas on one line: AutoGraph cannot tell those apart
            return item[2] | (r % 2**20 < keep)

        def drop_draw(item, r):
            return item

        ds = tf.data.Dataset.zip(ds, stream(1)).filter(kept).map(drop_draw)
    ds = ds.batch(batch_size)
    if spec.photometric:
        from train.augment import relighter

        relight = relighter(spec.photometric)
        ds = tf.data.Dataset.zip(ds, stream(2).batch(2)).map(lambda batch, s: relight(*batch, s))
    else:
        ds = ds.map(lambda x, y, _: (x, y))
    if spec.pipeline_augment:  # random layers over whole batches, fresh each epoch
        from train.augment import pipeline_augmenter

        ds = ds.map(pipeline_augmenter(seed), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
