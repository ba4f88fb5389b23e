"""`fashion-export`: convert runs to LiteRT, check drift, do it all. Thin shells over the library.

    $ fashion-export convert runs/robust --variant all --out models/
    $ fashion-export check models/robust-int8.tflite --reference runs/robust
    $ fashion-export all runs/ --out models/
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edge_app.errors import cli_errors, version_option
from export.robustness import CASUAL, EMPTY_SCENES

# rich_markup_mode=None: help is printed as written (brackets in it are no Rich tags).
app = typer.Typer(help="Export Fashion-MNIST models to quantized LiteRT and check what quantization cost.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)
VARIANT_HELP = "float32 | float16 | dynamic | int8 | all"
FIRST_CONV_HELP = ("int8: a conv reading the one-channel input — float (kept float32, its output quantized; "
                   "never slower, see docs/int8-performance.md) | int8 (quantized like the rest)")


@app.callback()
def _main(
    version: bool = version_option("fashion-export"),
    verbose: bool = typer.Option(False, "--verbose", help="also show TensorFlow's own log lines (CUDA, oneDNN)"),
) -> None:
    """Export Fashion-MNIST models to quantized LiteRT and check what quantization cost."""
    from edge_app.quiet import hush_native_logs

    hush_native_logs(verbose)  # before TensorFlow is imported


def _variants(variant: str) -> tuple[str, ...]:
    from export.convert import VARIANTS

    if variant == "all":
        return VARIANTS
    if variant not in VARIANTS:
        raise ValueError(f"unknown --variant {variant!r}; valid: {VARIANT_HELP}")
    return (variant,)


def _config(out: Path, calibration: int, io: str, seed: int, preprocess: str, data_dir: Optional[Path], logits: str = "decision",
            first_conv: str = "float"):
    from export.convert import FIRST_CONV, IO_TYPES, LOGITS_RANGES, ExportConfig

    if io not in IO_TYPES:
        raise ValueError(f"unknown --io {io!r}; valid: {', '.join(IO_TYPES)}")
    if logits not in LOGITS_RANGES:
        raise ValueError(f"unknown --logits {logits!r}; valid: {', '.join(LOGITS_RANGES)}")
    if preprocess not in ("model", "photo", "seed"):
        raise ValueError(f"unknown --preprocess {preprocess!r}; valid: model, photo, seed")
    if first_conv not in FIRST_CONV:
        raise ValueError(f"unknown --first-conv {first_conv!r}; valid: {', '.join(FIRST_CONV)}")
    if calibration < 1:
        raise ValueError(f"--calibration must be ≥ 1, got {calibration}")
    return ExportConfig(calibration=calibration, io=io, seed=seed, out=str(out), preprocess=preprocess, data_dir=str(data_dir) if data_dir else None,
                        logits=logits, first_conv=first_conv)


@app.command()
def convert(
    run: Path = typer.Argument(..., help="a run folder (runs/<model>/) or a .keras file"),
    variant: str = typer.Option("all", help=VARIANT_HELP),
    calibration: int = typer.Option(500, help="int8: representative training images (stratified, seeded)"),
    io: str = typer.Option("uint8", help="int8: input/output type — uint8 | int8 | float32"),
    logits: str = typer.Option("decision", help="int8: range of the quantized logits — decision (where top-1 is decided) | full (calibrated min/max)"),
    first_conv: str = typer.Option("float", help=FIRST_CONV_HELP),
    seed: int = typer.Option(0, help="seed of the calibration sample"),
    preprocess: str = typer.Option("model", help="preprocessing written into the contract: model (as trained) | photo | seed"),
    out: Path = typer.Option(Path("models"), help="folder for <model>-<variant>.tflite"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder for calibration"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Convert a trained Keras model to .tflite variants that carry their contract."""
    with cli_errors(debug):
        variants = _variants(variant)
        config = _config(out, calibration, io, seed, preprocess, data_dir, logits, first_conv)
        from export.convert import convert_all

        for path in convert_all(run, variants, config):
            typer.echo(f"{path}  {path.stat().st_size / 1024:.1f} KB")


