"""Safe image decoding: any file a user drops into a folder becomes an RGB uint8 array, or one clear error.

Photos from phones and the web come in many shapes — 16-bit PNGs, CMYK JPEGs, transparent PNGs,
sideways JPEGs with an EXIF orientation tag, truncated downloads, text files named `.jpg`, and the
occasional decompression bomb. This module turns all of them into the one form the rest of the app
expects (H×W×3 RGB uint8, upright, transparency on white) or raises `ImageError` with a one-line
message naming the file and what was wrong. Grayscale conversion is `preprocess.to_gray`'s job.

    >>> from edge_app.images import load_image
    >>> load_image("unseen/sneaker/01.jpg").shape   # (H, W, 3), dtype uint8
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edge_app.preprocess import to_array

# .jfif/.jpe are JPEGs under an older name (web downloads); a GIF gives its first frame.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jfif", ".jpe", ".gif")
MAX_PIXELS = 50_000_000  # default refusal limit: 50 MP is beyond any phone photo, ~150 MB as RGB
# Longest edge the edge app decodes at (`load_image(max_edge=…)`): preprocessing works at ~100 px and
# the model at 28, so 1024 changes no result for a normal photo, and a 48-MP JPEG decodes in ~10 MB
# instead of ~150 MB (a 1–2 GB Pi is out of memory otherwise). The decoded edge stays ≥ this.
DECODE_EDGE = 1024
# EXIF orientation tag → the transpose that makes the picture upright (what ImageOps.exif_transpose does).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# The decoders Pillow may pick. Restricting them keeps files with a misleading name from reaching
# exotic plugins (EPS, for one, shells out to Ghostscript). The JPEG opener also returns MPO, the
# multi-picture JPEG many phones write.
_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF")



class ImageError(ValueError):
    """An image could not be read. `str(err)` is one line: "<name>: <reason>"."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = _one_line(reason)
        super().__init__(f"{name}: {self.reason}")

    def __reduce__(self):  # picklable across worker processes despite the two-argument constructor
        return (type(self), (self.name, self.reason))


def load_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS, max_edge: int | None = None) -> np.ndarray:
    """Read an image file as an upright RGB array.

    Args:
        path: the image file (any of IMAGE_EXTENSIONS; the content decides the format, not the name).
        max_pixels: refuse images with more pixels than this, before decoding them.
        max_edge: decode a bigger image at reduced scale, its longest edge still ≥ this (JPEG: the
            decoder's own 1/2, 1/4, 1/8 scaling, so the full image never exists in memory; other
            formats: an integer `reduce` right after decoding). None keeps the full size.

    Returns:
        A C-contiguous (H, W, 3) uint8 RGB array.

    Raises:
        ImageError: missing, empty, not an image, truncated, too large, or otherwise undecodable.
    """
    name = str(path)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ImageError(name, f"cannot read file ({exc.strerror or exc})") from None
    if Path(path).is_dir():
        raise ImageError(name, "is a folder, not an image file")
    if size == 0:
        raise ImageError(name, "empty file (0 bytes)")
    # Pillow reads lazily from the path, so a huge file is never slurped into memory at once.
    return _decode(path, name, max_pixels, max_edge)


