"""Where frames come from: a camera, a video, a stream URL, the Pi camera, an image, a folder or a glob.

`open_source(source)` turns whatever the user typed into one iterator of `Frame`s. Every image leaves
here as RGB uint8 — OpenCV's BGR is converted once, at this boundary, and nowhere else. A file that
cannot be read becomes a Frame with an `error` and the run goes on; only a source that cannot work
at all (no such camera, a stream that never opens or keeps dropping) raises `SourceError`.
Frame rate limits and frame counts are the caller's business: sources only deliver frames.

    >>> for frame in open_source("unseen/"): print(frame.source, frame.error or frame.image.shape)

OpenCV and picamera2 are imported only when a stream is opened, so folders work without them.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import numpy as np

from edge_app.images import DECODE_EDGE, IMAGE_EXTENSIONS, ImageError, load_image
from edge_app.quiet import native_stderr

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".h264")
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
PICAMERA = "picamera2"
_GLOB_CHARS = re.compile(r"[*?\[]")
# Files a folder may hold that are pictures Pillow cannot decode here: named in the skip note with why.
KNOWN_UNSUPPORTED = {
    ".heic": "HEIC (the iPhone default) needs pillow-heif, or export as JPEG",
    ".heif": "HEIF needs pillow-heif, or export as JPEG",
    ".avif": "AVIF is not supported; export as JPEG",
    ".svg": "a vector drawing, not a photo",
    ".psd": "a Photoshop file; export as JPEG or PNG",
    ".dng": "a camera RAW file; export as JPEG",
    ".cr2": "a camera RAW file; export as JPEG",
    ".nef": "a camera RAW file; export as JPEG",
    ".arw": "a camera RAW file; export as JPEG",
}
# Query-string keys that carry a secret on cheap IP cameras (`…/video.cgi?user=admin&pwd=…`).
SECRET_KEYS = frozenset({"pwd", "pass", "passwd", "password", "psw", "token", "key", "apikey", "api_key",
                         "auth", "secret", "sig", "signature", "access_token", "credentials"})
OPEN_TIMEOUT_S = 10.0  # default wait for a stream to open (OpenCV's own is 30 s, silently)

# Seam for tests: the retry loop sleeps through this name, so tests can replace it.
_sleep = time.sleep


@dataclass(frozen=True, eq=False)  # eq=False: comparing/hashing ndarrays field-wise would raise
class Frame:
    """One image from a source, or the reason it could not be read."""

    source: str  # file path, or "<stream>#<frame index>", e.g. "camera:0#17", "video.mp4#3"
    index: int  # running frame number from 0
    image: np.ndarray | None  # (H, W, 3) uint8 RGB; None when `error` is set
    error: str | None = None  # one-line reason this frame/file could not be read
    # One of a sequence of frames of one scene — a camera, a stream URL, a video file — which the runner
    # smooths over and gives a frame rate; False for a still image (files in a folder are independent).
    stream: bool = False


class SourceError(RuntimeError):
    """The source cannot deliver frames at all: missing path, no such camera, stream gone for good."""


class Capture(Protocol):
    """The part of `cv2.VideoCapture` used here; fakes in tests and the Pi camera adapter match it."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def release(self) -> None: ...


CaptureFactory = Callable[[Any], Capture]  # target (int camera index, path/URL str, or PICAMERA) → capture


