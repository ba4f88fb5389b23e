"""The one place that turns pixels into model input — for training, export checks and the edge app.

Every path ends in a Fashion-MNIST-like 28×28 uint8 image (item bright on a black background);
`to_input` then scales it to [0, 1]. Three modes, named in each model's contract:

- `mnist`: the image already *is* Fashion-MNIST-shaped (the data set itself): nothing to do.
- `seed`:  the study's pipeline, exactly: grayscale → invert → Lanczos resize to 28×28.
- `photo`: real photos and camera frames, following how Fashion-MNIST was made (Xiao et al. 2017):
           find the item (`item_mask`: the colours of the frame's ring, a colour-distance mask, GrabCut),
           crop it, invert only when the background is the lighter side, resize the longest edge, stretch
           contrast, lift a garment as light as its background to a bright silhouette (`lift`), sharpen,
           pad to centre. Its algorithm version (`VERSION`) travels in the contract.

    >>> from edge_app.preprocess import preprocess, PreprocessSpec
    >>> out = preprocess(rgb_array, PreprocessSpec("photo"))   # out.image: (28, 28) uint8, out.has_item
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

SIZE = 28  # model input edge, px (Fashion-MNIST)
MODES = ("mnist", "seed", "photo")


@dataclass(frozen=True)
class PhotoParams:
    """Settings of the `photo` mode; they are written into every model's contract."""

    work_size: int = 64  # longest edge (px) the mask is computed at: speed, and noise reduction
    border: float = 0.06  # width of the frame ring that samples the background's colours, fraction of the edge
    clusters: int = 4  # colour clusters (k-means, CIE Lab) fitted to that ring
    share: float = 0.15  # a cluster holding this share of the ring's corners is background (the rest: item at the edge)
    corner: float = 0.15  # the ring's corners: within this fraction of a side's length from a corner
    side_share: float = 0.75  # …as is one covering this share of any one side (a wall strip above a floor)
    lightness: float = 0.5  # weight of Lab lightness against colour in distances: shadows and folds matter less
    threshold: float = 12.0  # least Lab distance from every background colour that counts as foreground
    noise_q: float = 0.9  # …raised to noise_k × this quantile of the ring's own distances (textured backgrounds)
    noise_k: float = 1.2
    inner: float = 0.04  # ring (fraction of the edge) where only colour, not the centre prior, can claim the item
    sure_bg: float = 0.4  # ring pixels closer than this × the threshold are certainly background
    iterations: int = 2  # GrabCut rounds refining the colour mask (0 = colour mask only)
    keep_ratio: float = 0.2  # keep components at least this fraction of the largest (a pair of shoes)
    min_area: float = 0.01  # foreground below this fraction of the image means "no item"
    min_range: float = 64.0  # least gray-level span stretched to 0–255 (a flat or faint item is not amplified noise)
    margin: float = 0.02  # crop margin around the item, fraction of its longest edge
    fit: int = 28  # the item's longest edge after resizing, px (Fashion-MNIST: 28)
    sharpen: int = 60  # unsharp-mask strength in %, radius 1 (Fashion-MNIST step 4); 0 = off
    mask_background: bool = True  # set everything outside the item mask to black, as in the data set
    lift: float = 0.0  # v3: least median level of the item inside its mask (a white shirt on a white wall); 0 = off, v2's pixels

    def __post_init__(self) -> None:
        if not (16 <= self.work_size <= 512 and 1 <= self.clusters <= 8 and 0 <= self.iterations <= 10):
            raise ValueError(f"photo params out of range: work_size {self.work_size}, clusters {self.clusters}, iterations {self.iterations}")
        if not (0 < self.border < 0.5 and 0 <= self.inner < 0.5 and 0 < self.min_area < 1 and 1 <= self.fit <= SIZE and self.min_range >= 1):
            raise ValueError(f"photo params out of range: border {self.border}, inner {self.inner}, min_area {self.min_area}, fit {self.fit}")
        if not 0 <= self.lift < 255:
            raise ValueError(f"photo params out of range: lift {self.lift} (must be in [0, 255))")


