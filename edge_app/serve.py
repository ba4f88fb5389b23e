"""A live web view for a Pi without a monitor: the annotated camera frames as an MJPEG stream,
the latest result as JSON, and a one-page viewer — standard library only, no internet needed.

    >>> with LiveServer(port=8080) as live: live.publish(encode_jpeg(frame), {"label": "Sneaker"})

Routes (read-only; GET and HEAD, anything else is 405):

- `/`             the viewer page: the stream plus the result text, refreshed from `/latest.json`
- `/stream.mjpg`  `multipart/x-mixed-replace` MJPEG, each newly published frame once per viewer
- `/latest.json`  the last published `info` dict (`{"status": "waiting"}` before the first)

It binds to 127.0.0.1 unless told otherwise: a camera feed is nothing to share with the whole
network by accident (`--host 0.0.0.0` is a deliberate choice, and `describe` warns about it).

Made to stay up for days: at most `ServerLimits.workers` connections are served at once (the rest get
503), an idle or half-sent request times out, the Host header must name this server (a web page
elsewhere cannot read the feed through DNS rebinding), and every answer says `nosniff` and `DENY`.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import ipaddress
import json
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from edge_app.annotate import annotate, encode_jpeg

log = logging.getLogger(__name__)

BOUNDARY = "frame"
ALLOWED = "GET, HEAD"
WAITING = {"status": "waiting"}
# How often a streaming loop wakes up without a new frame to notice stop(); bounds stop()'s latency.
POLL_S = 0.2

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fashion Edge — live</title>
<style>
  body { margin: 0; background: #111; color: #eee; font: 16px/1.4 system-ui, sans-serif; }
  main { max-width: 960px; margin: 0 auto; padding: 12px; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  img { display: block; max-width: 100%; background: #333; }
  pre { white-space: pre-wrap; margin: 8px 0 0; font-size: 15px; }
</style>
</head>
<body>
<main>
<h1>Fashion Edge — live</h1>
<img id="stream" src="/stream.mjpg" alt="live camera stream">
<pre id="result">waiting for results…</pre>
</main>
<script>
// Poll the latest result; the image updates itself (MJPEG). No external resources: a Pi in the
// field has no internet either.
const out = document.getElementById("result");
const show = (j) => Object.entries(j).map(([k, v]) =>
  k + ": " + (typeof v === "object" ? JSON.stringify(v) : v)).join("\\n");
async function poll() {
  try {
    const r = await fetch("/latest.json", {cache: "no-store"});
    out.textContent = show(await r.json());
  } catch (e) { out.textContent = "disconnected — retrying…"; }
}
poll(); setInterval(poll, 500);
// Reconnect the stream after the app restarts (the old connection is gone for good).
const img = document.getElementById("stream");
img.onerror = () => setTimeout(() => { img.src = "/stream.mjpg?t=" + Date.now(); }, 1000);
</script>
</body>
</html>
""".encode("utf-8")


def _inline_hash(tag: str) -> str:
    """CSP source for the page's one inline <script> or <style>: its SHA-256, so nothing else runs."""
    text = PAGE.decode("utf-8")
    body = text.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"


SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),  # no other site can frame the feed
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", f"default-src 'self'; script-src {_inline_hash('script')}; "
                                f"style-src {_inline_hash('style')}; img-src 'self'; frame-ancestors 'none'"),
)


@lru_cache(maxsize=1)
def placeholder_jpeg() -> bytes:
    """A grey "waiting for frames" JPEG, so a viewer sees something before the camera's first frame."""
    grey = np.full((240, 320, 3), 96, dtype=np.uint8)
    return encode_jpeg(annotate(grey, ["waiting for frames…"]))


def _json_default(obj: Any) -> Any:
    """numpy scalars and arrays (a score, a probability vector) become plain JSON; anything else a string."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold of the server; a Pi has little memory and the feed may run for weeks."""

    workers: int = 32  # connections served at once (viewers + polls); more get 503 at once
    idle_s: float = 10.0  # a request must arrive within this; a viewer that stops reading is dropped after it
    busy_s: float = 1.0  # how long the 503 for an over-limit connection may take to send


LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass
class _Latest:
    """The newest frame and result; `seq` counts publishes so each viewer sends each frame once."""

    jpeg: bytes
    info_json: bytes
    seq: int = 0