def open_source(
    source: str,
    *,
    retries: int = 3,
    backoff: float = 0.5,
    recursive: bool = True,
    capture_factory: CaptureFactory | None = None,
    timeout: float = OPEN_TIMEOUT_S,
    native_log: Callable[[str], None] | None = None,
) -> Iterator[Frame]:
    """Open `source` and return an iterator of Frames.

    The source is checked (and a stream opened) right away, so a bad one fails here, not at the
    first `next()`. Close the iterator (`frames.close()`) to release a camera early.

    Args:
        source: "0" (camera index), "picamera2", an rtsp/rtmp/http(s) URL, a video file, an image file,
            a folder of images, or a glob pattern such as "photos/**/*.jpg".
        retries: how many times a live stream (camera, URL, picamera2) is reopened after it drops.
        backoff: seconds before the first reopen; doubled before each further one.
        recursive: whether a folder's subfolders are searched too.
        capture_factory: opens a stream target; defaults to `cv2.VideoCapture` / the Pi camera.
        timeout: seconds to wait for a stream URL to open (and for each read) before giving up.
        native_log: receives what OpenCV/FFmpeg print while a stream opens, passwords redacted;
            None drops it (OpenCV's `[ WARN ]` lines would interleave with the results).

    Returns:
        An iterator of `Frame`s; streams run until they end (video file) or fail (`SourceError`).

    Raises:
        SourceError: a path that does not exist, an unsupported file type, an empty folder or glob,
            a stream that does not open, or (while iterating) a live stream that stays down.
    """
    text = str(source).strip()
    factory = capture_factory or functools.partial(
        _open_capture, timeout=timeout, native_log=native_log, secrets=url_secrets(text))

    if text == PICAMERA:
        return _stream(factory, PICAMERA, PICAMERA, live=True, retries=retries, backoff=backoff,
                       not_open="Pi camera not found or busy (is it connected and enabled?)")
    if text.isdigit():  # a file literally named "0" can still be reached as "./0"
        index = int(text)
        return _stream(factory, index, f"camera:{index}", live=True, retries=retries, backoff=backoff,
                       not_open=f"camera {index} not found or busy")
    if urlsplit(text).scheme.lower() in URL_SCHEMES:
        # A URL to a video *file* (…/clip.mp4) ends like a file; reconnecting would replay it forever.
        live = Path(urlsplit(text).path).suffix.lower() not in VIDEO_EXTENSIONS
        return _stream(factory, text, redact_url(text), live=live, retries=retries, backoff=backoff)

    path = Path(text).expanduser()
    if path.is_dir():
        files, skipped = _list_images(path, recursive)
        if not files:
            where = "in or under" if recursive else "in"
            also = f"; skipped {len(skipped)}: {skip_note(skipped)}" if skipped else ""
            raise SourceError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) {where} folder {text}{also}")
        return FileFrames(files, skipped)
    if path.exists():
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            return _stream(factory, str(path), text, live=False, retries=retries, backoff=backoff)
        if suffix in IMAGE_EXTENSIONS:
            return FileFrames([path])
        if suffix in KNOWN_UNSUPPORTED:
            raise SourceError(f"unsupported file type {suffix!r}: {text} ({KNOWN_UNSUPPORTED[suffix]})")
        raise SourceError(
            f"unsupported file type {suffix or '(no extension)'!r}: {text}; expected an image "
            f"({' '.join(IMAGE_EXTENSIONS)}) or a video ({' '.join(VIDEO_EXTENSIONS)})"
        )
    if _GLOB_CHARS.search(text):
        matched = sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True) if Path(p).is_file())
        files = [p for p in matched if p.suffix.lower() in IMAGE_EXTENSIONS]
        skipped = [(str(p), _skip_reason(p.suffix.lower())) for p in matched
                   if p.suffix.lower() not in IMAGE_EXTENSIONS and not p.name.startswith(".")]
        if not files:
            also = f"; skipped {len(skipped)}: {skip_note(skipped)}" if skipped else ""
            raise SourceError(f"no image files match {text}{also}")
        return FileFrames(files, skipped)
    raise SourceError(f"no such file or folder: {text}")


# --- files ---------------------------------------------------------------------------------------

