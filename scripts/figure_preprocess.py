"""Draw docs/preprocessing.png: raw image → the 28×28 input, in the study's `seed` mode and in `photo`.

    $ .venv/bin/python scripts/figure_preprocess.py [images ...]
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
from edge_app.preprocess import PreprocessSpec, preprocess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(paths: list[Path], out: Path) -> None:
    fig, axes = plt.subplots(3, len(paths), figsize=(1.6 * len(paths), 5.2))
    for col, path in enumerate(paths):
        image = load_image(path)
        rows = [(image, path.parent.name), (preprocess(image, PreprocessSpec("seed")).image, "seed"),
                (preprocess(image, PreprocessSpec("photo")).image, "photo")]
        for row, (img, title) in enumerate(rows):
            ax = axes[row, col]
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
            if col == 0:
                ax.set_ylabel(["raw image", "seed (study)", "photo (ours)"][row], fontsize=9)
    fig.suptitle("Real images → 28×28 model input: the study's pipeline vs `photo` preprocessing", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(out)


if __name__ == "__main__":
    chosen = [Path(p) for p in sys.argv[1:]]
    if not chosen:  # one image per class from unseen/
        seen, chosen = set(), []
        for item in labelled_images(ROOT / "unseen"):
            if item.label not in seen and not item.path.name.startswith(("iconpark", "hugeicons", "ph_")):
                seen.add(item.label)
                chosen.append(item.path)
    main(chosen[:10], ROOT / "docs" / "preprocessing.png")
