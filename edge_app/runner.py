"""`fashion-edge run`: frames in, predictions out — lines, JSONL/CSV, annotated frames, a live view.

    >>> summary = run(RunOptions(source="unseen/", jsonl="out.jsonl"))

One loop for every source. Preprocessing is the model contract's (`Classifier.spec`), applied by
`edge_app.preprocess`; colour conversion happened once, at the source boundary (`sources.py`).
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_app.classifier import DEFAULT_MODEL, Classifier, Prediction
from edge_app.sources import Frame, open_source


@dataclass(frozen=True)
class RunOptions:
    """Defaults of `fashion-edge run`; the CLI options mirror them."""

    source: str = "0"  # camera index, video, image, folder, glob, URL or "picamera2"
    model: str = str(DEFAULT_MODEL)  # packed .tflite (contract inside)
    threads: int | None = None  # interpreter threads (None = runtime default)
    top_k: int = 3  # classes per line
    threshold: float = 0.0  # below this top score the answer is "uncertain"
    smooth: int = 1  # average probabilities over the last N frames of a stream (1 = off)
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h crop of each frame before preprocessing
    max_frames: int | None = None  # stop after this many frames
    fps_limit: float | None = None  # at most this many frames per second
    retries: int = 3  # reconnect attempts for a dropped stream
    jsonl: str | None = None  # one JSON object per frame
    csv: str | None = None  # one CSV row per frame
    save_dir: str | None = None  # annotated frames as JPEG
    serve: int | None = None  # port of the MJPEG live view
    host: str = "127.0.0.1"  # interface the live view binds to
    show: bool = False  # an OpenCV window (needs the GUI build of OpenCV)
    quiet: bool = False  # no per-frame lines


@dataclass
class Summary:
    frames: int = 0
    errors: int = 0
    ms_preprocess: list[float] = field(default_factory=list)
    ms_inference: list[float] = field(default_factory=list)
    classes: Counter = field(default_factory=Counter)
    interrupted: bool = False

    def stats(self) -> dict:
        def agg(values):
            return {"mean": float(np.mean(values)), "p95": float(np.percentile(values, 95))} if values else {"mean": 0.0, "p95": 0.0}

        return {
            "frames": self.frames, "errors": self.errors, "interrupted": self.interrupted,
            "ms_preprocess": agg(self.ms_preprocess), "ms_inference": agg(self.ms_inference),
            "classes": dict(self.classes.most_common()),
        }

    def text(self) -> str:
        s = self.stats()
        hist = ", ".join(f"{k}: {v}" for k, v in s["classes"].items()) or "-"
        return (
            f"summary: {s['frames']} frames, {s['errors']} errors"
            f"{' (interrupted)' if self.interrupted else ''}; preprocess {s['ms_preprocess']['mean']:.2f} ms mean / "
            f"{s['ms_preprocess']['p95']:.2f} ms p95; inference {s['ms_inference']['mean']:.2f} ms mean / "
            f"{s['ms_inference']['p95']:.2f} ms p95; classes: {hist}"
        )


def crop_roi(image: np.ndarray, roi: tuple[int, int, int, int] | None) -> np.ndarray:
    """The x, y, w, h region of a frame (clipped to it); ValueError when nothing is left."""
    if roi is None:
        return image
    x, y, w, h = roi
    out = image[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)]
    if out.size == 0:
        raise ValueError(f"--roi {x},{y},{w},{h} lies outside the {image.shape[1]}×{image.shape[0]} frame")
    return out


class Smoother:
    """Mean of the last N probability vectors: a steady label on a live stream."""

    def __init__(self, n: int):
        self.window: deque[np.ndarray] = deque(maxlen=max(1, n))

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        self.window.append(probs)
        return np.mean(self.window, axis=0)


def classify_frame(clf: Classifier, frame: Frame, options: RunOptions, smoother: Smoother | None) -> Prediction:
    return clf.classify(crop_roi(frame.image, options.roi), options.top_k, options.threshold, smoother)


def record(frame: Frame, pred: Prediction | None, error: str | None = None) -> dict:
    """The JSONL object of one frame."""
    if pred is None:
        return {"source": frame.source, "label": None, "score": None, "top_k": [], "ms_preprocess": None, "ms_inference": None, "error": error}
    return {
        "source": frame.source, "label": pred.label, "score": round(pred.score, 6),
        "top_k": [{"label": label, "score": round(score, 6)} for label, score in pred.top_k],
        "ms_preprocess": round(pred.ms_preprocess, 4), "ms_inference": round(pred.ms_inference, 4), "error": None,
    }


def line(rec: dict) -> str:
    if rec["error"]:
        return f"{rec['source']}  ERROR {rec['error']}"
    top = "  ".join(f"{t['label']} {t['score']:.2f}" for t in rec["top_k"]) or rec["label"]
    return f"{rec['source']}  {rec['label']}  [{top}]  pre {rec['ms_preprocess']:.2f} ms  inf {rec['ms_inference']:.2f} ms"


class _Outputs:
    """The sinks a run writes to, opened once and closed however the run ends."""

    def __init__(self, options: RunOptions):
        self.options = options
        self.jsonl = self.csv_file = self.csv = self.save_dir = self.server = self.window = self.fps = None
        try:
            self._open(options)
        except BaseException:
            self.close()  # a sink that failed to open (port in use, no GUI) leaves none of the others open
            raise

    def _open(self, options: RunOptions) -> None:
        self.jsonl = open(options.jsonl, "w", encoding="utf-8") if options.jsonl else None
        self.csv_file = open(options.csv, "w", newline="", encoding="utf-8") if options.csv else None
        self.csv = csv.writer(self.csv_file) if self.csv_file else None
        if self.csv:
            self.csv.writerow(["source", "label", "score", "top_k", "ms_preprocess", "ms_inference", "error"])
        self.save_dir = Path(options.save_dir) if options.save_dir else None
        if self.save_dir:
            self.save_dir.mkdir(parents=True, exist_ok=True)
        if options.serve is not None:
            from edge_app.serve import LiveServer

            self.server = LiveServer(options.host, options.serve).start()
            print(f"live view: {self.server.url}", file=sys.stderr)
        if options.show:
            from edge_app.window import Window

            self.window = Window("fashion-edge")
        if self.save_dir or self.server or self.window:
            from edge_app.annotate import FpsMeter

            self.fps = FpsMeter(10)

    @property
    def wants_frames(self) -> bool:
        return self.fps is not None

    def write(self, rec: dict, frame: Frame) -> bool:
        """Send one frame's result everywhere; False when the user asked to quit (window q/ESC)."""
        if self.jsonl:
            self.jsonl.write(json.dumps(rec) + "\n")
            self.jsonl.flush()
        if self.csv:
            top = ";".join(f"{t['label']}:{t['score']:.4f}" for t in rec["top_k"])
            self.csv.writerow([rec["source"], rec["label"], rec["score"], top, rec["ms_preprocess"], rec["ms_inference"], rec["error"] or ""])
            self.csv_file.flush()
        if not self.wants_frames or frame.image is None:
            return True
        from edge_app.annotate import annotate, encode_jpeg

        fps = self.fps.tick()
        text = [rec["error"] or f"{rec['label']} {rec['score']:.2f}"] + [f"{t['label']} {t['score']:.2f}" for t in rec["top_k"][1:3]]
        annotated = annotate(frame.image, text, fps=fps)
        if self.save_dir:
            name = f"{frame.index:06d}_{Path(frame.source.split('#')[0]).stem}.jpg"
            (self.save_dir / name).write_bytes(encode_jpeg(annotated))
        if self.server:
            self.server.publish(encode_jpeg(annotated), {**rec, "fps": round(fps, 1)})
        if self.window:
            return self.window.show(annotated)
        return True

    def close(self) -> None:
        for f in (self.jsonl, self.csv_file):
            if f:
                f.close()
        if self.server:
            self.server.stop()
        if self.window:
            self.window.close()


