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

from edge_app.classifier import DEFAULT_MODEL
from edge_app.errors import cli_errors, stdout_closed, version_option

# rich_markup_mode=None: help text is printed as written ("fashion-edge[gui]" is not a Rich tag).
app = typer.Typer(help="Classify clothing in camera frames, videos and image folders with a LiteRT model (no TensorFlow).",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)
MODEL_HELP = "packed .tflite model (default: the shipped int8 model)"
SOME_FAILED = 3


@app.callback()
def _main(version: bool = version_option("fashion-edge")) -> None:
    """Classify clothing in camera frames, videos and image folders with a LiteRT model (no TensorFlow)."""


def _roi(text: Optional[str]) -> Optional[tuple[int, int, int, int]]:
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--roi wants x,y,w,h in pixels, got {text!r}") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError(f"--roi needs x, y ≥ 0 and w, h > 0, got {text!r}")
    return x, y, w, h


def _at_least(value: Optional[float], least: float, flag: str) -> None:
    if value is not None and value < least:
        raise ValueError(f"{flag} must be ≥ {least:g}, got {value:g}")


@app.command()
def run(
    source_arg: Optional[str] = typer.Argument(None, metavar="SOURCE", help="what --source takes (default: camera 0)"),
    source: Optional[str] = typer.Option(None, "--source", "-s", help="camera index, video, image, folder, glob, rtsp/http URL, or picamera2 [default: 0]"),
    model: Path = typer.Option(DEFAULT_MODEL, "--model", "-m", help=MODEL_HELP),
    threads: Optional[int] = typer.Option(None, help="interpreter threads"),
    top_k: int = typer.Option(3, help="classes per result"),
    threshold: float = typer.Option(0.0, help="below this top score the answer is 'uncertain'"),
    smooth: int = typer.Option(1, help="average probabilities over the last N frames of a stream"),
    roi: Optional[str] = typer.Option(None, help="x,y,w,h region of each frame to classify"),
    max_frames: Optional[int] = typer.Option(None, help="stop after N frames"),
    fps_limit: Optional[float] = typer.Option(None, help="at most N frames per second"),
    retries: int = typer.Option(3, help="reconnect attempts for a stream that drops"),
    timeout: float = typer.Option(10.0, help="seconds to wait for a stream URL to open"),
    loop: bool = typer.Option(False, help="start a video, folder or glob over when it ends (a demo feed for --serve)"),
    jsonl: Optional[Path] = typer.Option(None, help="write one JSON object per frame (with time and run id)"),
    csv: Optional[Path] = typer.Option(None, help="write one CSV row per frame"),
    append: bool = typer.Option(False, help="add to --jsonl/--csv instead of replacing them (a log across restarts)"),
    summary_file: Optional[Path] = typer.Option(None, "--summary", help="also write the summary as JSON here, however the run ends"),
    save_dir: Optional[Path] = typer.Option(None, help="save annotated frames here"),
    save_max: int = typer.Option(1000, help="keep at most N saved frames, oldest removed first (0 = no limit)"),
    serve: Optional[int] = typer.Option(None, help="serve a live MJPEG view on this port"),
    host: str = typer.Option("127.0.0.1", help="interface for --serve (0.0.0.0 = the whole network)"),
    show: bool = typer.Option(False, help="show an annotated window (needs fashion-edge[gui])"),
    quiet: bool = typer.Option(False, help="no per-frame lines, only the summary"),
    verbose: bool = typer.Option(False, help="also show LiteRT's and OpenCV's own messages"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Classify every frame or image of a source; prints a summary however the run ends.

    Exit codes: 0 done, 1 could not start or failed, 3 some inputs unreadable, 4 a stream stayed
    down, 130 Ctrl-C, 143 SIGTERM. Systemd: see `fashion-edge service` and docs/service.md.
    """
    from edge_app.sources import redact, url_secrets

    spec = source if source is not None else source_arg if source_arg is not None else "0"
    secrets = url_secrets(spec)
    with cli_errors(debug, redact=lambda text: redact(text, secrets)):
        from edge_app.quiet import hush_native_logs

        hush_native_logs(verbose)  # before OpenCV is imported
        from edge_app.runner import RunOptions, run as run_frames

        if source is not None and source_arg is not None and source != source_arg:
            raise ValueError(f"two sources given ({source_arg!r} and --source {source!r}); give one")
        if top_k < 1:
            raise ValueError(f"--top-k must be ≥ 1, got {top_k}")
        if smooth < 1:
            raise ValueError(f"--smooth must be ≥ 1, got {smooth}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"--threshold must be in [0, 1], got {threshold}")
        if fps_limit is not None and fps_limit <= 0:
            raise ValueError(f"--fps-limit must be > 0, got {fps_limit}")
        if timeout <= 0:
            raise ValueError(f"--timeout must be > 0 seconds, got {timeout}")
        _at_least(max_frames, 1, "--max-frames")
        _at_least(threads, 1, "--threads")
        _at_least(retries, 0, "--retries")
        _at_least(save_max, 0, "--save-max")
        if serve is not None and not 0 <= serve <= 65535:
            raise ValueError(f"--serve takes a port 1–65535 (0 = any free one), got {serve}")
        options = RunOptions(
            source=spec, model=str(model), threads=threads, top_k=top_k, threshold=threshold, smooth=smooth,
            roi=_roi(roi), max_frames=max_frames, fps_limit=fps_limit, retries=retries,
            jsonl=str(jsonl) if jsonl else None, csv=str(csv) if csv else None,
            save_dir=str(save_dir) if save_dir else None, save_max=save_max, serve=serve, host=host, show=show,
            quiet=quiet, append=append, loop=loop, summary=str(summary_file) if summary_file else None,
            timeout=timeout, verbose=verbose,
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
        from edge_app.contract import read_contract

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
        ("trained", trained),
        ("calibration", str(calibration) if calibration else "-"),
        ("float ops", _float_ops(c.quantization)),
        ("checks", _checks(c.checks)),
        ("source", f"sha256 {c.source_sha256[:16]}… exported {c.exported_at}"),
    ]


def _float_ops(q: dict) -> str:
    """"CONV_2D → 1×26×26×16 (first conv: float, fixed)" from the contract's quantization block."""
    if not q:
        return "-"
    ops = ", ".join(f"{o['op']} → {'×'.join(map(str, o['shape']))}" for o in q.get("float_ops", []) if isinstance(o, dict))
    return (ops or "none") + f" (first conv: {q.get('first_conv')}, {q.get('chosen_by')})"


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
    model: Path = typer.Option(DEFAULT_MODEL, "--model", "-m", help=MODEL_HELP),
    frames: int = typer.Option(300, help="frames to time"),
    folder: Optional[Path] = typer.Option(None, help="also time a folder of images (images/s)"),
    threads: int = typer.Option(1, help="interpreter threads"),
    verbose: bool = typer.Option(False, help="also show LiteRT's own messages"),
    debug: bool = typer.Option(False),
) -> None:
    """Per-frame CPU cost at 640×480, split into decode, preprocessing and inference."""
    with cli_errors(debug):
        from edge_app.bench import bench_frames, bench_folder
        from edge_app.quiet import native_stderr

        _at_least(frames, 1, "--frames")
        _at_least(threads, 1, "--threads")
        if folder is not None and not folder.exists():
            raise ValueError(f"--folder {folder}: no such file or folder")
        with native_stderr() as caught:  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"
            result = bench_frames(model, frames=frames, threads=threads)
            folder_result = bench_folder(model, folder, threads=threads) if folder else None
        for text in caught.text.splitlines():  # warnings always, the runtime's INFO lines with --verbose
            if text.strip() and (verbose or not text.startswith("INFO: ")):
                typer.echo(text, err=True)
        typer.echo(result.text())
        if folder_result:
            typer.echo(folder_result.text())


@app.command()
def profile(
    models: list[Path] = typer.Argument(..., help=".tflite files (packed or plain)"),
    batch: str = typer.Option("1,256", help="batch sizes, comma-separated"),
    threads: int = typer.Option(1, help="interpreter threads"),
    rounds: int = typer.Option(5, help="interleaved rounds (ABAB…) of the whole-model timing; the median of their medians is reported"),
    out: Optional[Path] = typer.Option(None, help="folder for profile.md and profile.json (default: print only)"),
    debug: bool = typer.Option(False),
) -> None:
    """Per-op time of each model (every op timed alone, on XNNPACK or a built-in kernel) and the whole models side by side, per batch size."""
    with cli_errors(debug):
        from edge_app.profile import profile_models, sections, side_by_side

        try:
            batches = tuple(dict.fromkeys(int(b) for b in batch.split(",") if b.strip()))
        except ValueError:
            batches = ()
        if not batches or min(batches) < 1:
            raise ValueError(f"--batch takes comma-separated sizes ≥ 1 such as 1,256; got {batch!r}")
        if threads < 1:
            raise ValueError(f"--threads must be ≥ 1, got {threads}")
        if rounds < 1:
            raise ValueError(f"--rounds must be ≥ 1, got {rounds}")
        result = profile_models(models, batches, threads, out, progress=lambda name: typer.echo(f"profiling {name}", err=True),
                                rounds=rounds)
        typer.echo("\n".join(sections(result)))
        typer.echo(side_by_side(result))
        if out is not None:
            typer.echo(f"report: {out / 'profile.md'}, {out / 'profile.json'}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def service(
    ctx: typer.Context,
    user: Optional[str] = typer.Option(None, help="account the service runs as [default: you]"),
    name: str = typer.Option("fashion-edge", help="unit name, for the journal (journalctl -u NAME)"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Print a systemd unit that runs `fashion-edge run` with the options after `--`, restarted on failure, logging to the journal.

        fashion-edge service -- 0 --serve 8080 --jsonl /home/pi/log.jsonl | sudo tee /etc/systemd/system/fashion-edge.service
    """
    with cli_errors(debug):
        from edge_app.service import ServiceSpec, unit_text

        args = list(ctx.args)
        if args[:1] == ["run"]:
            args = args[1:]
        # Parse them as `run` would, so a typo fails here, not at boot.
        command = typer.main.get_command(app).commands["run"]
        try:
            command.make_context("run", list(args), resilient_parsing=False)
        except Exception as exc:  # the parser's UsageError: the same line `run` would print
            raise ValueError(f"{' '.join(str(getattr(exc, 'message', exc)).split())} (in the options for run)") from None
        from edge_app.sources import url_secrets

        if any(url_secrets(a) for a in args):
            typer.echo("warning: the unit holds the stream's password; keep it readable by root only "
                       "(sudo chmod 600 /etc/systemd/system/<name>.service)", err=True)
        typer.echo(unit_text(ServiceSpec(run_args=tuple(args), user=user, name=name)), nl=False)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":
    sys.exit(app())
