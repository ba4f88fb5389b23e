"""Where a run's results go: each frame's `FrameResult` and the sinks that write it — JSONL, CSV, saved
annotated frames, the live web view and the window.

    >>> result = FrameResult(now_iso(), run_id, frame.source, prediction)
    >>> result.to_json(), result.csv_row(), result.line()

The live sinks (web view, window) open first, because they are what usually fails (a port in use, no
display); the files open at the first frame, so a run that never started truncates nothing.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_app import annotate
from edge_app.classifier import Prediction
from edge_app.serve import LiveServer, describe
from edge_app.sources import Frame
from edge_app.window import Window, WindowUnavailable

# Disk-full errors: saving frames stops, classification goes on.
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
# Characters FAT/exFAT (USB sticks) refuse in file names, and control characters.
_UNSAFE_NAME = re.compile(r'[<>:"/\\|?*\x00-\x1f#]+')
_SAVED = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}_\d{6,}_.*\.jpg$")  # the names FrameSaver gives
CSV_HEADER = ["time", "run", "source", "label", "score", "top_k", "ms_preprocess", "ms_inference", "error"]


@dataclass(frozen=True)
class FrameResult:
    """One frame's answer, as every output writes it: a JSON object, a CSV row, a line, the overlay."""

    time: str  # UTC, ISO 8601 with milliseconds
    run: str  # the run's id
    source: str  # the frame's source name (passwords already redacted)
    prediction: Prediction | None  # None when the frame could not be read or classified
    error: str | None = None  # the one-line reason, when it could not

    def to_dict(self) -> dict:
        """The JSONL object: scores to 6 places, milliseconds to 4."""
        head = {"time": self.time, "run": self.run, "source": self.source}
        p = self.prediction
        if p is None:
            return {**head, "label": None, "score": None, "top_k": [], "ms_preprocess": None, "ms_inference": None, "error": self.error}
        return {
            **head, "label": p.label, "score": round(p.score, 6),
            "top_k": [{"label": label, "score": round(score, 6)} for label, score in p.top_k],
            "ms_preprocess": round(p.ms_preprocess, 4), "ms_inference": round(p.ms_inference, 4), "error": None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def csv_row(self) -> list:
        """The row under CSV_HEADER; top_k as `label:score;label:score`."""
        d = self.to_dict()
        top = ";".join(f"{t['label']}:{t['score']:.4f}" for t in d["top_k"])
        return [d["time"], d["run"], d["source"], d["label"], d["score"], top, d["ms_preprocess"], d["ms_inference"], d["error"] or ""]

    def line(self) -> str:
        """The line `fashion-edge run` prints."""
        d = self.to_dict()
        if d["error"]:
            return f"{d['source']}  ERROR {d['error']}"
        top = "  ".join(f"{t['label']} {t['score']:.2f}" for t in d["top_k"]) or d["label"]
        return f"{d['source']}  {d['label']}  [{top}]  pre {d['ms_preprocess']:.2f} ms  inf {d['ms_inference']:.2f} ms"

    def overlay(self) -> list[str]:
        """The text drawn on an annotated frame: the answer (or the error), then the runners-up."""
        d = self.to_dict()
        return [d["error"] or f"{d['label']} {d['score']:.2f}"] + [f"{t['label']} {t['score']:.2f}" for t in d["top_k"][1:3]]


def check_writable(path: str, flag: str) -> None:
    """Fail before the run starts — and before anything is truncated — when `path` cannot be written."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ValueError(f"{flag} {path}: is a folder; give a file name")
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(target if target.exists() else folder, os.W_OK):
        raise ValueError(f"{flag} {path}: permission denied")


def safe_name(text: str) -> str:
    """A file-name part valid on FAT/exFAT USB sticks too: no `:` (as in "camera:0"), `#`, `?`, …"""
    return _UNSAFE_NAME.sub("_", text).strip(" ._") or "frame"


class FrameSaver:
    """Annotated frames in a folder: at most `limit` of them, oldest removed first (frames saved by
    earlier runs count too, so a week of restarts cannot fill the card); on a full disk it stops
    saving with one warning — classification goes on."""

    def __init__(self, folder: Path, limit: int, warn: Callable[[str], None]) -> None:
        self.folder, self.limit, self.warn = folder, limit, warn
        folder.mkdir(parents=True, exist_ok=True)
        self.kept: deque[Path] = deque(sorted(p for p in folder.iterdir() if _SAVED.match(p.name)))
        self.saved = 0
        self.stopped: str | None = None

    def save(self, name: str, jpeg: bytes) -> None:
        if self.stopped:
            return
        path = self.folder / name
        try:
            save_jpeg(path, jpeg)
        except OSError as exc:
            if exc.errno not in _DISK_FULL:
                raise
            self.stopped = f"{self.folder}: disk full ({exc.strerror or exc}) after {self.saved} frames"
            self.warn(f"warning: --save-dir {self.stopped}; no more frames are saved, classification goes on")
            return
        self.saved += 1
        self.kept.append(path)
        while self.limit and len(self.kept) > self.limit:
            self.kept.popleft().unlink(missing_ok=True)


def save_jpeg(path: Path, jpeg: bytes) -> None:
    """Write one frame; a partial file (the disk filled up mid-write) is removed, never left behind."""
    try:
        with open(path, "wb") as f:
            f.write(jpeg)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class Outputs:
    """The sinks a run writes to, closed however the run ends.

    The live sinks (web view, window) open first, because they are what usually fails (a port in use,
    no display). The files open at the first frame: a run that never started truncates nothing."""

    def __init__(self, options, run_id: str, warn: Callable[[str], None] = print):
        """`options`: the run's `RunOptions` (jsonl, csv, summary, save_dir, save_max, serve, host, show, append)."""
        self.options, self.run_id, self.warn = options, run_id, warn
        self.jsonl = self.csv_file = self.csv = self.saver = self.server = self.window = self.fps = None
        self._files_open = False
        for path, flag in ((options.jsonl, "--jsonl"), (options.csv, "--csv"), (options.summary, "--summary")):
            if path:
                check_writable(path, flag)
        try:
            self._open_live(options)
        except BaseException:
            self.close()  # a sink that failed to open (port in use, no GUI) leaves none of the others open
            raise

    def _open_live(self, options) -> None:
        if options.serve is not None:
            self.server = LiveServer(options.host, options.serve).start()
            for text in describe(self.server):
                self.warn(text)
        if options.show:
            try:
                self.window = Window("fashion-edge")
            except WindowUnavailable as exc:
                raise ValueError(f"--show: {exc}") from None
        if options.save_dir or self.server or self.window:
            self.fps = annotate.FpsMeter(10)

    def _open_files(self) -> None:
        """Open --jsonl/--csv/--save-dir at the first frame (append mode keeps what is there)."""
        options, mode = self.options, "a" if self.options.append else "w"
        self._files_open = True
        if options.jsonl:
            self.jsonl = open(options.jsonl, mode, encoding="utf-8")
        if options.csv:
            fresh = mode == "w" or not Path(options.csv).exists() or Path(options.csv).stat().st_size == 0
            self.csv_file = open(options.csv, mode, newline="", encoding="utf-8")
            self.csv = csv.writer(self.csv_file)
            if fresh:
                self.csv.writerow(CSV_HEADER)
        if options.save_dir:
            self.saver = FrameSaver(Path(options.save_dir), options.save_max, self.warn)

    @property
    def wants_frames(self) -> bool:
        return self.fps is not None

    def write(self, result: FrameResult, frame: Frame) -> bool:
        """Send one frame's result everywhere; False when the user asked to quit (window q/ESC)."""
        if not self._files_open:
            self._open_files()
        if self.jsonl:
            self.jsonl.write(result.to_json() + "\n")
            self.jsonl.flush()
        if self.csv:
            self.csv.writerow(result.csv_row())
            self.csv_file.flush()
        if not self.wants_frames or frame.image is None:
            return True
        fps = self.fps.tick() if frame.stream else None  # a still image has no frame rate to show
        annotated = annotate.annotate(frame.image, result.overlay(), fps=fps)
        jpeg = annotate.encode_jpeg(annotated) if (self.saver or self.server) else b""
        if self.saver:
            self.saver.save(f"{self.run_id}_{frame.index:06d}_{safe_name(Path(frame.source.split('#')[0]).stem)}.jpg", jpeg)
        if self.server:
            self.server.publish(jpeg, {**result.to_dict(), "fps": round(fps, 1) if fps is not None else None})
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