def decode_image(data: bytes, name: str = "<bytes>", *, max_pixels: int = MAX_PIXELS, max_edge: int | None = None) -> np.ndarray:
    """Decode an in-memory image (an upload, a download) exactly as `load_image` decodes a file.

    Args:
        data: the encoded file content.
        name: what to call the image in error messages.
        max_pixels: refuse images with more pixels than this, before decoding them.
        max_edge: as in `load_image`.

    Returns:
        A C-contiguous (H, W, 3) uint8 RGB array.

    Raises:
        ImageError: empty, not an image, truncated, too large, or otherwise undecodable.
    """
    if not data:
        raise ImageError(name, "empty data (0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels, max_edge)


def _decode(source: str | os.PathLike | io.BytesIO, name: str, max_pixels: int, max_edge: int | None = None) -> np.ndarray:
    # Pillow's own bomb guard warns above Image.MAX_IMAGE_PIXELS (~89 MP) and raises above twice
    # that, from inside Image.open. Make the warning an error too, so nothing that big is decoded
    # even when a caller raises `max_pixels` (which is therefore capped by Image.MAX_IMAGE_PIXELS).
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(source, formats=_FORMATS)  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(name, f"refused as a possible decompression bomb ({exc})") from None
        except UnidentifiedImageError:
            raise ImageError(name, "not an image, or a format that is not supported") from None
        except Exception as exc:  # a damaged header can make any plugin raise anything
            raise ImageError(name, f"truncated or corrupt image header ({type(exc).__name__}: {exc})") from None

        with img:
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImageError(name, f"image has no pixels ({width}×{height})")
            # The size comes from the header, so this check costs nothing; decoding comes after.
            if width * height > max_pixels:
                raise ImageError(
                    name,
                    f"image is {width}×{height} = {width * height / 1e6:.0f} MP, "
                    f"above the {max_pixels / 1e6:g} MP limit; refused without decoding",
                )
            orientation = _orientation(img)  # read before any reduction: a reduced copy has no EXIF
            try:
                if max_edge:
                    _draft(img, max_edge)
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ImageError(name, f"refused as a possible decompression bomb ({exc})") from None
            except Exception as exc:  # OSError "image file is truncated", SyntaxError, zlib errors, …
                raise ImageError(name, f"truncated or corrupt image data ({type(exc).__name__}: {exc})") from None
            try:
                small = _reduce(img, max_edge) if max_edge else img
                return _to_rgb(_transpose(small, orientation))
            except Exception as exc:
                raise ImageError(name, f"cannot convert image mode {img.mode} to RGB ({exc})") from None


def _draft(img: Image.Image, max_edge: int) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale, the longest edge staying ≥ `max_edge` (no-op otherwise)."""
    width, height = img.size
    longest = max(width, height)
    if img.format != "JPEG" or longest <= 2 * max_edge:
        return
    # draft() picks the largest scale whose result is still at least this size in both directions.
    want = (max(1, -(-width * max_edge // longest)), max(1, -(-height * max_edge // longest)))
    img.draft(img.mode if img.mode in ("RGB", "L") else None, want)


def _reduce(img: Image.Image, max_edge: int) -> Image.Image:
    """An integer box reduction of an already decoded image, its longest edge kept ≥ `max_edge`.

    Done in strips: `reduce()` of a whole RGBA image makes a full-size premultiplied copy first,
    which doubled the peak on a 48-MP PNG; a strip's copy is a few MB."""
    factor = max(img.size) // max_edge
    if factor < 2:
        return img
    if img.mode in ("P", "PA"):  # reduce() needs real pixel values, not palette indices
        img = img.convert("RGBA")
    width, height = img.size
    rows = factor * 64  # a multiple of the factor, so strips reduce exactly like the whole image
    try:
        out = Image.new(img.mode, (-(-width // factor), -(-height // factor)))
        for top in range(0, height, rows):
            out.paste(img.crop((0, top, width, min(height, top + rows))).reduce(factor), (0, top // factor))
    except (ValueError, NotImplementedError):  # a mode reduce() does not handle (I;16, 1, …): keep it
        return img
    return out


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright); 1 when the EXIF block is missing or damaged."""
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # a damaged EXIF block is no reason to lose an otherwise good picture
        return 1


def _transpose(img: Image.Image, orientation: int) -> Image.Image:
    """Apply an EXIF orientation, so a phone's portrait photo is not classified lying down."""
    method = _ORIENTATION.get(orientation)
    return img.transpose(method) if method is not None else img


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode → (H, W, 3) uint8 RGB, via the one conversion in `preprocess.to_array`."""
    arr = to_array(img)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
