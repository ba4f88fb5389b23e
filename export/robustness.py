"""`fashion-export robustness`: every model and variant on test, corruptions, unseen/ and real photos.

    >>> rows = robustness("runs", "models", real_dir="../shared/wild-dev", out="reports")

The Keras model is the `keras` variant; exported ones run through `edge_app.Classifier`. Real images
are preprocessed by `edge_app.preprocess` in each requested mode (`photo`, and `seed` — the study's
pipeline — for comparison), so a table row says how much of the gain is the preprocessing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_app.atomic import atomic_save, atomic_write
from edge_app.classifier import Classifier
from edge_app.labelled import decode_labelled
from edge_app.labels import LABELS
from edge_app.preprocess import PreprocessSpec, preprocess, preprocess_batch


@dataclass
class RealSet:
    """A labelled folder, decoded once and preprocessed once per mode."""

    name: str
    labels: np.ndarray
    pixels: dict[str, np.ndarray]  # mode → (N, 28, 28) uint8
    skipped: list[str] = field(default_factory=list)  # unreadable files
    found: dict[str, np.ndarray] = field(default_factory=dict)  # mode → (N,) bool: an item was found ("no item" is wrong)
    names: list[str] = field(default_factory=list)  # paths relative to the folder
    images: list[np.ndarray] = field(default_factory=list, repr=False)  # the decoded photos, for the failure gallery

    @classmethod
    def load(cls, name: str, folder: str | Path, modes: tuple[str, ...]) -> "RealSet":
        real = decode_labelled(folder)
        return cls.of(name, real.images, real.labels, list(real.names), modes, real.skipped)

    @classmethod
    def of(cls, name: str, images: list, labels: np.ndarray, names: list[str], modes: tuple[str, ...], skipped=()) -> "RealSet":
        done = {mode: preprocess_batch(images, PreprocessSpec(mode)) for mode in modes}
        return cls(name, np.asarray(labels), {m: d[0] for m, d in done.items()}, list(skipped),
                   {m: d[1] for m, d in done.items()}, names, list(images))

    @classmethod
    def rendered(cls, x: np.ndarray, y: np.ndarray, n: int, modes: tuple[str, ...], seed: int = 7) -> "RealSet":
        """`n` Fashion-MNIST *test* items rendered as casual 240×320 photos (`train.render`): a
        real-photo-like set that anyone can rebuild, and that no model trained on."""
        from train import render

        idx = np.random.default_rng(seed).choice(len(x), min(n, len(x)), replace=False)
        scene = render.Scene(height=240, widths=(320, 240))
        images = [render.render_photo(x[i], int(y[i]), np.random.default_rng([seed, int(i)]), scene) for i in idx]
        return cls.of("rendered", images, y[idx], [f"rendered_{i}" for i in idx], modes)

    def correct(self, mode: str, probs: np.ndarray) -> np.ndarray:
        """Per image: the top class is the truth and an item was found (the edge app says "no item" otherwise)."""
        found = self.found.get(mode, np.ones(len(self.labels), bool))
        return (probs.argmax(1) == self.labels) & found

    def sources(self) -> list[str]:
        """Each image's source: its file name up to the first underscore (`closet_bluetee.jpg` → closet)."""
        return [Path(n).name.split("_", 1)[0] if "_" in Path(n).name else Path(n).stem for n in self.names]


@dataclass(frozen=True)
class Row:
    model: str
    variant: str  # keras | float32 | float16 | dynamic | int8
    test_acc: float
    corruption_mean: float
    corruption: dict[str, float]  # corruption name → accuracy over its severities
    real: dict[str, dict[str, float]]  # set name → {mode: accuracy}
    per_class: dict[str, dict[str, float]]  # set name → class → accuracy (photo mode)
    sources: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # set → source/casual/product → {n, acc} (photo)
    no_item: dict[str, int] = field(default_factory=dict)  # set → photos answered "no item" (photo mode)


