"""`fashion-edge`: classify camera frames, videos and image folders on a Raspberry Pi — no TensorFlow.

    $ fashion-edge run 0                          # webcam, default int8 model
    $ fashion-edge run photos/ --jsonl out.jsonl
    $ fashion-edge run 0 --serve 8080 --jsonl log.jsonl --append --summary last-run.json
    $ fashion-edge info models/edge-int8.tflite
    $ fashion-edge bench
    $ fashion-edge profile models/robust-int8.tflite --batch 1,256

Exit codes of `run`: 0 done; 1 fatal error (no model, no camera, bad flag value, port in use);
3 finished, but some inputs could not be read (each reported on its own line and in --jsonl);
4 a stream dropped and stayed down; 130 Ctrl-C; 143 SIGTERM (systemctl stop).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from edge_app.bench import BenchOptions, bench_folder, bench_frames
from edge_app.classifier import DEFAULT_MODEL
from edge_app.contract import read_contract
from edge_app.errors import cli_errors, stdout_closed, version_option
from edge_app.profile import ProfileOptions, parse_batches, profile_models, sections, side_by_side
from edge_app.quiet import hush_native_logs, native_stderr
from edge_app.runner import EXIT_SOME_FAILED, RunOptions, parse_roi, run as run_frames
from edge_app.service import ServiceSpec, unit_text
from edge_app.sources import redact, url_secrets

# rich_markup_mode=None: help text is printed as written ("fashion-edge[gui]" is not a Rich tag).
app = typer.Typer(help="Classify clothing in camera frames, videos and image folders with a LiteRT model (no TensorFlow).",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)
MODEL_HELP = "packed .tflite model (default: the shipped int8 model)"
SOME_FAILED = EXIT_SOME_FAILED
# Every default comes from the command's options dataclass, nowhere else.
RUN, BENCH, PROFILE, SERVICE = RunOptions(), BenchOptions(), ProfileOptions(), ServiceSpec()


@app.callback()
def _main(version: bool = version_option("fashion-edge")) -> None:
    """Classify clothing in camera frames, videos and image folders with a LiteRT model (no TensorFlow)."""


def _text(value: Optional[Path]) -> Optional[str]:
    return str(value) if value else None


@app.command()
def run(
    source_arg: Optional[str] = typer.Argument(None, metavar="SOURCE", help="what --source takes (default: camera 0)"),
    source: Optional[str] = typer.Option(None, "--source", "-s", help="camera index, video, image, folder, glob, rtsp/http URL, or picamera2 [default: 0]"),
    model: Path = typer.Option(Path(RUN.model), "--model", "-m", help=MODEL_HELP),
    threads: Optional[int] = typer.Option(RUN.threads, help="interpreter threads"),
    top_k: int = typer.Option(RUN.top_k, help="classes per result"),
    threshold: float = typer.Option(RUN.threshold, help="below this top score the answer is 'uncertain'"),
    smooth: int = typer.Option(RUN.smooth, help="average probabilities over the last N frames of a stream"),
    still: bool = typer.Option(RUN.still, help="image files: average the model over the contract's still views of the mask (slower); --no-still = one mask, as for a camera frame"),
    roi: Optional[str] = typer.Option(None, help="x,y,w,h region of each frame to classify"),
    max_frames: Optional[int] = typer.Option(RUN.max_frames, help="stop after N frames"),
    fps_limit: Optional[float] = typer.Option(RUN.fps_limit, help="at most N frames per second"),
    retries: int = typer.Option(RUN.retries, help="reconnect attempts for a stream that drops"),
    timeout: float = typer.Option(RUN.timeout, help="seconds to wait for a stream URL to open"),
    loop: bool = typer.Option(RUN.loop, help="start a video, folder or glob over when it ends (a demo feed for --serve)"),
    jsonl: Optional[Path] = typer.Option(None, help="write one JSON object per frame (with time and run id)"),
    csv: Optional[Path] = typer.Option(None, help="write one CSV row per frame"),
    append: bool = typer.Option(RUN.append, help="add to --jsonl/--csv instead of replacing them (a log across restarts)"),
    summary_file: Optional[Path] = typer.Option(None, "--summary", help="also write the summary as JSON here, however the run ends"),
    save_dir: Optional[Path] = typer.Option(None, help="save annotated frames here"),
    save_max: int = typer.Option(RUN.save_max, help="keep at most N saved frames, oldest removed first (0 = no limit)"),
    serve: Optional[int] = typer.Option(RUN.serve, help="serve a live MJPEG view on this port"),
    host: str = typer.Option(RUN.host, help="interface for --serve (0.0.0.0 = the whole network)"),
    show: bool = typer.Option(RUN.show, help="show an annotated window (needs fashion-edge[gui])"),
    quiet: bool = typer.Option(RUN.quiet, help="no per-frame lines, only the summary"),
    verbose: bool = typer.Option(RUN.verbose, help="also show LiteRT's and OpenCV's own messages"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Classify every frame or image of a source; prints a summary however the run ends.

    Exit codes: 0 done, 1 could not start or failed, 3 some inputs unreadable, 4 a stream stayed
    down, 130 Ctrl-C, 143 SIGTERM. Systemd: see `fashion-edge service` and docs/service.md.
    """
    chosen = source if source is not None else source_arg if source_arg is not None else RUN.source
    secrets = url_secrets(chosen)
    with cli_errors(debug, redact=lambda text: redact(text, secrets)):
        hush_native_logs(verbose)  # before OpenCV is imported
        if source is not None and source_arg is not None and source != source_arg:
            raise ValueError(f"two sources given ({source_arg!r} and --source {source!r}); give one")
        options = RunOptions(
            source=chosen, model=str(model), threads=threads, top_k=top_k, threshold=threshold, smooth=smooth, still=still,
            roi=parse_roi(roi), max_frames=max_frames, fps_limit=fps_limit, retries=retries,
            jsonl=_text(jsonl), csv=_text(csv), save_dir=_text(save_dir), save_max=save_max, serve=serve, host=host,
            show=show, quiet=quiet, append=append, loop=loop, summary=_text(summary_file), timeout=timeout, verbose=verbose,
        )
        summary = run_frames(options, echo=typer.echo, warn=lambda text: typer.echo(redact(text, secrets), err=True))
        if summary.ending == "output closed":
            stdout_closed()
        typer.echo(redact(summary.text(), secrets), err=True)
        if summary.fatal:
            typer.echo(f"error: {redact(summary.fatal, secrets)}", err=True)
        if summary.exit_code:
            raise typer.Exit(summary.exit_code)


