"""A bounded soak of `fashion-edge run` as a service: a looped video with --serve, 10 viewers that keep
connecting, reading and leaving (plus one sending half-open requests) for ~20 s, then SIGTERM.

Threads and open files must come back to where they were before the first viewer, RSS must not
grow past its warmed-up size, every
frame's JSONL record must be complete and parseable, and the run must end with its summary and 143.
Only 127.0.0.1. Set SOAK_SECONDS for a longer run, SOAK_REPORT=file.json to keep the figures.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 10
SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))
FRAMES_PER_VISIT = 15  # a viewer reads this many frames, then leaves and comes back


def _proc_stats(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    field = lambda name: int(re.search(rf"^{name}:\s+(\d+)", status, re.M).group(1))  # noqa: E731
    return {"rss_mb": round(field("VmRSS") / 1024, 1), "threads": field("Threads"), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def _video(path: Path) -> Path:
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (320, 240))
    for i in range(45):
        frame = np.full((240, 320, 3), 225, np.uint8)
        frame[40 + i % 20 : 200 + i % 20, 100:220] = (90, 60, 40)
        writer.write(frame)
    writer.release()
    return path


def _read_frames(port: int, count: int, stop: threading.Event) -> int:
    """Read up to `count` MJPEG parts from /stream.mjpg; returns how many arrived whole."""
    got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        f = sock.makefile("rb")
        assert f.readline().startswith(b"HTTP/1.0 200")
        while f.readline() not in (b"\r\n", b""):
            pass
        while got < count and not stop.is_set():
            assert f.readline().strip() == b"--frame"
            headers = {}
            while (line := f.readline()) not in (b"\r\n", b""):
                key, _, value = line.decode().partition(":")
                headers[key.lower()] = value.strip()
            jpeg = f.read(int(headers["content-length"]))
            assert jpeg[:2] == b"\xff\xd8" and f.read(2) == b"\r\n"
            got += 1
    return got


def _latest(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET /latest.json HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data.partition(b"\r\n\r\n")[2])


def _viewer(port: int, stop: threading.Event, counts: list, index: int, errors: list) -> None:
    try:
        while not stop.is_set():
            counts[index] += _read_frames(port, FRAMES_PER_VISIT, stop)
            assert "source" in _latest(port) or stop.is_set()
    except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
        errors.append(f"viewer {index}: {type(exc).__name__}: {exc}")


def _half_open(port: int, stop: threading.Event) -> None:
    """A client that opens requests and never finishes them: the idle timeout must reclaim them."""
    while not stop.is_set():
        socks = []
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /latest.json HTTP/1.1\r\n")
            socks.append(s)
        stop.wait(1.0)
        for s in socks:
            s.close()


@pytest.mark.soak
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_looped_video_served_to_ten_viewers_stays_bounded(tmp_path):
    video = _video(tmp_path / "loop.avi")
    jsonl, summary = tmp_path / "soak.jsonl", tmp_path / "summary.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_app.cli", "run", str(video), "--loop", "--serve", "0", "--quiet",
         "--fps-limit", "25", "--jsonl", str(jsonl), "--summary", str(summary),
         "--save-dir", str(tmp_path / "frames"), "--save-max", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    stderr_lines: list[str] = []
    try:
        port = None
        for line in proc.stderr:  # warnings (a model's preprocessing version, …) may come first
            stderr_lines.append(line)
            if line.startswith("live view: http://127.0.0.1:"):
                port = int(line.rsplit(":", 1)[1].strip("/\n"))
                break
        assert port, "".join(stderr_lines)  # the run ended before serving (stderr is at its end here)
        drain = threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True)
        drain.start()

        time.sleep(2)  # classifying, no viewer yet
        idle = _proc_stats(proc.pid)
        stop, counts, errors = threading.Event(), [0] * CLIENTS, []
        clients = [threading.Thread(target=_viewer, args=(port, stop, counts, i, errors), daemon=True) for i in range(CLIENTS)]
        clients.append(threading.Thread(target=_half_open, args=(port, stop), daemon=True))
        for c in clients:
            c.start()
        time.sleep(3)  # warm-up: every viewer connected, the encoder's and the server's buffers grown
        before, peak = _proc_stats(proc.pid), {"rss_mb": 0.0, "threads": 0, "fds": 0}
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            now = _proc_stats(proc.pid)
            peak = {k: max(peak[k], now[k]) for k in peak}
            time.sleep(0.5)
        stop.set()
        for c in clients:
            c.join(10)
        time.sleep(1.5)  # the idle timeout (10 s) is not needed: every client closed its sockets
        after = _proc_stats(proc.pid)
        frames_served = list(counts)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not errors, errors
    assert proc.returncode == 143, "".join(stderr_lines)
    text = "".join(stderr_lines)
    assert "summary:" in text and "(terminated)" in text

    records = [json.loads(line) for line in jsonl.read_text().splitlines()]  # every line parses
    stats = json.loads(summary.read_text())
    assert len(records) == stats["frames"] > 0 and stats["ending"] == "terminated"
    assert all(r["run"] == stats["run"] and r["time"] and r["error"] is None for r in records)
    assert len(list((tmp_path / "frames").glob("*.jpg"))) <= 20

    assert min(frames_served) >= FRAMES_PER_VISIT  # every viewer was served, none starved
    assert after["threads"] <= idle["threads"] + 2, (idle, after)  # every viewer's thread is gone again
    assert after["fds"] <= idle["fds"] + 2, (idle, after)  # …and every socket
    assert after["rss_mb"] <= before["rss_mb"] + 25, (before, after)  # no growth beyond the warmed-up size
    assert peak["threads"] <= idle["threads"] + 32 + 2  # the worker bound holds under load
    report = {"clients": CLIENTS, "seconds": SECONDS, "frames_classified": stats["frames"],
              "frames_per_client": frames_served, "idle": idle, "warm": before, "peak": peak, "after": after}
    print(json.dumps(report))
    if os.environ.get("SOAK_REPORT"):
        Path(os.environ["SOAK_REPORT"]).write_text(json.dumps(report, indent=2) + "\n")
