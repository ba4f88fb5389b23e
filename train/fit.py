"""Fit one registry model and write its run folder: the whole training story, top to bottom.

    >>> result = fit(TrainConfig(model="robust", epochs=10))
    >>> result.metrics["test_accuracy"]

runs/<model>/ receives `model.keras` (best epoch by validation loss), `last.keras` + `state.json`
(for `--resume`), `history.json`, `metrics.json` and `curves.png`. Every write is atomic.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.atomic import atomic_save, atomic_write
from edge_app.machine import package_versions
from edge_app.preprocess import to_input
from train.augment import photo_augment
from train.batchnorm import fuse_batch_norm
from train.config import TrainConfig
from train.data import load_dataset, split_validation, stratified_indices
from train.feed import images_per_epoch, training_feed
from train.models import get_spec
from train.plots import plot_curves


@dataclass(frozen=True)
class RunResult:
    path: Path  # runs/<model>/
    metrics: dict[str, Any]  # what metrics.json holds


def make_strategy(name: str):
    """The `tf.distribute` strategy `--strategy` names: "default" (one device) or "mirrored"."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    # All local GPUs; on a CPU-only machine, the logical CPUs (tests split one CPU into two).
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=devices)


def _datasets(config: TrainConfig, spec):
    """(x_train, y_train, original, x_val, y_val, x_test, y_test, data) — model inputs via edge_app.preprocess."""
    data = load_dataset(config.data_dir, allow_download=True)
    x, y = data.x_train, data.y_train
    if config.limit:
        keep = stratified_indices(y, config.limit, config.seed)
        x, y = x[keep], y[keep]
    if config.validate_on_test:
        x_tr, y_tr, x_val, y_val = x, y, data.x_test, data.y_test
    else:
        tr, val = split_validation(y, config.val_fraction, config.seed)
        x_tr, y_tr, x_val, y_val = x[tr], y[tr], x[val], y[val]
    original = np.ones(len(x_tr), bool)  # which training images are Fashion-MNIST's own (re-lighting's targets)
    if spec.photo_augment:
        x_tr, y_tr, original = photo_augment(x_tr, y_tr, spec.preprocess, seed=config.seed, copies=spec.photo_copies)
    return to_input(x_tr), y_tr, original, to_input(x_val), y_val, to_input(data.x_test), data.y_test, data