class _Keras:
    """The float reference behind the same `probabilities(pixels)` call as the Classifier."""

    def __init__(self, run: Path):
        from export.convert import find_keras, load_keras

        self.model = load_keras(find_keras(run))

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        from export.check import keras_probabilities

        return keras_probabilities(self.model, pixels)


def corrupted_sets(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int = 0):
    """The suite's (name, severity, images, labels), built once for all models."""
    from export.corruptions import corruption_suite

    return list(corruption_suite(x, y, seed=seed, limit=limit))


def evaluate(predictor, x_test, y_test, suite, real_sets: list[RealSet], photo_probs: dict | None = None) -> tuple[float, dict, dict, dict]:
    """(test, corruption, real, per_class) accuracies; `photo_probs`, when given, receives each real set's
    photo-mode probabilities (set name → (N, classes)), so a caller need not predict them again."""
    acc = lambda probs, labels: float((probs.argmax(1) == labels).mean()) if len(labels) else float("nan")  # noqa: E731
    test = acc(predictor.probabilities(x_test), y_test)
    by_name: dict[str, list[float]] = {}
    for name, _severity, images, labels in suite:
        by_name.setdefault(name, []).append(acc(predictor.probabilities(images), labels))
    corruption = {name: float(np.mean(v)) for name, v in by_name.items()}
    real, per_class = {}, {}
    for rs in real_sets:
        real[rs.name] = {}
        for mode, pixels in rs.pixels.items():
            probs = predictor.probabilities(pixels)
            real[rs.name][mode] = float(rs.correct(mode, probs).mean()) if len(rs.labels) else float("nan")
            if mode == "photo":
                if photo_probs is not None:
                    photo_probs[rs.name] = probs
                pred = probs.argmax(1)
                per_class[rs.name] = {LABELS[c]: float((pred[rs.labels == c] == c).mean()) for c in range(10) if (rs.labels == c).any()}
                per_class[rs.name]["_confusion"] = _confusion(rs.labels, pred).tolist()
    return test, corruption, real, per_class