class _Handler(BaseHTTPRequestHandler):
    """One request; `self.server.live` is the LiveServer that owns the frames."""

    server: _HTTPServer
    # HTTP/1.0: one request per connection, so an idle keep-alive socket never holds up stop(),
    # and the MJPEG stream simply ends when the connection closes.
    protocol_version = "HTTP/1.0"
    server_version = "FashionEdge/1"

    def setup(self) -> None:
        # StreamRequestHandler applies `timeout` to the socket: a half-sent request, or a viewer that
        # stopped reading, frees its thread after `idle_s` instead of holding it forever.
        self.timeout = self.server.live.limits.idle_s
        super().setup()

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS:
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self) -> None:
        if self._host_ok():
            self._route(body=True)

    def do_HEAD(self) -> None:
        if self._host_ok():
            self._route(body=False)

    def _host_ok(self) -> bool:
        """Only a Host header naming this server: a DNS-rebinding page sends its own name, and gets 421."""
        if self.server.live.allows_host(self.headers.get("Host", "")):
            return True
        self.send_error(HTTPStatus.MISDIRECTED_REQUEST, "unknown Host header")
        return False

    def __getattr__(self, name: str) -> Any:
        # Every other method (POST, PUT, DELETE, even made-up ones) is "405 Method Not Allowed":
        # the server is read-only. http.server looks handlers up as `do_<METHOD>`.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", ALLOWED)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _route(self, body: bool) -> None:
        path = urlsplit(self.path).path
        live = self.server.live
        if path in ("/", "/index.html"):
            self._send(PAGE, "text/html; charset=utf-8", body)
        elif path == "/latest.json":
            self._send(live.latest_json(), "application/json", body)
        elif path == "/stream.mjpg":
            self._stream(live, body)
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _send(self, payload: bytes, content_type: str, body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _stream(self, live: LiveServer, body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if not body:
            return
        live._track(self.connection, add=True)
        try:
            seen = -1  # the placeholder is publish number 0, so a new viewer gets it at once
            while (frame := live._next_frame(seen)) is not None:
                jpeg, seen = frame
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode("ascii") + jpeg + b"\r\n")
        except OSError:
            # BrokenPipe / ConnectionReset: the viewer closed the tab, or stop() shut the socket.
            # Routine, so no traceback: this stream ends, the others go on.
            log.debug("viewer %s left the stream", self.client_address[0])
        finally:
            live._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        # A request line on stderr per poll (twice a second per viewer) would drown the app's output.
        log.debug("%s - %s", self.address_string(), format % args)


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its LiveServer, serves at most `limits.workers` connections at
    once, and keeps disconnects out of stderr."""

    daemon_threads = True  # a stuck viewer must never keep the app alive
    block_on_close = False  # stop() closes streams itself, with a deadline
    request_queue_size = 64  # listen backlog: a burst is accepted (and, over the limit, answered 503) at once
    live: LiveServer
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        # A thread per connection, but only while a slot is free: 1,500 half-open requests no longer
        # mean 1,500 threads. The over-limit connection is answered and closed from this thread.
        if not self.slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def _refuse(self, request: socket.socket) -> None:
        try:
            request.settimeout(self.live.limits.busy_s)
            request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 5\r\n"
                            b"Connection: close\r\n\r\n")
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback to stderr by default; a viewer vanishing is routine.
        log.debug("error serving %s", client_address, exc_info=True)


class LiveServer:
    """The web view: `start()`, then `publish()` each annotated frame; `stop()` (or `with`) to end."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, limits: ServerLimits = ServerLimits()):
        self.host = host
        self.port = port
        self.limits = limits
        self._cond = threading.Condition()
        self._latest = _Latest(jpeg=placeholder_jpeg(), info_json=json.dumps(WAITING).encode())
        self._stopping = threading.Event()
        self._streams: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to point a browser (a wildcard bind is reachable on localhost too)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}/" if ":" in host else f"http://{host}:{self.port}/"

    def start(self) -> LiveServer:
        """Bind (port 0 picks a free one, read back into `.port`) and serve from a daemon thread."""
        if self._httpd is not None:
            return self
        server_cls = _HTTPServer
        if ":" in self.host:  # an IPv6 address
            server_cls = type("_HTTPServer6", (_HTTPServer,), {"address_family": socket.AF_INET6})
        self._stopping.clear()
        try:
            self._httpd = server_cls((self.host, self.port), _Handler)
        except OSError as exc:
            raise ServeError(bind_error(self.host, self.port, exc)) from None
        self._httpd.live = self
        self._httpd.slots = threading.BoundedSemaphore(self.limits.workers)
        self.port = self._httpd.server_address[1]
        # A short poll interval: shutdown() waits for the serve loop to notice.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"live-server:{self.port}", daemon=True,
        )
        self._thread.start()
        log.info("live view at %s", self.url)
        return self

    @property
    def wildcard(self) -> bool:
        return self.host in ("", "0.0.0.0", "::")

    def allows_host(self, header: str) -> bool:
        """Whether a request's Host header names this server: localhost names and the bound address;
        bound to a network address, also this machine's own names (and, bound to every interface,
        any IP literal)."""
        name = _host_name(header)
        if not name:
            return False  # HTTP/1.1 requires Host; browsers always send it
        if name in LOCAL_NAMES or name == self.host.lower():
            return True
        if self.host.lower() in LOCAL_NAMES or self.host.startswith("127."):
            return False  # a feed kept on this machine answers to its local names only
        if self.wildcard:
            try:
                ipaddress.ip_address(name)
                return True  # an address typed by hand cannot be rebound: DNS is not involved
            except ValueError:
                pass
        return name in machine_names()  # raspberrypi, raspberrypi.local

    def publish(self, jpeg: bytes, info: dict) -> None:
        """Make `jpeg` the newest frame and `info` the latest result; wakes every waiting viewer."""
        info_json = json.dumps(info, default=_json_default).encode("utf-8")  # fail here, not per request
        with self._cond:
            self._latest = _Latest(jpeg=bytes(jpeg), info_json=info_json, seq=self._latest.seq + 1)
            self._cond.notify_all()

    def latest_json(self) -> bytes:
        """The last published `info` as JSON bytes."""
        with self._cond:
            return self._latest.info_json

    def stop(self, timeout: float = 1.0) -> None:
        """Stop serving and close every open stream; returns within about `timeout` seconds."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()  # wake streaming loops waiting for a frame…
            streams = list(self._streams)
        for sock in streams:  # …and unblock any stuck writing to a slow viewer
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._cond.wait_for(lambda: not self._streams, max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- for the request handlers ---

    def _next_frame(self, seen: int) -> tuple[bytes, int] | None:
        """Block until a frame newer than publish number `seen` exists; None once stopping."""
        with self._cond:
            while not self._stopping.is_set():
                if self._latest.seq != seen:
                    return self._latest.jpeg, self._latest.seq
                # A bounded wait, so a stop() that raced past notify_all is still seen promptly.
                self._cond.wait(POLL_S)
            return None

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._streams.add(sock)
            else:
                self._streams.discard(sock)
                self._cond.notify_all()  # stop() may be waiting for the last stream to end


class ServeError(ValueError):
    """The web view cannot start: one line naming the option (`--serve 8080: port in use`)."""


def bind_error(host: str, port: int, exc: OSError) -> str:
    """The one-line reason a bind failed, naming the option to change."""
    if exc.errno == errno.EADDRINUSE:
        return f"--serve {port}: port in use (another fashion-edge or web server?); pick another port"
    if exc.errno == errno.EACCES:
        return f"--serve {port}: permission denied (ports below 1024 need root); use e.g. --serve 8080"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"--host {host}: not an address of this machine (try 127.0.0.1 or 0.0.0.0)"
    return f"--serve {port} --host {host}: {exc.strerror or exc}"


def _host_name(header: str) -> str:
    """The host part of a Host header, lower-case, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def machine_names() -> set[str]:
    """This machine's host names (`raspberrypi`, `raspberrypi.local`, its FQDN), lower-case."""
    names = set()
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names |= {name.lower(), name.lower().split(".")[0], name.lower().split(".")[0] + ".local"}
    return names


