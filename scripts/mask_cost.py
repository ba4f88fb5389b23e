"""What the mask costs: a model's accuracy on rendered casual photos with its own mask, with the
garment's true silhouette as the mask, and on the Fashion-MNIST items the photos were rendered from.

    $ .venv/bin/python scripts/mask_cost.py                       # the shipped model, 1,000 renderings
    $ .venv/bin/python scripts/mask_cost.py models/edge-int8.tflite 600

The renderings are robustness's kind (`train.render.EVAL_SCENE`, test items) with another seed (11), so
the figures are not the report's. The gap between the first two columns is what a better mask could buy
on rendered photos at most; the gap between the last two is what rendering and the rest of `photo`
preprocessing (colour, print, shading, blur, 28 px) cost. Real photos only measure. Figures: docs/real-photos.md.
"""

from __future__ import annotations

import sys

import numpy as np

from edge_app.classifier import Classifier
from edge_app.labels import LABELS
from edge_app.preprocess import photo_from_mask, preprocess
from train import render
from train.data import load_dataset


def mask_cost(clf: Classifier, n: int = 1000, seed: int = 11) -> dict[str, np.ndarray]:
    """Per rendering: its class and whether the model was right with its own mask, with the true
    silhouette, and on the 28×28 item itself ("no item" counts wrong)."""
    data = load_dataset(None, allow_download=False)
    idx = np.random.default_rng(seed).choice(len(data.x_test), min(n, len(data.x_test)), replace=False)
    y = data.y_test[idx]
    own, true = [], []
    for i in idx:
        photo, silhouette = render.render_photo(data.x_test[i], int(data.y_test[i]), np.random.default_rng([seed, int(i)]),
                                                render.EVAL_SCENE, with_mask=True)
        own.append(preprocess(photo, clf.spec))
        true.append(photo_from_mask(photo, silhouette, clf.spec.photo))

    def right(outs) -> np.ndarray:
        found = np.array([o.has_item for o in outs])
        return found & (clf.probabilities(np.stack([o.image for o in outs])).argmax(1) == y)

    return {"label": y, "own mask": right(own), "true mask": right(true),
            "item": clf.probabilities(data.x_test[idx]).argmax(1) == y}


def table(result: dict[str, np.ndarray]) -> str:
    y = result["label"]
    cols = [k for k in result if k != "label"]
    lines = ["| class | n | " + " | ".join(cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    for c, name in enumerate(LABELS):
        sel = y == c
        cells = [f"{result[k][sel].mean():.1%}" if sel.any() else "—" for k in cols]
        lines.append(f"| {name} | {sel.sum()} | " + " | ".join(cells) + " |")
    lines.append(f"| **all** | {len(y)} | " + " | ".join(f"**{result[k].mean():.1%}**" for k in cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    clf = Classifier(sys.argv[1]) if len(sys.argv) > 1 else Classifier()
    print(table(mask_cost(clf, int(sys.argv[2]) if len(sys.argv) > 2 else 1000)))
