"""Accuracy drift of an exported model against its float Keras reference: the gate before shipping.

    >>> report = check("models/robust-int8.tflite", "runs/robust", EvalData.load(EvalConfig()))
    >>> report.passed, report.sets["test"].delta_pp

The candidate runs through `edge_app.Classifier` — the very code path the Pi runs — on the full test
set, the `unseen/` photos (preprocessed as its contract says; the reference sees the same pixels, so
the comparison isolates quantization) and a seeded corrupted copy of the test set.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_app.atomic import atomic_write
from edge_app.classifier import Classifier
from edge_app.contract import update_contract
from edge_app.labels import LABELS
from export.config import EvalConfig
from export.evalsets import EvalData
from export.runs import find_keras, load_keras

SETS = ("test", "unseen", "corrupted")


@dataclass(frozen=True)
class SetDrift:
    n: int  # images in the set
    reference_acc: float  # float Keras model, fraction
    candidate_acc: float  # exported model through edge_app, fraction
    delta_pp: float  # (candidate − reference) × 100
    agreement: float  # fraction of images with the same top-1 class
    per_class: dict[str, dict[str, float]]  # class → {n, reference_acc, candidate_acc, delta_pp}
    worst_class: str  # class with the most negative delta
    flipped: list[dict] = field(default_factory=list)  # {id, label, reference, candidate} where top-1 differs


@dataclass(frozen=True)
class DriftReport:
    model: str  # the candidate .tflite
    reference: str  # the Keras run it is checked against
    variant: str
    max_drift: float  # pp; |delta| above it fails the gate
    sets: dict[str, SetDrift]

    @property
    def failures(self) -> list[str]:
        return [name for name, s in self.sets.items() if abs(s.delta_pp) > self.max_drift]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed, "failures": self.failures}


def compare_sets(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray, ids: list[str], flipped_limit: int = 200) -> SetDrift:
    """Drift figures for one set from the two models' probabilities (or class indices)."""
    ref = reference.argmax(1) if reference.ndim == 2 else reference
    cand = candidate.argmax(1) if candidate.ndim == 2 else candidate
    labels = np.asarray(labels)
    per_class = {}
    for c, name in enumerate(LABELS):
        sel = labels == c
        if sel.any():
            r, k = float((ref[sel] == c).mean()), float((cand[sel] == c).mean())
            per_class[name] = {"n": int(sel.sum()), "reference_acc": r, "candidate_acc": k, "delta_pp": (k - r) * 100}
    worst = min(per_class, key=lambda n: per_class[n]["delta_pp"]) if per_class else ""
    flips = np.flatnonzero(ref != cand)
    flipped = [
        {"id": ids[i], "label": LABELS[labels[i]], "reference": LABELS[ref[i]], "candidate": LABELS[cand[i]]}
        for i in flips[:flipped_limit]
    ]
    r_acc, c_acc = float((ref == labels).mean()), float((cand == labels).mean())
    return SetDrift(len(labels), r_acc, c_acc, (c_acc - r_acc) * 100, float((ref == cand).mean()), per_class, worst, flipped)


def check(
    candidate: str | Path,
    reference: str | Path,
    evaldata: EvalData,
    max_drift: float = EvalConfig.max_drift,
    keras_model=None,
    threads: int | None = None,
) -> DriftReport:
    """Evaluate one exported model against its Keras reference on the three sets."""
    clf = Classifier(candidate, threads=threads)
    model = keras_model or load_keras(find_keras(reference))
    ref = evaldata.reference(model, clf.spec)
    sets = {}
    sets["test"] = compare_sets(
        ref["test"], clf.probabilities(evaldata.test_x), evaldata.test_y, [f"test[{i}]" for i in range(len(evaldata.test_y))],
    )
    if evaldata.unseen_images:
        pixels = evaldata.unseen_pixels(clf.spec)
        sets["unseen"] = compare_sets(ref["unseen"], clf.probabilities(pixels), evaldata.unseen_y, evaldata.unseen_ids)
    sets["corrupted"] = compare_sets(ref["corrupted"], clf.probabilities(evaldata.corrupted_x), evaldata.test_y, evaldata.corrupted_ids)
    return DriftReport(str(candidate), str(reference), clf.contract.variant, max_drift, sets)


def write_report(report: DriftReport) -> tuple[Path, Path]:
    """`<model>.drift.json` and `.drift.md` beside the model; the summary also goes into its contract."""
    base = Path(report.model)
    json_path = base.with_suffix(".drift.json")
    md_path = base.with_suffix(".drift.md")
    atomic_write(json_path, json.dumps(report.to_dict(), indent=2))
    atomic_write(md_path, to_markdown(report))
    summary = {name: {k: getattr(s, k) for k in ("n", "reference_acc", "candidate_acc", "delta_pp", "agreement")} for name, s in report.sets.items()}
    update_contract(base, checks={"drift": summary, "max_drift_pp": report.max_drift, "passed": report.passed})
    return json_path, md_path


def to_markdown(report: DriftReport) -> str:
    lines = [
        f"# Drift: {Path(report.model).name} vs {report.reference}",
        "",
        f"Gate: |Δ| ≤ {report.max_drift} pp on every set — **{'PASS' if report.passed else 'FAIL: ' + ', '.join(report.failures)}**",
        "",
        "| set | images | reference | candidate | Δ pp | agreement | worst class (Δ pp) | flipped |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, s in report.sets.items():
        worst = f"{s.worst_class} ({s.per_class[s.worst_class]['delta_pp']:+.2f})" if s.worst_class else "-"
        lines.append(f"| {name} | {s.n} | {s.reference_acc:.2%} | {s.candidate_acc:.2%} | {s.delta_pp:+.2f} | {s.agreement:.2%} | {worst} | {round((1 - s.agreement) * s.n)} |")
    if "unseen" in report.sets and report.sets["unseen"].flipped:
        lines += ["", "## Flipped unseen images", "", "| file | label | reference | candidate |", "|---|---|---|---|"]
        lines += [f"| {f['id']} | {f['label']} | {f['reference']} | {f['candidate']} |" for f in report.sets["unseen"].flipped]
    return "\n".join(lines) + "\n"