@app.command()
def info(model: Path = typer.Argument(DEFAULT_MODEL, help=MODEL_HELP), as_json: bool = typer.Option(False, "--json", help="raw contract JSON"), debug: bool = typer.Option(False)) -> None:
    """Print a model's contract: labels, input, quantization, preprocessing, training and checks."""
    with cli_errors(debug):
        c = read_contract(model)
        if as_json:
            typer.echo(c.to_json())
            return
        for key, value in info_rows(c, Path(model).stat().st_size):
            typer.echo(f"{key:12s} {value}")


def _num(value) -> str:
    """A value as a person reads it: 0.06 not 0.060000000000000005, lists and objects without JSON
    quotes and braces ("logits_range: mode full, margin 8")."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_num(v) for v in value) + "]"
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k} {_num(v)}" for k, v in value.items()) + ")"
    return str(value)


def info_rows(c, size_bytes: int) -> list[tuple[str, str]]:
    """The rows `fashion-edge info` prints: every number rounded, no raw JSON."""
    quant = lambda dtype, s, z: f"{dtype}" + (f" (scale {s:.6g}, zero point {z})" if s else "")  # noqa: E731
    training = c.training
    params = c.preprocess.get("params") or {}
    preprocess = c.preprocess.get("mode", "?") + (f" v{c.preprocess['version']}" if "version" in c.preprocess else " v1") + \
        (": " + ", ".join(f"{k} {_num(v)}" for k, v in params.items()) if params else "")
    acc, params_n = training.get("test_accuracy"), training.get("params")
    trained = (f"test accuracy {acc:.2%}" if isinstance(acc, (int, float)) else "test accuracy ?") + \
        f", {training.get('epochs', '?')} epochs, " + (f"{params_n:,}" if isinstance(params_n, int) else "?") + " params" \
        if training else "unknown"
    calibration = training.get("calibration")
    if isinstance(calibration, dict):
        calibration = ", ".join(f"{k} {_num(v)}" for k, v in calibration.items())
    return [
        ("model", f"{c.model_name} · variant {c.variant} · {size_bytes / 1024:.1f} KB"),
        ("input", f"{c.input_shape} {quant(c.input_dtype, c.input_scale, c.input_zero_point)}"),
        ("output", quant(c.output_dtype, c.output_scale, c.output_zero_point)),
        ("labels", ", ".join(c.labels)),
        ("preprocess", preprocess),
        ("still views", "; ".join(", ".join(f"{k} {_num(v)}" for k, v in change.items()) for change in c.preprocess.get("still") or [])
         + " (photo files: the mean over these masks and the camera's)" if c.preprocess.get("still") else "none (photo files as camera frames)"),
        ("trained", trained),
        ("calibration", str(calibration) if calibration else "-"),
        ("float ops", _float_ops(c.quantization)),
        ("checks", _checks(c.checks)),
        ("source", f"sha256 {c.source_sha256[:16]}… exported {c.exported_at}"),
    ]


def _float_ops(q: dict) -> str:
    """"CONV_2D → 1×26×26×16, … (first conv: float, logits: float, fixed)" from the contract's quantization block."""
    if not q:
        return "-"
    ops = ", ".join(f"{o['op']} → {'×'.join(map(str, o['shape']))}" for o in q.get("float_ops", []) if isinstance(o, dict))
    logits = f", logits: {q['logits']}" if "logits" in q else ""
    return (ops or "none") + f" (first conv: {q.get('first_conv')}{logits}, {q.get('chosen_by')})"


