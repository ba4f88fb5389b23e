"""`fashion-edge bench`: what one camera frame costs on this CPU, stage by stage.

    >>> print(bench_frames("edge_app/models/default.tflite").text())

A 640×480 frame (a synthetic garment on a lit, noisy background, JPEG-encoded like a camera's
MJPEG output) is decoded, preprocessed and classified `frames` times after a warm-up.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from edge_app.classifier import DEFAULT_MODEL, Classifier
from edge_app.errors import at_least
from edge_app.preprocess import preprocess
from edge_app.sources import open_source


@dataclass(frozen=True)
class BenchOptions:
    """Defaults of `fashion-edge bench`; the CLI options mirror them."""

    model: str = str(DEFAULT_MODEL)  # packed .tflite (contract inside)
    frames: int = 300  # 640×480 frames timed after the warm-up (the median is reported)
    threads: int = 1  # interpreter threads
    folder: str | None = None  # also time a folder of images, decode included (images/s)

    def __post_init__(self) -> None:
        at_least(self.frames, 1, "--frames")
        at_least(self.threads, 1, "--threads")
        if self.folder is not None and not Path(self.folder).exists():
            raise ValueError(f"--folder {self.folder}: no such file or folder")


@dataclass(frozen=True)
class FrameBench:
    model: str
    frames: int
    ms_decode: float  # median ms per stage
    ms_preprocess: float
    ms_inference: float
    cpu_ms_per_frame: float  # process CPU time per frame, decode included (all threads)
    views: int = 1  # still views the contract names (a photo file's mask computed this many ways)
    ms_still: float = 0.0  # median ms of the same image as a photo file (every still view), decode excluded

    def text(self) -> str:
        total = self.ms_preprocess + self.ms_inference
        lines = [
            f"{Path(self.model).name}: 640×480 frame, median of {self.frames}",
            f"  decode JPEG      {self.ms_decode:7.3f} ms",
            f"  preprocess       {self.ms_preprocess:7.3f} ms",
            f"  inference        {self.ms_inference:7.3f} ms",
            f"  total, decode excluded  {total:7.3f} ms   ({1000 / total:,.0f} frames/s)",
            f"  total, decode included  {total + self.ms_decode:7.3f} ms",
            f"  CPU time per frame      {self.cpu_ms_per_frame:7.3f} ms   (at 30 fps: {self.cpu_ms_per_frame * 30 / 10:.1f} % of one core)",
        ]
        if self.views > 1:
            lines.append(f"  as a photo file ({self.views} still views), decode excluded  {self.ms_still:7.3f} ms")
        return "\n".join(lines)


@dataclass(frozen=True)
class FolderBench:
    folder: str
    images: int
    seconds: float

    def text(self) -> str:
        return (f"{self.folder}: {self.images} images in {self.seconds:.2f} s = {self.images / self.seconds:,.1f} images/s "
                "(decode and every still view included, as `fashion-edge run` on a folder)")


def synthetic_frame(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A T-shirt-like dark shape on a bright, unevenly lit, noisy background (RGB uint8)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    light = 200 + 40 * (xx / width) - 20 * (yy / height)
    img = Image.fromarray(np.dstack([light] * 3).clip(0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    cx, cy, s = width // 2, height // 2, min(width, height) // 3
    d.polygon([(cx - s, cy - s // 2), (cx - s // 3, cy - s), (cx + s // 3, cy - s), (cx + s, cy - s // 2),
               (cx + s // 2, cy - s // 8), (cx + s // 2, cy + s), (cx - s // 2, cy + s), (cx - s // 2, cy - s // 8)], fill=(40, 60, 120))
    arr = np.asarray(img).astype(np.int16) + rng.normal(0, 6, (height, width, 3)).astype(np.int16)
    return arr.clip(0, 255).astype(np.uint8)


def bench_frames(model: str | Path, frames: int = BenchOptions.frames, threads: int = BenchOptions.threads,
                 warmup: int = 20) -> FrameBench:
    """Decode, preprocess and inference of one synthetic JPEG frame, `frames` times after `warmup`."""
    clf = Classifier(model, threads=threads)
    frame = synthetic_frame()
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=85)
    jpeg = buf.getvalue()
    dec, pre, inf = [], [], []
    cpu0 = 0.0
    for i in range(warmup + frames):
        if i == warmup:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        image = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        t1 = time.perf_counter()
        p = preprocess(image, clf.spec)
        t2 = time.perf_counter()
        clf.probabilities(p.image)
        t3 = time.perf_counter()
        if i >= warmup:
            dec.append(t1 - t0)
            pre.append(t2 - t1)
            inf.append(t3 - t2)
    cpu = (time.process_time() - cpu0) / frames
    ms = lambda v: float(np.median(v)) * 1e3  # noqa: E731
    views = len(clf.spec.views()) if clf.spec.mode == "photo" else 1
    still = []
    for _ in range(max(5, frames // 10) if views > 1 else 0):  # the same image as a photo file: every view
        t0 = time.perf_counter()
        clf.scores(image, still=True)
        still.append(time.perf_counter() - t0)
    return FrameBench(str(model), frames, ms(dec), ms(pre), ms(inf), cpu * 1e3, views, ms(still) if still else 0.0)


def bench_folder(model: str | Path, folder: str | Path, threads: int = BenchOptions.threads) -> FolderBench:
    """Every image of a folder, decoded and classified once, as `fashion-edge run` does (its still views)."""
    clf = Classifier(model, threads=threads)
    t0 = time.perf_counter()
    n = 0
    for frame in open_source(str(folder)):
        if frame.image is not None:
            clf.classify(frame.image, still=True)
            n += 1
    return FolderBench(str(folder), n, time.perf_counter() - t0)