def run(options: RunOptions, echo=print) -> Summary:
    """Classify every frame of `options.source`; Ctrl-C ends the run with its summary."""
    clf = Classifier(options.model, threads=options.threads)
    frames = open_source(options.source, retries=options.retries)
    smoother = Smoother(options.smooth) if options.smooth > 1 else None
    summary = Summary()
    outputs = None
    min_gap = 1.0 / options.fps_limit if options.fps_limit else 0.0
    last = 0.0
    try:
        outputs = _Outputs(options)
        for frame in frames:
            if options.max_frames is not None and summary.frames >= options.max_frames:
                break
            if min_gap:
                wait = last + min_gap - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                last = time.perf_counter()
            summary.frames += 1
            error = frame.error
            pred = None
            if error is None:
                try:
                    # streams name frames "<stream>#<n>"; files in a folder are independent, never smoothed
                    pred = classify_frame(clf, frame, options, smoother if "#" in frame.source else None)
                except ValueError as exc:
                    error = " ".join(str(exc).split())
            if error:
                summary.errors += 1
            else:
                summary.ms_preprocess.append(pred.ms_preprocess)
                summary.ms_inference.append(pred.ms_inference)
                summary.classes[pred.label] += 1
            rec = record(frame, pred, error)
            if not options.quiet:
                echo(line(rec))
            if not outputs.write(rec, frame):
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        close = getattr(frames, "close", None)
        if close:
            close()  # releases a camera even when an output failed to open
        if outputs is not None:
            outputs.close()
    return summary
