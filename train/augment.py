"""Train through the deployment pipeline: Fashion-MNIST items rendered as "photos", then `photo`-preprocessed.

A real photo reaches the model only after `edge_app.preprocess` (mode `photo`) has found, cropped,
inverted and stretched the item. So we teach the model what *that* output looks like: each training
item is pasted, at a random scale, position and angle, onto a lit, textured background of either
polarity, blurred, noised and gamma-shifted, and then sent through the very same preprocessing.

    >>> x_aug, y_aug, original = photo_augment(x_train, y_train, seed=0)   # originals + one photo-like copy each

No real photo enters training: the renderings come from the training images alone.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from edge_app.preprocess import PreprocessSpec, preprocess


@dataclass(frozen=True)
class PhotoAugment:
    """How far a rendering may stray from the data set; each field's unit in its comment."""

    canvas: int = 96  # rendered photo edge, px
    scale: tuple[float, float] = (0.45, 0.9)  # item's longest edge as a fraction of the canvas
    rotate: float = 15.0  # ± degrees (clothes are photographed roughly upright)
    perspective: float = 0.06  # ± corner jitter, fraction of the item size
    contrast: tuple[float, float] = (0.35, 1.0)  # |item − background| as a fraction of full range
    light: float = 0.25  # ± linear lighting gradient across the frame, fraction of full range
    texture: float = 12.0  # background texture amplitude, grey levels
    blur: float = 1.2  # max Gaussian sigma, px of the canvas
    noise: float = 8.0  # max sensor-noise sigma, grey levels
    gamma: tuple[float, float] = (0.7, 1.4)  # display gamma range
    hflip: float = 0.5  # probability of a horizontal flip (never vertical: clothes are not upside down)
    erase: float = 0.25  # probability of erasing a random patch (occlusion)


def render_photo(item: np.ndarray, rng: np.random.Generator, a: PhotoAugment = PhotoAugment()) -> np.ndarray:
    """One 28×28 uint8 item (bright on black) → a (canvas × canvas) uint8 grey "photo" of it."""
    import cv2

    c = a.canvas
    alpha = item.astype(np.float32) / 255.0  # the item's own intensity doubles as its opacity
    if rng.random() < a.hflip:
        alpha = alpha[:, ::-1]
    size = rng.uniform(*a.scale) * c
    k = size / 28.0
    angle = rng.uniform(-a.rotate, a.rotate)
    cx, cy = rng.uniform(size / 2, c - size / 2, 2) if size < c else (c / 2, c / 2)
    m = cv2.getRotationMatrix2D((14.0, 14.0), angle, k)
    m[:, 2] += (cx - 14.0, cy - 14.0)
    src = np.float32([[0, 0], [28, 0], [28, 28], [0, 28]])
    dst = cv2.transform(src[None], m)[0] + rng.uniform(-a.perspective, a.perspective, (4, 2)).astype(np.float32) * size
    warp = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    alpha = cv2.warpPerspective(alpha, warp, (c, c), flags=cv2.INTER_LINEAR, borderValue=0.0)

    # Background: a level, a lighting gradient and a soft texture; the item sits darker or lighter.
    bg = rng.uniform(0.05, 0.95)
    yy, xx = np.mgrid[0:c, 0:c].astype(np.float32) / c
    gx, gy = rng.uniform(-a.light, a.light, 2)
    back = bg + gx * (xx - 0.5) + gy * (yy - 0.5)
    tex = cv2.resize(rng.normal(0, 1, (8, 8)).astype(np.float32), (c, c), interpolation=cv2.INTER_CUBIC)
    back = back * 255.0 + tex * rng.uniform(0, a.texture)
    delta = rng.uniform(*a.contrast) * 255.0
    sign = -1.0 if bg * 255.0 + delta > 255.0 else 1.0 if bg * 255.0 - delta < 0 else rng.choice([-1.0, 1.0])
    img = back + sign * delta * alpha
    if rng.random() < a.erase:
        h, w = rng.integers(c // 8, c // 4, 2)
        y, x = rng.integers(0, c - h), rng.integers(0, c - w)
        img[y : y + h, x : x + w] = back[y : y + h, x : x + w]

    sigma = rng.uniform(0, a.blur)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img + rng.normal(0, rng.uniform(0, a.noise), img.shape)
    img = np.clip(img, 0, 255) / 255.0
    img = img ** rng.uniform(*a.gamma)
    return (img * 255.0).round().astype(np.uint8)


def _chunk(args) -> np.ndarray:
    images, seed = args
    rng = np.random.default_rng(seed)
    spec = PreprocessSpec("photo")
    out = np.empty_like(images)
    for i, item in enumerate(images):
        pre = preprocess(render_photo(item, rng), spec)
        # a rendering the mask missed entirely keeps the original: never a blank training image
        out[i] = pre.image if pre.has_item else item
    return out


def photo_pipeline(images: np.ndarray, seed: int = 0, workers: int | None = None) -> np.ndarray:
    """Every image rendered as a photo and preprocessed back to 28×28 (deterministic per seed)."""
    workers = workers or min(4, os.cpu_count() or 1)
    chunks = np.array_split(images, max(1, workers * 4))
    jobs = [(chunk, [seed, i]) for i, chunk in enumerate(chunks)]
    if workers == 1 or len(images) < 2000:
        return np.concatenate([_chunk(j) for j in jobs]) if len(images) else images
    with ProcessPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(_chunk, jobs)))


def photo_augment(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, original): the originals plus one photo-pipeline copy of each.

    `original` marks the first half, the Fashion-MNIST images themselves; `relighter` re-lights only those
    (a photo copy has already been through the photo preprocessing, which undoes lighting).
    The test set stays Fashion-MNIST-shaped.
    """
    original = np.arange(2 * len(x)) < len(x)
    return np.concatenate([x, photo_pipeline(x, seed)]), np.concatenate([y, y]), original


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
