"""Timing of LiteRT and Keras models for `fashion-export bench`: latency, throughput and load time,
measured in interleaved rounds so a burst of load on a shared machine hits every row alike.

    >>> p50_us, p95_us = tflite_latency(flatbuffer, image, threads=1, iterations=1000)
    >>> timings = timed_rounds({0: TfliteTimer(flat_a), 1: TfliteTimer(flat_b)}, image, batch, (1, 2), 1, 1000)

Latency: a fresh interpreter with its input resized to batch 1, `WARMUP` warm-up invokes, then timed
frames of set_tensor + invoke + get_tensor (`time.perf_counter_ns`). Throughput: images/s at batch
`THROUGHPUT_BATCH`. Load: ms of `make_interpreter` (which allocates). The Keras row: `model(x,
training=False)` at batch 1 on TensorFlow's own threads, `predict_on_batch`, and `load_model`.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import numpy as np

from edge_app.errors import one_line
from edge_app.preprocess import to_input
from edge_app.runtime import input_details, make_interpreter, output_details, pixels_to_input
from export.runs import load_keras

WARMUP = 50  # untimed invokes before each latency measurement
KERAS_ITERATIONS = 200  # Keras at batch 1 costs ~1 ms a call: a short run
THROUGHPUT_BATCH = 256
THROUGHPUT_SECONDS = 0.5  # per row in all (split over the rounds)
LOADS = 5
ROUNDS = 5  # interleaved timing rounds: every row is timed once per round


def _percentiles(ns: list[int]) -> tuple[float, float]:
    arr = np.asarray(ns, dtype=np.float64) / 1e3
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def _resized(flat: bytes, threads: int | None, batch: int):
    interp = make_interpreter(flat, threads)
    i = input_details(interp)
    interp.resize_tensor_input(i["index"], [batch, *map(int, i["shape"][1:])], strict=False)
    interp.allocate_tensors()
    return interp, input_details(interp), output_details(interp)


def tflite_latency(flat: bytes, image: np.ndarray, threads: int, iterations: int, warmup: int = WARMUP) -> tuple[float, float]:
    """(p50, p95) µs of one frame (set_tensor + invoke + get_tensor) at batch 1 on a fresh interpreter."""
    interp, i, o = _resized(flat, threads, 1)
    x = pixels_to_input(image[None], i)
    set_tensor, invoke, get_tensor, clock = interp.set_tensor, interp.invoke, interp.get_tensor, time.perf_counter_ns
    idx_in, idx_out = i["index"], o["index"]
    for _ in range(warmup):
        set_tensor(idx_in, x)
        invoke()
        get_tensor(idx_out)
    times = []
    for _ in range(iterations):
        t0 = clock()
        set_tensor(idx_in, x)
        invoke()
        get_tensor(idx_out)
        times.append(clock() - t0)
    return _percentiles(times)


def _throughput(call, n: int, min_calls: int = 5, min_seconds: float = THROUGHPUT_SECONDS) -> float:
    call()  # warm-up
    calls, t0 = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - t0 < min_seconds:
        call()
        calls += 1
    return n * calls / (time.perf_counter() - t0)


def tflite_throughput(flat: bytes, images: np.ndarray, threads: int, min_seconds: float = THROUGHPUT_SECONDS) -> float:
    """Images/s at batch `len(images)` on a fresh interpreter, over at least `min_seconds`."""
    interp, i, o = _resized(flat, threads, len(images))
    x = pixels_to_input(images, i)

    def call():
        interp.set_tensor(i["index"], x)
        interp.invoke()
        interp.get_tensor(o["index"])

    return _throughput(call, len(images), min_seconds=min_seconds)


def tflite_load_ms(flat: bytes, threads: int, loads: int = LOADS) -> float:
    """Median ms of `make_interpreter` (which allocates) over `loads` loads."""
    times = []
    for _ in range(loads):
        t0 = time.perf_counter()
        make_interpreter(flat, threads)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def keras_load_ms(path: Path, loads: int = 3) -> float:
    """Median ms of a safe-mode `load_model` over `loads` loads."""
    times = []
    for _ in range(loads):
        t0 = time.perf_counter()
        load_keras(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def keras_latency(model, image: np.ndarray, iterations: int, warmup: int = WARMUP) -> tuple[float, float]:
    """(p50, p95) µs of `model(x, training=False)` at batch 1, on TensorFlow's own threads."""
    import tensorflow as tf

    x = tf.constant(to_input(image[None]))
    for _ in range(warmup):
        model(x, training=False).numpy()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        model(x, training=False).numpy()
        times.append(time.perf_counter_ns() - t0)
    return _percentiles(times)


