"""edge_app.sources: folders, globs, files, videos and (faked) live streams, with their failure modes."""

from __future__ import annotations

import sys
import types
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_app import sources
from edge_app.sources import Frame, SourceError, open_source

RED_BGR = np.zeros((8, 8, 3), np.uint8)
RED_BGR[..., 2] = 255  # what OpenCV hands out for a red picture


def png(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 4), (value, value, value)).save(path)
    return path


class FakeCapture:
    """A cv2.VideoCapture stand-in: opens (or not), gives `frames` BGR frames, then fails every read."""

    def __init__(self, frames: int = 0, opened: bool = True, image: np.ndarray = RED_BGR) -> None:
        self.left, self.opened, self.image, self.released = frames, opened, image, False

    def isOpened(self) -> bool:
        return self.opened

    def read(self):
        if self.opened and not self.released and self.left > 0:
            self.left -= 1
            return True, self.image.copy()
        return False, None

    def release(self) -> None:
        self.released = True


class Factory:
    """Hands out the given captures in order, then unopened ones; records targets and captures."""

    def __init__(self, *captures: FakeCapture) -> None:
        self.queue, self.targets, self.made = list(captures), [], []

    def __call__(self, target):
        self.targets.append(target)
        cap = self.queue.pop(0) if self.queue else FakeCapture(opened=False)
        self.made.append(cap)
        return cap


@pytest.fixture
def sleeps(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(sources, "_sleep", slept.append)
    return slept


# --- folders, globs, files ---------------------------------------------------------------------------

def test_folder_mixed_good_and_bad(tmp_path):
    png(tmp_path / "b.png", 10)
    (tmp_path / "a_empty.jpg").write_bytes(b"")
    (tmp_path / "c_text.jpg").write_text("not an image")
    png(tmp_path / "sub" / "d.png", 20)
    (tmp_path / "sub" / "deeper").mkdir()
    Image.new("RGB", (6, 4), (30, 30, 30)).save(tmp_path / "sub" / "deeper" / "E.JPG", "JPEG")  # upper-case
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    (tmp_path / "._b.png").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")  # hidden: skipped
    png(tmp_path / ".thumbnails" / "b.png")  # hidden folder: skipped

    frames = list(open_source(str(tmp_path)))
    names = [Path(f.source).relative_to(tmp_path).as_posix() for f in frames]
    assert names == ["a_empty.jpg", "b.png", "c_text.jpg", "sub/d.png", "sub/deeper/E.JPG"]
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]

    empty, good, text, sub, deep = frames
    assert empty.image is None and "empty file" in empty.error
    assert not any(f.stream for f in frames)  # files in a folder are independent stills
    assert text.image is None and "not an image" in text.error
    assert "\n" not in text.error
    for f, value in ((good, 10), (sub, 20), (deep, 30)):
        assert f.error is None and f.image.shape == (4, 6, 3) and f.image.dtype == np.uint8
        assert abs(int(f.image[0, 0, 0]) - value) <= 3


def test_folder_not_recursive(tmp_path):
    png(tmp_path / "top.png")
    png(tmp_path / "sub" / "inner.png")
    assert [Path(f.source).name for f in open_source(str(tmp_path), recursive=False)] == ["top.png"]


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no image files"):
        open_source(str(tmp_path))


def test_glob(tmp_path):
    png(tmp_path / "x" / "2.png")
    png(tmp_path / "x" / "1.png")
    png(tmp_path / "y" / "3.png")
    Image.new("RGB", (2, 2)).save(tmp_path / "x" / "4.jpg")
    (tmp_path / "x" / "5.txt").write_text("no")

    flat = [Path(f.source).name for f in open_source(str(tmp_path / "x" / "*"))]
    assert flat == ["1.png", "2.png", "4.jpg"]
    deep = [Path(f.source).relative_to(tmp_path).as_posix() for f in open_source(str(tmp_path / "**" / "*.png"))]
    assert deep == ["x/1.png", "x/2.png", "y/3.png"]
    with pytest.raises(SourceError, match="no image files match"):
        open_source(str(tmp_path / "*.webp"))


def test_single_image_file(tmp_path):
    (frame,) = open_source(str(png(tmp_path / "one.png", 50)))
    assert frame.source == str(tmp_path / "one.png") and frame.index == 0 and frame.image[0, 0, 0] == 50


