"""`fashion-export`: convert runs to LiteRT, check drift, do it all. Thin shells over the library.

    $ fashion-export convert runs/robust --variant all --out models/
    $ fashion-export check models/robust-int8.tflite --reference runs/robust
    $ fashion-export all runs/ --out models/
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edge_app.errors import cli_errors, tensorflow_cli
from export.config import (BenchConfig, EvalConfig, ExportConfig, PickConfig, RobustnessConfig, parse_floors, parse_list,
                           parse_threads, variants)

# rich_markup_mode=None: help is printed as written (brackets in it are no Rich tags).
app = typer.Typer(help="Export Fashion-MNIST models to quantized LiteRT and check what quantization cost.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)
tensorflow_cli(app, "fashion-export")
# Every default comes from the stage's dataclass (export/config.py), nowhere else.
EXPORT, EVAL, ROBUSTNESS, BENCH, PICK = ExportConfig(), EvalConfig(), RobustnessConfig(), BenchConfig(), PickConfig()
VARIANT_HELP = "float32 | float16 | dynamic | int8 | all"
LOGITS_HELP = ("int8: the logits — float (the last Dense and Softmax stay float32; never slower, see "
               "docs/int8-performance.md) | decision (int8, over the range where top-1 is decided) | full (int8, calibrated min/max)")
FIRST_CONV_HELP = ("int8: a conv reading the one-channel input — float (kept float32, its output quantized; "
                   "never slower, see docs/int8-performance.md) | int8 (quantized like the rest)")


def _dir(path: Optional[Path]) -> Optional[str]:
    return str(path) if path else None


@app.command()
def convert(
    run: Path = typer.Argument(..., help="a run folder (runs/<model>/) or a .keras file"),
    variant: str = typer.Option("all", help=VARIANT_HELP),
    calibration: int = typer.Option(EXPORT.calibration, help="int8: representative training images (stratified, seeded)"),
    io: str = typer.Option(EXPORT.io, help="int8: input/output type — uint8 | int8 | float32"),
    logits: str = typer.Option(EXPORT.logits, help=LOGITS_HELP),
    first_conv: str = typer.Option(EXPORT.first_conv, help=FIRST_CONV_HELP),
    seed: int = typer.Option(EXPORT.seed, help="seed of the calibration sample"),
    preprocess: str = typer.Option(EXPORT.preprocess, help="preprocessing written into the contract: model (as trained) | photo | seed"),
    out: Path = typer.Option(Path(EXPORT.out), help="folder for <model>-<variant>.tflite"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder for calibration"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Convert a trained Keras model to .tflite variants that carry their contract."""
    with cli_errors(debug):
        chosen = variants(variant)
        config = ExportConfig(calibration=calibration, io=io, seed=seed, out=str(out), logits=logits, first_conv=first_conv,
                              preprocess=preprocess, data_dir=_dir(data_dir))
        from export.convert import convert_all  # TensorFlow loads here, not for --help

        for path in convert_all(run, chosen, config):
            typer.echo(f"{path}  {path.stat().st_size / 1024:.1f} KB")


