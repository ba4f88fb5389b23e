"""Corrupted copies of 28×28 images: the MNIST-C list, plus contrast, inversion and horizontal flip.

The one place that defines what `fashion-export robustness` (accuracy per corruption and severity, via
`corruption_suite`) and `fashion-export check` (the drift check's corrupted test set, via `corrupt_mixed`)
evaluate on.

    >>> for name, severity, x, y in corruption_suite(x_test, y_test): print(name, severity, evaluate(x, y))

Images are uint8 arrays shaped (N, 28, 28): a bright item on a black background, as in Fashion-MNIST.
What each corruption does follows MNIST-C (Mu & Gilmer 2019, https://github.com/google-research/mnist-c),
whose strengths were chosen to keep the label obvious to a person. Severity 3 is about MNIST-C's strength
(the harshest we test); 1 and 2 are gentler steps towards it. Exceptions, all noted in `_LEVELS`: shot
noise and fog stop a little short of it, as Fashion-MNIST's dim, textured items vanish sooner than white
digit strokes; the line corruptions draw `severity` lines (MNIST-C draws one); and inversion and flip
have no strength, so their three severities give the same image.

Transforms come from albumentations 2.0.x where it has them (noise, blurs, affine, brightness, spatter,
flip, inversion), and from OpenCV and NumPy for the rest (stripe, fog, contrast, dotted line, zigzag,
canny edges). Deterministic: image i of a call gets its own seed from (seed, corruption, severity, i),
so a result does not depend on batch size, on the order of calls, or on which other corruptions ran.
Pass `start=` when corrupting a slice: `corrupt(x[a:b], ..., start=a) == corrupt(x, ...)[a:b]`.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

# albumentations asks the network for a newer version on import; there is none here (and no need).
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402

CORRUPTIONS: tuple[str, ...] = (
    # MNIST-C's fifteen, in its order …
    "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness",
    "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges",
    # … and three more a camera in the wild produces: a dim or washed-out frame, a negative, a mirror image.
    "contrast", "inversion", "hflip",
)  # fmt: skip
SEVERITIES: tuple[int, ...] = (1, 2, 3)

SIZE = 28  # images are SIZE × SIZE

# Per corruption, its parameter at severities 1, 2, 3 (the last is MNIST-C's where it has one).
_LEVELS: dict[str, tuple[Any, Any, Any]] = {
    # Poisson photon counting: photons per unit of (linear) intensity; fewer photons, more noise.
    # (MNIST-C: 3, counted on gamma-encoded values; 3 photons in linear light leave little of a grey item.)
    "shot_noise": (30, 12, 5),
    # Fraction of pixels set to black or white, half each (MNIST-C: 0.17).
    "impulse_noise": (0.05, 0.10, 0.17),
    # (Gaussian sigma, max pixel shuffle distance, shuffle passes) (MNIST-C: (0.7, 1, 2)).
    "glass_blur": ((0.5, 1, 1), (0.6, 1, 2), (0.7, 1, 2)),
    # Kernel size of the motion streak, within 45° of horizontal (MNIST-C: ImageMagick's one-sided Gaussian
    # streak, sigma 3 px).
    "motion_blur": (3, 5, 7),
    # Horizontal shear angle in degrees, random sign (MNIST-C: skimage shear 0.4 rad, about 21°).
    "shear": (10, 16, 21),
    # Zoom-out factor about the centre (MNIST-C: 0.7).
    "scale": (0.9, 0.8, 0.7),
    # Rotation in degrees, random sign (MNIST-C: 0.4 rad, about 23°).
    "rotate": (10, 17, 23),
    # Added to every pixel, as a fraction of 255 (MNIST-C: 0.5, via HSV value, which is the same on grey).
    "brightness": (0.2, 0.35, 0.5),
    # Shift in pixels along each axis, random signs (MNIST-C: 3).
    "translate": (1, 2, 3),
    # Width in pixels of the inverted band at the left and at the right edge (MNIST-C: 7).
    "stripe": (3, 5, 7),
    # (Fog strength relative to the image's peak, plasma roughness) (MNIST-C: (3.0, 1/1.4), under which
    # dim items such as sandals disappear).
    "fog": ((1.0, 0.5), (1.75, 0.6), (2.5, 0.7)),
    # Mud drops: (liquid threshold, fewer drops when higher; opacity) (MNIST-C: 0.65 and opaque).
    "spatter": ((0.75, 1.0), (0.70, 1.0), (0.65, 1.0)),
    # Number of dotted lines (MNIST-C: one).
    "dotted_line": (1, 2, 3),
    # Number of zigzag lines (MNIST-C: one).
    "zigzag": (1, 2, 3),
    # How much of the original fill is left under the edges (MNIST-C: none, edges only).
    "canny_edges": (0.5, 0.25, 0.0),
    # Factor on the distance from the image mean (ImageNet-C's 1–3: 0.4, 0.3, 0.2).
    "contrast": (0.4, 0.3, 0.2),
    # No strength: the same image at every severity.
    "inversion": (None, None, None),
    "hflip": (None, None, None),
}
assert tuple(_LEVELS) == CORRUPTIONS


# ---------------------------------------------------------------------------------------------------------
# Public API


def corrupt(images: np.ndarray, name: str, severity: int = 2, seed: int = 0, *, start: int = 0) -> np.ndarray:
    """`images` (N, 28, 28) uint8 with corruption `name` at `severity` (1–3), as a new (N, 28, 28) uint8 array.

    Image i is corrupted under a seed derived from (seed, name, severity, start + i) alone; `start` is the
    index of images[0] in the whole set, so corrupting a set in slices gives the same result as all at once.
    """
    images = _check_images(images)
    _check(name, severity, seed)
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    return _apply(images, name, severity, seed, np.arange(start, start + len(images)))


def corrupt_mixed(images: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """The drift check's corrupted copy of a set: every corruption at every severity, in equal shares.

    Image i gets CORRUPTIONS[i % 18] at severity 1 + (i // 18) % 3, so any 54 consecutive images hold each
    (corruption, severity) pair once, and each image is exactly `corrupt(images, name, severity, seed)[i]`.
    A fixed rotation rather than a random draw: every pair is present in equal numbers even in small sets,
    and classes stay evenly spread because the set's order is unrelated to the rotation.
    Returns the images and the (name, severity) that each got.
    """
    images = _check_images(images)
    _check(CORRUPTIONS[0], SEVERITIES[0], seed)
    index = np.arange(len(images))
    kinds, grades = index % len(CORRUPTIONS), (index // len(CORRUPTIONS)) % len(SEVERITIES)
    out = np.empty_like(images)
    for k, name in enumerate(CORRUPTIONS):
        for g, severity in enumerate(SEVERITIES):
            if len(chosen := index[(kinds == k) & (grades == g)]):
                out[chosen] = _apply(images[chosen], name, severity, seed, chosen)
    which = [(CORRUPTIONS[k], SEVERITIES[g]) for k, g in zip(kinds, grades)]
    return out, which


def corruption_suite(
    images: np.ndarray,
    labels: np.ndarray | None = None,
    names: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    seed: int = 0,
    limit: int | None = None,
) -> Iterator[tuple[str, int, np.ndarray, np.ndarray | None]]:
    """Yield (name, severity, corrupted images, labels) for every name × severity, names outermost.

    `limit` keeps a seeded random subset of that many images (in their original order; not stratified,
    which for a shuffled, balanced set such as Fashion-MNIST's makes little difference) for quick runs.
    Each kept image keeps its index in the whole set, so it is corrupted exactly as in a full run.
    Arguments are checked at once, before the first item is produced.
    """
    images = _check_images(images)
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
    for name in names:
        for severity in severities:
            _check(name, severity, seed)
    index = np.arange(len(images))
    if limit is not None and limit < len(images):
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        index = np.sort(np.random.default_rng(seed).choice(len(images), size=limit, replace=False))
        images = images[index]
        labels = None if labels is None else labels[index]
    return _suite(images, labels, list(names), list(severities), seed, index)


def _suite(
    images: np.ndarray,
    labels: np.ndarray | None,
    names: list[str],
    severities: list[int],
    seed: int,
    index: np.ndarray,
) -> Iterator[tuple[str, int, np.ndarray, np.ndarray | None]]:
    for name in names:
        for severity in severities:
            yield name, severity, _apply(images, name, severity, seed, index), labels


# ---------------------------------------------------------------------------------------------------------
# Plumbing


def _apply(images: np.ndarray, name: str, severity: int, seed: int, index: np.ndarray) -> np.ndarray:
    if len(images) == 0:
        return images.copy()
    seeds = None if name in _DETERMINISTIC else _image_seeds(seed, name, severity, index)
    return _FUNCTIONS[name](images, seeds, _LEVELS[name][severity - 1])


def _image_seeds(seed: int, name: str, severity: int, index: np.ndarray) -> np.ndarray:
    """One uint32 seed per image from (seed, name, severity, index) through NumPy's SeedSequence, which
    mixes its inputs so that neighbouring indices or seeds give unrelated streams. The name enters as its
    CRC-32, not its position in CORRUPTIONS, so adding a corruption changes no other's images."""
    key = zlib.crc32(name.encode())
    return np.array(
        [np.random.SeedSequence([seed, key, severity, int(i)]).generate_state(1)[0] for i in index], np.uint32
    )


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE) or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images shaped (N, {SIZE}, {SIZE}), got {images.dtype} {images.shape}")
    return np.ascontiguousarray(images)  # cv2 and albumentations want contiguous rows


def _check(name: str, severity: int, seed: int) -> None:
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose from: {', '.join(CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


# ---------------------------------------------------------------------------------------------------------
# The corruptions. Each takes the batch (n, 28, 28) uint8, one uint32 seed per image (None for the
# deterministic ones) and its level from `_LEVELS`, and returns a new batch; it never writes to its input.

Corruption = Callable[[np.ndarray, "np.ndarray | None", Any], np.ndarray]
_FUNCTIONS: dict[str, Corruption] = {}
_DETERMINISTIC: set[str] = set()  # the same output whatever the seed


def _corruption(name: str, *, random: bool = True) -> Callable[[Corruption], Corruption]:
    def register(function: Corruption) -> Corruption:
        _FUNCTIONS[name] = function
        if not random:
            _DETERMINISTIC.add(name)
        return function

    return register


def _each(transform: A.BasicTransform, images: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Run an albumentations transform image by image, each under its own seed (this is what makes it
    reproducible: albumentations draws its parameters and noise from the transform's own generators)."""
    out = np.empty_like(images)
    for j, (image, seed) in enumerate(zip(images, seeds)):
        transform.set_random_seed(int(seed))
        out[j] = transform(image=image)["image"]
    return out


def _pick(transforms: Sequence[A.BasicTransform], images: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Apply one of several fixed transforms to each image, chosen by its seed: MNIST-C's fixed magnitude
    with a random sign. (Seeds are uniform, so seed % k is a fair choice; A.OneOf would cost 3× as much.)"""
    return _one_by_one([transforms[seed % len(transforms)] for seed in seeds], images)


def _one_by_one(transforms: Sequence[A.BasicTransform], images: np.ndarray) -> np.ndarray:
    # Geometric transforms go one image at a time: albumentations warps a batch as one many-channel image,
    # and OpenCV's rounding then depends on the channel count, i.e. on the batch size.
    out = np.empty_like(images)
    for j, (transform, image) in enumerate(zip(transforms, images)):
        out[j] = transform(image=image)["image"]
    return out


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


@_corruption("shot_noise")
def _shot_noise(images: np.ndarray, seeds: np.ndarray, photons: float) -> np.ndarray:
    # albumentations counts photons in linear light (gamma 2.2), so dark greys get noisier than MNIST-C's.
    return _each(A.ShotNoise(scale_range=(1 / photons, 1 / photons), p=1), images, seeds)


@_corruption("impulse_noise")
def _impulse_noise(images: np.ndarray, seeds: np.ndarray, amount: float) -> np.ndarray:
    return _each(A.SaltAndPepper(amount=(amount, amount), salt_vs_pepper=(0.5, 0.5), p=1), images, seeds)


@_corruption("glass_blur")
def _glass_blur(images: np.ndarray, seeds: np.ndarray, level: tuple[float, int, int]) -> np.ndarray:
    sigma, max_delta, iterations = level
    return _each(A.GlassBlur(sigma=sigma, max_delta=max_delta, iterations=iterations, p=1), images, seeds)


@_corruption("motion_blur")
def _motion_blur(images: np.ndarray, seeds: np.ndarray, length: int) -> np.ndarray:
    # Within 45° of horizontal, as MNIST-C. albumentations wants angles in 0–360, so that is 135–225: the
    # same streaks, as it also draws which way along the line the blur leans. allow_shifted=False keeps the
    # kernel centred, so the item is smeared, not also moved.
    blur = A.MotionBlur(blur_limit=(length, length), angle_range=(135, 225), allow_shifted=False, p=1)
    return _each(blur, images, seeds)


@_corruption("shear")
def _shear(images: np.ndarray, seeds: np.ndarray, degrees: float) -> np.ndarray:
    shears = [A.Affine(shear={"x": (d, d), "y": (0, 0)}, p=1) for d in (degrees, -degrees)]
    return _pick(shears, images, seeds)


@_corruption("scale", random=False)
def _scale(images: np.ndarray, seeds: None, factor: float) -> np.ndarray:
    return _one_by_one([A.Affine(scale=(factor, factor), p=1)] * len(images), images)


@_corruption("rotate")
def _rotate(images: np.ndarray, seeds: np.ndarray, degrees: float) -> np.ndarray:
    return _pick([A.Affine(rotate=(d, d), p=1) for d in (degrees, -degrees)], images, seeds)


@_corruption("brightness", random=False)
def _brightness(images: np.ndarray, seeds: None, amount: float) -> np.ndarray:
    brighten = A.RandomBrightnessContrast(brightness_limit=(amount, amount), contrast_limit=(0, 0), p=1)
    return brighten(images=images)["images"]


@_corruption("translate")
def _translate(images: np.ndarray, seeds: np.ndarray, pixels: int) -> np.ndarray:
    signs = [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    shifts = [A.Affine(translate_px={"x": (sx * pixels,) * 2, "y": (sy * pixels,) * 2}, p=1) for sx, sy in signs]
    return _pick(shifts, images, seeds)


@_corruption("stripe", random=False)
def _stripe(images: np.ndarray, seeds: None, width: int) -> np.ndarray:
    out = images.copy()
    out[:, :, :width] = 255 - out[:, :, :width]
    out[:, :, -width:] = 255 - out[:, :, -width:]
    return out


def _fractal_noise(rng: np.random.Generator, roughness: float) -> np.ndarray:
    """Fractal ("plasma") noise in [0, 1]: random grids of 3², 5², 9² and 17² points, each smoothly
    upsampled to 28² and weighted roughness**octave. It looks like MNIST-C's diamond-square plasma at a
    small part of the cost of albumentations' plasma generator (~0.3 ms for one 28² map)."""
    noise = np.zeros((SIZE, SIZE), np.float32)
    for octave, points in enumerate((3, 5, 9, 17)):
        grid = rng.random((points, points), dtype=np.float32)
        noise += roughness**octave * cv2.resize(grid, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    noise -= noise.min()
    return noise / max(float(noise.max()), 1e-6)


@_corruption("fog")
def _fog(images: np.ndarray, seeds: np.ndarray, level: tuple[float, float]) -> np.ndarray:
    # MNIST-C: add strength × fog, then rescale so the brightest pixel stays as bright as before.
    # (albumentations' RandomFog, soft circles plus a size-dependent blur, mostly just blurs a 28×28 image.)
    strength, roughness = level
    out = np.empty_like(images)
    for j, (image, seed) in enumerate(zip(images, seeds)):
        x = image.astype(np.float32) / 255
        peak = float(x.max())
        x += strength * _fractal_noise(np.random.default_rng(seed), roughness)
        out[j] = _to_uint8(255 * np.clip(x * peak / (peak + strength), 0, 1))
    return out


@_corruption("spatter")
def _spatter(images: np.ndarray, seeds: np.ndarray, level: tuple[float, float]) -> np.ndarray:
    # MNIST-C's mud: opaque dark-grey (63) blobs. albumentations' Spatter wants three channels; the image and
    # the colour are grey, so all three come back equal and we keep one.
    threshold, opacity = level
    mud = A.Spatter(
        mean=(0.65, 0.65), std=(0.3, 0.3), gauss_sigma=(1, 1), cutout_threshold=(threshold, threshold),
        intensity=(opacity, opacity), mode="mud", color=(63, 63, 63), p=1,
    )  # fmt: skip
    rgb = np.repeat(images[..., None], 3, axis=-1)
    return _each(mud, rgb, seeds)[..., 0].copy()


_DASHES = (np.arange(SIZE) // 2) % 2 == 1  # columns a dotted line shows: 2 on, 2 off, as MNIST-C
_SUBPIXEL = 4  # cv2 drawing takes fixed-point coordinates: 2**4 steps per pixel


def _draw(polyline: np.ndarray) -> np.ndarray:
    """An antialiased bright line, about two pixels wide like MNIST-C's, through (x, y) points."""
    canvas = np.zeros((SIZE, SIZE), np.uint8)
    points = np.rint(polyline * 2**_SUBPIXEL).astype(np.int32)
    cv2.polylines(canvas, [points], False, 255, thickness=1, lineType=cv2.LINE_AA, shift=_SUBPIXEL)
    return canvas


def _add_lines(
    images: np.ndarray, seeds: np.ndarray, count: int, line: Callable[[np.random.Generator], np.ndarray]
) -> np.ndarray:
    out = np.empty_like(images)
    for j, (image, seed) in enumerate(zip(images, seeds)):
        rng = np.random.default_rng(seed)
        layer = np.max([line(rng) for _ in range(count)], axis=0)
        out[j] = cv2.add(image, layer)  # saturating: lines are drawn over the item, white on white stays white
    return out


def _dotted(rng: np.random.Generator) -> np.ndarray:
    # MNIST-C: edge to edge, from a random row on the left to a random row on the right, then dashed.
    left, right = rng.integers(0, SIZE - 1, size=2)
    line = _draw(np.array([[0, left], [SIZE - 1, right]], np.float64))
    line[:, ~_DASHES] = 0
    return line


def _zigzag(rng: np.random.Generator) -> np.ndarray:
    # MNIST-C: from column 2 to 25 at a gentle random slope, with ±2 px teeth every 4 px along the way.
    x0, x1 = 2.0, 25.0
    y0 = float(rng.integers(0, SIZE - 1))
    y1 = y0 + float(rng.integers(-5, 5))
    theta = np.arctan2(y1 - y0, x1 - x0)
    length = np.hypot(x1 - x0, y1 - y0)
    along = np.concatenate([[0.0], np.arange(2.0, length, 4.0), [length]])
    across = np.zeros_like(along)
    across[1:-1] = 2.0 * (-1.0) ** np.arange(len(along) - 2)
    cos, sin = np.cos(theta), np.sin(theta)
    points = np.stack([x0 + along * cos - across * sin, y0 + along * sin + across * cos], axis=1)
    return _draw(points)


@_corruption("dotted_line")
def _dotted_line(images: np.ndarray, seeds: np.ndarray, count: int) -> np.ndarray:
    return _add_lines(images, seeds, count, _dotted)


@_corruption("zigzag")
def _zigzag_line(images: np.ndarray, seeds: np.ndarray, count: int) -> np.ndarray:
    return _add_lines(images, seeds, count, _zigzag)


@_corruption("canny_edges", random=False)
def _canny_edges(images: np.ndarray, seeds: None, fill: float) -> np.ndarray:
    # MNIST-C uses skimage's canny (Gaussian sigma 1, hysteresis at 0.1 and 0.2 of a unit step's Sobel
    # response); in uint8 Sobel units that is 25 and 51. Lower severities keep some of the fill under the edges.
    out = np.empty_like(images)
    for j, image in enumerate(images):
        edges = cv2.Canny(cv2.GaussianBlur(image, (0, 0), 1.0), 25, 51, L2gradient=True)
        out[j] = np.maximum(edges, _to_uint8(image * fill))
    return out


@_corruption("contrast", random=False)
def _contrast(images: np.ndarray, seeds: None, factor: float) -> np.ndarray:
    # ImageNet-C's contrast: pull every pixel towards the image's mean. (albumentations' "contrast" scales
    # about zero, which on a black background is just dimming.)
    x = images.astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    return _to_uint8((x - mean) * factor + mean)


@_corruption("inversion", random=False)
def _inversion(images: np.ndarray, seeds: None, level: None) -> np.ndarray:
    return A.InvertImg(p=1)(images=images)["images"]


@_corruption("hflip", random=False)
def _hflip(images: np.ndarray, seeds: None, level: None) -> np.ndarray:
    return A.HorizontalFlip(p=1)(images=images)["images"]


assert tuple(_FUNCTIONS) == CORRUPTIONS