def fit(config: TrainConfig, *, progress: bool = True) -> RunResult:
    """Train `config.model` and write runs/<model>/; returns the run's metrics."""
    import keras
    import tensorflow as tf

    started = time.perf_counter()
    spec = get_spec(config.model)
    config = config.for_model(spec)
    run_dir = Path(config.out) / config.model
    run_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(run_dir, os.W_OK):
        raise PermissionError(f"cannot write to {run_dir}")
    keras.utils.set_random_seed(config.seed)
    # Same seed, same machine → the same weights: deterministic kernels and tf.data ordering.
    tf.config.experimental.enable_op_determinism()

    x_tr, y_tr, original, x_val, y_val, x_te, y_te, data = _datasets(config, spec)
    train_ds = training_feed(x_tr, y_tr, original, spec, config.batch_size, config.seed)
    val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256).cache().prefetch(tf.data.AUTOTUNE)

    data_choice = {"limit": config.limit, "seed": config.seed, "val_fraction": config.val_fraction}
    state_path = run_dir / "state.json"
    resuming = config.resume and state_path.exists() and (run_dir / "last.keras").exists()
    if config.resume:
        _check_resume(run_dir, resuming, data_choice, progress)
    state = json.loads(state_path.read_text()) if resuming else {"epoch": 0, "history": {}}
    strategy = make_strategy(config.strategy)
    with strategy.scope():
        model = keras.models.load_model(run_dir / "last.keras", safe_mode=True) if resuming else compile_model(spec, config, original)
        if config.batch_norm == "fused":  # the same layers, a faster training step; saved files stay plain Keras
            fuse_batch_norm(model)
    if spec.label_smoothing:  # categorical loss wants one-hot targets
        train_ds = train_ds.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), 10)))
        val_ds = val_ds.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), 10)))

    history, seconds = state["history"], state.get("epoch_seconds", [])
    callbacks = _callbacks(spec, config, run_dir, history, state.get("best_val_loss"), seconds, data_choice, state["epoch"], progress)
    if state["epoch"] < config.epochs:
        model.fit(
            train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=state["epoch"],
            callbacks=callbacks, verbose=0, shuffle=False,  # tf.data already reshuffles each epoch
        )

    # The best epoch (lowest validation loss) is the model we keep.
    best_model = keras.models.load_model(run_dir / "best.keras", safe_mode=True)
    test_loss, test_acc = _evaluate(best_model, x_te, y_te)
    metrics = {
        "model": config.model,
        "params": int(best_model.count_params()),
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "best_epoch": int(np.argmin(history["val_loss"])) + 1,
        "epochs": len(history.get("loss", [])),
        "seconds_per_epoch": float(np.mean(seconds)) if seconds else None,
        "seconds_total": time.perf_counter() - started,  # this call: data, augmentation, epochs, test
        "train_images": int(len(x_tr)),
        "images_per_epoch": images_per_epoch(original, spec.photo_share),
        "preprocess": spec.preprocess.to_dict(),  # how real photos must be prepared for this model
        "validation": "test set" if config.validate_on_test else f"stratified {config.val_fraction:.0%} of training set",
        "replicas": int(strategy.num_replicas_in_sync),  # devices the strategy trained on
        "config": asdict(config),
        "data": {"source": data.source, "sha256": data.sha256},
        "versions": package_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _save(run_dir, best_model, history, metrics)
    return RunResult(run_dir, metrics)


def compile_model(spec, config: TrainConfig, original: np.ndarray):
    """A fresh model of the registry entry, compiled with its loss, learning rate and schedule."""
    import keras

    model = spec()
    loss = keras.losses.SparseCategoricalCrossentropy()
    if spec.label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=spec.label_smoothing)
    rate = spec.learning_rate
    if spec.cosine:  # decays to 0 at the last step of the planned epochs
        steps = config.epochs * -(-images_per_epoch(original, spec.photo_share) // config.batch_size)
        rate = keras.optimizers.schedules.CosineDecay(spec.learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=loss, metrics=["accuracy"])
    return model


def _callbacks(spec, config: TrainConfig, run_dir: Path, history: dict, best, seconds: list, data_choice: dict,
               initial_epoch: int, progress: bool) -> list:
    """Checkpoints (best, last, state) every epoch, the entry's schedule, early stopping, the progress bar."""
    import keras

    from train.callbacks import Checkpointer, RichProgress  # Keras subclasses: Keras loads with them

    callbacks = [Checkpointer(run_dir, history, best, seconds, data_choice)]
    if spec.reduce_lr:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5))
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping))
    if progress:
        callbacks.append(RichProgress(config.model, config.epochs, initial_epoch))
    return callbacks


def _save(run_dir: Path, best_model, history: dict, metrics: dict) -> None:
    """The run folder's artifacts, each written atomically."""
    atomic_save(run_dir / "model.keras", best_model.save)
    atomic_write(run_dir / "history.json", json.dumps(history, indent=2))
    atomic_write(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    plot_curves(history, run_dir / "curves.png", title=f"{metrics['model']}: test accuracy {metrics['test_accuracy']:.2%}")


def _check_resume(run_dir: Path, resuming: bool, data_choice: dict, say: bool) -> None:
    """Before a resume: say when there is nothing to resume, refuse other data than the run began with,
    and remove the temporary files an interrupted save left behind."""
    for leftover in run_dir.glob(".*.tmp*"):
        leftover.unlink(missing_ok=True)
    if not resuming:
        if say:
            print(f"--resume: nothing to resume in {run_dir} (no last.keras and state.json); training from the start", file=sys.stderr)
        return
    before = json.loads((run_dir / "state.json").read_text()).get("data")
    changed = {k: (before[k], v) for k, v in data_choice.items() if before and k in before and before[k] != v}
    if changed:
        what = ", ".join(f"--{k.replace('_', '-')} {old} (now {new})" for k, (old, new) in changed.items())
        raise ValueError(f"--resume: {run_dir} was trained with {what}; resume with the same settings or start afresh without --resume")


def _evaluate(model, x, y) -> tuple[float, float]:
    """(loss, accuracy) on integer labels, whatever loss the model was compiled with."""
    probs = model.predict(x, batch_size=512, verbose=0)
    p = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    return float(-np.log(p).mean()), float((probs.argmax(1) == y).mean())
