"""Train through the deployment pipeline: Fashion-MNIST items rendered as casual photos, then preprocessed.

A real photo reaches the model only after `edge_app.preprocess` (the model's own spec, mode `photo`)
has found, cropped, inverted and stretched the item. So we teach the model what *that* output looks
like: each training item is rendered as a colour photo (`train.render`: a printed garment on wood, a
bedsheet or a wall, with shadows, hangers and hands) and sent through the very same preprocessing.

    >>> x_aug, y_aug, original = photo_augment(x_train, y_train, spec, seed=0, copies=2)   # originals + two photo copies each

No real photo enters training: the renderings come from the training images alone.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from edge_app.preprocess import PreprocessSpec, preprocess
from train.render import render_photo


def _chunk(args) -> np.ndarray:
    images, labels, spec_dict, seed = args
    rng = np.random.default_rng(seed)
    spec = PreprocessSpec.from_dict(spec_dict)
    out = np.empty_like(images)
    for i, (item, label) in enumerate(zip(images, labels)):
        pre = preprocess(render_photo(item, int(label), rng), spec)
        # a rendering the mask missed entirely keeps the original: never a blank training image
        out[i] = pre.image if pre.has_item else item
    return out


def photo_pipeline(
    images: np.ndarray, labels: np.ndarray, spec: PreprocessSpec = PreprocessSpec(), seed: int = 0, workers: int | None = None,
    copy: int = 0,
) -> np.ndarray:
    """Every image rendered as a photo of its class and preprocessed back to 28×28 (deterministic per seed;
    `copy` k > 0 draws the k-th further rendering of the same images)."""
    workers = workers or min(4, os.cpu_count() or 1)
    parts = max(1, workers * 4)
    jobs = [
        (chunk, lab, spec.to_dict(), [seed, i] + ([copy] if copy else []))
        for i, (chunk, lab) in enumerate(zip(np.array_split(images, parts), np.array_split(np.asarray(labels), parts)))
    ]
    if workers == 1 or len(images) < 2000:
        return np.concatenate([_chunk(j) for j in jobs]) if len(images) else images
    with ProcessPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(_chunk, jobs)))


def photo_augment(
    x: np.ndarray, y: np.ndarray, spec: PreprocessSpec = PreprocessSpec(), seed: int = 0, copies: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, original): the originals plus `copies` photo-pipeline copies of each (each its own
    rendering), made with `spec`.

    `original` marks the first `len(x)` images, the Fashion-MNIST images themselves; `relighter` re-lights only those
    (a photo copy has already been through the photo preprocessing, which undoes lighting).
    The test set stays Fashion-MNIST-shaped.
    """
    if copies < 1:
        raise ValueError(f"photo copies must be at least 1, not {copies}")
    original = np.arange((1 + copies) * len(x)) < len(x)
    photos = [photo_pipeline(x, y, spec, seed, copy=k) for k in range(copies)]
    return np.concatenate([x, *photos]), np.concatenate([y] * (1 + copies)), original


@dataclass(frozen=True)
class Relight:
    """Lighting a 28×28 image may meet before it reaches the model unpreprocessed; units in comments."""

    gain: tuple[float, float] = (0.55, 1.0)  # item contrast kept, fraction
    lift: tuple[float, float] = (0.0, 0.35)  # background raised to, fraction of full range
    haze: float = 0.2  # max amplitude of a smooth low-frequency light field, fraction of full range
    noise: float = 0.05  # max Gaussian sensor-noise sigma, fraction of full range


def relighter(fraction: float = 0.5, r: Relight = Relight()):
    """A tf.data map over batches `(x, y, original, seeds)` → `(x, y)`: a fresh `fraction` of the originals re-lit.

    x: model inputs (N, 28, 28, 1) in [0, 1]; seeds: a (2,) int64 stateless seed per batch, drawn from
    `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`, so each epoch re-lights other images
    in other ways, and a run repeats exactly for its seed. Re-lit pixels are rounded to 8-bit steps, as a
    camera's would be.
    """
    import tensorflow as tf

    def apply(x, y, original, seeds):
        n = tf.shape(x)[0]
        s = tf.random.experimental.stateless_split(seeds, 7)
        per_image = [n, 1, 1, 1]

        def uniform(i, lo, hi, shape=per_image):
            return tf.random.stateless_uniform(shape, s[i], lo, hi)

        pick = (uniform(0, 0.0, 1.0, [n]) < fraction) & original
        field = tf.image.resize(tf.random.stateless_normal([n, 4, 4, 1], s[1]), [28, 28], method="bicubic")
        noise = tf.random.stateless_normal(tf.shape(x), s[2]) * uniform(3, 0.0, r.noise)
        lit = x * uniform(4, *r.gain) + uniform(5, *r.lift) + field * uniform(6, 0.0, r.haze) + noise
        lit = tf.round(tf.clip_by_value(lit, 0.0, 1.0) * 255.0) / 255.0
        return tf.where(pick[:, None, None, None], lit, x), y

    return apply


def pipeline_augmenter(seed: int = 0):
    """On-the-fly, per-epoch augmentation for a tf.data batch of model inputs (N, 28, 28, 1) in [0, 1].

    Generic image-space changes a camera brings — horizontal flip, rotation ±15°, shift ±10 %, zoom
    ±15 %, contrast, lighting (brightness ±20 %), sensor noise — drawn fresh each epoch. These are *not* the corruption suite's
    functions (which stay for evaluation only); they overlap with it only as far as photos do.
    """
    import keras

    layers = [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(15 / 360, fill_mode="constant", seed=seed + 1),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 2),
        keras.layers.RandomZoom((-0.15, 0.15), fill_mode="constant", seed=seed + 3),
        keras.layers.RandomContrast(0.3, value_range=(0, 1), seed=seed + 4),
        keras.layers.RandomBrightness(0.2, value_range=(0, 1), seed=seed + 5),
    ]

    def augment(x, y):
        import tensorflow as tf

        for layer in layers:
            x = layer(x, training=True)
        noise = tf.random.normal(tf.shape(x), stddev=tf.random.uniform([], 0.0, 0.04))  # sensor noise
        return tf.clip_by_value(x + noise, 0.0, 1.0), y

    return augment
