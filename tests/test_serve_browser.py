"""The live view in a real browser: headless Chromium loads `/`, renders the MJPEG stream and runs
the page's script that shows `/latest.json`.

Needs Chromium (`apt-get install -y chromium` on Debian / Raspberry Pi OS); skipped without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_app.annotate import annotate, encode_jpeg
from edge_app.serve import LiveServer

GREEN = (0, 200, 0)  # the published frame's background: a colour nothing else on the page uses
FRAME_HW = (240, 320)
MARKER = "browser-check-7f3a"  # a value only /latest.json carries, to find in the rendered DOM

# The flags that work for a headless run as root in a container: no sandbox (root), no GPU, and no
# background traffic (there is no internet). An MJPEG stream never finishes loading, so the page's
# "load" never ends: --virtual-time-budget lets the page run for 3 s of virtual time, then Chromium
# takes the screenshot (or dumps the DOM) and exits.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=800,600", "--virtual-time-budget=3000",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium not installed (apt-get install -y chromium) — browser test skipped")
    return path


@pytest.fixture
def live() -> Iterator[LiveServer]:
    """A LiveServer with a publisher thread sending green "Sneaker" frames at ~20 fps."""
    server = LiveServer(port=0).start()
    done = threading.Event()

    def publisher() -> None:
        i = 0
        while not done.is_set() and i < 2000:  # bounded: ~100 s at most
            i += 1
            frame = annotate(np.full((*FRAME_HW, 3), GREEN, dtype=np.uint8), ["Sneaker 0.93", f"frame {i}"], fps=20.0)
            server.publish(encode_jpeg(frame), {"label": "Sneaker", "score": 0.93, "frame": i, "marker": MARKER})
            time.sleep(0.05)

    thread = threading.Thread(target=publisher, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        done.set()
        thread.join(2)
        server.stop()


def _run_chromium(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    try:
        return subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=60, env=env,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chromium did not exit within 60 s: {(exc.stderr or b'')[-2000:]!r}")


def test_browser_renders_the_stream_and_the_result(chromium, live, tmp_path):
    shot = tmp_path / "shot.png"
    run = _run_chromium(chromium, tmp_path, f"--screenshot={shot}", live.url)
    assert run.returncode == 0 and shot.exists(), f"no screenshot: rc={run.returncode}\n{run.stderr[-2000:]}"

    # The published frame is green: a frame-sized green region proves Chromium decoded the MJPEG.
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    green = np.abs(pixels - GREEN).max(axis=2) < 40
    frame_area = FRAME_HW[0] * FRAME_HW[1]
    assert green.sum() > 0.7 * frame_area, f"only {green.sum()} green pixels: the stream did not render"
    rows, cols = np.nonzero(green)
    assert np.ptp(rows) + 1 == pytest.approx(FRAME_HW[0], abs=4)  # one image, shown at its own size
    assert np.ptp(cols) + 1 == pytest.approx(FRAME_HW[1], abs=4)
    # The label box (dark, with white text) sits in the frame's top-left corner.
    top, left = rows.min(), cols.min()
    corner = pixels[top : top + 30, left : left + 60]
    assert (corner.max(axis=2) > 200).any() and (corner.sum(axis=2) < 150).any()

    # The page's script fetched /latest.json and wrote the result under the image.
    dom = _run_chromium(chromium, tmp_path, "--dump-dom", live.url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>Fashion Edge — live</title>" in dom.stdout
    assert f"marker: {MARKER}" in dom.stdout and "label: Sneaker" in dom.stdout