def test_single_broken_image_is_an_error_frame(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (frame,) = open_source(str(tmp_path / "bad.png"))
    assert frame.image is None and frame.error


def test_missing_path(tmp_path):
    with pytest.raises(SourceError, match="no such file or folder: .*nothing-here"):
        open_source(str(tmp_path / "nothing-here"))


def test_unsupported_file_type(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(SourceError, match="unsupported file type '.csv'"):
        open_source(str(tmp_path / "data.csv"))


# --- a real video file --------------------------------------------------------------------------------

def test_video_file_frames_in_rgb(tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    assert writer.isOpened()
    for _ in range(5):
        red_rgb = np.zeros((24, 32, 3), np.uint8)
        red_rgb[..., 0] = 255
        writer.write(cv2.cvtColor(red_rgb, cv2.COLOR_RGB2BGR))  # OpenCV writes BGR
    writer.release()

    frames = list(open_source(str(path)))
    assert len(frames) == 5  # end of file is a normal end, not an error
    assert [f.source for f in frames] == [f"{path}#{i}" for i in range(5)]
    for f in frames:
        assert f.error is None and f.stream and f.image.shape == (24, 32, 3) and f.image.dtype == np.uint8
        r, g, b = f.image[12, 16].astype(int)
        assert r > 200 and g < 50 and b < 50  # red stays red: BGR was converted, exactly once


def test_video_file_end_is_not_reconnected(tmp_path, sleeps):
    (tmp_path / "v.mp4").write_bytes(b"stand-in; the fake capture is what reads it")
    factory = Factory(FakeCapture(frames=3))
    frames = list(open_source(str(tmp_path / "v.mp4"), capture_factory=factory))
    assert [f.source for f in frames] == [f"{tmp_path / 'v.mp4'}#{i}" for i in range(3)]
    assert sleeps == [] and len(factory.targets) == 1 and factory.made[0].released


def test_video_without_readable_frames(tmp_path):
    (tmp_path / "v.mkv").write_bytes(b"x")
    frames = open_source(str(tmp_path / "v.mkv"), capture_factory=Factory(FakeCapture(frames=0)))
    with pytest.raises(SourceError, match="could not read any frame"):
        next(frames)


# --- cameras and live streams ------------------------------------------------------------------------

def test_camera_not_found():
    pytest.importorskip("cv2")
    with pytest.raises(SourceError, match="camera 97 not found or busy"):
        open_source("97")


def test_camera_not_opened_fake():
    factory = Factory(FakeCapture(opened=False))
    with pytest.raises(SourceError, match="camera 3 not found or busy"):
        open_source("3", capture_factory=factory)
    assert factory.targets == [3]  # an int index, not the string "3"


def test_camera_frames_bgr_to_rgb_once():
    gray = np.full((4, 5), 9, np.uint8)
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 0] = 255  # blue
    factory = Factory(FakeCapture(frames=1), FakeCapture(frames=1, image=gray), FakeCapture(frames=1, image=bgra))
    frames = open_source("0", capture_factory=factory, backoff=0)
    red, g, blue = next(frames), next(frames), next(frames)
    frames.close()
    np.testing.assert_array_equal(red.image[0, 0], [255, 0, 0])
    assert red.source == "camera:0#0" and red.index == 0
    assert g.image.shape == (4, 5, 3) and (g.image == 9).all() and g.source == "camera:0#1"
    np.testing.assert_array_equal(blue.image[0, 0], [0, 0, 255])
    assert blue.image.shape == (4, 5, 3)


def test_reconnect_with_backoff_then_continues(sleeps):
    # 2 frames, drop; reopen fails twice; the third reopen works and gives 3 more frames.
    factory = Factory(FakeCapture(frames=2), FakeCapture(opened=False), FakeCapture(frames=0),
                      FakeCapture(frames=3))
    frames = open_source("0", capture_factory=factory, retries=3, backoff=0.5)
    got = list(islice(frames, 5))
    assert [f.index for f in got] == [0, 1, 2, 3, 4]
    assert [f.source for f in got] == [f"camera:0#{i}" for i in range(5)]
    assert all(f.error is None and f.stream for f in got)
    assert sleeps == [0.5, 1.0, 2.0]  # exponential backoff
    assert all(c.released for c in factory.made[:3])  # each dropped capture was released


def test_reconnect_gives_up_after_retries(sleeps):
    factory = Factory(FakeCapture(frames=2))  # then only unopenable captures
    frames = open_source("0", capture_factory=factory, retries=4, backoff=0.25)
    assert len([next(frames), next(frames)]) == 2
    with pytest.raises(SourceError, match=r"stream camera:0 dropped; gave up after 4 retries"):
        next(frames)
    assert sleeps == [0.25, 0.5, 1.0, 2.0]
    assert len(factory.targets) == 1 + 4 and all(c.released for c in factory.made)


def test_retry_count_restarts_after_success(sleeps):
    # Each reconnect uses one of its 2 retries, then works: a flaky stream is not given up on.
    factory = Factory(*[FakeCapture(frames=1) for _ in range(6)])
    frames = list(islice(open_source("0", capture_factory=factory, retries=2, backoff=1), 6))
    assert len(frames) == 6 and sleeps == [1] * 5


def test_reconnect_survives_factory_exception(sleeps):
    calls = iter([FakeCapture(frames=1), RuntimeError("driver hiccup"), FakeCapture(frames=1)])

    def factory(target):
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    got = list(islice(open_source("0", capture_factory=factory, retries=2, backoff=0.1), 2))
    assert len(got) == 2 and sleeps == [0.1, 0.2]


def test_closing_the_iterator_releases_the_camera():
    cap = FakeCapture(frames=10)
    frames = open_source("1", capture_factory=Factory(cap))
    next(frames)
    frames.close()
    assert cap.released


def test_url_stream_redacts_password_and_reconnects(sleeps):
    factory = Factory(FakeCapture(frames=1), FakeCapture(frames=1))
    url = "rtsp://admin:hunter2@192.168.1.20:554/live"
    got = list(islice(open_source(url, capture_factory=factory, backoff=0.5), 2))
    assert factory.targets == [url, url]  # the real URL is opened …
    assert got[1].source == "rtsp://admin:***@192.168.1.20:554/live#1"  # … but never logged
    assert sleeps == [0.5]


def test_url_not_opened():
    with pytest.raises(SourceError, match="could not open https://example.invalid/cam"):
        open_source("https://example.invalid/cam", capture_factory=Factory(FakeCapture(opened=False)))


def test_url_to_video_file_ends_normally(sleeps):
    got = list(open_source("http://host/clip.mp4", capture_factory=Factory(FakeCapture(frames=2))))
    assert len(got) == 2 and sleeps == []


# --- Pi camera ----------------------------------------------------------------------------------------

def test_picamera2_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes `import picamera2` fail
    with pytest.raises(SourceError, match=r"sudo apt install python3-picamera2.*--system-site-packages"):
        open_source("picamera2")


def test_picamera2_broken_import_is_one_clear_error(monkeypatch, tmp_path):
    # What NumPy 2 in a venv over apt's NumPy-1 modules does: simplejpeg raises ValueError on import.
    (tmp_path / "picamera2.py").write_text(
        "raise ValueError('numpy.dtype size changed, may indicate binary incompatibility')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    with pytest.raises(SourceError, match=r"does not import \(ValueError: numpy.dtype size changed.*pi-constraints"):
        open_source("picamera2")


def test_picamera2_fake(monkeypatch):
    seen = {}

    class FakePicamera2:
        def create_preview_configuration(self, main):
            return {"main": main}

        def configure(self, config):
            seen["config"] = config

        def start(self):
            seen["started"] = True

        def capture_array(self):
            return RED_BGR.copy()  # "RGB888" is B,G,R in memory

        def stop(self):
            seen["stopped"] = True

        def close(self):
            seen["closed"] = True

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    frames = open_source("picamera2")
    frame = next(frames)
    frames.close()
    assert seen["config"] == {"main": {"size": (640, 480), "format": "RGB888"}}
    np.testing.assert_array_equal(frame.image[0, 0], [255, 0, 0])
    assert frame.source == "picamera2#0" and seen.get("closed")


def test_picamera2_no_camera(monkeypatch):
    def no_camera():
        raise IndexError("list index out of range")  # what Picamera2() raises with no camera

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=no_camera))
    with pytest.raises(SourceError, match="Pi camera not found or busy"):
        open_source("picamera2")


def test_frame_is_hashable_and_frozen():
    f = Frame("a.png", 0, np.zeros((2, 2, 3), np.uint8), None)
    assert f == f and hash(f) == hash(f)  # identity: comparing arrays field-wise would raise
    with pytest.raises(AttributeError):
        f.index = 1  # frozen
