"""Render a Fashion-MNIST item as a casual colour photo: the scenes the edge app's camera meets.

A training item (28×28, bright on black) becomes the silhouette and shading of a garment in a random
colour, often printed (stripes, checks, dots, a logo, a texture), lying on or hanging in front of a
background (a plain or lit wall, wood, a bedsheet with folds, tiles, a carpet-like texture or, when
the package is installed, one of GIMP's photographed patterns), with a soft shadow, sometimes a
hanger, the person wearing it (a head above a top, legs below a dress), shoes as a pair, a hand or
foot at the frame's edge, perspective, blur, noise and gamma.

    >>> rgb = render_photo(item, label, np.random.default_rng(0))   # (H, W, 3) uint8

Backgrounds alone (`render_scene`) make the empty scenes that must read as "no item". Nothing here
sees a real photo; GIMP's patterns (Debian's `gimp-data`) are read at training time only.
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

TOPS = (0, 2, 3, 4, 6)  # T-shirt/top, Pullover, Dress, Coat, Shirt: what hangs on a hanger
FOOTWEAR = (5, 7, 9)  # Sandal, Sneaker, Ankle boot: what a hand holds or a foot wears
PATTERNS = Path(os.environ.get("FASHION_PATTERNS", "/usr/share/gimp/2.0/patterns"))  # optional photographed textures


@dataclass(frozen=True)
class Scene:
    """How far a rendering may stray; each field's unit in its comment."""

    height: int = 96  # rendered photo height, px
    widths: tuple[int, ...] = (72, 96, 128)  # widths drawn from: portrait, square, landscape
    scale: tuple[float, float] = (0.5, 1.05)  # item's longest edge as a fraction of the frame's shorter edge
    rotate: float = 12.0  # ± degrees (clothes are photographed roughly upright)…
    rotate_footwear: float = 25.0  # …shoes and bags less so: held, dropped, seen from above
    perspective: float = 0.08  # ± corner jitter, fraction of the item size
    printed: float = 0.5  # probability that the garment carries a print
    shading: tuple[float, float] = (0.4, 1.0)  # how much of the item's own shading survives the colouring
    shadow: float = 0.6  # probability of a soft drop shadow
    hanger: float = 0.3  # probability of a hanger above a top
    hand: float = 0.25  # probability of a hand or foot at the edge (footwear and bags: twice that)
    worn: float = 0.25  # probability that a top, dress or trousers is worn: a head above, legs or feet below
    pair: float = 0.4  # probability that footwear comes as a pair: a second shoe beside or behind the first
    light: float = 0.3  # ± linear lighting gradient across the frame, fraction of full range
    blur: float = 1.0  # max Gaussian sigma, px
    noise: float = 6.0  # max sensor-noise sigma, levels
    gamma: tuple[float, float] = (0.75, 1.35)  # display gamma range
    hflip: float = 0.5  # probability of a horizontal flip (never vertical: clothes are not upside down)


def _colour(rng: np.random.Generator, sat: tuple[float, float] = (0.0, 0.9), val: tuple[float, float] = (0.08, 0.97)) -> np.ndarray:
    h, s, v = rng.random(), rng.uniform(*sat), rng.uniform(*val)
    return np.array(colorsys.hsv_to_rgb(h, s, v), np.float32)