@app.command()
def check(
    model: Path = typer.Argument(..., help="an exported .tflite"),
    reference: Optional[Path] = typer.Option(None, help="the Keras run it came from (default: runs/<model name>)"),
    unseen: Path = typer.Option(Path(EVAL.unseen), help="labelled real-world images"),
    max_drift: float = typer.Option(EVAL.max_drift, help="fail when any set's |Δ accuracy| exceeds this many pp"),
    limit: Optional[int] = typer.Option(EVAL.test_limit, help="use only the first N test images (quick looks)"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder"),
    threads: Optional[int] = typer.Option(None, help="interpreter threads"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Accuracy drift vs the float Keras model on test, unseen and corrupted images; exit 1 on a failed gate."""
    with cli_errors(debug):
        from edge_app.contract import read_contract
        from export.check import check as run_check, write_report
        from export.evalsets import EvalData

        contract = read_contract(model)
        ref = reference or Path("runs") / contract.model_name
        evaldata = EvalData.load(EvalConfig(unseen=str(unseen), data_dir=_dir(data_dir), max_drift=max_drift, test_limit=limit))
        for line in evaldata.unseen_skipped:
            typer.echo(f"warning: skipped {line}", err=True)
        report = run_check(model, ref, evaldata, max_drift, threads=threads)
        json_path, md_path = write_report(report)
        _print_report(report)
        typer.echo(f"report: {json_path}, {md_path}")
        if not report.passed:
            typer.echo(f"error: drift gate failed on {', '.join(report.failures)} (|Δ| > {max_drift} pp)", err=True)
            raise typer.Exit(1)


def _print_report(report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{Path(report.model).name} vs {report.reference}")
    for col in ("set", "images", "reference", "candidate", "Δ pp", "agreement", "worst class"):
        table.add_column(col, justify="left" if col in ("set", "worst class") else "right")
    for name, s in report.sets.items():
        bad = abs(s.delta_pp) > report.max_drift
        table.add_row(name, str(s.n), f"{s.reference_acc:.2%}", f"{s.candidate_acc:.2%}",
                      f"[red]{s.delta_pp:+.2f}[/red]" if bad else f"{s.delta_pp:+.2f}", f"{s.agreement:.2%}", s.worst_class)
    Console().print(table)


@app.command("all")
def all_(
    runs: Path = typer.Argument(Path("runs"), help="folder of runs"),
    out: Path = typer.Option(Path(EXPORT.out), help="folder for the models and summary.md"),
    variant: str = typer.Option("all", help=VARIANT_HELP),
    calibration: int = typer.Option(EXPORT.calibration, help="int8: representative training images"),
    io: str = typer.Option(EXPORT.io, help="int8: input/output type"),
    logits: str = typer.Option(EXPORT.logits, help=LOGITS_HELP),
    first_conv: str = typer.Option(EXPORT.first_conv, help=FIRST_CONV_HELP),
    preprocess: str = typer.Option(EXPORT.preprocess, help="preprocessing written into the contracts: model (as trained) | photo | seed"),
    unseen: Path = typer.Option(Path(EVAL.unseen), help="labelled real-world images"),
    max_drift: float = typer.Option(EVAL.max_drift, help="drift gate, pp"),
    strict: bool = typer.Option(False, help="exit 1 when any variant fails its gate"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Convert and check every run and variant; write models/summary.md."""
    with cli_errors(debug):
        config = ExportConfig(calibration=calibration, io=io, out=str(out), logits=logits, first_conv=first_conv,
                              preprocess=preprocess, data_dir=_dir(data_dir))
        chosen = variants(variant)
        evaluation = EvalConfig(unseen=str(unseen), data_dir=_dir(data_dir), max_drift=max_drift)
        from rich.progress import Progress

        from export.pipeline import export_all

        with Progress(transient=True) as bar:
            task = bar.add_task("export", total=None)
            rows, summary = export_all(runs, config, chosen, evaluation,
                                       progress=lambda name: bar.update(task, description=name, advance=1))
        typer.echo(summary.read_text())
        typer.echo(f"summary: {summary}")
        failed = [f"{r.model}-{r.variant}" for r in rows if r.passed is not True]
        if failed:
            typer.echo(f"{'error' if strict else 'warning'}: gate failed or export failed for {', '.join(failed)}", err=True)
            if strict:
                raise typer.Exit(1)


@app.command()
def robustness(
    runs: Path = typer.Argument(Path("runs"), help="folder of runs"),
    models: Path = typer.Argument(Path(EXPORT.out), help="folder of exported .tflite files"),
    real_dir: Optional[Path] = typer.Option(None, help="labelled real photos (e.g. ../shared/wild-dev)"),
    unseen: Path = typer.Option(Path(EVAL.unseen), help="labelled real-world images"),
    out: Path = typer.Option(Path("reports"), help="folder for robustness.md/.json and confusion PNGs"),
    modes: str = typer.Option(",".join(ROBUSTNESS.modes), help="preprocessing modes to compare on real images"),
    limit: int = typer.Option(EVAL.corruption_limit, help="test images per corruption and severity (10000 = all)"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder"),
    casual: str = typer.Option(",".join(ROBUSTNESS.casual), help="source prefixes (file name up to the first _) of casual photos"),
    empty_dir: Optional[Path] = typer.Option(Path(ROBUSTNESS.empty_dir), help="photos of empty scenes, to count 'no item' answers"),
    rendered: int = typer.Option(ROBUSTNESS.rendered, help="Fashion-MNIST test items rendered as casual photos (0 = none)"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Every model × variant on test, the corruption suite, unseen/ and real photos; failure galleries."""
    with cli_errors(debug):
        config = RobustnessConfig(modes=parse_list(modes), casual=parse_list(casual), empty_dir=_dir(empty_dir), rendered=rendered)
        evaluation = EvalConfig(unseen=str(unseen), real_dir=_dir(real_dir), data_dir=_dir(data_dir), corruption_limit=limit)
        from rich.progress import Progress

        from export.robustness import robustness as run_robustness

        with Progress(transient=True) as bar:
            task = bar.add_task("robustness", total=None)
            run_robustness(runs, models, out, evaluation, config, progress=lambda name: bar.update(task, description=name, advance=1))
        typer.echo((out / "robustness.md").read_text())
        typer.echo(f"report: {out / 'robustness.md'}, {out / 'robustness.json'}")


@app.command("pick-default")
def pick_default(
    models: Path = typer.Argument(Path(EXPORT.out), help="folder with exported models and their drift reports"),
    out: Optional[Path] = typer.Option(None, help="where the edge app's default model goes [default: the installed edge_app/models/default.tflite]"),
    prefer: str = typer.Option(PICK.prefer, help="model to ship when its int8 export passed its drift gate"),
    max_drift: float = typer.Option(PICK.max_drift, help="floor: refuse a model whose test or corrupted drift is beyond this many pp"),
    force: bool = typer.Option(PICK.force, help="ship the best model even if none passed its check (says why it should not)"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Copy the best checked int8 model into the edge app (the model `fashion-edge run` uses by default)."""
    with cli_errors(debug):
        from edge_app.classifier import DEFAULT_MODEL
        from export.pipeline import pick_default as pick

        # The package's own file, wherever the command is run from (a relative default wrote into
        # ./edge_app/models/ of whatever folder you stood in).
        target = (out or DEFAULT_MODEL).resolve()
        before = _describe_model(target)
        chosen = pick(models, target, PickConfig(prefer=prefer, max_drift=max_drift, force=force))
        if chosen.refusals:
            typer.echo(f"warning: --force: shipping {chosen.path.name} although {'; '.join(chosen.refusals)}", err=True)
        typer.echo(f"default model: {chosen.path} → {target} ({target.stat().st_size / 1024:.1f} KB)")
        typer.echo(f"replaced: {before}")


def _describe_model(path: Path) -> str:
    """What a default model file holds, for "replaced: …" (its name, variant, hash and export time)."""
    if not path.exists():
        return "nothing (no model was there)"
    try:
        from edge_app.contract import read_contract

        c = read_contract(path)
        return f"{c.model_name}-{c.variant} (sha256 {c.flatbuffer_sha256[:12]}…, exported {c.exported_at})"
    except Exception as exc:  # noqa: BLE001 - a damaged old file is still worth naming
        return f"{path.name}, unreadable ({' '.join(str(exc).split())[:80]})"


@app.command()
def bench(
    runs: Path = typer.Argument(Path("runs"), help="folder of runs"),
    models: Path = typer.Argument(Path(EXPORT.out), help="folder of exported <model>-<variant>.tflite files"),
    out: Path = typer.Option(Path("reports"), help="folder for bench.md, bench.json, bench.png"),
    threads: str = typer.Option(",".join(map(str, BENCH.threads)), help="interpreter thread counts for batch-1 latency, comma-separated (e.g. 1,2)"),
    real_dir: Optional[Path] = typer.Option(None, help="labelled real photos (e.g. ../shared/wild-dev)"),
    unseen: Path = typer.Option(Path(EVAL.unseen), help="labelled real-world images"),
    floor: Optional[str] = typer.Option(None, help="CI gate: exit 1 when a metric is below it, e.g. test=0.9,unseen=0.5 "
                                                   "(test | corruption | unseen | real | agreement; fractions)"),
    floor_variant: Optional[str] = typer.Option(None, help="apply --floor only to these variants, comma-separated (default: every row with status ok)"),
    per_layer: bool = typer.Option(BENCH.per_layer, "--per-layer", help="also write per-layer int8 quantization error (per-layer-<model>.md/.csv)"),
    limit: int = typer.Option(EVAL.corruption_limit, help="test images per corruption and severity (as robustness; 10000 = all)"),
    iterations: int = typer.Option(BENCH.iterations, help="timed batch-1 frames per thread count, in all rounds together (after 50 warm-up frames a round)"),
    rounds: int = typer.Option(BENCH.rounds, help="interleaved timing rounds over all rows (ABAB…); figures are medians over the rounds"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Size, accuracy, batch-1 latency, throughput and load time of every model × variant; optional floor gate."""
    with cli_errors(debug):
        floors = parse_floors(floor)
        config = BenchConfig(threads=parse_threads(threads), iterations=iterations, rounds=rounds, floors=floors,
                             floor_variants=parse_list(floor_variant or ""), per_layer=per_layer)
        evaluation = EvalConfig(unseen=str(unseen), real_dir=_dir(real_dir), data_dir=_dir(data_dir), corruption_limit=limit)
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from export.bench import bench as run_bench

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task("bench", total=None)
            report = run_bench(runs, models, out, evaluation, config, progress=lambda name: bar.update(task, description=f"bench: {name}"))
        typer.echo(Path(report.files["md"]).read_text())
        typer.echo(f"report: {report.files['md']}, {report.files['json']}, {report.files['png']}")
        if not report.passed:
            typer.echo(f"error: floor failed: {'; '.join(report.failures)}", err=True)
            raise typer.Exit(1)


if __name__ == "__main__":
    app()
