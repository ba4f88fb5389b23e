"""edge_app.images: every awkward file a user may drop in a folder decodes to RGB uint8 or one clear error."""

from __future__ import annotations

import io
import pickle
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge_app.images import IMAGE_EXTENSIONS, ImageError, decode_image, load_image

RNG = np.random.default_rng(0)


def save(img: Image.Image, path: Path, fmt: str | None = None, **kw) -> Path:
    img.save(path, fmt, **kw)
    return path


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int, rows: int = 4) -> bytes:
    """A valid PNG whose header declares width×height but whose IDAT holds only a few rows: a tiny
    file that would need width×height bytes to decode (the shape of a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * (width + 1) * rows)  # filter byte + a row of zeros, `rows` times
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def assert_rgb(a: np.ndarray, shape: tuple[int, int]) -> None:
    assert a.dtype == np.uint8 and a.shape == (*shape, 3) and a.flags.c_contiguous


# --- ordinary images -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,ext", [("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif"), ("WEBP", ".webp")])
def test_lossless_formats_roundtrip(tmp_path, fmt, ext):
    rgb = RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out = load_image(save(Image.fromarray(rgb), tmp_path / f"a{ext}", fmt, **kw))
    assert_rgb(out, (12, 20))
    np.testing.assert_array_equal(out, rgb)


def test_jpeg_and_grayscale(tmp_path):
    out = load_image(save(Image.new("RGB", (30, 10), (200, 30, 40)), tmp_path / "a.jpg"))
    assert_rgb(out, (10, 30))
    assert np.abs(out.astype(int) - (200, 30, 40)).max() <= 3
    gray = load_image(save(Image.new("L", (5, 4), 77), tmp_path / "g.png"))
    assert_rgb(gray, (4, 5))
    assert (gray == 77).all()


def test_extensions_constant():
    assert IMAGE_EXTENSIONS == (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jfif", ".jpe", ".gif")


# --- broken files -----------------------------------------------------------------------------------

def test_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: empty file \(0 bytes\)"):
        load_image(tmp_path / "empty.jpg")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="nope.png: cannot read file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a picture\n" * 20)
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image"):
        load_image(tmp_path / "notes.jpg")


@pytest.mark.parametrize("fmt,ext", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_truncated(tmp_path, fmt, ext):
    data = encoded(Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)), fmt)
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated") as info:
        load_image(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ": ") and "\n" not in msg
    assert info.value.name == str(path) and "truncated" in info.value.reason


def test_error_is_one_line_and_picklable():
    err = ImageError("x.png", "line one\nline two")
    assert str(err) == "x.png: line one line two"
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, ImageError) and str(again) == str(err) and again.reason == err.reason


def test_unsupported_plugin_not_used(tmp_path):
    # An EPS file (which Pillow would hand to Ghostscript) is refused even with a .jpg name.
    (tmp_path / "doc.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "doc.jpg")


# --- modes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,ext", [("PNG", ".png"), ("TIFF", ".tif")])
def test_16bit_gray_scaled_not_clipped(tmp_path, fmt, ext):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / f"deep{ext}", fmt)
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    out = load_image(path)
    assert_rgb(out, (1, 4))
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 128, 255])
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_32bit_int_mode_treated_as_16bit():
    img = Image.fromarray(np.array([[0, 65535, 70000, -5]], dtype=np.int32))  # mode "I"
    assert img.mode == "I"
    out = decode_image(encoded(img, "TIFF"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 255, 255, 0])


def test_cmyk_jpeg_to_rgb(tmp_path):
    path = save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    out = load_image(path)
    assert_rgb(out, (16, 16))
    r, g, b = out[8, 8].astype(int)
    assert r > 230 and g < 30 and b < 30  # pure red, not cyan (an inverted-CMYK bug would give cyan)


def test_rgba_composited_on_white(tmp_path):
    px = np.array([[[0, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128]]], dtype=np.uint8)
    out = load_image(save(Image.fromarray(px, "RGBA"), tmp_path / "alpha.png"))
    assert_rgb(out, (1, 3))
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])  # fully transparent → white
    np.testing.assert_array_equal(out[0, 1], [255, 0, 0])  # opaque stays
    assert np.abs(out[0, 2].astype(int) - 127).max() <= 1  # half-transparent black → mid gray


def test_la_composited_on_white():
    img = Image.fromarray(np.array([[[10, 0], [10, 255]]], dtype=np.uint8), "LA")
    out = decode_image(encoded(img, "PNG"))
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [10, 10, 10]])


def test_palette_png(tmp_path):
    img = Image.new("P", (3, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2])
    out = load_image(save(img, tmp_path / "pal.png"))
    np.testing.assert_array_equal(out[0], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])


def test_palette_with_transparency_on_white(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    img.putdata([0, 1])
    path = save(img, tmp_path / "pal_t.png", transparency=0)  # index 0 (black) is transparent
    out = load_image(path)
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [0, 0, 255]])


def test_exif_orientation_6_rotates_clockwise(tmp_path):
    # Stored 40 wide × 20 high, red on the left half, blue on the right; EXIF 6 = "rotate 90° CW".
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(Image.fromarray(stored), tmp_path / "rot.jpg", exif=exif, quality=95)

    out = load_image(path)
    assert_rgb(out, (40, 20))  # width and height swapped
    raw = np.asarray(Image.open(path).convert("RGB"))  # the same decoded pixels, not rotated
    np.testing.assert_array_equal(out, np.rot90(raw, k=-1))
    # After a clockwise turn the stored left edge is at the top: red on top, blue at the bottom.
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 60
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 60


# --- decompression bombs ----------------------------------------------------------------------------

def test_bomb_30000x30000_refused_fast_without_memory(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(30_000, 30_000))
    assert path.stat().st_size < 10_000  # tiny file, 900 MP declared

    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ImageError, match="bomb|MP limit") as info:
            load_image(path)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value).startswith(str(path))
    assert elapsed < 1.0
    assert peak < 50 * 2**20


@pytest.mark.parametrize("side", [30_000, 8_000])
def test_bomb_refused_without_native_allocation(tmp_path, side):
    # tracemalloc sees only Python's allocator, not Pillow's C buffers: measure the process's peak
    # resident memory instead, in a fresh interpreter, before and after the refusal.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(side, side))
    code = (
        "import resource, sys\n"
        "from edge_app.images import load_image, ImageError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    load_image(sys.argv[1])\nexcept ImageError:\n    pass\nelse:\n    sys.exit('decoded!')\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    pytest.importorskip("resource")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    grown_kib = int(done.stdout.split()[-1])
    assert grown_kib < 20 * 1024, f"peak RSS grew by {grown_kib} KiB"  # decoding would need ≥ 64 MB


def test_bomb_below_pillow_limit_refused_by_our_limit():
    # 8000×8000 = 64 MP: under Pillow's own ~89 MP warning, above our 50 MP default.
    data = png_header_only(8000, 8000)
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match=r"8000×8000 = 64 MP, above the 50 MP limit"):
            decode_image(data, "big.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20


def test_max_pixels_parameter():
    data = encoded(Image.new("RGB", (100, 100)), "PNG")
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ImageError, match="limit"):
        decode_image(data, max_pixels=9_999)


def test_pillow_bomb_warning_is_refused_too():
    # Raising max_pixels does not lift Pillow's own limit: its warning becomes a refusal, not a decode.
    limit = Image.MAX_IMAGE_PIXELS
    data = png_header_only(10_000, 10_000)  # 100 MP: between Pillow's warn and error thresholds
    assert limit < 100_000_000 < 2 * limit
    with pytest.raises(ImageError, match="decompression bomb"):
        decode_image(data, "x.png", max_pixels=10**9)


# --- in-memory ----------------------------------------------------------------------------------------

def test_decode_image_bytes_and_errors():
    rgb = RNG.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_image(encoded(Image.fromarray(rgb), "PNG")), rgb)
    with pytest.raises(ImageError, match=r"^<bytes>: empty data"):
        decode_image(b"")
    with pytest.raises(ImageError, match=r"^upload\.jpg: not an image"):
        decode_image(b"GIF? no, plain text", "upload.jpg")


def test_module_imports_no_opencv_or_tensorflow():
    code = "import sys, edge_app.images, edge_app.sources; " \
           "bad = {'cv2', 'tensorflow', 'keras', 'picamera2'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
