"""Render the committed set of empty scenes (no garment) that the edge app must answer "no item" for.

    $ python scripts/make_empty_scenes.py tests/empty_scenes      # 60 JPEGs, deterministic

Plain and lit walls, wood floors and tables, bedsheets, tiles, rugs and a room's wall-and-floor
corner, each with a camera's blur, noise, gamma and JPEG compression, at 320×240 or 240×320. Only
procedural textures: the files carry no third-party content and are Apache-2.0 like the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from train import render


def empty_scene(rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = (240, 320) if rng.random() < 0.6 else (320, 240)
    img = render.render_scene(rng, h, w, render.Scene())
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    img = img * 255.0 + rng.normal(0, rng.uniform(1, 5), img.shape)
    return ((np.clip(img, 0, 255) / 255.0) ** rng.uniform(0.8, 1.25) * 255).round().astype(np.uint8)


def main(out: str, n: int = 60, seed: int = 2026) -> None:
    render.PATTERNS = Path("/nonexistent")  # procedural textures only (no third-party pixels)
    render._gimp_patterns.cache_clear()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(empty_scene(rng)).save(folder / f"empty_{i:02d}.jpg", quality=int(rng.integers(75, 95)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/empty_scenes")