# The photo mode's algorithm version: bumped whenever the same parameters give other pixels.
# 1: gray level against the border's median. 2: colour model of the border + GrabCut (this module).
# 3: v2 plus `PhotoParams.lift`; with lift 0 it makes v2's pixels exactly, so v2 contracts run unchanged.
VERSION = 3


# Still images (a file, a folder) can afford more time than a camera frame: `photo` then also computes
# the mask with each of these changes to the model's PhotoParams, and the classifier averages the
# probabilities of every view that found an item ("no item" only when none did). Chosen on rendered
# casual photos, unseen/ and the empty scenes (docs/real-photos.md); ~5× a camera frame's preprocessing.
STILL_VIEWS: tuple[tuple[tuple[str, Any], ...], ...] = ((("work_size", 96), ("iterations", 3)), (("work_size", 48),))


@dataclass(frozen=True)
class PreprocessSpec:
    """Which mode and with which parameters: the `preprocess` block of a model's contract."""

    mode: str = "photo"  # one of MODES
    photo: PhotoParams = field(default_factory=PhotoParams)  # used only when mode == "photo"
    version: int = VERSION  # the algorithm version the pixels were made with (see VERSION)
    # still images only: further `photo` views, each a set of PhotoParams changes (see STILL_VIEWS)
    still: tuple[tuple[tuple[str, Any], ...], ...] = STILL_VIEWS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown preprocessing mode {self.mode!r}; valid: {', '.join(MODES)}")
        # one spelling per view (a contract's JSON sorts keys): the changes sorted by name
        object.__setattr__(self, "still", tuple(tuple(sorted(dict(change).items())) for change in self.still))
        self.views()  # every still view is a valid PhotoParams

    def views(self) -> list[PhotoParams]:
        """The PhotoParams of a still image's views: the camera's own first, then `still`'s."""
        return [self.photo] + [replace(self.photo, **dict(change)) for change in self.still]

    def to_dict(self) -> dict[str, Any]:
        params = asdict(self.photo) if self.mode == "photo" else {}
        still = [dict(change) for change in self.still] if self.mode == "photo" else []
        return {"mode": self.mode, "version": self.version, "params": params, "still": still}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PreprocessSpec":
        """The spec a contract or metrics.json names; one without a version predates versions (1),
        one without `still` views classifies a still image like a camera frame. Before v3 there was no
        `lift`: an older contract's pixels were made without it, whatever its params say."""
        mode, version = data.get("mode", "photo"), int(data.get("version", 1))
        known = set(PhotoParams.__dataclass_fields__) - ({"lift"} if version < 3 else set())
        params = {k: v for k, v in (data.get("params") or {}).items() if k in known}
        still = tuple(tuple((k, v) for k, v in change.items() if k in known) for change in data.get("still") or [])
        return cls(mode=mode, photo=PhotoParams(**params), version=version, still=still)

    def mismatch(self) -> str | None:
        """Why this edge app cannot reproduce the spec's pixels exactly, or None when it can."""
        if self.mode == "photo" and self.version != VERSION and not (self.version == 2 and not self.photo.lift):
            return f"the model was trained with photo preprocessing v{self.version}; this edge app implements v{VERSION}"
        return None


@dataclass(frozen=True)
class Preprocessed:
    image: np.ndarray  # (28, 28) uint8, item bright on black
    has_item: bool  # False when `photo` found no foreground object ("no item")


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 pixels (…, 28, 28) → float32 model input in [0, 1], with a channel axis (…, 28, 28, 1)."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]