def by_source(rs: RealSet, correct: np.ndarray, casual: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Accuracy and count per source prefix, plus `casual` (photos from those prefixes) and `product` (the rest)."""
    sources = np.array(rs.sources())
    groups = {src: sources == src for src in sorted(set(sources))}
    is_casual = np.isin(sources, casual)
    groups |= {"casual": is_casual, "product": ~is_casual}
    return {name: {"n": int(sel.sum()), "acc": float(correct[sel].mean()) if sel.any() else float("nan")} for name, sel in groups.items()}


def _confusion(labels: np.ndarray, pred: np.ndarray) -> np.ndarray:
    m = np.zeros((10, 10), int)
    np.add.at(m, (labels, pred), 1)
    return m


CASUAL = ("closet", "wardrobe")  # source prefixes of casual photos (a garment on a bed, a floor, a hanger)
EMPTY_SCENES = Path(__file__).resolve().parents[1] / "tests" / "empty_scenes"  # committed scenes with no garment


def robustness(
    runs_dir: str | Path,
    models_dir: str | Path,
    real_dir: str | Path | None = None,
    unseen: str | Path | None = "unseen",
    out: str | Path = "reports",
    modes: tuple[str, ...] = ("photo", "seed"),
    limit: int | None = 2000,
    data_dir: str | None = None,
    progress=None,
    casual: tuple[str, ...] = CASUAL,
    empty_dir: str | Path | None = EMPTY_SCENES,
    rendered: int = 1000,
) -> list[Row]:
    """The whole table; writes robustness.json, robustness.md, a confusion PNG per model and a failure
    gallery per model and set of photos (`failures-<model>-<set>.png`)."""
    from export.pipeline import find_runs
    from train.data import load_dataset

    data = load_dataset(data_dir)
    suite = corrupted_sets(data.x_test, data.y_test, limit)
    real_sets = []
    if unseen and Path(unseen).is_dir():
        real_sets.append(RealSet.load("unseen", unseen, modes))
    if real_dir:
        real_sets.append(RealSet.load(Path(real_dir).name, real_dir, modes))
    if rendered:
        real_sets.append(RealSet.rendered(data.x_test, data.y_test, rendered, modes))
    empty = empty_scene_rate(empty_dir) if empty_dir and Path(empty_dir).is_dir() else None
    rows, galleries = [], {}  # (model, set) → (variant, set, probabilities): its int8 export's failures, else Keras's
    for run in find_runs(runs_dir):
        candidates = [("keras", None)] + [(p.stem.split("-", 1)[1], p) for p in sorted(Path(models_dir).glob(f"{run.name}-*.tflite"))]
        for variant, path in candidates:
            if progress:
                progress(f"{run.name}-{variant}")
            predictor = _Keras(run) if path is None else Classifier(path)
            photo_probs: dict[str, np.ndarray] = {}
            test, corruption, real, per_class = evaluate(predictor, data.x_test, data.y_test, suite, real_sets, photo_probs)
            sources, no_item = {}, {}
            for rs in real_sets:
                if rs.name in photo_probs:
                    probs = photo_probs[rs.name]
                    sources[rs.name] = by_source(rs, rs.correct("photo", probs), casual)
                    no_item[rs.name] = int((~rs.found["photo"]).sum())
                    if variant == "int8" or (run.name, rs.name) not in galleries:
                        galleries[(run.name, rs.name)] = (variant, rs, probs)
            rows.append(Row(run.name, variant, test, float(np.mean(list(corruption.values()))), corruption, real, per_class, sources, no_item))
    out = Path(out)
    report = {"corruption_images_per_severity": limit, "casual_sources": list(casual), "empty_scenes": empty, "rows": [asdict(r) for r in rows]}
    atomic_write(out / "robustness.json", json.dumps(report, indent=2))
    atomic_write(out / "robustness.md", to_markdown(rows, real_sets, empty))
    for row in rows:
        if row.variant == "keras" and row.per_class:
            plot_confusions(row, out / f"confusion-{row.model}.png")
    for (name, set_name), (variant, rs, probs) in galleries.items():
        failure_gallery(rs, probs, out / f"failures-{name}-{set_name}.png", title=f"{name}-{variant} on {set_name}")
    return rows


def empty_scene_rate(folder: str | Path, spec: PreprocessSpec = PreprocessSpec()) -> dict:
    """How many photos of scenes with no garment the preprocessing answers "no item" for."""
    from edge_app.images import ImageError, load_image

    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    found = []
    for p in paths:
        try:
            found.append(preprocess(load_image(p), spec).has_item)
        except ImageError:
            continue
    return {"folder": Path(folder).name, "n": len(found), "no_item": int(len(found) - sum(found))}


def failure_gallery(rs: RealSet, probs: np.ndarray, path: Path, title: str = "", limit: int = 120) -> Path:
    """Each misclassified photo beside the 28×28 input the model saw, with the truth and the top 3 (PNG)."""
    from PIL import Image, ImageDraw

    wrong = np.flatnonzero(~rs.correct("photo", probs))[:limit]
    tile_w, tile_h, side, cols = 200, 150, 96, 6
    rows = max(1, -(-len(wrong) // cols))
    sheet = Image.new("RGB", (cols * tile_w, 24 + rows * tile_h), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((6, 6), f"{title}: {len(wrong)} of {len(rs.labels)} wrong (photo | model input | truth, top 3)", fill="black")
    for k, i in enumerate(wrong):
        x, y = (k % cols) * tile_w, 24 + (k // cols) * tile_h
        photo = Image.fromarray(rs.images[i]).convert("RGB")
        photo.thumbnail((side, side))
        sheet.paste(photo, (x + 2, y + 2))
        sheet.paste(Image.fromarray(rs.pixels["photo"][i]).resize((side, side), Image.NEAREST).convert("RGB"), (x + side + 6, y + 2))
        top = np.argsort(-probs[i], kind="stable")[:3]
        lines = [f"{Path(rs.names[i]).name[:30]}", f"true: {LABELS[rs.labels[i]]}"]
        lines += ["no item"] if not rs.found["photo"][i] else [f"{LABELS[c]} {probs[i, c]:.2f}" for c in top]
        for j, line in enumerate(lines[:4]):
            draw.text((x + 2, y + side + 4 + j * 11), line, fill="firebrick" if j == 2 else "black")
    atomic_save(path, lambda tmp: sheet.save(tmp, format="PNG"))
    return path


def to_markdown(rows: list[Row], real_sets: list[RealSet], empty: dict | None = None) -> str:
    real_cols = [(rs.name, mode) for rs in real_sets for mode in rs.pixels]
    head = ["model", "variant", "test", "corruption mean"] + [f"{name} ({mode})" for name, mode in real_cols]
    lines = ["# Robustness", "", "| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r.model, r.variant, f"{r.test_acc:.2%}", f"{r.corruption_mean:.2%}"]
        cells += [f"{r.real.get(name, {}).get(mode, float('nan')):.1%}" for name, mode in real_cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "A photo answered \"no item\" counts as wrong."]
    if empty:
        lines += [f"Empty scenes ({empty['folder']}, no garment in them): {empty['no_item']} of {empty['n']} answered \"no item\"."]
    for rs in real_sets:
        if rs.name in ("unseen", "rendered") or not any(rs.name in r.sources for r in rows):
            continue
        lines += ["", f"## {rs.name} by kind of photo (photo preprocessing)", "",
                  "| model | variant | overall | casual | product shots | no item |", "|---|---|---:|---:|---:|---:|"]
        for r in rows:
            src = r.sources.get(rs.name)
            if src:
                lines.append(f"| {r.model} | {r.variant} | {r.real[rs.name]['photo']:.1%} | {src['casual']['acc']:.1%} ({src['casual']['n']}) "
                             f"| {src['product']['acc']:.1%} ({src['product']['n']}) | {r.no_item.get(rs.name, 0)} |")
        int8 = [r for r in rows if r.variant == "int8" and rs.name in r.sources]
        best = max(int8, key=lambda r: r.real[rs.name]["photo"]) if int8 else None
        if best:
            per = {k: v for k, v in best.sources[rs.name].items() if k not in ("casual", "product")}
            lines += ["", f"Per source ({best.model}-int8): " + ", ".join(f"{k} {v['acc']:.0%} ({v['n']})" for k, v in sorted(per.items(), key=lambda kv: -kv[1]["n"]))]
    if rows:
        names = list(rows[0].corruption)
        lines += ["", "## Accuracy per corruption (mean over severities)", "",
                  "| model | variant | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
        lines += [f"| {r.model} | {r.variant} | " + " | ".join(f"{r.corruption[n]:.1%}" for n in names) + " |" for r in rows]
        for rs in real_sets:
            lines += ["", f"## Per-class accuracy on {rs.name} (photo preprocessing, keras variant)", "",
                      "| model | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * 10]
            for r in rows:
                if r.variant == "keras" and rs.name in r.per_class:
                    pc = r.per_class[rs.name]
                    lines.append(f"| {r.model} | " + " | ".join(f"{pc[c]:.0%}" if c in pc else "-" for c in LABELS) + " |")
    for rs in real_sets:
        if rs.skipped:
            lines += ["", f"Skipped in {rs.name}: " + "; ".join(rs.skipped)]
    return "\n".join(lines) + "\n"


def plot_confusions(row: Row, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [(name, np.array(pc["_confusion"])) for name, pc in row.per_class.items()]
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 5.5), squeeze=False)
    for ax, (name, m) in zip(axes[0], sets):
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > m.max() / 2 else "black")
        ax.set_xticks(range(10), LABELS, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(10), LABELS, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{row.model} on {name}: {np.trace(m) / max(m.sum(), 1):.1%}")
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
    return path
