"""How well `photo` mode finds the item: mask IoU on casual photos rendered from Fashion-MNIST *test* items.

    $ .venv/bin/python scripts/mask_iou.py                          # the shipped parameters
    $ .venv/bin/python scripts/mask_iou.py '{"iterations": 0}' '{"work_size": 80}'
    $ .venv/bin/python scripts/mask_iou.py --by-distance 600        # IoU by garment–background colour distance

Each rendering (`train.render`, 240×320 or 320×240, procedural and GIMP textures) knows the
garment's true silhouette, so a mask can be scored without any real photo. This is how the photo
parameters are chosen; real photos only measure the result.
"""

from __future__ import annotations

import json
import sys

import cv2
import numpy as np

from edge_app.preprocess import PhotoParams, item_mask, working_copy
from train import render
from train.data import load_dataset


def renderings(n: int = 300, seed: int = 5):
    data = load_dataset(None, allow_download=False)
    idx = np.random.default_rng(seed).choice(len(data.x_test), n, replace=False)
    scene = render.Scene(height=240, widths=(320, 240), scale=(0.5, 1.1), hand=0.3)
    return [render.render_photo(data.x_test[i], int(data.y_test[i]), np.random.default_rng(1000 + k), scene, with_mask=True)
            for k, i in enumerate(idx)]


def _iou(img, truth, p: PhotoParams) -> tuple[float, bool]:
    _, small, _ = working_copy(img, p.work_size)
    mask = item_mask(small, p)
    want = cv2.resize(truth.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
    return (0.0 if mask is None else float((mask & want).sum() / max(1, (mask | want).sum()))), mask is None


def by_distance(cases, p: PhotoParams = PhotoParams(), edges=(0, 15, 30, 50)) -> list[dict]:
    """IoU grouped by the CIE Lab distance between the garment's mean colour and the background's:
    how much harder a garment close to its background's colour is to find."""
    rows = []
    for img, truth in cases:
        lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
        rows.append((*_iou(img, truth, p), float(np.linalg.norm(lab[truth].mean(0) - lab[~truth].mean(0)))))
    iou, missed, dist = (np.array(c) for c in zip(*rows))
    out = []
    for lo, hi in zip(edges, list(edges[1:]) + [np.inf]):
        sel = (dist >= lo) & (dist < hi)
        out.append({"from": lo, "to": hi, "n": int(sel.sum()), "mean_iou": float(iou[sel].mean()) if sel.any() else float("nan"),
                    "below_half": float((iou[sel] < 0.5).mean()) if sel.any() else float("nan"), "no_item": int(missed[sel].sum())})
    return out


def score(cases, p: PhotoParams) -> dict:
    ious, none = zip(*(_iou(img, truth, p) for img, truth in cases))
    ious, missed = np.array(ious), int(sum(none))
    return {"mean_iou": float(ious.mean()), "median_iou": float(np.median(ious)), "below_half": float((ious < 0.5).mean()),
            "no_item": int(missed), "n": len(cases)}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--by-distance"]:
        for row in by_distance(renderings(int(sys.argv[2]) if len(sys.argv) > 2 else 300)):
            print(f"Lab distance {row['from']:>3}–{row['to']:<4} n {row['n']:4d}  mean IoU {row['mean_iou']:.3f}  "
                  f"IoU < 0.5: {row['below_half']:.0%}  no item {row['no_item']}")
        sys.exit(0)
    cases = renderings()
    for text in sys.argv[1:] or ["{}"]:
        r = score(cases, PhotoParams(**json.loads(text)))
        print(f"{text:36s} mean IoU {r['mean_iou']:.3f}  median {r['median_iou']:.3f}  IoU < 0.5: {r['below_half']:.1%}  "
              f"no item {r['no_item']}/{r['n']}")