def to_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any PIL image or array → uint8 H×W (gray) or H×W×3 (RGB), transparency composited on white.

    16-bit and float images are scaled (not clipped) into 0–255; palette and CMYK become RGB.
    White, not black, behind transparency: product shots are cut out on white, and a black
    backdrop would read as Fashion-MNIST's own background and flip the polarity.
    """
    if isinstance(image, Image.Image):
        if image.mode.startswith("I;16") or image.mode in ("I", "F"):
            return to_uint8(np.asarray(image), sixteen_bit=True)
        if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        return np.asarray(image if image.mode == "L" else image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr, sixteen_bit=arr.dtype == np.uint16 or (arr.dtype.kind in "iu" and arr.max(initial=0) > 255))
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 4:  # RGBA array: composite on white
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"expected an H×W, H×W×3 or H×W×4 image, got shape {arr.shape}")
    return arr


def to_gray(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any image → H×W uint8 gray: the one colour conversion (PIL's ITU-R 601-2 luma), RGB order."""
    arr = to_array(image)
    if arr.ndim == 2:
        return np.ascontiguousarray(arr)
    return np.asarray(Image.fromarray(np.ascontiguousarray(arr), "RGB").convert("L"))


def to_uint8(arr: np.ndarray, sixteen_bit: bool = False) -> np.ndarray:
    """Deeper or float pixels → 0–255, scaled rather than clipped.

    `sixteen_bit`: integers are 16-bit (65535 → 255, rounded; exact at both ends). Otherwise floats
    are 0–1 when they stay within it, else 0–255, and other integers are clipped to 0–255.
    """
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr.astype(np.float64))
        scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if sixteen_bit:
        wide = np.clip(arr.astype(np.int64), 0, 65535)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    return np.clip(arr, 0, 255).astype(np.uint8)


def preprocess(image: Image.Image | np.ndarray, spec: PreprocessSpec = PreprocessSpec()) -> Preprocessed:
    """One image (PIL, or RGB/gray array) → a 28×28 uint8 Fashion-MNIST-like image, per `spec.mode`."""
    if spec.mode == "mnist":
        arr = to_gray(image)
        if arr.shape != (SIZE, SIZE):
            raise ValueError(f"mode 'mnist' expects a 28×28 image, got {arr.shape}; use 'photo' or 'seed'")
        return Preprocessed(arr, True)
    if spec.mode == "seed":
        return Preprocessed(_seed(image), True)
    return _photo(image, spec.photo)


def preprocess_views(image: Image.Image | np.ndarray, spec: PreprocessSpec = PreprocessSpec()) -> list[Preprocessed]:
    """A still image's views: one per `spec.views()` in `photo` mode (the first is `preprocess`'s), else one."""
    if spec.mode != "photo" or not spec.still:
        return [preprocess(image, spec)]
    arr = to_array(image)  # decoded and composited once for every view
    return [_photo(arr, p) for p in spec.views()]


def preprocess_batch(images: list, spec: PreprocessSpec = PreprocessSpec()) -> tuple[np.ndarray, np.ndarray]:
    """Many images → ((N, 28, 28) uint8, (N,) bool has_item)."""
    outs = [preprocess(im, spec) for im in images]
    if not outs:
        return np.zeros((0, SIZE, SIZE), np.uint8), np.zeros((0,), bool)
    return np.stack([o.image for o in outs]), np.array([o.has_item for o in outs])


# --- seed: the study's pipeline -------------------------------------------------------------------


def _seed(image: Image.Image | np.ndarray) -> np.ndarray:
    # The study: grayscale → invert → resize to 28×28 with Lanczos (aspect not kept) → /255 later.
    gray = Image.fromarray(to_gray(image), "L")
    return np.asarray(ImageOps.invert(gray).resize((SIZE, SIZE), Image.LANCZOS))


# --- photo: Fashion-MNIST's own recipe, made robust for real photos ----------------------------------


