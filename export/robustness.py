"""`fashion-export robustness`: every model and variant on test, corruptions, unseen/ and real photos.

    >>> rows = robustness("runs", "models", "reports", EvalConfig(real_dir="../shared/wild-dev"))

The Keras model is the `keras` variant; exported ones run through `edge_app.Classifier`. Real images
are preprocessed by `edge_app.preprocess` in each requested mode (`photo`, and `seed` — the study's
pipeline — for comparison), so a table row says how much of the gain is the preprocessing. The sets
themselves are built once, in `export.evalsets`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_app.atomic import atomic_save, atomic_write
from edge_app.classifier import Classifier
from edge_app.labels import LABELS
from export.config import EvalConfig, RobustnessConfig
from export.evalsets import RealSet, SuiteSets, empty_scene_rate, evaluate
from export.runs import KerasPredictor, find_runs


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
    confusion: dict[str, list[list[int]]] = field(default_factory=dict)  # set → 10×10 counts, true × predicted (photo mode)


def by_source(rs: RealSet, correct: np.ndarray, casual: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Accuracy and count per source prefix, plus `casual` (photos from those prefixes) and `product` (the rest)."""
    sources = np.array(rs.sources())
    groups = {src: sources == src for src in sorted(set(sources))}
    is_casual = np.isin(sources, casual)
    groups |= {"casual": is_casual, "product": ~is_casual}
    return {name: {"n": int(sel.sum()), "acc": float(correct[sel].mean()) if sel.any() else float("nan")} for name, sel in groups.items()}


def _candidates(run: Path, models_dir: Path) -> list[tuple[str, Path | None]]:
    """(variant, path) of a run's rows: its Keras model (path None), then every export found for it."""
    exports = sorted(models_dir.glob(f"{run.name}-*.tflite"))
    return [("keras", None)] + [(p.stem.split("-", 1)[1], p) for p in exports]


def _row(run: Path, variant: str, predictor, sets: SuiteSets, casual: tuple[str, ...]) -> tuple[Row, dict[str, np.ndarray]]:
    """One row of the table, and its photo-mode probabilities per real set (for the failure galleries)."""
    result = evaluate(predictor, sets)
    sources, no_item = {}, {}
    for rs in sets.real:
        for mode, probs in (("photo", result.photo_probs), ("still", result.still_probs)):
            if rs.name in probs:  # keyed "<set>" for photo mode, "<set> (still)" for still mode
                key = rs.name if mode == "photo" else f"{rs.name} (still)"
                sources[key] = by_source(rs, rs.correct(mode, probs[rs.name]), casual)
                no_item[key] = int((~rs.found[mode]).sum())
    return Row(run.name, variant, result.test, result.corruption_mean, result.corruption, result.real, result.per_class,
               sources, no_item, result.confusion), result.photo_probs


def robustness(
    runs_dir: str | Path,
    models_dir: str | Path,
    out: str | Path = "reports",
    evaluation: EvalConfig = EvalConfig(),
    config: RobustnessConfig = RobustnessConfig(),
    progress=None,
) -> list[Row]:
    """The whole table; writes robustness.json, robustness.md, a confusion PNG per model and a failure
    gallery per model and set of photos (`failures-<model>-<set>.png`)."""
    sets = SuiteSets.load(evaluation, config.modes, config.rendered)
    empty = empty_scene_rate(config.empty_dir) if config.empty_dir and Path(config.empty_dir).is_dir() else None
    rows, galleries = [], {}  # (model, set) → (variant, set, probabilities): its int8 export's failures, else Keras's
    for run in find_runs(runs_dir):
        for variant, path in _candidates(run, Path(models_dir)):
            if progress:
                progress(f"{run.name}-{variant}")
            predictor = KerasPredictor.from_run(run) if path is None else Classifier(path)
            own = sets.with_spec(predictor.spec)  # the real photos as this model's contract prepares them
            row, photo_probs = _row(run, variant, predictor, own, config.casual)
            rows.append(row)
            for rs in own.real:
                if rs.name in photo_probs and (variant == "int8" or (run.name, rs.name) not in galleries):
                    galleries[(run.name, rs.name)] = (variant, rs, photo_probs[rs.name])
    _write(Path(out), rows, sets.real, empty, galleries, evaluation, config)
    return rows


def _write(out: Path, rows: list[Row], real_sets: list[RealSet], empty: dict | None, galleries: dict,
           evaluation: EvalConfig, config: RobustnessConfig) -> None:
    report = {"corruption_images_per_severity": evaluation.corruption_limit, "casual_sources": list(config.casual),
              "empty_scenes": empty, "rows": [asdict(r) for r in rows]}
    atomic_write(out / "robustness.json", json.dumps(report, indent=2))
    atomic_write(out / "robustness.md", to_markdown(rows, real_sets, empty))
    for row in rows:
        if row.variant == "keras" and row.confusion:
            plot_confusions(row, out / f"confusion-{row.model}.png")
    for (name, set_name), (variant, rs, probs) in galleries.items():
        failure_gallery(rs, probs, out / f"failures-{name}-{set_name}.png", title=f"{name}-{variant} on {set_name}")


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
        lines += [f"Empty scenes ({empty['folder']}, no garment in them): {empty['no_item']} of {empty['n']} answered \"no item\" "
                  f"as camera frames, {empty.get('no_item_still', empty['no_item'])} as photo files (still)."]
    for rs in real_sets:
        if rs.name not in ("unseen", "rendered"):
            lines += _by_kind(rows, rs.name, "photo", rs.name)
            lines += _by_kind(rows, rs.name, "still", f"{rs.name} (still)")
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


def _by_kind(rows: list[Row], name: str, mode: str, key: str) -> list[str]:
    """The casual / product-shot table of one real set in one mode, and the best int8 model's sources."""
    if not any(key in r.sources for r in rows):
        return []
    what = "photo preprocessing: a camera frame" if mode == "photo" else "still: a photo file, as `fashion-edge run` on a folder"
    lines = ["", f"## {name} by kind of photo ({what})", "",
             "| model | variant | overall | casual | product shots | no item |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        src = r.sources.get(key)
        if src:
            lines.append(f"| {r.model} | {r.variant} | {r.real[name][mode]:.1%} | {src['casual']['acc']:.1%} ({src['casual']['n']}) "
                         f"| {src['product']['acc']:.1%} ({src['product']['n']}) | {r.no_item.get(key, 0)} |")
    int8 = [r for r in rows if r.variant == "int8" and key in r.sources]
    if int8:
        best = max(int8, key=lambda r: r.real[name][mode])
        per = {k: v for k, v in best.sources[key].items() if k not in ("casual", "product")}
        lines += ["", f"Per source ({best.model}-int8): " + ", ".join(f"{k} {v['acc']:.0%} ({v['n']})" for k, v in sorted(per.items(), key=lambda kv: -kv[1]["n"]))]
    return lines


def plot_confusions(row: Row, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [(name, np.array(m)) for name, m in row.confusion.items()]
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