# --- interleaved rounds ---------------------------------------------------------------------------------


class TfliteTimer:
    """One round's worth of each timing of one exported model (fresh interpreters, as a deployment gets)."""

    keras = False

    def __init__(self, flat: bytes):
        self.flat = flat

    def latency(self, image, threads, iterations):
        return tflite_latency(self.flat, image, threads, iterations)

    def throughput(self, images, threads, min_seconds):
        return tflite_throughput(self.flat, images, threads, min_seconds)

    def load_ms(self, threads):
        return tflite_load_ms(self.flat, threads, loads=1)


class KerasTimer:
    """The same for the Keras row: `model(x, training=False)` at batch 1 on TF's own threads, `predict_on_batch` at 256."""

    keras = True

    def __init__(self, model, path: Path):
        self.model, self.path = model, path

    def latency(self, image, threads, iterations):
        return keras_latency(self.model, image, max(1, min(iterations, KERAS_ITERATIONS)))

    def throughput(self, images, threads, min_seconds):
        return _throughput(lambda: self.model.predict_on_batch(to_input(images)), len(images), min_seconds=min_seconds)

    def load_ms(self, threads):
        return keras_load_ms(self.path, loads=1)


def timed_rounds(timers: dict, image: np.ndarray, images: np.ndarray, threads: tuple[int, ...], headline: int,
                 iterations: int, rounds: int = ROUNDS, progress=None) -> dict[int, dict]:
    """Every timing of every row, in `rounds` interleaved rounds: round 1 times row A, B, C …, round 2 again A, B, C ….

    A round gives each row `iterations / rounds` batch-1 frames per thread count (Keras: at most
    `KERAS_ITERATIONS / rounds`, at its own thread count), one throughput window and one load; a row's
    figure is the median over the rounds (p50/p95: of the per-round p50/p95). A load that comes and goes
    while the benchmark runs then lands on every row alike instead of on whichever ran during it.
    → {row index: {"p50": {t: [per round]}, "p95": …, "ips": [...], "load_ms": [...]}} or {"error": line}.
    """
    per_round_frames = max(10, math.ceil(iterations / rounds))
    window = max(0.1, THROUGHPUT_SECONDS / rounds)
    out: dict[int, dict] = {i: {"p50": {}, "p95": {}, "ips": [], "load_ms": []} for i in timers}
    for r in range(rounds):
        if progress:
            progress(f"timing round {r + 1}/{rounds}")
        for index, timer in timers.items():
            timing = out[index]
            if "error" in timing:
                continue
            try:
                for t in ((headline,) if timer.keras else threads):
                    p50, p95 = timer.latency(image, t, per_round_frames if not timer.keras else math.ceil(KERAS_ITERATIONS / rounds))
                    timing["p50"].setdefault(t, []).append(p50)
                    timing["p95"].setdefault(t, []).append(p95)
                timing["ips"].append(timer.throughput(images, headline, window))
                timing["load_ms"].append(timer.load_ms(headline))
            except Exception as exc:  # noqa: BLE001 - one failing row must not hide the others
                out[index] = {"error": one_line(exc)[:200]}
    return out


def spread_pct(values: list[float]) -> float | None:
    """(max − min) of `values` in % of their median; None when the median is 0 or there are none."""
    mid = statistics.median(values) if values else 0.0
    return 100.0 * (max(values) - min(values)) / mid if mid else None
