"""`fashion-train compare`: one table of all runs under a folder, and the comparison plot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from train.plots import plot_comparison


@dataclass(frozen=True)
class RunRow:
    model: str
    params: int
    test_accuracy: float
    test_loss: float
    epochs: int
    seconds_per_epoch: float | None


def load_runs(runs_dir: str | Path) -> list[dict]:
    """Every runs/<model>/ with a metrics.json, sorted by name."""
    runs = []
    for metrics_path in sorted(Path(runs_dir).glob("*/metrics.json")):
        history_path = metrics_path.with_name("history.json")
        runs.append({
            "model": metrics_path.parent.name,
            "metrics": json.loads(metrics_path.read_text()),
            "history": json.loads(history_path.read_text()) if history_path.exists() else {},
        })
    return runs


def compare(runs_dir: str | Path) -> tuple[list[RunRow], Path]:
    """Rows for the table, and runs/comparison.png; FileNotFoundError when there is no run."""
    runs = load_runs(runs_dir)
    if not runs:
        raise FileNotFoundError(f"no runs under {runs_dir} (expected <model>/metrics.json; run fashion-train fit)")
    rows = [
        RunRow(r["model"], r["metrics"]["params"], r["metrics"]["test_accuracy"], r["metrics"]["test_loss"],
               r["metrics"]["epochs"], r["metrics"].get("seconds_per_epoch"))
        for r in runs
    ]
    return rows, plot_comparison(runs, Path(runs_dir) / "comparison.png")
