"""The live web view, through a real HTTP client on 127.0.0.1 (port 0: a free port each time).

Every read has a socket timeout and every loop a bound, so a broken server fails fast, never hangs.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from edge_app.annotate import annotate, encode_jpeg
from edge_app.serve import LiveServer, placeholder_jpeg

TIMEOUT = 3.0  # seconds, per socket operation


def _jpeg(i: int) -> bytes:
    """Frame number `i`: a colour of its own, so parts can be told apart after decoding."""
    rgb = ((37 * i) % 256, (90 + 53 * i) % 256, (200 - 29 * i) % 256)
    return encode_jpeg(annotate(np.full((60, 80, 3), rgb, dtype=np.uint8), [f"frame {i}"]))


@pytest.fixture
def live() -> Iterator[LiveServer]:
    server = LiveServer(port=0).start()
    try:
        yield server
    finally:
        server.stop()


def _get(live: LiveServer, path: str, method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=TIMEOUT)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


class Viewer:
    """One MJPEG viewer: a connection to /stream.mjpg and a parser for its parts."""

    def __init__(self, live: LiveServer, timeout: float = TIMEOUT):
        self.conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=timeout)
        self.conn.request("GET", "/stream.mjpg")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        ctype = self.resp.getheader("Content-Type")
        assert ctype == "multipart/x-mixed-replace; boundary=frame"

    def part(self) -> bytes:
        """The next JPEG part, checked against the wire format `--frame` / headers / body / CRLF."""
        assert self.resp.readline() == b"--frame\r\n"
        headers = {}
        while (line := self.resp.readline()) != b"\r\n":
            assert line, "stream ended inside a part's headers"
            key, _, value = line.decode("ascii").partition(":")
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        jpeg = self.resp.read(int(headers["content-length"]))
        assert self.resp.read(2) == b"\r\n"
        assert jpeg[:2] == b"\xff\xd8"
        Image.open(io.BytesIO(jpeg)).load()  # a whole, decodable JPEG
        return jpeg

    def close(self, reset: bool = False) -> None:
        if reset:  # an abrupt disconnect (RST), like a browser tab killed mid-stream
            self.resp.fp.raw._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.resp.close()
        self.conn.close()


def _wait_until(predicate, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_default_host_is_localhost():
    server = LiveServer(port=0)
    assert server.host == "127.0.0.1"
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}/"
        assert server._httpd.server_address[0] == "127.0.0.1"
    assert server.port != 0


def test_index_page(live):
    resp, body = _get(live, "/")
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/html")
    page = body.decode("utf-8")
    assert "<title>Fashion Edge — live</title>" in page
    assert '<img id="stream" src="/stream.mjpg"' in page
    assert "/latest.json" in page and "500" in page
    assert "http://" not in page and "https://" not in page  # no CDN: the field has no internet

    head, head_body = _get(live, "/", method="HEAD")
    assert head.status == 200 and head_body == b""
    assert int(head.getheader("Content-Length")) == len(body)


def test_latest_json_before_and_after_publish(live):
    resp, body = _get(live, "/latest.json")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/json"
    assert resp.getheader("Cache-Control") == "no-store"
    assert json.loads(body) == {"status": "waiting"}

    live.publish(_jpeg(1), {"label": "Sneaker", "score": np.float32(0.93), "probs": np.arange(3)})
    resp, body = _get(live, "/latest.json?t=123")  # a cache-busting query is fine
    info = json.loads(body)
    assert info["label"] == "Sneaker" and info["score"] == pytest.approx(0.93)
    assert info["probs"] == [0, 1, 2]


def test_two_viewers_each_get_every_new_frame_once(live):
    a, b = Viewer(live), Viewer(live)
    try:
        # Before anything is published, each viewer gets the placeholder at once.
        assert a.part() == b.part() == placeholder_jpeg()
        for i in range(1, 4):
            live.publish(_jpeg(i), {"n": i})
            assert a.part() == b.part() == _jpeg(i)
        # Nothing new published, so nothing more is sent (no resending of the same frame).
        a.resp.fp.raw._sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            a.resp.readline()
    finally:
        a.close(), b.close()


def test_two_viewers_concurrently_with_a_live_publisher(live):
    done = threading.Event()

    def publisher() -> None:
        i = 0
        while not done.is_set() and i < 200:
            i += 1
            live.publish(_jpeg(i), {"n": i})
            time.sleep(0.02)

    received: dict[str, set[bytes]] = {}

    def watch(name: str) -> None:
        viewer = Viewer(live)
        try:
            parts: set[bytes] = set()
            for _ in range(30):  # bounded: a handful of parts is plenty
                parts.add(viewer.part())
                if len(parts - {placeholder_jpeg()}) >= 3:
                    break
            received[name] = parts - {placeholder_jpeg()}
        finally:
            viewer.close()

    pub = threading.Thread(target=publisher, daemon=True)
    viewers = [threading.Thread(target=watch, args=(n,), daemon=True) for n in ("a", "b")]
    for t in viewers:
        t.start()
    pub.start()
    for t in viewers:
        t.join(5)
    done.set()
    pub.join(2)
    assert set(received) == {"a", "b"}
    assert all(len(parts) >= 2 for parts in received.values())


def test_viewer_disconnecting_mid_stream_does_not_break_others(live, capfd):
    leaver, stayer = Viewer(live), Viewer(live)
    leaver.part(), stayer.part()
    assert _wait_until(lambda: len(live._streams) == 2)
    leaver.close(reset=True)
    for i in range(1, 6):  # the server writes to the dead socket until it notices
        live.publish(_jpeg(i), {"n": i})
        assert stayer.part() == _jpeg(i)
    assert _wait_until(lambda: len(live._streams) == 1)  # the leaver's handler ended cleanly
    resp, _ = _get(live, "/latest.json")
    assert resp.status == 200
    stayer.close()
    assert "Traceback" not in capfd.readouterr().err


def test_head_sends_headers_only(live):
    for path, ctype in [("/latest.json", "application/json"), ("/stream.mjpg", "multipart/x-mixed-replace")]:
        resp, body = _get(live, path, method="HEAD")
        assert resp.status == 200 and body == b""
        assert resp.getheader("Content-Type").startswith(ctype)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "BREW"])
def test_other_methods_are_not_allowed(live, method):
    resp, _ = _get(live, "/latest.json", method=method)
    assert resp.status == 405
    assert resp.getheader("Allow") == "GET, HEAD"


def test_unknown_path_is_404(live):
    for path in ("/nope", "/latest.json/x", "/../etc/passwd"):
        resp, _ = _get(live, path)
        assert resp.status == 404


def test_quiet_by_default(live, capfd):
    _get(live, "/")
    _get(live, "/nope")
    assert capfd.readouterr().err == ""  # no per-request lines on stderr


def test_stop_is_prompt_with_a_viewer_connected():
    server = LiveServer(port=0).start()
    viewer = Viewer(server)
    viewer.part()
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 1.5
    try:  # the stream was closed, not left hanging: the viewer sees its end promptly
        assert viewer.resp.readline() == b""
    except (ConnectionError, TimeoutError):
        pytest.fail("stream not closed by stop()")
    finally:
        viewer.close()
    server.stop()  # twice is harmless
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=0.5)