def _list_images(root: Path, recursive: bool) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files in `root` sorted by their path relative to it (so the order is stable), and the
    other files as (path, reason) — a folder never drops a file without saying so."""
    found: list[Path] = []
    skipped: list[tuple[str, str]] = []
    # os.walk without followlinks: a symlink loop cannot make this run forever.
    for folder, dirs, names in os.walk(root):
        # Hidden entries are skipped silently: macOS leaves "._photo.jpg" resource forks (not
        # images) on USB sticks, and ".thumbnails" folders would double every picture.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for n in sorted(names):
            if n.startswith("."):
                continue
            suffix = Path(n).suffix.lower()
            if suffix in IMAGE_EXTENSIONS:
                found.append(Path(folder, n))
            else:
                skipped.append((str(Path(folder, n)), _skip_reason(suffix)))
    return sorted(found, key=lambda p: p.relative_to(root).parts), skipped


def _skip_reason(suffix: str) -> str:
    return KNOWN_UNSUPPORTED.get(suffix, "not an image file" if suffix else "no file extension")


def skip_note(skipped: list[tuple[str, str]], most: int = 5) -> str:
    """"a.heic (HEIC needs …), notes.txt (not an image file), … and 3 more": one line for a warning."""
    shown = [f"{Path(p).name} ({why})" for p, why in skipped[:most]]
    more = f" and {len(skipped) - most} more" if len(skipped) > most else ""
    return ", ".join(shown) + more


class FileFrames:
    """Frames of image files, decoded one at a time; `skipped` names the files a folder held that are
    not images this app decodes (with the reason), so a run can count and report them."""

    def __init__(self, files: list[Path], skipped: list[tuple[str, str]] | None = None) -> None:
        self.files = files
        self.skipped = skipped or []
        self._it = self._frames()

    def _frames(self) -> Iterator[Frame]:
        for index, path in enumerate(self.files):
            try:
                # A 48-MP photo is decoded at reduced scale: the model needs 28×28, a Pi has 1–2 GB.
                yield Frame(str(path), index, load_image(path, max_edge=DECODE_EDGE))
            except ImageError as exc:
                yield Frame(str(path), index, None, exc.reason)

    def __iter__(self) -> FileFrames:
        return self

    def __next__(self) -> Frame:
        return next(self._it)

    def close(self) -> None:
        self._it.close()


def is_live(source: str) -> bool:
    """Whether `source` names one that never ends by itself (a camera, the Pi camera, a live URL)."""
    text = str(source).strip()
    if text == PICAMERA or text.isdigit():
        return True
    parts = urlsplit(text)
    return parts.scheme.lower() in URL_SCHEMES and Path(parts.path).suffix.lower() not in VIDEO_EXTENSIONS


# --- streams -------------------------------------------------------------------------------------

def _stream(factory: CaptureFactory, target: Any, name: str, *, live: bool, retries: int,
            backoff: float, not_open: str | None = None) -> Iterator[Frame]:
    """Open the capture now (so a missing camera fails at `open_source`), then iterate lazily."""
    cap = factory(target)
    if not cap.isOpened():
        cap.release()
        raise SourceError(not_open or f"could not open {name}")
    return _read_stream(cap, factory, target, name, live=live, retries=retries, backoff=backoff)


def _read_stream(cap: Capture, factory: CaptureFactory, target: Any, name: str, *, live: bool,
                 retries: int, backoff: float) -> Iterator[Frame]:
    index = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                if not live:
                    if index == 0:  # opened but nothing decodes: usually a codec OpenCV lacks
                        raise SourceError(f"could not read any frame from {name}")
                    return  # end of a video file: a normal end
                cap, bgr = _reconnect(cap, factory, target, name, retries, backoff)
            yield _frame(bgr, f"{name}#{index}", index)
            index += 1
    finally:
        cap.release()


def _reconnect(cap: Capture, factory: CaptureFactory, target: Any, name: str, retries: int,
               backoff: float) -> tuple[Capture, np.ndarray]:
    """Reopen a dropped live stream, waiting backoff, 2×backoff, 4×backoff, … between attempts.

    Returns the new capture and its first frame. The attempt count restarts after every success,
    so a flaky Wi-Fi camera that drops once an hour is never given up on.
    """
    for attempt in range(retries):
        cap.release()
        _sleep(backoff * 2**attempt)
        try:
            cap = factory(target)
            if cap.isOpened():
                ok, bgr = cap.read()
                if ok and bgr is not None:
                    return cap, bgr
        except Exception:  # a driver hiccup while reopening is just a failed attempt
            pass
    cap.release()
    raise SourceError(f"stream {name} dropped; gave up after {retries} retries")


def _frame(bgr: np.ndarray, source: str, index: int) -> Frame:
    """The one BGR → RGB conversion of the app (OpenCV and Picamera2 both hand out BGR); a frame of a stream."""
    a = np.asarray(bgr)
    if a.dtype != np.uint8:
        return Frame(source, index, None, f"unsupported frame type {a.dtype} (expected uint8)", stream=True)
    if a.ndim == 2:
        rgb = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        rgb = np.ascontiguousarray(a[:, :, 2::-1])  # B,G,R[,A] → R,G,B; alpha dropped
    elif a.ndim == 3 and a.shape[2] == 1:
        rgb = np.repeat(a, 3, axis=2)
    else:
        return Frame(source, index, None, f"unsupported frame shape {a.shape}", stream=True)
    return Frame(source, index, rgb, stream=True)


def _open_capture(target: Any, *, timeout: float = OPEN_TIMEOUT_S, native_log: Callable[[str], None] | None = None,
                  secrets: tuple[str, ...] = ()) -> Capture:
    """The default capture factory: the Pi camera for PICAMERA, else `cv2.VideoCapture(target)`.

    What OpenCV and FFmpeg print meanwhile (their own `[ WARN ]` lines, which quote the URL with
    its password) is caught at the file-descriptor level and handed to `native_log`, redacted.
    """
    if target == PICAMERA:
        return _PiCamera()
    try:
        import cv2  # lazy: image folders must work on a Pi without OpenCV
    except ImportError:
        raise SourceError("OpenCV is needed for cameras, videos and streams: "
                          "pip install opencv-python-headless") from None
    with native_stderr() as caught:
        if isinstance(target, str) and urlsplit(target).scheme.lower() in URL_SCHEMES:
            ms = max(1, int(timeout * 1000))
            cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        else:
            cap = cv2.VideoCapture(target)
    if native_log is not None and caught.text.strip():
        for text in caught.text.strip().splitlines():
            if text.strip():
                native_log(redact(text, secrets))
    return cap


class _PiCamera:
    """Picamera2 behind the `Capture` interface, so it shares the reconnect logic."""

    def __init__(self, size: tuple[int, int] = (640, 480)) -> None:
        try:
            from picamera2 import Picamera2  # lazy, and not on PyPI for the Pi: it comes from apt
        except ImportError:
            raise SourceError(
                "picamera2 is not installed: run `sudo apt install python3-picamera2` and create the "
                "venv with `python3 -m venv --system-site-packages` so it can see the system package"
            ) from None
        except Exception as exc:  # e.g. simplejpeg's ValueError when pip put NumPy 2 over apt's NumPy 1
            raise SourceError(
                f"picamera2 is installed but does not import ({type(exc).__name__}: {exc}); if NumPy 2 "
                "shadows the system's NumPy 1, reinstall with `pip install -c pi-constraints.txt '.[edge]'` "
                "(docs/pi.md)"
            ) from None
        self._cam = None
        cam = None
        try:
            cam = Picamera2()
            cam.configure(cam.create_preview_configuration(main={"size": size, "format": "RGB888"}))
            cam.start()
            self._cam = cam
        except Exception:  # no camera attached, or another process holds it: isOpened() says so
            if cam is not None:
                try:
                    cam.close()
                except Exception:
                    pass

    def isOpened(self) -> bool:
        return self._cam is not None

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._cam is None:
            return False, None
        try:
            # libcamera names formats by 32-bit word order, so "RGB888" is B,G,R bytes in memory:
            # the same order as OpenCV, and `_frame` converts both the same way.
            return True, self._cam.capture_array()
        except Exception:
            return False, None

    def release(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


def redact_url(url: str) -> str:
    """A stream URL with its password and secret query values (`pwd=`, `token=`, …) as `***`:
    Frame.source ends up on stdout, in result files and in the live view."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        user = user.split(":", 1)[0] + ":***" if ":" in user else user
        netloc = f"{user}@{host}"
    query = "&".join(
        f"{piece.split('=', 1)[0]}=***" if "=" in piece and piece.split("=", 1)[0].lower() in SECRET_KEYS else piece
        for piece in parts.query.split("&")
    ) if parts.query else parts.query
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def url_secrets(url: str) -> tuple[str, ...]:
    """Every spelling of the secrets in a URL (as typed, percent-decoded, re-encoded), longest first,
    so `redact` can scrub them from any message — including ones OpenCV prints itself."""
    parts = urlsplit(str(url).strip())
    if parts.scheme.lower() not in URL_SCHEMES:
        return ()
    raw: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        raw.append(userinfo.split(":", 1)[1])
    for piece in parts.query.split("&"):
        key, eq, value = piece.partition("=")
        if eq and key.lower() in SECRET_KEYS:
            raw.append(value)
    spellings = {form for value in raw for form in (value, unquote(value), quote(unquote(value), safe=""),
                                                    unquote(value.replace("+", " "))) if form}
    return tuple(sorted(spellings, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """`text` with each secret replaced by `***` (longest first, so a prefix never leaves a tail)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text
