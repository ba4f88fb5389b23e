"""Keras callbacks of the fit loop: timed, atomic checkpoints for resume, and Rich progress."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras

from edge_app.atomic import atomic_save, atomic_write


class Checkpointer(keras.callbacks.Callback):
    """After each epoch: `last.keras` + `state.json` (resume), and `best.keras` on a new best val loss.

    Written atomically, so Ctrl-C mid-save leaves the previous checkpoint whole.
    """

    def __init__(self, run_dir: Path, history: dict, best: float | None, epoch_seconds: list[float], data: dict | None = None):
        super().__init__()
        self.run_dir, self.history, self.best = Path(run_dir), history, best
        self.epoch_seconds = epoch_seconds  # wall-clock seconds per epoch, training and validation
        self.data = data or {}  # the settings that chose the training data (limit, seed): a resume must repeat them
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.epoch_seconds.append(time.perf_counter() - self._t0)
        val = float((logs or {}).get("val_loss", float("inf")))
        if self.best is None or val < self.best:
            self.best = val
            atomic_save(self.run_dir / "best.keras", self.model.save)
        atomic_save(self.run_dir / "last.keras", self.model.save)
        state = {"epoch": epoch + 1, "best_val_loss": self.best, "history": self.history, "epoch_seconds": self.epoch_seconds,
                 "data": self.data}
        atomic_write(self.run_dir / "state.json", json.dumps(state, indent=2))


class RichProgress(keras.callbacks.Callback):
    """An epoch bar and a batch bar, and one line per finished epoch."""

    def __init__(self, name: str, epochs: int, initial_epoch: int = 0):
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=self.console, transient=True,
        )
        self.name, self.epochs, self.initial = name, epochs, initial_epoch

    def on_train_begin(self, logs=None):
        self.progress.start()
        self.epoch_task = self.progress.add_task(self.name, total=self.epochs, completed=self.initial, info="")
        self.batch_task = self.progress.add_task("batches", total=self.params.get("steps"), info="")

    def on_epoch_begin(self, epoch, logs=None):
        self.progress.reset(self.batch_task, total=self.params.get("steps"), info="")

    def on_train_batch_end(self, batch, logs=None):
        info = f"loss {logs.get('loss', 0):.4f} acc {logs.get('accuracy', 0):.4f}" if logs else ""
        self.progress.update(self.batch_task, completed=batch + 1, info=info)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        line = (f"{self.name} epoch {epoch + 1}/{self.epochs}: loss {logs.get('loss', 0):.4f} "
                f"acc {logs.get('accuracy', 0):.4f} val_loss {logs.get('val_loss', 0):.4f} val_acc {logs.get('val_accuracy', 0):.4f}")
        self.progress.console.print(line)
        self.progress.update(self.epoch_task, completed=epoch + 1)

    def on_train_end(self, logs=None):
        self.progress.stop()
