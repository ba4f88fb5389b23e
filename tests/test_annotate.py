"""The label box, JPEG encoding and the FPS meter of `edge_app.annotate`."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from edge_app.annotate import FpsMeter, annotate, encode_jpeg


def _frame(h: int = 240, w: int = 320, rgb: tuple[int, int, int] = (40, 160, 220)) -> np.ndarray:
    return np.full((h, w, 3), rgb, dtype=np.uint8)


def test_annotate_draws_top_left_box_on_a_copy():
    frame = _frame()
    before = frame.copy()
    out = annotate(frame, ["Sneaker 0.93", "photo mode"], fps=12.3)

    assert out.shape == frame.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(frame, before)  # the caller's frame is untouched
    changed = np.any(out != frame, axis=2)
    assert changed[:40, :80].mean() > 0.5  # the box covers the top-left corner
    assert not changed[-60:, -100:].any()  # and nothing reaches the bottom right
    # A dark box with white text: the corner got darker, and some pixels are near-white.
    assert out[5, 5].sum() < frame[5, 5].sum()
    assert (out[:60, :160].min(axis=2) > 200).any()


def test_annotate_text_and_fps_line_widen_the_box():
    frame = _frame()
    short = np.any(annotate(frame, ["Bag"]) != frame, axis=2)
    long = np.any(annotate(frame, ["Ankle boot 0.99 — a much longer line"], fps=9.9) != frame, axis=2)
    assert long.sum() > short.sum()
    assert np.any(annotate(frame, [], fps=30.0) != frame)  # the FPS line alone still draws


def test_annotate_nothing_to_draw_and_bad_input():
    frame = _frame()
    out = annotate(frame, [])
    np.testing.assert_array_equal(out, frame)
    assert out is not frame
    with pytest.raises(ValueError):
        annotate(np.zeros((10, 10), dtype=np.uint8), ["x"])
    with pytest.raises(ValueError):
        annotate(np.zeros((10, 10, 3), dtype=np.float32), ["x"])


def test_annotate_tiny_frame_does_not_crash():
    out = annotate(_frame(16, 20), ["Sneaker 0.93", "second"], fps=1.0)
    assert out.shape == (16, 20, 3)


def test_encode_jpeg_round_trips():
    data = encode_jpeg(_frame(120, 200), quality=80)
    assert isinstance(data, bytes) and data[:2] == b"\xff\xd8"
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and img.size == (200, 120)
    assert np.abs(np.asarray(img.convert("RGB")).astype(int) - (40, 160, 220)).max() < 12


def test_fps_meter_with_injected_times():
    meter = FpsMeter()
    rates = [meter.tick(t=i * 0.1) for i in range(10)]
    assert rates[0] == 0.0  # one frame is no rate yet
    assert rates[-1] == pytest.approx(10.0)


def test_fps_meter_averages_over_the_last_window_only():
    meter = FpsMeter(window=10)
    t = 0.0
    for _ in range(20):  # a slow start at 2 fps…
        t += 0.5
        meter.tick(t)
    for _ in range(10):  # …then 10 frames at 20 fps: the old ones have left the window
        t += 0.05
        fps = meter.tick(t)
    assert fps == pytest.approx(20.0)


def test_fps_meter_uses_its_clock():
    times = iter([1.0, 1.25, 1.5])
    meter = FpsMeter(clock=lambda: next(times))
    meter.tick(), meter.tick()
    assert meter.tick() == pytest.approx(4.0)
    with pytest.raises(ValueError):
        FpsMeter(window=0)
