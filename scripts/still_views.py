"""How the still views (`PreprocessSpec.still`) were chosen: candidate masks and their combinations.

    python scripts/still_views.py [MODEL.tflite]      # default: the shipped model

Each candidate (a PhotoParams change) preprocesses 600 rendered casual photos (Fashion-MNIST test items,
seed 11 — not robustness's seed-7 set), `unseen/` and, when it exists, `../shared/wild-dev`; combinations
take the most confident view or the mean over the views that found an item. Choose on the rendered set and
`unseen/` (and the empty scenes: `tests/test_still.py`); wild-dev is printed to measure, never to choose.
Figures: docs/real-photos.md.
"""
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from edge_app.classifier import Classifier
from edge_app.preprocess import preprocess, PreprocessSpec
from edge_app.labelled import decode_labelled
from train.data import load_dataset
from train import render

model = sys.argv[1] if len(sys.argv) > 1 else None
clf = Classifier(model) if model else Classifier()
base = clf.spec
VARIANTS = {
    "64/2": {},
    "96/3": {"work_size": 96, "iterations": 3},
    "80/2": {"work_size": 80},
    "64/2 k6": {"clusters": 6},
    "48/2": {"work_size": 48},
    "96/2 corner.25": {"work_size": 96, "corner": 0.25},
}
def spec(ch): return dataclasses.replace(base, photo=dataclasses.replace(base.photo, **ch))

def sets():
    ds = load_dataset(allow_download=False)
    x, y = ds.x_test, ds.y_test
    imgs, idx = render.render_sample(x, y, 600, seed=11)  # not robustness's seed-7 set
    yield "rendered600", imgs, y[idx]
    u = decode_labelled("unseen"); yield "unseen", u.images, np.asarray(u.labels)
    if Path("../shared/wild-dev").is_dir():
        w = decode_labelled("../shared/wild-dev"); yield "wild-dev (measured, not for choosing)", w.images, np.asarray(w.labels)

for name, imgs, labels in sets():
    probs, found, ms = {}, {}, {}
    for v, ch in VARIANTS.items():
        s = spec(ch); t = time.perf_counter()
        pre = [preprocess(im, s) for im in imgs]
        ms[v] = (time.perf_counter() - t) * 1000 / len(imgs)
        found[v] = np.array([p.has_item for p in pre])
        probs[v] = clf.probabilities(np.stack([p.image for p in pre]))
    def acc(p, f): return float(((p.argmax(1) == labels) & f).mean())
    print(f"== {name} ({len(labels)})")
    for v in VARIANTS:
        print(f"  {v:16s} {acc(probs[v], found[v]):.3f}  no item {int((~found[v]).sum())}  {ms[v]:.1f} ms")
    for combo in [("64/2", "96/3"), ("64/2", "80/2"), ("64/2", "96/3", "48/2"), ("64/2", "96/3", "64/2 k6"), ("64/2", "96/2 corner.25"), ("64/2", "96/3", "96/2 corner.25")]:
        conf = np.stack([np.where(found[v], probs[v].max(1), -1) for v in combo])
        pick = conf.argmax(0)
        p = np.stack([probs[v] for v in combo])[pick, np.arange(len(labels))]
        f = np.stack([found[v] for v in combo]).any(0)
        avg = np.mean([np.where(found[v][:, None], probs[v], 0) for v in combo], 0)
        print(f"  max-conf {'+'.join(combo):28s} {acc(p, f):.3f}  no item {int((~f).sum())} | mean-probs {acc(avg, f):.3f}")
    sys.stdout.flush()
