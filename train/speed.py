"""`fashion-train speed`: what a training epoch or step costs, two ways side by side.

    >>> rows = compare_pipelines("deep", epochs=2)          # our tf.data pipeline vs plain `model.fit` on NumPy
    >>> rows = compare_batch_norm("edge", rounds=5)         # Keras's batch normalization vs the fused kernel

Same model, batch size, data and seed. For the pipelines the first epoch includes tracing, so the
later ones are reported as "steady"; the batch-norm comparison alternates the two models round by
round (after an untimed warm-up round each), so load on a shared machine falls on both alike.
Nothing is written: this is a measurement, printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from edge_app.preprocess import to_input
from train.batchnorm import fuse_batch_norm
from train.data import load_dataset, stratified_indices
from train.models import get_spec


@dataclass(frozen=True)
class SpeedRow:
    model: str
    pipeline: str  # numpy | tf.data
    first_epoch_s: float  # includes graph tracing
    steady_epoch_s: float  # mean of the later epochs


@dataclass(frozen=True)
class StepRow:
    model: str
    batch_norm: str  # keras | fused
    ms_per_step: float  # median over the timed rounds
    rounds: tuple[float, ...]  # each timed round's ms per step, in order


def _time_fit(model, data, epochs: int, batch_size: int) -> list[float]:
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t0)

    timer = Timer()
    if isinstance(data, tuple):
        model.fit(data[0], data[1], batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer], shuffle=True)
    else:
        model.fit(data, epochs=epochs, verbose=0, callbacks=[timer], shuffle=False)  # the dataset reshuffles
    return timer.seconds


def compare_pipelines(name: str, epochs: int = 2, batch_size: int = 32, limit: int | None = None, seed: int = 0) -> list[SpeedRow]:
    import keras
    import tensorflow as tf

    spec = get_spec(name)
    data = load_dataset()
    x, y = data.x_train, data.y_train
    if limit:
        keep = stratified_indices(y, limit, seed)
        x, y = x[keep], y[keep]
    x = to_input(x)
    rows = []
    for pipeline in ("numpy", "tf.data"):
        keras.utils.set_random_seed(seed)
        model = spec()
        model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        if pipeline == "numpy":
            feed = (x, y)
        else:
            feed = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(len(x), seed=seed).batch(batch_size).prefetch(tf.data.AUTOTUNE)
        seconds = _time_fit(model, feed, epochs, batch_size)
        steady = sum(seconds[1:]) / max(1, len(seconds) - 1) if len(seconds) > 1 else seconds[0]
        rows.append(SpeedRow(name, pipeline, seconds[0], steady))
    return rows


def compare_batch_norm(name: str, rounds: int = 5, steps: int = 100, batch_size: int | None = None, seed: int = 0) -> list[StepRow]:
    """ms per training step of `name` with Keras's BatchNormalization and with the fused kernel, interleaved."""
    import keras
    import numpy as np
    import tensorflow as tf

    spec = get_spec(name)
    batch_size = batch_size or spec.batch_size
    data = load_dataset()
    keep = stratified_indices(data.y_train, steps * batch_size, seed)
    x, y = to_input(data.x_train[keep]), data.y_train[keep]
    steps = -(-len(x) // batch_size)  # fewer when the training set is smaller than steps × batch
    feed = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
    models = {}
    for kind in ("keras", "fused"):
        keras.utils.set_random_seed(seed)  # the same initial weights for both
        models[kind] = spec()
        models[kind].compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss="sparse_categorical_crossentropy")
        if kind == "fused":
            fuse_batch_norm(models[kind])
    times = {kind: [] for kind in models}
    for r in range(rounds + 1):  # round 0 traces and warms up, untimed
        for kind, model in models.items():
            seconds = _time_fit(model, feed, 1, batch_size)[0]
            if r:
                times[kind].append(1000 * seconds / steps)
    return [StepRow(name, kind, float(np.median(t)), tuple(t)) for kind, t in times.items()]
