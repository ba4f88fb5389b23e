"""`fashion-train`: fit the registry's models, compare runs. Thin shells over train.fit / train.compare.

    $ fashion-train fit --model all --epochs 10 --out runs/
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edge_app.errors import cli_errors, tensorflow_cli
from train.config import TrainConfig
from train.models import MODELS, STUDY_MODELS

# rich_markup_mode=None: help is printed as written ("[default: the model's own …]" is no Rich tag).
app = typer.Typer(help="Train Fashion-MNIST CNNs (the study's three and ours).", no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None)
tensorflow_cli(app, "fashion-train")
DEFAULTS = TrainConfig()  # every default of `fit` comes from here


@app.command()
def fit(
    model: str = typer.Option(DEFAULTS.model, "--model", "-m", help=f"registry name, 'study' ({', '.join(STUDY_MODELS)}) or 'all' ({', '.join(MODELS)})"),
    epochs: Optional[int] = typer.Option(DEFAULTS.epochs, help="passes over the training set [default: the model's own, 10 for the study's]"),
    batch_size: Optional[int] = typer.Option(DEFAULTS.batch_size, help="images per step [default: the model's own, 32 for the study's]"),
    seed: int = typer.Option(DEFAULTS.seed, help="seed for weights, split, subset and shuffling"),
    out: Path = typer.Option(Path(DEFAULTS.out), help="runs/<model>/ receives the artifacts"),
    limit: Optional[int] = typer.Option(DEFAULTS.limit, help="train on a stratified subset of N images (smoke tests)"),
    data_dir: Optional[Path] = typer.Option(DEFAULTS.data_dir, help="Fashion-MNIST folder (else $FASHION_MNIST_DIR, Debian's package, Keras cache)"),
    validate_on_test: bool = typer.Option(DEFAULTS.validate_on_test, help="the study's choice: validate on the test set"),
    early_stopping: int = typer.Option(DEFAULTS.early_stopping, help="stop after N epochs without val-loss improvement (0 = off)"),
    strategy: str = typer.Option(DEFAULTS.strategy, help="default | mirrored (tf.distribute.MirroredStrategy)"),
    resume: bool = typer.Option(DEFAULTS.resume, help="continue from runs/<model>/last.keras"),
    batch_norm: str = typer.Option(DEFAULTS.batch_norm, help="fused (TensorFlow's kernel, faster) | keras (Keras's own ops, as earlier runs)"),
    quiet: bool = typer.Option(False, help="no progress bars"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Train one model (or all) and write runs/<model>/: model.keras, metrics.json, history.json, curves.png."""
    with cli_errors(debug):
        names = list(MODELS) if model == "all" else list(STUDY_MODELS) if model == "study" else [model]
        configs = [
            TrainConfig(model=name, epochs=epochs, batch_size=batch_size, seed=seed, out=str(out), limit=limit,
                        data_dir=str(data_dir) if data_dir else None, validate_on_test=validate_on_test,
                        early_stopping=early_stopping, strategy=strategy, resume=resume, batch_norm=batch_norm)
            for name in names
        ]
        for name in names:
            if name not in MODELS:
                raise KeyError(f"unknown model {name!r}; valid: {', '.join(MODELS)}, study, all")
        from train.fit import fit as fit_model  # TensorFlow loads here, not for --help

        for config in configs:
            result = fit_model(config, progress=not quiet)
            m = result.metrics
            typer.echo(f"{m['model']}: test accuracy {m['test_accuracy']:.2%}, loss {m['test_loss']:.4f}, "
                       f"{m['seconds_per_epoch']:.1f} s/epoch, {m['params']:,} params → {result.path}")


@app.command()
def compare(runs: Path = typer.Argument(Path("runs"), help="folder of runs"), debug: bool = typer.Option(False)) -> None:
    """Print a table of every run and write runs/comparison.png."""
    with cli_errors(debug):
        from rich.console import Console
        from rich.table import Table

        from train.compare import compare as compare_runs

        rows, plot = compare_runs(runs)
        table = Table(title=f"Runs in {runs}")
        for col in ("model", "params", "test acc", "test loss", "epochs", "s/epoch"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for r in rows:
            spe = f"{r.seconds_per_epoch:.1f}" if r.seconds_per_epoch else "-"
            table.add_row(r.model, f"{r.params:,}", f"{r.test_accuracy:.2%}", f"{r.test_loss:.4f}", str(r.epochs), spe)
        Console().print(table)
        typer.echo(f"comparison plot: {plot}")


@app.command()
def speed(
    model: str = typer.Option("deep", "--model", "-m", help="registry name"),
    epochs: int = typer.Option(2, help="epochs per pipeline (the first includes tracing)"),
    batch_size: Optional[int] = typer.Option(None, help="images per step [default: the model's own]"),
    limit: Optional[int] = typer.Option(None, help="stratified subset size"),
    compare: str = typer.Option("pipelines", help="pipelines (tf.data vs NumPy) | batch-norm (Keras's ops vs the fused kernel)"),
    rounds: int = typer.Option(5, help="batch-norm: timed rounds per model, interleaved"),
    steps: int = typer.Option(100, help="batch-norm: training steps per round"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Seconds per epoch of our tf.data pipeline vs plain model.fit on NumPy arrays, or (--compare batch-norm)
    ms per training step with Keras's batch normalization vs the fused kernel."""
    with cli_errors(debug):
        for flag, value in (("--epochs", epochs), ("--rounds", rounds), ("--steps", steps), ("--batch-size", 1 if batch_size is None else batch_size)):
            if value < 1:
                raise ValueError(f"{flag} must be ≥ 1, got {value}")
        if model not in MODELS:
            raise KeyError(f"unknown model {model!r}; valid: {', '.join(MODELS)}")
        if compare not in ("pipelines", "batch-norm"):
            raise ValueError(f"--compare must be pipelines or batch-norm, got {compare!r}")
        from train.speed import compare_batch_norm, compare_pipelines

        if compare == "batch-norm":
            keras_row, fused_row = compare_batch_norm(model, rounds, steps, batch_size)
            for r in (keras_row, fused_row):
                each = " ".join(f"{t:.1f}" for t in r.rounds)
                typer.echo(f"{r.model:9s} {r.batch_norm:6s} batch norm  {r.ms_per_step:6.1f} ms/step (median; rounds: {each})")
            typer.echo(f"fused / keras: {fused_row.ms_per_step / keras_row.ms_per_step:.2f}× the time per step")
            return
        rows = compare_pipelines(model, epochs, batch_size or MODELS[model].batch_size, limit)
        for r in rows:
            typer.echo(f"{r.model:9s} {r.pipeline:8s} first epoch {r.first_epoch_s:6.1f} s   steady {r.steady_epoch_s:6.1f} s/epoch")
        base = rows[0].steady_epoch_s
        typer.echo(f"tf.data / numpy: {rows[1].steady_epoch_s / base:.2f}× the time per epoch")


@app.command("models")
def list_models() -> None:
    """List the registry."""
    for name, spec in MODELS.items():
        typer.echo(f"{name:10s} {spec.summary}")


if __name__ == "__main__":
    app()