def local_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, loopback last — found without sending a packet."""
    found: list[str] = []
    if sys.platform.startswith("linux"):
        import fcntl
        import struct

        for _, name in socket.if_nameindex():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:  # SIOCGIFADDR: the interface's IPv4 address, from the kernel
                    packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
                except OSError:
                    continue  # no IPv4 address on it (down, or IPv6 only)
                found.append(socket.inet_ntoa(packed[20:24]))
    if not found:
        try:
            found = socket.gethostbyname_ex(socket.gethostname())[2]
        except OSError:
            pass
    found = list(dict.fromkeys(found))
    return sorted(found, key=lambda a: (a.startswith("127."), a))


def describe(server: LiveServer) -> list[str]:
    """What to print when the web view starts: where to point a browser, and — bound to every
    interface — each reachable address and a warning that the feed is open to the network."""
    if not server.wildcard:
        return [f"live view: {server.url}"]
    urls = [f"http://{a}:{server.port}/" for a in local_addresses() if not a.startswith("127.")]
    lines = [f"live view: {', '.join(urls + [server.url])}"]
    lines.append(f"warning: --host {server.host or '0.0.0.0'}: the live view is open to every machine on the "
                 "network, without a password (--host 127.0.0.1 keeps it on this machine)")
    return lines