def _cv2():
    try:
        import cv2  # lazily: the edge app's only optional native dependency
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("'photo' preprocessing needs OpenCV: pip install 'fashion-edge[edge]'") from exc
    return cv2


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), bilinear when growing.

    A large shrink first decimates to about twice the target (a strided view costs nothing), then
    area-averages: ~10× cheaper than area-averaging a whole 640×480 frame, and nearly as smooth.
    """
    cv2 = _cv2()
    step = max(1, min(arr.shape[0] // (2 * height), arr.shape[1] // (2 * width)))
    if step > 1:
        arr = np.ascontiguousarray(arr[::step, ::step])
    shrink = width <= arr.shape[1] and height <= arr.shape[0]
    return cv2.resize(arr, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _photo(image: Image.Image | np.ndarray, p: PhotoParams) -> Preprocessed:
    arr = to_array(image)
    h, w = arr.shape[:2]
    empty = Preprocessed(np.zeros((SIZE, SIZE), np.uint8), False)
    if h < 2 or w < 2:
        return empty

    # 1. A small working copy for the mask: cheap on a 640×480 frame, and averaging smooths noise.
    arr, small, scale = working_copy(arr, p.work_size)
    mask = item_mask(small, p)
    return empty if mask is None else _from_mask(arr, small, scale, mask, p)


def photo_from_mask(image: Image.Image | np.ndarray, mask: np.ndarray, p: PhotoParams = PhotoParams()) -> Preprocessed:
    """`photo` mode with a given item mask (H×W bool, the image's own size) in place of `item_mask`'s:
    what the rest of the pipeline makes of a perfect mask (`scripts/mask_cost.py`). Not a camera path."""
    cv2 = _cv2()
    arr = to_array(image)
    mask = np.asarray(mask) > 0.5
    if mask.shape != arr.shape[:2]:
        raise ValueError(f"mask is {mask.shape}, the image {arr.shape[:2]}")
    arr, small, scale = working_copy(arr, p.work_size)
    small_mask = cv2.resize(mask.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
    if min(arr.shape[:2]) < 2 or small_mask.sum() < p.min_area * small_mask.size:
        return Preprocessed(np.zeros((SIZE, SIZE), np.uint8), False)
    return _from_mask(arr, small, scale, small_mask, p)


def _from_mask(arr: np.ndarray, small: np.ndarray, scale: float, mask: np.ndarray, p: PhotoParams) -> Preprocessed:
    """Steps 2–5 of `photo` mode: the full image, its working copy and the item's mask on that copy → 28×28."""
    h, w = arr.shape[:2]
    gray = to_gray(small)
    sh, sw = mask.shape

    # 2. Polarity: Fashion-MNIST items are bright on black, so invert when the background is lighter.
    bg = float(np.median(gray[~mask])) if (~mask).any() else float(np.median(_ring(gray[..., None], 1)))
    invert = float(np.median(gray[mask])) < bg
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    m = round(p.margin * max(y1 - y0, x1 - x0))
    y0, x0, y1, x1 = max(0, y0 - m), max(0, x0 - m), min(sh, y1 + m), min(sw, x1 + m)

    # 3. Contrast: the item's range → 0–255, from the background level (or the item's own 2nd
    #    percentile, or `min_range` under its 99th, whichever is lowest) to that 99th percentile.
    #    A garment as light as the wall behind it, or one flat colour, stays a visible silhouette.
    vals = gray[mask].astype(np.float32)
    if invert:
        vals, bg = 255.0 - vals, 255.0 - bg
    hi = float(np.percentile(vals, 99))
    lo = min(bg, float(np.percentile(vals, 2)), hi - p.min_range)
    gain = 255.0 / (hi - lo)

    # 4. Crop at full resolution, resize the longest edge to `fit` (aspect kept), then gray.
    fy0, fx0 = int(y0 / scale), int(x0 / scale)
    fy1, fx1 = min(h, max(fy0 + 1, int(np.ceil(y1 / scale)))), min(w, max(fx0 + 1, int(np.ceil(x1 / scale))))
    ch, cw = fy1 - fy0, fx1 - fx0
    k = p.fit / max(ch, cw)
    nh, nw = max(1, min(SIZE, round(ch * k))), max(1, min(SIZE, round(cw * k)))
    item = to_gray(_resize(np.ascontiguousarray(arr[fy0:fy1, fx0:fx1]), nw, nh)).astype(np.float32)
    if invert:
        item = 255.0 - item
    item = ((item - lo) * gain).clip(0, 255)
    soft = _resize(mask[y0:y1, x0:x1].astype(np.float32), nw, nh)  # the mask, scaled the same way, soft at the edges
    if p.lift:
        item = _lift(item, soft, p.lift)
    if p.mask_background:
        item *= soft
    item = item.clip(0, 255).round().astype(np.uint8)

    # 5. Sharpen (Fashion-MNIST's step 4), pad to 28×28 centred.
    if p.sharpen:
        item = np.asarray(Image.fromarray(item, "L").filter(ImageFilter.UnsharpMask(radius=1, percent=p.sharpen, threshold=0)))
    out = np.zeros((SIZE, SIZE), np.uint8)
    oy, ox = (SIZE - nh) // 2, (SIZE - nw) // 2
    out[oy : oy + nh, ox : ox + nw] = item
    return Preprocessed(out, True)


def _lift(item: np.ndarray, soft: np.ndarray, level: float) -> np.ndarray:
    """Fashion-MNIST's items are bright inside their outline whatever their colour (median level 118–194
    per class); a garment as light as its background comes out of the contrast step dark inside, only
    its print or seams showing. Lift such an item linearly so that its median inside the mask reaches
    about `level` (exactly where the soft mask is 1), 255 staying 255; an item already that bright is
    left as it is."""
    inside = soft > 0.5
    med = float(np.median(item[inside])) if inside.any() else 255.0
    if med >= level:
        return item
    return item + (level - med) / (1.0 - med / 255.0) * soft * (1.0 - item / 255.0)


def working_copy(image: Image.Image | np.ndarray, work_size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(full RGB array, RGB copy with its longest edge at most `work_size` px, scale from full to copy).

    A gray image becomes three equal channels: the mask's colour model is the same for it."""
    arr = to_array(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    h, w = arr.shape[:2]
    scale = min(1.0, work_size / max(h, w))
    small = arr if scale >= 1.0 else _resize(arr, max(2, round(w * scale)), max(2, round(h * scale)))
    return arr, small, scale


def _ring(a: np.ndarray, b: int) -> np.ndarray:
    """The pixels (rows of channels) of an H×W×C array's outer ring, `b` px wide, each pixel once."""
    c = a.shape[-1]
    return np.concatenate([a[:b].reshape(-1, c), a[-b:].reshape(-1, c), a[b:-b, :b].reshape(-1, c), a[b:-b, -b:].reshape(-1, c)])


@lru_cache(maxsize=64)
def _corner_ring(sh: int, sw: int, b: int, corner: float) -> np.ndarray:
    """Which ring pixels (in `_ring`'s order) lie within `corner` × the side's length of a frame corner.

    Cached: a camera's frames all have one size. Returned read-only: callers only index with it."""
    yy, xx = np.mgrid[0:sh, 0:sw]
    near = (np.minimum(yy, sh - 1 - yy) < corner * sh) & (np.minimum(xx, sw - 1 - xx) < corner * sw)
    out = _ring(near[..., None], b).ravel()
    out.flags.writeable = False
    return out


def _nearest_distance(lab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each pixel's (H×W×3, float32) Euclidean distance to the nearest of `centres` (K×3, float32).

    One centre at a time over the three channel planes: the same float32 sums in the same order as
    broadcasting over (pixels, centres, channels), without the (H·W)×K×3 temporary, ~10× faster."""
    planes = [np.ascontiguousarray(lab[..., c]) for c in range(3)]
    best = None
    for centre in centres:
        d = (planes[0] - centre[0]) ** 2
        d += (planes[1] - centre[1]) ** 2
        d += (planes[2] - centre[2]) ** 2
        best = d if best is None else np.minimum(best, d, out=best)
    return np.sqrt(best)


def _side_shares(assigned: np.ndarray, sh: int, sw: int, b: int, k: int) -> np.ndarray:
    """Each cluster's largest share of one side of the ring (top, bottom, left, right; `_ring`'s order)."""
    sizes = [b * sw, b * sw, (sh - 2 * b) * b, (sh - 2 * b) * b]
    sides = np.split(assigned, np.cumsum(sizes)[:-1])
    return np.max([np.bincount(side, minlength=k) / max(1, len(side)) for side in sides if len(side)], axis=0)


def item_mask(small: np.ndarray, p: PhotoParams = PhotoParams()) -> np.ndarray | None:
    """The item's mask on a small RGB working copy (H×W bool), or None for an empty scene.

    1. The background's colours: k-means (CIE Lab, lightness down-weighted) over the frame's outer
       ring; clusters with a real share of the ring are background, small ones are the item touching
       the edge. 2. Each pixel's distance to the nearest background colour; the threshold rises with
       the ring's own spread (wood, bedsheets, tiles). Too little far from the background: no item.
    3. GrabCut refines it: the centre may be item, the ring only where its colour says so, and ring
       pixels close to a background colour are certainly background. 4. The main component(s), holes
       filled (prints, stripes and logos inside a garment belong to it).
    """
    cv2 = _cv2()
    sh, sw = small.shape[:2]
    lab = cv2.cvtColor(cv2.GaussianBlur(np.ascontiguousarray(small), (3, 3), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= p.lightness
    b = max(1, round(p.border * max(sh, sw)))
    ring = _ring(lab, b)
    cv2.setRNGSeed(0)  # k-means++ seeding: the same frame always gives the same mask
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 8, 1.0)
    k = min(p.clusters, len(ring))
    _, assigned, centres = cv2.kmeans(ring, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    assigned = assigned.ravel()
    corners = _corner_ring(sh, sw, b, p.corner)
    shares = np.bincount(assigned[corners], minlength=k) / max(1, corners.sum())
    background = (shares >= min(p.share, shares.max())) | (_side_shares(assigned, sh, sw, b, k) >= p.side_share)
    dist = _nearest_distance(lab, centres[background])
    ring_dist = _ring(dist[..., None], b).ravel()[background[assigned]]
    thr = max(p.threshold, p.noise_k * float(np.quantile(ring_dist, p.noise_q)))
    far = dist > thr
    # Empty scene: too little is far from the background once lines and specks one pixel thin are
    # opened away (a skirting board, a seam between planks, the grain of a rug).
    solid = cv2.morphologyEx(far.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    if solid.sum() < p.min_area * sh * sw:
        return None

    mask = far
    if p.iterations:
        ib = max(1, round(p.inner * max(sh, sw)))
        edge = np.ones((sh, sw), bool)
        edge[ib:-ib, ib:-ib] = False
        gc = np.full((sh, sw), cv2.GC_PR_FGD, np.uint8)
        gc[edge & ~far] = cv2.GC_PR_BGD
        gc[edge & (dist < p.sure_bg * thr)] = cv2.GC_BGD
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        try:
            cv2.grabCut(np.ascontiguousarray(small[:, :, ::-1]), gc, None, bgd, fgd, p.iterations, cv2.GC_INIT_WITH_MASK)
            mask = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
        except cv2.error:  # a degenerate colour model (e.g. one flat colour): keep the colour mask
            pass
    mask = _fill_holes(_main_components(mask, p.keep_ratio))
    if mask.sum() < p.min_area * sh * sw:
        return None
    return mask


def _main_components(mask: np.ndarray, keep_ratio: float) -> np.ndarray:
    """The largest 8-connected component, and any at least `keep_ratio` of its size (a pair of shoes)."""
    cv2 = _cv2()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)  # a lookup by label: what np.isin does, without its sort
    keep[1:] = areas >= keep_ratio * areas.max()
    return keep[labels]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Background pixels that the outside cannot reach (through 4-neighbours) become item."""
    cv2 = _cv2()
    outside = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)  # a one-pixel frame of background
    outside[1:-1, 1:-1] = mask
    cv2.floodFill(outside, None, (0, 0), 2)
    return mask | (outside[1:-1, 1:-1] == 0)
