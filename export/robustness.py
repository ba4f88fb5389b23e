"""`fashion-export robustness`: every model and variant on test, corruptions, unseen/ and real photos.

    >>> rows = robustness("runs", "models", real_dir="../shared/wild-dev", out="reports")

The Keras model is the `keras` variant; exported ones run through `edge_app.Classifier`. Real images
are preprocessed by `edge_app.preprocess` in each requested mode (`photo`, and `seed` — the study's
pipeline — for comparison), so a table row says how much of the gain is the preprocessing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_app.atomic import atomic_save, atomic_write
from edge_app.classifier import Classifier
from edge_app.labelled import decode_labelled
from edge_app.labels import LABELS
from edge_app.preprocess import PreprocessSpec, preprocess_batch


@dataclass
class RealSet:
    """A labelled folder, decoded once and preprocessed once per mode."""

    name: str
    labels: np.ndarray
    pixels: dict[str, np.ndarray]  # mode → (N, 28, 28) uint8
    skipped: list[str] = field(default_factory=list)  # unreadable files

    @classmethod
    def load(cls, name: str, folder: str | Path, modes: tuple[str, ...]) -> "RealSet":
        real = decode_labelled(folder)
        pixels = {mode: preprocess_batch(real.images, PreprocessSpec(mode))[0] for mode in modes}
        return cls(name, real.labels, pixels, real.skipped)


@dataclass(frozen=True)
class Row:
    model: str
    variant: str  # keras | float32 | float16 | dynamic | int8
    test_acc: float
    corruption_mean: float
    corruption: dict[str, float]  # corruption name → accuracy over its severities
    real: dict[str, dict[str, float]]  # set name → {mode: accuracy}
    per_class: dict[str, dict[str, float]]  # set name → class → accuracy (photo mode)


class _Keras:
    """The float reference behind the same `probabilities(pixels)` call as the Classifier."""

    def __init__(self, run: Path):
        from export.convert import find_keras, load_keras

        self.model = load_keras(find_keras(run))

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        from export.check import keras_probabilities

        return keras_probabilities(self.model, pixels)


def corrupted_sets(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int = 0):
    """The suite's (name, severity, images, labels), built once for all models."""
    from export.corruptions import corruption_suite

    return list(corruption_suite(x, y, seed=seed, limit=limit))


def evaluate(predictor, x_test, y_test, suite, real_sets: list[RealSet]) -> tuple[float, dict, dict, dict]:
    acc = lambda probs, labels: float((probs.argmax(1) == labels).mean()) if len(labels) else float("nan")  # noqa: E731
    test = acc(predictor.probabilities(x_test), y_test)
    by_name: dict[str, list[float]] = {}
    for name, _severity, images, labels in suite:
        by_name.setdefault(name, []).append(acc(predictor.probabilities(images), labels))
    corruption = {name: float(np.mean(v)) for name, v in by_name.items()}
    real, per_class = {}, {}
    for rs in real_sets:
        real[rs.name] = {}
        for mode, pixels in rs.pixels.items():
            probs = predictor.probabilities(pixels)
            real[rs.name][mode] = acc(probs, rs.labels)
            if mode == "photo":
                pred = probs.argmax(1)
                per_class[rs.name] = {LABELS[c]: float((pred[rs.labels == c] == c).mean()) for c in range(10) if (rs.labels == c).any()}
                per_class[rs.name]["_confusion"] = _confusion(rs.labels, pred).tolist()
    return test, corruption, real, per_class


def _confusion(labels: np.ndarray, pred: np.ndarray) -> np.ndarray:
    m = np.zeros((10, 10), int)
    np.add.at(m, (labels, pred), 1)
    return m


def robustness(
    runs_dir: str | Path,
    models_dir: str | Path,
    real_dir: str | Path | None = None,
    unseen: str | Path | None = "unseen",
    out: str | Path = "reports",
    modes: tuple[str, ...] = ("photo", "seed"),
    limit: int | None = 2000,
    data_dir: str | None = None,
    progress=None,
) -> list[Row]:
    """The whole table; writes robustness.json, robustness.md and a confusion PNG per model."""
    from export.pipeline import find_runs
    from train.data import load_dataset

    data = load_dataset(data_dir)
    suite = corrupted_sets(data.x_test, data.y_test, limit)
    real_sets = []
    if unseen and Path(unseen).is_dir():
        real_sets.append(RealSet.load("unseen", unseen, modes))
    if real_dir:
        real_sets.append(RealSet.load(Path(real_dir).name, real_dir, modes))
    rows = []
    for run in find_runs(runs_dir):
        candidates = [("keras", None)] + [(p.stem.split("-", 1)[1], p) for p in sorted(Path(models_dir).glob(f"{run.name}-*.tflite"))]
        for variant, path in candidates:
            if progress:
                progress(f"{run.name}-{variant}")
            predictor = _Keras(run) if path is None else Classifier(path)
            test, corruption, real, per_class = evaluate(predictor, data.x_test, data.y_test, suite, real_sets)
            rows.append(Row(run.name, variant, test, float(np.mean(list(corruption.values()))), corruption, real, per_class))
    out = Path(out)
    atomic_write(out / "robustness.json", json.dumps({"corruption_images_per_severity": limit, "rows": [asdict(r) for r in rows]}, indent=2))
    atomic_write(out / "robustness.md", to_markdown(rows, real_sets))
    for row in rows:
        if row.variant == "keras" and row.per_class:
            plot_confusions(row, out / f"confusion-{row.model}.png")
    return rows


def to_markdown(rows: list[Row], real_sets: list[RealSet]) -> str:
    real_cols = [(rs.name, mode) for rs in real_sets for mode in rs.pixels]
    head = ["model", "variant", "test", "corruption mean"] + [f"{name} ({mode})" for name, mode in real_cols]
    lines = ["# Robustness", "", "| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r.model, r.variant, f"{r.test_acc:.2%}", f"{r.corruption_mean:.2%}"]
        cells += [f"{r.real.get(name, {}).get(mode, float('nan')):.1%}" for name, mode in real_cols]
        lines.append("| " + " | ".join(cells) + " |")
    if rows:
        names = list(rows[0].corruption)
        lines += ["", "## Accuracy per corruption (mean over severities)", "",
                  "| model | variant | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
        lines += [f"| {r.model} | {r.variant} | " + " | ".join(f"{r.corruption[n]:.1%}" for n in names) + " |" for r in rows]
        for rs in real_sets:
            lines += ["", f"## Per-class accuracy on {rs.name} (photo preprocessing, keras variant)", "",
                      "| model | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * 10]
            for r in rows:
                if r.variant == "keras" and rs.name in r.per_class:
                    pc = r.per_class[rs.name]
                    lines.append(f"| {r.model} | " + " | ".join(f"{pc[c]:.0%}" if c in pc else "-" for c in LABELS) + " |")
    for rs in real_sets:
        if rs.skipped:
            lines += ["", f"Skipped in {rs.name}: " + "; ".join(rs.skipped)]
    return "\n".join(lines) + "\n"


def plot_confusions(row: Row, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [(name, np.array(pc["_confusion"])) for name, pc in row.per_class.items()]
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 5.5), squeeze=False)
    for ax, (name, m) in zip(axes[0], sets):
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > m.max() / 2 else "black")
        ax.set_xticks(range(10), LABELS, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(10), LABELS, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{row.model} on {name}: {np.trace(m) / max(m.sum(), 1):.1%}")
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
    return path