def _smooth_noise(rng, h, w, cells: int) -> np.ndarray:
    import cv2

    return cv2.resize(rng.normal(0, 1, (cells, cells)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


@lru_cache(maxsize=1)
def _gimp_patterns() -> tuple[np.ndarray, ...]:
    """GIMP's `.pat` textures as float RGB arrays (none when the folder is absent)."""
    out = []
    for path in sorted(PATTERNS.rglob("*.pat")) if PATTERNS.is_dir() else []:
        try:
            out.append(read_pat(path))
        except (OSError, ValueError):
            continue
    return tuple(out)


def read_pat(path: str | os.PathLike) -> np.ndarray:
    """A GIMP pattern file → (H, W, 3) float32 RGB in [0, 1]; ValueError when it is not one."""
    blob = Path(path).read_bytes()
    header = np.frombuffer(blob[:20], ">u4") if len(blob) >= 24 else np.zeros(0)
    if len(header) < 5 or blob[20:24] != b"GPAT":
        raise ValueError(f"{path}: not a GIMP pattern")
    size, _, w, h, depth = (int(v) for v in header)
    pixels = np.frombuffer(blob[size : size + w * h * depth], np.uint8)
    if depth not in (1, 2, 3, 4) or len(pixels) != w * h * depth:
        raise ValueError(f"{path}: truncated GIMP pattern")
    img = pixels.reshape(h, w, depth)[..., : 3 if depth >= 3 else 1].astype(np.float32) / 255.0
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def _tile(tex: np.ndarray, h: int, w: int, rng, zoom: float) -> np.ndarray:
    import cv2

    th, tw = max(4, round(tex.shape[0] * zoom)), max(4, round(tex.shape[1] * zoom))
    tex = cv2.resize(tex, (tw, th), interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
    reps = (-(-h // th) + 1, -(-w // tw) + 1, 1)
    big = np.tile(tex, reps)
    y, x = rng.integers(0, th), rng.integers(0, tw)
    return big[y : y + h, x : x + w]


def render_scene(rng: np.random.Generator, h: int, w: int, s: Scene = Scene()) -> np.ndarray:
    """A background with no item: (h, w, 3) float32 RGB in [0, 1], lit unevenly."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = _colour(rng, (0.0, 0.5), (0.15, 0.97))
    kinds = ["plain", "wood", "sheet", "tiles", "weave", "floor+wall"] + (["pattern"] * 2 if _gimp_patterns() else [])
    kind = kinds[rng.integers(len(kinds))]
    if kind == "plain":
        img = np.broadcast_to(base, (h, w, 3)) + 0.03 * _smooth_noise(rng, h, w, 6)[..., None]
    elif kind == "wood":  # planks: grain along one axis, seams between boards, each board its own tone
        along, across = (xx, yy) if rng.random() < 0.5 else (yy, xx)
        board = rng.uniform(0.1, 0.3) * min(h, w)
        plank = np.floor(across / board)
        tone = 1.0 + 0.12 * np.sin(plank * 12.9898 + rng.random() * 6.28)
        grain = 0.08 * np.sin(across * rng.uniform(0.5, 1.5) * 96 / min(h, w) + 3 * _smooth_noise(rng, h, w, 5)) + 0.04 * _smooth_noise(rng, h, w, 24)
        seam = np.where((across % board) < 1.0, 0.55, 1.0)
        wood = np.array(colorsys.hsv_to_rgb(rng.uniform(0.04, 0.12), rng.uniform(0.3, 0.75), rng.uniform(0.2, 0.85)), np.float32)
        img = wood * (tone * seam + grain)[..., None]
    elif kind == "sheet":  # a bedsheet or blanket: soft folds, sometimes a faint print
        folds = 0.18 * _smooth_noise(rng, h, w, 4) + 0.08 * _smooth_noise(rng, h, w, 9)
        img = base * (1.0 + folds)[..., None]
        if rng.random() < 0.4:
            img = img * (1.0 - 0.15 * (np.sin(xx * rng.uniform(0.3, 1.2)) > 0.6))[..., None]
    elif kind == "tiles":
        cell = rng.uniform(0.12, 0.4) * min(h, w)
        grout = ((xx % cell) < 1.2) | ((yy % cell) < 1.2)
        img = np.where(grout[..., None], base * 0.6 + 0.3, base) + 0.03 * _smooth_noise(rng, h, w, 8)[..., None]
    elif kind == "weave":  # carpet or rug: fine random texture in two colours
        mix = (_smooth_noise(rng, h, w, int(rng.integers(12, 40))) > 0).astype(np.float32)[..., None]
        img = base * (1 - mix) + _colour(rng, (0.0, 0.6), (0.15, 0.9)) * mix
    elif kind == "floor+wall":  # a room: wall above, floor below, a skirting line between
        line = rng.uniform(0.2, 0.8) * h
        wall, floor = base, _colour(rng, (0.1, 0.6), (0.15, 0.7))
        img = np.where((yy < line)[..., None], wall, floor) * (1.0 + 0.04 * _smooth_noise(rng, h, w, 6))[..., None]
        img = np.where((np.abs(yy - line) < 1.5)[..., None], wall * 0.7, img)
    else:
        pats = _gimp_patterns()
        img = _tile(pats[rng.integers(len(pats))], h, w, rng, rng.uniform(0.3, 1.0))
        img = img * rng.uniform(0.6, 1.2)
    gx, gy = rng.uniform(-s.light, s.light, 2)
    lit = 1.0 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5)
    return np.clip(np.asarray(img, np.float32) * lit[..., None], 0.0, 1.0)


def _print(rng, h: int, w: int, colour: np.ndarray) -> np.ndarray:
    """A garment print over the whole item box: (h, w, 3) float32 RGB."""
    import cv2

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    other = _colour(rng)
    kind = rng.integers(5)
    if kind == 0:  # stripes, mostly horizontal
        period = rng.uniform(3, 10)
        phase = yy if rng.random() < 0.75 else xx
        mix = ((phase % period) < period * rng.uniform(0.3, 0.6)).astype(np.float32)
    elif kind == 1:  # checks / plaid
        p1, p2 = rng.uniform(4, 12, 2)
        mix = 0.5 * ((yy % p1) < p1 / 2) + 0.5 * ((xx % p2) < p2 / 2)
    elif kind == 2:  # dots
        p = rng.uniform(4, 9)
        mix = (((yy % p) - p / 2) ** 2 + ((xx % p) - p / 2) ** 2 < (p / 4) ** 2).astype(np.float32)
    elif kind == 3:  # a logo or graphic on the chest
        mix = np.zeros((h, w), np.float32)
        cy, cx = rng.uniform(0.3, 0.55) * h, rng.uniform(0.35, 0.65) * w
        ry, rx = rng.uniform(0.08, 0.22) * h, rng.uniform(0.1, 0.3) * w
        if rng.random() < 0.5:
            cv2.ellipse(mix, (int(cx), int(cy)), (int(rx), int(ry)), 0, 0, 360, 1.0, -1)
        else:
            cv2.rectangle(mix, (int(cx - rx), int(cy - ry)), (int(cx + rx), int(cy + ry)), 1.0, -1)
        if rng.random() < 0.5:
            mix *= (_smooth_noise(rng, h, w, 10) > 0).astype(np.float32)
    else:  # a texture: a GIMP pattern when there is one, else mottled
        pats = _gimp_patterns()
        if pats:
            tex = _tile(pats[rng.integers(len(pats))], h, w, rng, rng.uniform(0.2, 0.6)).mean(2)
            mix = (tex - tex.min()) / max(float(np.ptp(tex)), 1e-3)
        else:
            mix = (_smooth_noise(rng, h, w, max(3, w // 4)) > 0).astype(np.float32)
    mix = np.asarray(mix, np.float32)[..., None]
    return colour * (1 - mix) + other * mix


def _hanger(img: np.ndarray, top: tuple[float, float], width: float, rng) -> None:
    """A hanger's hook and shoulders drawn in place above the item's top centre."""
    import cv2

    colour = tuple(float(c) for c in (_colour(rng, (0, 0.3), (0.05, 0.35)) if rng.random() < 0.6 else _colour(rng, (0.0, 0.6), (0.5, 0.95))))
    cx, ty = int(top[0]), int(top[1])
    th = int(rng.integers(1, 3))
    hook = max(4, int(width * 0.12))
    cv2.line(img, (cx - int(width * 0.45), ty + 2), (cx, ty - hook // 2), colour, th, cv2.LINE_AA)
    cv2.line(img, (cx + int(width * 0.45), ty + 2), (cx, ty - hook // 2), colour, th, cv2.LINE_AA)
    cv2.ellipse(img, (cx, ty - hook), (max(2, hook // 2), max(2, hook // 2)), 0, 90, 360, colour, th, cv2.LINE_AA)


def _hand(img: np.ndarray, box: tuple[int, int, int, int], rng) -> None:
    """A skin-toned hand or foot entering from the nearest frame edge onto the item's edge."""
    import cv2

    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    skin = _skin(rng)
    side = rng.integers(4)
    if side == 0:
        centre = (int(rng.uniform(x0, x1)), y1)
    elif side == 1:
        centre = (int(rng.uniform(x0, x1)), y0)
    elif side == 2:
        centre = (x0, int(rng.uniform(y0, y1)))
    else:
        centre = (x1, int(rng.uniform(y0, y1)))
    r = max(4, int(0.12 * max(x1 - x0, y1 - y0)))
    edge = [(centre[0], h + r), (centre[0], -r), (-r, centre[1]), (w + r, centre[1])][side]
    cv2.line(img, edge, centre, tuple(float(c) for c in skin * 0.95), int(r * 1.4), cv2.LINE_AA)  # the arm
    cv2.ellipse(img, centre, (r, int(r * 0.8)), float(rng.uniform(0, 180)), 0, 360, tuple(float(c) for c in skin), -1, cv2.LINE_AA)


def _skin(rng) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(rng.uniform(0.02, 0.09), rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.95)), np.float32)


def _wearer(img: np.ndarray, box: tuple[int, int, int, int], label: int, rng) -> None:
    """The person wearing it, drawn behind the garment: a head and neck above a top, legs or shoes below."""
    import cv2

    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    skin = tuple(float(c) for c in _skin(rng))
    cx = (x0 + x1) // 2
    if label in (0, 2, 4, 6, 3):  # a head on a neck, the collar over the neck
        r = max(3, int(w * rng.uniform(0.12, 0.18)))
        cv2.line(img, (cx, y0 + r // 2), (cx, y0 - r), skin, max(2, r), cv2.LINE_AA)
        cv2.ellipse(img, (cx, y0 - int(1.6 * r)), (r, int(r * 1.25)), 0, 0, 360, skin, -1, cv2.LINE_AA)
        if rng.random() < 0.7:  # hair
            hair = tuple(float(c) for c in _colour(rng, (0.0, 0.6), (0.05, 0.5)))
            cv2.ellipse(img, (cx, y0 - int(1.9 * r)), (int(r * 1.1), int(r * 0.9)), 0, 180, 360, hair, -1, cv2.LINE_AA)
    if label in (1, 3):  # legs under a dress, shoes under trousers
        colour = skin if label == 3 else tuple(float(c) for c in _colour(rng, (0.0, 0.5), (0.05, 0.8)))
        for fx in (0.35, 0.65):
            x = x0 + int(fx * w)
            length = int(h * (rng.uniform(0.2, 0.5) if label == 3 else 0.06))
            cv2.line(img, (x, y1 - 2), (x, y1 + length), colour, max(2, int(w * 0.1)), cv2.LINE_AA)


def _place(alpha: np.ndarray, cloth: np.ndarray, centre: tuple[float, float], size: float, angle: float,
           frame: tuple[int, int], s: Scene, rng) -> tuple[np.ndarray, np.ndarray]:
    """The 28×28 item (coverage, colours) scaled to `size` px, turned by `angle`°, centred at `centre` in a
    frame of (w, h), its corners jittered for perspective: (coverage (h, w), colours (h, w, 3))."""
    import cv2

    m = cv2.getRotationMatrix2D((14.0, 14.0), angle, size / 28.0)
    m[:, 2] += (centre[0] - 14.0, centre[1] - 14.0)
    src = np.float32([[0, 0], [28, 0], [28, 28], [0, 28]])
    dst = cv2.transform(src[None], m)[0] + rng.uniform(-s.perspective, s.perspective, (4, 2)).astype(np.float32) * size
    warp = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    a = cv2.warpPerspective(np.ascontiguousarray(alpha), warp, frame, flags=cv2.INTER_LINEAR, borderValue=0.0)
    garment = cv2.warpPerspective(np.ascontiguousarray(cloth), warp, frame, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return a, garment


# The rendered sets real-photo accuracy is judged on (`fashion-export robustness`, `scripts/still_views.py`):
# camera-sized photos, portrait or landscape.
EVAL_SCENE = Scene(height=240, widths=(320, 240))


def render_sample(x: np.ndarray, y: np.ndarray, n: int, seed: int, s: Scene = EVAL_SCENE) -> tuple[list[np.ndarray], np.ndarray]:
    """(photos, indices): `n` items of (x, y) drawn with `seed`, each rendered with its own generator
    ([seed, index]), so one item renders the same whichever others are drawn."""
    idx = np.random.default_rng(seed).choice(len(x), min(n, len(x)), replace=False)
    return [render_photo(x[i], int(y[i]), np.random.default_rng([seed, int(i)]), s) for i in idx], idx


def render_photo(item: np.ndarray, label: int, rng: np.random.Generator, s: Scene = Scene(), with_mask: bool = False):
    """One 28×28 uint8 item (bright on black) and its class → an (H, W, 3) uint8 RGB "photo" of it.

    `with_mask`: also return the garment's true silhouette (H, W) bool, for measuring masks."""
    import cv2

    h, w = s.height, int(s.widths[rng.integers(len(s.widths))])
    v = item.astype(np.float32) / 255.0
    if rng.random() < s.hflip:
        v = v[:, ::-1]
    # The garment: the item's silhouette, its shading kept as relative light and dark (Fashion-MNIST's
    # bright is a dark garment), in a random colour, often printed.
    alpha = np.clip(v * 12.0, 0.0, 1.0)
    inside = v[alpha > 0.5]
    mean = float(inside.mean()) if inside.size else 0.5
    shade = 1.0 - rng.uniform(*s.shading) * (v - mean)
    colour = _colour(rng)
    cloth = _print(rng, 28, 28, colour) if rng.random() < s.printed else np.broadcast_to(colour, (28, 28, 3))
    cloth = np.clip(cloth * shade[..., None], 0.0, 1.0)

    size = rng.uniform(*s.scale) * min(h, w)
    pair = label in FOOTWEAR and rng.random() < s.pair
    if pair:
        size *= 0.7  # two shoes share the frame
    cx = rng.uniform(min(size / 2, w / 2), max(w - size / 2, w / 2))
    cy = rng.uniform(min(size / 2, h / 2), max(h - size / 2, h / 2))
    turn = s.rotate_footwear if label in FOOTWEAR + (8,) else s.rotate
    a, garment = _place(alpha, cloth, (cx, cy), size, rng.uniform(-turn, turn), (w, h), s, rng)
    if pair:  # the other shoe: the same colour, beside or a little behind, the same way round or mirrored
        dx, dy = rng.uniform(0.45, 1.0) * size * rng.choice([-1, 1]), rng.uniform(-0.25, 0.25) * size
        mirror = rng.random() < 0.3
        other = (alpha[:, ::-1], cloth[:, ::-1]) if mirror else (alpha, cloth)
        a2, g2 = _place(*other, (cx + dx, cy + dy), size * rng.uniform(0.9, 1.05), rng.uniform(-turn, turn), (w, h), s, rng)
        behind = (1 - a) * a2  # the first shoe in front ("over")
        garment, a = garment * a[..., None] + g2 * behind[..., None], a + behind
        garment = garment / np.maximum(a, 1e-6)[..., None]

    img = np.ascontiguousarray(render_scene(rng, h, w, s))
    ys, xs = np.nonzero(a > 0.5)
    box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())) if len(ys) else None
    worn = box is not None and label in (0, 1, 2, 3, 4, 6) and rng.random() < s.worn
    if worn:
        _wearer(img, box, label, rng)
    if rng.random() < s.shadow:  # a soft shadow, offset down and to one side
        off = np.float32([[1, 0, rng.uniform(-4, 4)], [0, 1, rng.uniform(1, 5)]])
        shadow = cv2.GaussianBlur(cv2.warpAffine(a, off, (w, h)), (0, 0), rng.uniform(1.5, 4.0))
        img = img * (1.0 - rng.uniform(0.2, 0.5) * shadow)[..., None]
    img = np.ascontiguousarray(img * (1 - a[..., None]) + garment * a[..., None], dtype=np.float32)

    if box is not None:
        if label in TOPS and not worn and rng.random() < s.hanger:
            _hanger(img, ((box[0] + box[2]) / 2, box[1]), box[2] - box[0], rng)
        if rng.random() < s.hand * (2 if label in FOOTWEAR + (8,) else 1):
            _hand(img, box, rng)

    sigma = rng.uniform(0, s.blur)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img * 255.0 + rng.normal(0, rng.uniform(0, s.noise), img.shape)
    img = np.clip(img, 0, 255) / 255.0
    photo = (img ** rng.uniform(*s.gamma) * 255.0).round().astype(np.uint8)
    return (photo, a > 0.5) if with_mask else photo
