"""The x86 ↔ emulated-Pi comparison of `scripts/check_pi_run.sh`, in three steps.

    python scripts/pi_compare.py inputs OUT.npz DIR...        # here: every image's 28×28 model input
    python scripts/pi_compare.py outputs IN.npz OUT.npz       # here and in the Pi: the model on those inputs
    python scripts/pi_compare.py compare WORK                 # here: labels, scores, model outputs

Two questions, kept apart because they have different answers:
1. **The model**: fed the *same* 28×28 pixels, does the int8 model give the same outputs on ARM
   as here? It must, to within 2 output steps (1/256 each); in practice they are bit-identical.
2. **The whole app** (`fashion-edge run`, decode → mask → model): are the labels identical? They
   must be. Its scores may differ more where the photo mask differs: OpenCV's area resize rounds a
   few pixels differently on NEON than on AVX, and k-means / GrabCut, iterative float code, can move
   a mask's edge by a pixel; the 28×28 input then differs. The report counts those images and gives
   the largest score difference with and without them.

Only the standard library, NumPy and the edge app: it runs in the emulated Pi's venv too. Arrays
travel as `.npz` without pickles (NumPy 1 in the Pi, NumPy 2 here).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STEP = 1 / 256  # one step of the int8 model's uint8 output
MAX_STEPS = 2.0


def inputs(out: str, *folders: str) -> None:
    from edge_app.classifier import Classifier
    from edge_app.preprocess import preprocess_views
    from edge_app.sources import open_source

    spec = Classifier().spec  # the shipped model's own preprocessing, as `fashion-edge run` uses it
    names, pixels = [], []
    for folder in folders:
        for frame in open_source(folder):
            if frame.error is None:  # every still view, as `run` on a folder sees the image
                names.append(frame.source)
                pixels.append(np.stack([v.image for v in preprocess_views(frame.image, spec)]))
    np.savez(out, names=np.array(names), pixels=np.stack(pixels))  # (N, views, 28, 28)


def outputs(inp: str, out: str, model: str | None = None) -> None:
    from edge_app.classifier import Classifier

    z = np.load(inp)
    classifier = Classifier(model) if model else Classifier()
    pixels = z["pixels"].reshape(-1, *z["pixels"].shape[-2:])  # every view of every image
    np.savez(out, names=z["names"], probs=classifier.probabilities(pixels))


def _rows(path: Path) -> dict[str, dict]:
    return {r["source"]: r for r in map(json.loads, path.read_text().splitlines())}


def _agreement(here: np.ndarray, there: np.ndarray) -> tuple[int, float]:
    """(rows bit-identical, largest difference in output steps) of two runs' model outputs."""
    return int((here == there).all(axis=1).sum()), float(np.abs(here - there).max()) / STEP


def compare(work: str) -> int:
    w = Path(work)
    here = np.load(w / "model-x86.npz")["probs"]  # rows: every view of every image
    model_same, model_steps = _agreement(here, np.load(w / "model-arm.npz")["probs"])
    n_model = len(here)
    x86_inputs = np.load(w / "inputs-x86.npz")
    arm_inputs = np.load(w / "inputs-arm.npz")
    differ = {str(n) for n, a, b in zip(x86_inputs["names"], x86_inputs["pixels"], arm_inputs["pixels"]) if (a != b).any()}  # any view

    total = same = 0
    worst = worst_same_input = 0.0
    worst_at = ""
    for tag in (p.name[4:] for p in sorted(w.glob("x86-*.jsonl"))):
        x86, arm = _rows(w / f"x86-{tag}"), _rows(w / f"arm-{tag}")
        if set(x86) != set(arm):
            print(f"check-pi-run: FAIL — different images read: {sorted(set(x86) ^ set(arm))[:3]}", file=sys.stderr)
            return 1
        for name, a in x86.items():
            b = arm[name]
            total += 1
            same += a["label"] == b["label"]
            sa = {k["label"]: k["score"] for k in a["top_k"]}
            sb = {k["label"]: k["score"] for k in b["top_k"]}
            d = max(abs(sa.get(k, 0.0) - sb.get(k, 0.0)) for k in sa.keys() | sb.keys()) / STEP
            if d > worst:
                worst, worst_at = d, name
            if name not in differ:
                worst_same_input = max(worst_same_input, d)

    print(f"check-pi-run: model on the same 28×28 inputs, Cortex-A72 (Pi 4): {model_same} of {n_model} outputs "
          f"bit-identical, largest difference {model_steps:.1f} output steps")
    if (w / "model-arm-a76.npz").exists():
        a76_same, a76_steps = _agreement(here, np.load(w / "model-arm-a76.npz")["probs"])
        print(f"check-pi-run: the same on Cortex-A76 (Pi 5): {a76_same} of {n_model} bit-identical, "
              f"largest difference {a76_steps:.1f} steps")
        model_steps = max(model_steps, a76_steps)
    print(f"check-pi-run: fashion-edge run: labels identical on {same} of {total} images; the 28×28 input differs "
          f"on {len(differ)} (mask or resize rounding); largest score difference {worst_same_input:.1f} steps where "
          f"the input is the same, {worst:.1f} over all" + (f" ({worst_at})" if worst else ""))
    failed = same != total or model_steps > MAX_STEPS or worst_same_input > MAX_STEPS
    print("check-pi-run: FAIL — the emulated Pi disagrees with this machine" if failed else "check-pi-run: OK",
          file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "compare":
        sys.exit(compare(*args))
    {"inputs": inputs, "outputs": outputs}[command](*args)
