"""`fashion-edge run`: frames in, predictions out — lines, JSONL/CSV, annotated frames, a live view.

    >>> summary = run(RunOptions(source="unseen/", jsonl="out.jsonl"))

One loop for every source, one way through it: a `Frame` from `edge_app.sources` → its scores
(`Classifier.scores`: the contract's preprocessing, then the model) → the smoother, for a stream's
frames → `decide` → a `FrameResult`, which every sink of `edge_app.outputs` writes. Colour conversion
happened once, at the source boundary (`sources.py`).

Made to run for days under systemd: nothing the user made is touched before the run has started
(source open, port bound, window up); every record carries a timestamp and the run's id; every
ending — done, Ctrl-C, SIGTERM, a stream lost for good, a closed pipe — gives a summary and its
own exit code (`Summary.exit_code`).
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from edge_app.atomic import atomic_write
from edge_app.classifier import DEFAULT_MODEL, Classifier, Prediction
from edge_app.contract import check_outputs
from edge_app.errors import at_least, one_line
from edge_app.outputs import FrameResult, Outputs
from edge_app.quiet import native_stderr
from edge_app.sources import Frame, SourceError, is_live, open_source, skip_note

# Exit codes of `fashion-edge run`, one per way a run can end (documented in the CLI's help).
EXIT_OK = 0  # the source ended, --max-frames was reached, the window was closed, or stdout was closed
EXIT_FATAL = 1  # the run could not start, or failed (a bad flag, no model, a port in use, …)
EXIT_SOME_FAILED = 3  # finished, but some inputs could not be read
EXIT_STREAM_LOST = 4  # a live stream dropped and stayed down (--retries exhausted)
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as for every fashion-* command
EXIT_TERMINATED = 143  # SIGTERM (what `systemctl stop` sends): 128 + 15


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so no `except Exception` swallows it."""


