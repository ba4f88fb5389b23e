"""`fashion-edge`: classify camera frames, videos and image folders on a Raspberry Pi — no TensorFlow.

    $ fashion-edge run --source 0                 # webcam, default int8 model
    $ fashion-edge run --source photos/ --jsonl out.jsonl
    $ fashion-edge info models/edge-int8.tflite
    $ fashion-edge bench
    $ fashion-edge profile models/robust-int8.tflite --batch 1,256

Exit codes: 0 done; 1 fatal error (no model, no camera, bad flag value); 3 finished, but some
inputs could not be read (each reported on its own line and in --jsonl).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from edge_app.classifier import DEFAULT_MODEL
from edge_app.errors import cli_errors

app = typer.Typer(help="Classify clothing in camera frames, videos and image folders with a LiteRT model (no TensorFlow).", no_args_is_help=True, add_completion=False)
MODEL_HELP = "packed .tflite model (default: the shipped int8 model)"
SOME_FAILED = 3


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


@app.command()
def run(
    source: str = typer.Option("0", "--source", "-s", help="camera index, video, image, folder, glob, rtsp/http URL, or picamera2"),
    model: Path = typer.Option(DEFAULT_MODEL, "--model", "-m", help=MODEL_HELP),
    threads: Optional[int] = typer.Option(None, help="interpreter threads"),
    top_k: int = typer.Option(3, help="classes per result"),
    threshold: float = typer.Option(0.0, help="below this top score the answer is 'uncertain'"),
    smooth: int = typer.Option(1, help="average probabilities over the last N frames of a stream"),
    roi: Optional[str] = typer.Option(None, help="x,y,w,h region of each frame to classify"),
    max_frames: Optional[int] = typer.Option(None, help="stop after N frames"),
    fps_limit: Optional[float] = typer.Option(None, help="at most N frames per second"),
    retries: int = typer.Option(3, help="reconnect attempts for a stream that drops"),
    jsonl: Optional[Path] = typer.Option(None, help="write one JSON object per frame"),
    csv: Optional[Path] = typer.Option(None, help="write one CSV row per frame"),
    save_dir: Optional[Path] = typer.Option(None, help="save annotated frames here"),
    serve: Optional[int] = typer.Option(None, help="serve a live MJPEG view on this port"),
    host: str = typer.Option("127.0.0.1", help="interface for --serve (0.0.0.0 = the whole network)"),
    show: bool = typer.Option(False, help="show an annotated window (needs fashion-edge[gui])"),
    quiet: bool = typer.Option(False, help="no per-frame lines, only the summary"),
    debug: bool = typer.Option(False, help="show tracebacks"),
) -> None:
    """Classify every frame or image of a source; prints a summary at the end or on Ctrl-C."""
    with cli_errors(debug):
        from edge_app.runner import RunOptions, run as run_frames

        if top_k < 1:
            raise ValueError(f"--top-k must be ≥ 1, got {top_k}")
        if smooth < 1:
            raise ValueError(f"--smooth must be ≥ 1, got {smooth}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"--threshold must be in [0, 1], got {threshold}")
        if fps_limit is not None and fps_limit <= 0:
            raise ValueError(f"--fps-limit must be > 0, got {fps_limit}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"--max-frames must be ≥ 1, got {max_frames}")
        options = RunOptions(
            source=source, model=str(model), threads=threads, top_k=top_k, threshold=threshold, smooth=smooth,
            roi=_roi(roi), max_frames=max_frames, fps_limit=fps_limit, retries=retries,
            jsonl=str(jsonl) if jsonl else None, csv=str(csv) if csv else None,
            save_dir=str(save_dir) if save_dir else None, serve=serve, host=host, show=show, quiet=quiet,
        )
        summary = run_frames(options, echo=typer.echo)
        typer.echo(summary.text(), err=True)
        if summary.errors:
            raise typer.Exit(SOME_FAILED)


@app.command()
def info(model: Path = typer.Argument(DEFAULT_MODEL, help=MODEL_HELP), as_json: bool = typer.Option(False, "--json", help="raw contract JSON"), debug: bool = typer.Option(False)) -> None:
    """Print a model's contract: labels, input, quantization, preprocessing, training and checks."""
    with cli_errors(debug):
        from edge_app.contract import read_contract

        c = read_contract(model)
        if as_json:
            typer.echo(c.to_json())
            return
        quant = lambda dtype, s, z: f"{dtype}" + (f" (scale {s:.6g}, zero point {z})" if s else "")  # noqa: E731
        training = c.training
        rows = [
            ("model", f"{c.model_name} · variant {c.variant} · {Path(model).stat().st_size / 1024:.1f} KB"),
            ("input", f"{c.input_shape} {quant(c.input_dtype, c.input_scale, c.input_zero_point)}"),
            ("output", quant(c.output_dtype, c.output_scale, c.output_zero_point)),
            ("labels", ", ".join(c.labels)),
            ("preprocess", json.dumps(c.preprocess)),
            ("trained", f"test accuracy {training.get('test_accuracy', float('nan')):.2%}, {training.get('epochs', '?')} epochs, "
                        f"{training.get('params', '?')} params" if training else "unknown"),
            ("calibration", json.dumps(training.get("calibration")) if training.get("calibration") else "-"),
            ("float ops", (", ".join(f"{o['op']} → {'×'.join(map(str, o['shape']))}" for o in c.quantization.get("float_ops", [])) or "none")
                          + f" (first conv: {c.quantization.get('first_conv')}, {c.quantization.get('chosen_by')})" if c.quantization else "-"),
            ("checks", json.dumps(c.checks) if c.checks else "not checked yet (fashion-export check)"),
            ("source", f"sha256 {c.source_sha256[:16]}… exported {c.exported_at}"),
        ]
        for key, value in rows:
            typer.echo(f"{key:12s} {value}")


@app.command()
def bench(
    model: Path = typer.Option(DEFAULT_MODEL, "--model", "-m", help=MODEL_HELP),
    frames: int = typer.Option(300, help="frames to time"),
    folder: Optional[Path] = typer.Option(None, help="also time a folder of images (images/s)"),
    threads: int = typer.Option(1, help="interpreter threads"),
    debug: bool = typer.Option(False),
) -> None:
    """Per-frame CPU cost at 640×480, split into decode, preprocessing and inference."""
    with cli_errors(debug):
        from edge_app.bench import bench_frames, bench_folder

        result = bench_frames(model, frames=frames, threads=threads)
        typer.echo(result.text())
        if folder:
            typer.echo(bench_folder(model, folder, threads=threads).text())


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


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":
    sys.exit(app())
