"""Draw docs/preprocessing.png: raw image → the item mask → the 28×28 input, in `seed` and `photo` modes.

    $ .venv/bin/python scripts/figure_preprocess.py [images ...]

Without arguments: one `unseen/` drawing per class for six classes, and six casual-looking photos
rendered by `train.render` from Fashion-MNIST test items (a garment on wood, a bedsheet, tiles, with
shadows, hangers and hands; procedural textures only).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from edge_app.images import load_image  # noqa: E402
from edge_app.labelled import labelled_images  # noqa: E402
from edge_app.labels import LABELS  # noqa: E402
from edge_app.preprocess import PreprocessSpec, item_mask, preprocess, working_copy  # noqa: E402
from train.models import get_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTO = get_spec("edge").preprocess  # the shipped model's own photo preprocessing (its registry entry)


def mask_view(image) -> "np.ndarray":
    """The photo with what `photo` mode takes for the item tinted red (the rest dimmed)."""
    import numpy as np

    p = PHOTO.photo
    _, small, _ = working_copy(image, p.work_size)
    mask = item_mask(small, p)
    view = (small * 0.35).astype(np.uint8)
    if mask is not None:
        view[mask] = (0.5 * small[mask] + [127, 0, 0]).astype(np.uint8)
    return view


def casual_renders(n: int = 6) -> list:
    """(image, title) pairs: Fashion-MNIST test items rendered as casual photos, deterministic."""
    import numpy as np

    from train import render
    from train.data import load_dataset

    render.PATTERNS = Path("/nonexistent")  # procedural textures only
    render._gimp_patterns.cache_clear()
    data = load_dataset(None, allow_download=False)
    scene = render.Scene(height=240, widths=(320,), blur=0.6)
    out = []
    for k, label in enumerate((1, 4, 7, 8, 9, 6)[:n]):
        i = int(np.flatnonzero(data.y_test == label)[k])
        rng = np.random.default_rng(100 + k)
        out.append((render.render_photo(data.x_test[i], label, rng, scene), f"rendered {LABELS[label]}"))
    return out


def main(items: list, out: Path) -> None:
    fig, axes = plt.subplots(4, len(items), figsize=(1.6 * len(items), 6.8))
    for col, (image, title) in enumerate(items):
        rows = [image, mask_view(image), preprocess(image, PreprocessSpec("seed")).image, preprocess(image, PHOTO).image]
        for row, img in enumerate(rows):
            ax = axes[row, col]
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=7)
            if col == 0:
                ax.set_ylabel(["raw image", "item mask", "seed (study)", "photo (ours)"][row], fontsize=9)
    fig.suptitle("Real and casual images → 28×28 model input: the study's pipeline vs `photo` preprocessing", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(out)


if __name__ == "__main__":
    chosen = [(load_image(p), Path(p).parent.name) for p in sys.argv[1:]]
    if not chosen:  # six classes from unseen/, and six rendered casual photos
        seen = set()
        for item in labelled_images(ROOT / "unseen"):
            if item.label not in seen and not item.path.name.startswith(("iconpark", "hugeicons", "ph_")) and len(seen) < 6:
                seen.add(item.label)
                chosen.append((load_image(item.path), item.path.parent.name))
        chosen += casual_renders()
    main(chosen, ROOT / "docs" / "preprocessing.png")
