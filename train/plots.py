"""The study's figures: training curves per run, and the comparison of runs (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from edge_app.atomic import atomic_save


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only: works on a headless Pi or CI
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: dict, path: Path, title: str = "") -> Path:
    """Accuracy and loss, train vs validation, per epoch (the study's figure)."""
    plt = _plt()
    epochs = range(1, len(history.get("loss", [])) + 1)
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, name in ((ax_acc, "accuracy", "accuracy"), (ax_loss, "loss", "loss")):
        ax.plot(epochs, history.get(key, []), "o-", label=f"train {name}")
        ax.plot(epochs, history.get(f"val_{key}", []), "s-", label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return path


def plot_comparison(runs: list[dict], path: Path) -> Path:
    """Validation accuracy per epoch for every run, and final test accuracy as bars."""
    plt = _plt()
    fig, (ax_curve, ax_bar) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        val = run["history"].get("val_accuracy", [])
        ax_curve.plot(range(1, len(val) + 1), val, "o-", label=run["model"])
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel("validation accuracy")
    ax_curve.grid(alpha=0.3)
    ax_curve.legend()
    names = [r["model"] for r in runs]
    accs = [r["metrics"]["test_accuracy"] * 100 for r in runs]
    bars = ax_bar.bar(names, accs, color="tab:blue")
    ax_bar.bar_label(bars, fmt="%.2f%%")
    ax_bar.set_ylabel("test accuracy (%)")
    ax_bar.set_ylim(max(0, min(accs, default=0) - 10), 100)
    fig.suptitle("Fashion-MNIST: model comparison")
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return path