def _checks(checks: dict) -> str:
    """"drift gate passed (|Δ| ≤ 0.5 pp): test -0.12 pp, unseen +1.10 pp, …" from the check's results."""
    if not checks:
        return "not checked yet (fashion-export check)"
    verdict = {True: "passed", False: "FAILED"}.get(checks.get("passed"), "unknown")
    gate = checks.get("max_drift_pp")
    sets = ", ".join(
        f"{name} {d['delta_pp']:+.2f} pp" + (f" ({d['candidate_acc']:.2%})" if isinstance(d.get("candidate_acc"), (int, float)) else "")
        for name, d in (checks.get("drift") or {}).items() if isinstance(d, dict) and isinstance(d.get("delta_pp"), (int, float))
    )
    return f"drift gate {verdict}" + (f" (|Δ| ≤ {_num(gate)} pp)" if gate is not None else "") + (f": {sets}" if sets else "")


@app.command()
def bench(
    model: Path = typer.Option(Path(BENCH.model), "--model", "-m", help=MODEL_HELP),
    frames: int = typer.Option(BENCH.frames, help="frames to time"),
    folder: Optional[Path] = typer.Option(None, help="also time a folder of images (images/s)"),
    threads: int = typer.Option(BENCH.threads, help="interpreter threads"),
    verbose: bool = typer.Option(False, help="also show LiteRT's own messages"),
    debug: bool = typer.Option(False),
) -> None:
    """Per-frame CPU cost at 640×480, split into decode, preprocessing and inference."""
    with cli_errors(debug):
        options = BenchOptions(model=str(model), frames=frames, threads=threads, folder=_text(folder))
        with native_stderr() as caught:  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"
            result = bench_frames(model, frames=options.frames, threads=options.threads)
            folder_result = bench_folder(model, folder, threads=options.threads) if folder else None
        for text in caught.text.splitlines():  # warnings always, the runtime's INFO lines with --verbose
            if text.strip() and (verbose or not text.startswith("INFO: ")):
                typer.echo(text, err=True)
        typer.echo(result.text())
        if folder_result:
            typer.echo(folder_result.text())


@app.command()
def profile(
    models: list[Path] = typer.Argument(..., help=".tflite files (packed or plain)"),
    batch: str = typer.Option(",".join(map(str, PROFILE.batches)), help="batch sizes, comma-separated"),
    threads: int = typer.Option(PROFILE.threads, help="interpreter threads"),
    rounds: int = typer.Option(PROFILE.rounds, help="interleaved rounds (ABAB…) of the whole-model timing; the median of their medians is reported"),
    out: Optional[Path] = typer.Option(None, help="folder for profile.md and profile.json (default: print only)"),
    debug: bool = typer.Option(False),
) -> None:
    """Per-op time of each model (every op timed alone, on XNNPACK or a built-in kernel) and the whole models side by side, per batch size."""
    with cli_errors(debug):
        options = ProfileOptions(batches=parse_batches(batch), threads=threads, rounds=rounds)
        result = profile_models(models, options.batches, options.threads, out, progress=lambda name: typer.echo(f"profiling {name}", err=True),
                                rounds=options.rounds)
        typer.echo("\n".join(sections(result)))
        typer.echo(side_by_side(result))
        if out is not None:
            typer.echo(f"report: {out / 'profile.md'}, {out / 'profile.json'}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def service(
    ctx: typer.Context,
    user: Optional[str] = typer.Option(None, help="account the service runs as [default: you]"),
    name: str = typer.Option(SERVICE.name, help="unit name, for the journal (journalctl -u NAME)"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Print a systemd unit that runs `fashion-edge run` with the options after `--`, restarted on failure, logging to the journal.

        fashion-edge service -- 0 --serve 8080 --jsonl /home/pi/log.jsonl | sudo tee /etc/systemd/system/fashion-edge.service
    """
    with cli_errors(debug):
        args = list(ctx.args)
        if args[:1] == ["run"]:
            args = args[1:]
        # Parse them as `run` would, so a typo fails here, not at boot.
        command = typer.main.get_command(app).commands["run"]
        try:
            command.make_context("run", list(args), resilient_parsing=False)
        except Exception as exc:  # the parser's UsageError: the same line `run` would print
            raise ValueError(f"{' '.join(str(getattr(exc, 'message', exc)).split())} (in the options for run)") from None
        if any(url_secrets(a) for a in args):
            typer.echo("warning: the unit holds the stream's password; keep it readable by root only "
                       "(sudo chmod 600 /etc/systemd/system/<name>.service)", err=True)
        typer.echo(unit_text(ServiceSpec(run_args=tuple(args), user=user, name=name)), nl=False)


if __name__ == "__main__":
    sys.exit(app())