@app.command()
def check(
    model: Path = typer.Argument(..., help="an exported .tflite"),
    reference: Optional[Path] = typer.Option(None, help="the Keras run it came from (default: runs/<model name>)"),
    unseen: Path = typer.Option(Path("unseen"), help="labelled real-world images"),
    max_drift: float = typer.Option(0.5, help="fail when any set's |Δ accuracy| exceeds this many pp"),
    limit: Optional[int] = typer.Option(None, help="use only the first N test images (quick looks)"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder"),
    threads: Optional[int] = typer.Option(None, help="interpreter threads"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Accuracy drift vs the float Keras model on test, unseen and corrupted images; exit 1 on a failed gate."""
    with cli_errors(debug):
        from edge_app.contract import read_contract
        from export.check import EvalData, check as run_check, write_report

        contract = read_contract(model)
        ref = reference or Path("runs") / contract.model_name
        evaldata = EvalData.load(unseen, str(data_dir) if data_dir else None, limit=limit)
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
    out: Path = typer.Option(Path("models"), help="folder for the models and summary.md"),
    variant: str = typer.Option("all", help=VARIANT_HELP),
    calibration: int = typer.Option(500, help="int8: representative training images"),
    io: str = typer.Option("uint8", help="int8: input/output type"),
    logits: str = typer.Option("decision", help="int8: range of the quantized logits — decision | full"),
    first_conv: str = typer.Option("float", help=FIRST_CONV_HELP),
    preprocess: str = typer.Option("model", help="preprocessing written into the contracts: model (as trained) | photo | seed"),
    unseen: Path = typer.Option(Path("unseen"), help="labelled real-world images"),
    max_drift: float = typer.Option(0.5, help="drift gate, pp"),
    strict: bool = typer.Option(False, help="exit 1 when any variant fails its gate"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Convert and check every run and variant; write models/summary.md."""
    with cli_errors(debug):
        from rich.progress import Progress

        from export.pipeline import export_all

        config = _config(out, calibration, io, 0, preprocess, data_dir, logits, first_conv)
        variants = _variants(variant)
        with Progress(transient=True) as bar:
            task = bar.add_task("export", total=None)
            rows, summary = export_all(runs, config, variants, unseen, max_drift,
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
    models: Path = typer.Argument(Path("models"), help="folder of exported .tflite files"),
    real_dir: Optional[Path] = typer.Option(None, help="labelled real photos (e.g. ../shared/wild-dev)"),
    unseen: Path = typer.Option(Path("unseen"), help="labelled real-world images"),
    out: Path = typer.Option(Path("reports"), help="folder for robustness.md/.json and confusion PNGs"),
    modes: str = typer.Option("photo,seed", help="preprocessing modes to compare on real images"),
    limit: int = typer.Option(2000, help="test images per corruption and severity (10000 = all)"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder"),
    casual: str = typer.Option(",".join(CASUAL), help="source prefixes (file name up to the first _) of casual photos"),
    empty_dir: Optional[Path] = typer.Option(EMPTY_SCENES, help="photos of empty scenes, to count 'no item' answers"),
    rendered: int = typer.Option(1000, help="Fashion-MNIST test items rendered as casual photos (0 = none)"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Every model × variant on test, the corruption suite, unseen/ and real photos; failure galleries."""
    with cli_errors(debug):
        from rich.progress import Progress

        from export.robustness import robustness as run_robustness

        mode_list = tuple(m.strip() for m in modes.split(",") if m.strip())
        if not mode_list or any(m not in ("photo", "seed") for m in mode_list):
            raise ValueError(f"--modes takes photo and/or seed, got {modes!r}")
        if real_dir is not None and not real_dir.is_dir():
            raise ValueError(f"--real-dir {real_dir}: no such folder")
        if rendered < 0:
            raise ValueError(f"--rendered must be ≥ 0, got {rendered}")
        if empty_dir is not None and not empty_dir.is_dir():
            raise ValueError(f"--empty-dir {empty_dir}: no such folder")
        with Progress(transient=True) as bar:
            task = bar.add_task("robustness", total=None)
            run_robustness(runs, models, real_dir, unseen, out, mode_list, limit, str(data_dir) if data_dir else None,
                           progress=lambda name: bar.update(task, description=name, advance=1),
                           casual=tuple(c.strip() for c in casual.split(",") if c.strip()), empty_dir=empty_dir, rendered=rendered)
        typer.echo((out / "robustness.md").read_text())
        typer.echo(f"report: {out / 'robustness.md'}, {out / 'robustness.json'}")


@app.command("pick-default")
def pick_default(
    models: Path = typer.Argument(Path("models"), help="folder with exported models and their drift reports"),
    out: Optional[Path] = typer.Option(None, help="where the edge app's default model goes [default: the installed edge_app/models/default.tflite]"),
    prefer: str = typer.Option("edge", help="model to ship when its int8 export passed its drift gate"),
    max_drift: float = typer.Option(0.5, help="floor: refuse a model whose test or corrupted drift is beyond this many pp"),
    force: bool = typer.Option(False, help="ship the best model even if none passed its check (says why it should not)"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Copy the best checked int8 model into the edge app (the model `fashion-edge run` uses by default)."""
    with cli_errors(debug):
        from edge_app import classifier
        from export.pipeline import pick_default as pick

        # The package's own file, wherever the command is run from (a relative default wrote into
        # ./edge_app/models/ of whatever folder you stood in).
        target = (out or classifier.DEFAULT_MODEL).resolve()
        before = _describe_model(target)
        chosen = pick(models, target, prefer, max_drift=max_drift, force=force)
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
    models: Path = typer.Argument(Path("models"), help="folder of exported <model>-<variant>.tflite files"),
    out: Path = typer.Option(Path("reports"), help="folder for bench.md, bench.json, bench.png"),
    threads: str = typer.Option("1", help="interpreter thread counts for batch-1 latency, comma-separated (e.g. 1,2)"),
    real_dir: Optional[Path] = typer.Option(None, help="labelled real photos (e.g. ../shared/wild-dev)"),
    unseen: Path = typer.Option(Path("unseen"), help="labelled real-world images"),
    floor: Optional[str] = typer.Option(None, help="CI gate: exit 1 when a metric is below it, e.g. test=0.9,unseen=0.5 "
                                                   "(test | corruption | unseen | real | agreement; fractions)"),
    floor_variant: Optional[str] = typer.Option(None, help="apply --floor only to these variants, comma-separated (default: every row with status ok)"),
    per_layer: bool = typer.Option(False, "--per-layer", help="also write per-layer int8 quantization error (per-layer-<model>.md/.csv)"),
    limit: int = typer.Option(2000, help="test images per corruption and severity (as robustness; 10000 = all)"),
    iterations: int = typer.Option(1000, help="timed batch-1 frames per thread count, in all rounds together (after 50 warm-up frames a round)"),
    rounds: int = typer.Option(5, help="interleaved timing rounds over all rows (ABAB…); figures are medians over the rounds"),
    data_dir: Optional[Path] = typer.Option(None, help="Fashion-MNIST folder"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Size, accuracy, batch-1 latency, throughput and load time of every model × variant; optional floor gate."""
    with cli_errors(debug):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from export.bench import bench as run_bench, parse_floors, parse_threads

        floors = parse_floors(floor)
        variants = tuple(v.strip() for v in (floor_variant or "").split(",") if v.strip())
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task("bench", total=None)
            report = run_bench(runs, models, out, parse_threads(threads), real_dir, unseen, floors, per_layer, limit, iterations,
                               progress=lambda name: bar.update(task, description=f"bench: {name}"),
                               floor_variants=variants, data_dir=str(data_dir) if data_dir else None, rounds=rounds)
        typer.echo(Path(report.files["md"]).read_text())
        typer.echo(f"report: {report.files['md']}, {report.files['json']}, {report.files['png']}")
        if not report.passed:
            typer.echo(f"error: floor failed: {'; '.join(report.failures)}", err=True)
            raise typer.Exit(1)


if __name__ == "__main__":
    app()
