"""Draw the result onto a frame, encode it as JPEG, and measure frames per second.

Pillow only (no OpenCV GUI), so the same annotated frame serves a window, a file and the web view.

    >>> jpeg = encode_jpeg(annotate(frame_rgb, ["Sneaker 0.93", "photo mode"], fps=meter.tick()))
"""

from __future__ import annotations

import io
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class BoxStyle:
    """How the label box looks; sizes scale with the frame so text stays readable on 320 px and 1080 p."""

    text_frac: float = 0.045  # text height as a fraction of the frame's shorter edge
    min_text_px: int = 12  # …but never smaller than this: the default font is unreadable below it
    pad_frac: float = 0.4  # padding around the text, fraction of the text height
    box_rgba: tuple[int, int, int, int] = (0, 0, 0, 176)  # dark, translucent: readable on any frame
    text_rgb: tuple[int, int, int] = (255, 255, 255)


DEFAULT_STYLE = BoxStyle()


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled default font at `size` px (a scalable one in Pillow ≥ 10.1); cached per size."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: only the fixed bitmap font
        return ImageFont.load_default()


def annotate(
    image_rgb: np.ndarray,
    lines: list[str],
    *,
    fps: float | None = None,
    style: BoxStyle = DEFAULT_STYLE,
) -> np.ndarray:
    """A copy of `image_rgb` (H×W×3 uint8) with `lines` (and "12.3 FPS") in a box at the top left."""
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB frame, got {image.shape} {image.dtype}")
    texts = [str(t) for t in lines] + ([f"{fps:.1f} FPS"] if fps is not None else [])
    if not texts:
        return image.copy()

    height, width = image.shape[:2]
    size = max(style.min_text_px, round(min(height, width) * style.text_frac))
    font = _font(size)
    pad = max(2, round(size * style.pad_frac))
    line_gap = max(1, size // 4)

    # Measure every line first: the box must fit the widest one.
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    boxes = [probe.textbbox((0, 0), t, font=font) for t in texts]
    text_w = max(b[2] for b in boxes)
    line_h = max(size, max(b[3] for b in boxes))
    box_w = min(width, text_w + 2 * pad)
    box_h = min(height, len(texts) * line_h + (len(texts) - 1) * line_gap + 2 * pad)

    # Blend the translucent box on an RGBA overlay, then draw opaque text over it.
    base = Image.fromarray(image, "RGB").convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rectangle((0, 0, box_w - 1, box_h - 1), fill=style.box_rgba)
    out = Image.alpha_composite(base, overlay)
    draw = ImageDraw.Draw(out)
    for i, text in enumerate(texts):
        draw.text((pad, pad + i * (line_h + line_gap)), text, font=font, fill=style.text_rgb)
    return np.asarray(out.convert("RGB"))


def encode_jpeg(image_rgb: np.ndarray, quality: int = 80) -> bytes:
    """JPEG bytes of an RGB uint8 frame (what the MJPEG stream sends)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image_rgb, dtype=np.uint8), "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class FpsMeter:
    """Frames per second over the last `window` frames: smooth enough to read, quick to follow changes.

        >>> meter = FpsMeter(); fps = meter.tick()   # once per frame
    """

    window: int = 10
    clock: Callable[[], float] = time.perf_counter
    _times: deque[float] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be at least 1 frame")
        # Keep window + 1 timestamps: N frame intervals need N + 1 ticks.
        self._times = deque(maxlen=self.window + 1)

    def tick(self, t: float | None = None) -> float:
        """Record one frame (at time `t`, default the clock's now); return the current rate (0.0 at first)."""
        self._times.append(self.clock() if t is None else t)
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0