@dataclass(frozen=True)
class RunOptions:
    """Defaults of `fashion-edge run`; the CLI options mirror them."""

    source: str = "0"  # camera index, video, image, folder, glob, URL or "picamera2"
    model: str = str(DEFAULT_MODEL)  # packed .tflite (contract inside)
    threads: int | None = None  # interpreter threads (None = runtime default)
    top_k: int = 3  # classes per line
    threshold: float = 0.0  # below this top score the answer is "uncertain"
    smooth: int = 1  # average probabilities over the last N frames of a stream (1 = off)
    still: bool = True  # image files get the contract's still views (slower, more accurate); a stream never does
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h crop of each frame before preprocessing
    max_frames: int | None = None  # stop after this many frames
    fps_limit: float | None = None  # at most this many frames per second
    retries: int = 3  # reconnect attempts for a dropped stream
    jsonl: str | None = None  # one JSON object per frame
    csv: str | None = None  # one CSV row per frame
    save_dir: str | None = None  # annotated frames as JPEG
    save_max: int = 1000  # keep at most this many saved frames, oldest removed first (0 = no limit)
    serve: int | None = None  # port of the MJPEG live view
    host: str = "127.0.0.1"  # interface the live view binds to
    show: bool = False  # an OpenCV window (needs the GUI build of OpenCV)
    quiet: bool = False  # no per-frame lines
    append: bool = False  # add to --jsonl/--csv instead of replacing them (a log that survives restarts)
    loop: bool = False  # start a file, folder or glob over when it ends (a demo feed for --serve)
    hold: bool = True  # with --serve, keep showing the last frame after a finite source ends, until stopped
    summary: str | None = None  # also write the summary as JSON here, however the run ends
    timeout: float = 10.0  # seconds to wait for a stream URL to open (and for each frame)
    verbose: bool = False  # let LiteRT's and OpenCV's own messages through (passwords still redacted)

    def __post_init__(self) -> None:
        """Refuse values no run can use, naming the option as `fashion-edge run` spells it."""
        if self.top_k < 1:
            raise ValueError(f"--top-k must be ≥ 1, got {self.top_k}")
        if self.smooth < 1:
            raise ValueError(f"--smooth must be ≥ 1, got {self.smooth}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"--threshold must be in [0, 1], got {self.threshold}")
        if self.fps_limit is not None and self.fps_limit <= 0:
            raise ValueError(f"--fps-limit must be > 0, got {self.fps_limit}")
        if self.timeout <= 0:
            raise ValueError(f"--timeout must be > 0 seconds, got {self.timeout}")
        for value, least, flag in ((self.max_frames, 1, "--max-frames"), (self.threads, 1, "--threads"),
                                   (self.retries, 0, "--retries"), (self.save_max, 0, "--save-max")):
            at_least(value, least, flag)
        if self.serve is not None and not 0 <= self.serve <= 65535:
            raise ValueError(f"--serve takes a port 1–65535 (0 = any free one), got {self.serve}")
        if self.roi is not None and (self.roi[2] <= 0 or self.roi[3] <= 0 or self.roi[0] < 0 or self.roi[1] < 0):
            raise ValueError(f"--roi needs x, y ≥ 0 and w, h > 0, got {','.join(map(str, self.roi))!r}")


def parse_roi(text: str | None) -> tuple[int, int, int, int] | None:
    """`--roi "x,y,w,h"` → (x, y, w, h) in pixels; ValueError on anything else."""
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--roi wants x,y,w,h in pixels, got {text!r}") from None
    return x, y, w, h


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds: what every record and summary is stamped with."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """"20261201T074500Z-3f2a": sortable by start time, unique enough to tell restarts apart in a log."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


# How a run ended → its exit code (errors in the inputs turn a clean ending into EXIT_SOME_FAILED).
ENDINGS = {
    "done": EXIT_OK, "max frames": EXIT_OK, "window closed": EXIT_OK, "output closed": EXIT_OK,
    "interrupted": EXIT_INTERRUPTED, "terminated": EXIT_TERMINATED,
    "stream lost": EXIT_STREAM_LOST, "failed": EXIT_FATAL,
}


@dataclass
class Summary:
    frames: int = 0
    errors: int = 0
    ms_preprocess: list[float] = field(default_factory=list)
    ms_inference: list[float] = field(default_factory=list)
    classes: Counter = field(default_factory=Counter)
    ending: str = "done"  # a key of ENDINGS
    fatal: str | None = None  # the one-line reason of a "stream lost" or "failed" ending
    run_id: str = field(default_factory=new_run_id)
    started: str = field(default_factory=now_iso)
    ended: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) a folder held but no image
    saved: int = 0  # annotated frames written to --save-dir
    save_stopped: str | None = None  # why saving stopped (disk full), if it did

    @property
    def interrupted(self) -> bool:
        return self.ending in ("interrupted", "terminated")

    @property
    def exit_code(self) -> int:
        code = ENDINGS[self.ending]
        return EXIT_SOME_FAILED if code == EXIT_OK and self.errors else code

    def stats(self) -> dict:
        def agg(values):
            return {"mean": float(np.mean(values)), "p95": float(np.percentile(values, 95))} if values else {"mean": 0.0, "p95": 0.0}

        return {
            "run": self.run_id, "started": self.started, "ended": self.ended,
            "ending": self.ending, "exit_code": self.exit_code, "fatal": self.fatal,
            "frames": self.frames, "errors": self.errors, "interrupted": self.interrupted,
            "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
            "saved": self.saved, "save_stopped": self.save_stopped,
            "ms_preprocess": agg(self.ms_preprocess), "ms_inference": agg(self.ms_inference),
            "classes": dict(self.classes.most_common()),
        }

    def text(self) -> str:
        s = self.stats()
        hist = ", ".join(f"{k}: {v}" for k, v in s["classes"].items()) or "-"
        ending = "" if self.ending in ("done", "max frames") else f" ({self.ending})"
        skipped = f", {len(self.skipped)} files skipped" if self.skipped else ""
        return (
            f"summary: {s['frames']} frames, {s['errors']} errors{skipped}"
            f"{ending}; preprocess {s['ms_preprocess']['mean']:.2f} ms mean / "
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
    """One frame's Prediction: its region of interest through the model, the probabilities of a stream's
    frames averaged by `smoother` (never a still image's: files in a folder are independent)."""
    scores = clf.scores(crop_roi(frame.image, options.roi), still=options.still and not frame.stream)
    smoothed = smoother(scores.probs) if smoother is not None and frame.stream and scores.probs is not None else None
    return scores.decide(clf.labels, options.top_k, options.threshold, probs=smoothed)


class _Signals:
    """SIGINT and SIGTERM while a run is on: `KeyboardInterrupt` / `Terminated` in the main thread,
    so a run ends the same way on Ctrl-C and on `systemctl stop` — outputs closed, summary printed.

    Inside `deferred()` (one frame's record going to every output, and into the summary) the signal
    waits until the block is done: a frame is in the summary exactly when its record is in the files."""

    def __init__(self) -> None:
        self.pending: type[BaseException] | None = None
        self.critical = False

    def _handler(self, signum, frame) -> None:
        exc = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        if self.critical:
            self.pending = self.pending or exc
        else:
            raise exc()

    @contextmanager
    def installed(self):
        """Handle both signals for the block (a no-op outside the main thread, where signals never land)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextmanager
    def deferred(self):
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
            pending, self.pending = self.pending, None
            if pending is not None:
                raise pending()


def _open_frames(options: RunOptions, native_log: Callable[[str], None] | None) -> Iterator[Frame]:
    """The source's frames; with `loop`, a file, folder or glob started over each time it ends."""
    def open_once():
        return open_source(options.source, retries=options.retries, timeout=options.timeout, native_log=native_log)

    frames = open_once()
    if not options.loop:
        return frames
    if is_live(options.source):
        close = getattr(frames, "close", None)
        if close:
            close()
        raise ValueError("--loop is for files, folders and globs; a camera or live stream runs until it is stopped")
    return _Looped(frames, open_once)


class _Looped:
    """Frames of a finite source, reopened whenever it ends; numbered on across passes.

    A pass without one readable frame ends the loop (ValueError, a "failed" run): looping over
    broken files would only spin the CPU. `skipped` is the first pass's (it is the same every pass)."""

    def __init__(self, first: Iterator[Frame], reopen: Callable[[], Iterator[Frame]]) -> None:
        self.current, self.reopen = first, reopen
        self.skipped = getattr(first, "skipped", [])
        self._it = self._frames()

    def _frames(self) -> Iterator[Frame]:
        index = 0
        while True:
            good = 0
            for frame in self.current:
                good += frame.image is not None
                yield replace(frame, index=index)
                index += 1
            if not good:
                raise ValueError("--loop: a whole pass gave no readable frame; stopping")
            self.current = self.reopen()

    def __iter__(self):
        return self

    def __next__(self) -> Frame:
        return next(self._it)

    def close(self) -> None:
        close = getattr(self.current, "close", None)
        if close:
            close()
        self._it.close()


def _hold(server, warn: Callable[[str], None]) -> None:
    """Keep the web view up, showing the last frame, until Ctrl-C or SIGTERM: the expected way to end
    it, so the run still counts as done."""
    try:  # the notice inside the try: a Ctrl-C right after it must not count as an interruption
        warn(f"source ended; still serving the last frame at {server.url} (Ctrl-C to stop)")
        while True:
            time.sleep(0.5)
    except (KeyboardInterrupt, Terminated):
        return


def _loop(frames, clf: Classifier, options: RunOptions, outputs: Outputs, summary: Summary, echo, signals: _Signals) -> str:
    """Classify until the source ends; returns the ending ("done", "max frames", "window closed")."""
    smoother = Smoother(options.smooth) if options.smooth > 1 else None
    min_gap = 1.0 / options.fps_limit if options.fps_limit else 0.0
    last = 0.0
    for frame in frames:
        if options.max_frames is not None and summary.frames >= options.max_frames:
            return "max frames"
        if min_gap:
            wait = last + min_gap - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            last = time.perf_counter()
        error = frame.error
        pred = None
        if error is None:
            try:
                pred = classify_frame(clf, frame, options, smoother)
            except ValueError as exc:
                error = " ".join(str(exc).split())
        result = FrameResult(now_iso(), summary.run_id, frame.source, pred, error)
        if not options.quiet:
            echo(result.line())
        with signals.deferred():  # the record everywhere and the frame counted, or neither
            keep_going = outputs.write(result, frame)
            _count(summary, pred, error)
            if outputs.saver is not None:
                summary.saved, summary.save_stopped = outputs.saver.saved, outputs.saver.stopped
        if not keep_going:
            return "window closed"
    return "done"


def _count(summary: Summary, pred: Prediction | None, error: str | None) -> None:
    summary.frames += 1
    if error:
        summary.errors += 1
    else:
        summary.ms_preprocess.append(pred.ms_preprocess)
        summary.ms_inference.append(pred.ms_inference)
        summary.classes[pred.label] += 1


def run(options: RunOptions, echo=print, warn: Callable[[str], None] | None = None) -> Summary:
    """Classify every frame of `options.source` and return how it went.

    Whatever ends the run — the source, Ctrl-C, SIGTERM, a stream lost for good, a closed stdout,
    a failing output — ends it with a Summary (`ending`, `exit_code`, `fatal`), written to
    `options.summary` too. Only what stops the run from starting (model, source, port, window,
    unwritable output) raises, and then no file has been touched.
    """
    warn = warn or (lambda text: print(text, file=sys.stderr))
    native_log = warn if options.verbose else None
    with native_stderr() as caught:  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"
        clf = Classifier(options.model, threads=options.threads)
    for text in caught.text.splitlines():  # the runtime's INFO lines only with --verbose; warnings always
        if text.strip() and (native_log or not text.startswith("INFO: ")):
            (native_log or warn)(text)
    # A contract naming 3 labels for a 10-output model would fail at the first frame; say so now.
    check_outputs(clf.contract, clf.probabilities(np.zeros((1, 28, 28), np.uint8)).shape[-1], str(options.model))
    frames = _open_frames(options, native_log)
    summary = Summary(skipped=list(getattr(frames, "skipped", [])))
    if summary.skipped:
        warn(f"warning: skipped {len(summary.skipped)} files that are not images this app reads: {skip_note(summary.skipped)}")
    outputs = None
    try:
        with _Signals().installed() as signals:
            try:
                outputs = Outputs(options, summary.run_id, warn)
            except BaseException:
                _close(frames)  # releases a camera even when an output failed to open
                raise
            try:
                summary.ending = _loop(frames, clf, options, outputs, summary, echo, signals)
                if summary.ending == "done" and outputs.server is not None and options.hold:
                    _hold(outputs.server, warn)
            except KeyboardInterrupt:
                summary.ending = "interrupted"
            except Terminated:
                summary.ending = "terminated"
            except SourceError as exc:
                summary.ending, summary.fatal = "stream lost", str(exc)
            except BrokenPipeError:
                summary.ending = "output closed"  # `fashion-edge run … | head`: a normal way to stop
            except Exception as exc:  # noqa: BLE001 - an output failing mid-run still ends with a summary
                summary.ending, summary.fatal = "failed", one_line(exc)
            finally:
                _close(frames)
                outputs.close()
    finally:
        if outputs is not None:  # the run started: say how it ended, in the file too
            summary.ended = now_iso()
            if options.summary:
                atomic_write(options.summary, json.dumps(summary.stats(), indent=2) + "\n")
    return summary


def _close(frames) -> None:
    close = getattr(frames, "close", None)
    if close:
        close()
