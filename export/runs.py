"""Trained runs as the export side meets them: found in a folder, loaded safely, and asked for probabilities.

    >>> for run in find_runs("runs"): print(run.name)               # runs/<model>/model.keras
    >>> KerasPredictor.from_run("runs/robust").probabilities(x_test)   # (N, 10), as Classifier gives them

`KerasPredictor` puts the float reference behind the same `probabilities(pixels)` call as
`edge_app.Classifier`, so the drift check, robustness and the benchmark treat both alike. Keras is
imported only when a model is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_app.preprocess import PreprocessSpec, to_input
from export.config import ExportError
from train.models import MODELS

PREDICT_BATCH = 512  # images per Keras predict call


def find_runs(runs_dir: str | Path) -> list[Path]:
    """Every run folder under `runs_dir` (those holding a model.keras), sorted by name."""
    runs = sorted(p.parent for p in Path(runs_dir).glob("*/model.keras"))
    if not runs:
        raise FileNotFoundError(f"no runs under {runs_dir} (expected <model>/model.keras)")
    return runs


def find_keras(source: str | Path) -> Path:
    """A run folder (with model.keras) or a `.keras` file → the `.keras` path."""
    source = Path(source)
    path = source / "model.keras" if source.is_dir() else source
    if not path.exists():
        raise ExportError(f"{source}: no model.keras here (train it with fashion-train fit)")
    return path


def contract_preprocess(metrics: dict, name: str, choice: str = "model") -> dict:
    """The contract's preprocessing: the spec training recorded in metrics.json (else its registry
    entry's), or an explicitly chosen mode's defaults (`photo`, `seed`).

    The still views (`PreprocessSpec.still`) are used at test time only, so a run recorded before
    they existed gets its registry entry's: its training pixels are the same either way."""
    if choice != "model":
        return PreprocessSpec(choice).to_dict()
    registry = MODELS[name].preprocess if name in MODELS else PreprocessSpec()
    if "preprocess" in metrics:
        recorded = dict(metrics["preprocess"])
        recorded.setdefault("still", registry.to_dict()["still"])
        return PreprocessSpec.from_dict(recorded).to_dict()
    return registry.to_dict()


def read_metrics(keras_path: Path) -> tuple[dict, str]:
    """(the run's metrics.json beside its `.keras` file — {} when absent —, the run's name: the model
    it records, else the folder's)."""
    metrics_path = Path(keras_path).parent / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    except (OSError, ValueError) as exc:
        raise ExportError(f"{metrics_path}: unreadable ({exc})") from exc
    return metrics, metrics.get("model") or Path(keras_path).parent.name


def run_spec(keras_path: Path) -> PreprocessSpec:
    """The preprocessing a run's metrics.json recorded (else its registry entry's), as export writes it
    into the contract."""
    return PreprocessSpec.from_dict(contract_preprocess(*read_metrics(keras_path)))


def load_keras(path: Path):
    """Load with safe_mode=True; one clear error for anything that is not a usable 28×28×1 model."""
    import keras

    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as exc:  # zip errors, unsafe lambdas, foreign files: all mean "not our model"
        raise ExportError(f"{path}: not a loadable Keras model ({' '.join(str(exc).split())[:160]})") from exc
    shape = tuple(model.input_shape[1:]) if hasattr(model, "input_shape") else None
    if shape != (28, 28, 1):
        raise ExportError(f"{path}: model input is {shape}, expected (28, 28, 1)")
    return model


def keras_probabilities(model, pixels: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 pixels → (N, 10) float32 probabilities of a Keras model (pixels / 255 in)."""
    if not len(pixels):
        return np.zeros((0, 10), np.float32)
    return model.predict(to_input(pixels), batch_size=PREDICT_BATCH, verbose=0)


class KerasPredictor:
    """A float Keras model behind `probabilities(pixels)`, the call `edge_app.Classifier` answers too."""

    def __init__(self, model, path: Path | None = None, spec: PreprocessSpec | None = None):
        self.model = model  # the keras.Model
        self.path = path  # the .keras file it came from, when known
        self.spec = spec or PreprocessSpec()  # how real photos are prepared for it (as `Classifier.spec`)

    @classmethod
    def from_run(cls, run: str | Path) -> "KerasPredictor":
        """The run folder's (or `.keras` file's) model, loaded in safe mode, with the preprocessing its
        training recorded (what its exports' contracts get)."""
        path = find_keras(run)
        return cls(load_keras(path), path, run_spec(path))

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        return keras_probabilities(self.model, pixels)
