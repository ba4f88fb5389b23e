"""`fashion-export all`: every run × every variant, converted and checked, with one summary.

    >>> summary = export_all("runs", out="models")      # models/summary.md
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge_app.atomic import atomic_write
from export.check import EvalData, check, write_report
from export.convert import VARIANTS, ExportConfig, calibration_images, convert, load_run


@dataclass(frozen=True)
class SummaryRow:
    model: str
    variant: str
    path: str
    size_kb: float
    passed: bool | None  # None when conversion itself failed
    sets: dict  # set → {reference_acc, candidate_acc, delta_pp, agreement}
    error: str = ""


def find_runs(runs_dir: str | Path) -> list[Path]:
    runs = sorted(p.parent for p in Path(runs_dir).glob("*/model.keras"))
    if not runs:
        raise FileNotFoundError(f"no runs under {runs_dir} (expected <model>/model.keras)")
    return runs


def export_all(
    runs_dir: str | Path,
    config: ExportConfig = ExportConfig(),
    variants=VARIANTS,
    unseen: str | Path | None = "unseen",
    max_drift: float = 0.5,
    progress=None,
) -> tuple[list[SummaryRow], Path]:
    """Convert and check everything; a failing variant is reported, the others go on."""
    runs = find_runs(runs_dir)
    evaldata = EvalData.load(unseen, config.data_dir)
    calibration = calibration_images(config.calibration, config.seed, config.data_dir) if "int8" in variants else None
    rows = []
    for run in runs:
        source = load_run(run, calibration)  # once: the model, its hash and its verified rewrites
        for variant in variants:
            if progress:
                progress(f"{run.name}-{variant}")
            try:
                path = convert(source, variant, config, calibration)
                report = check(path, run, evaldata, max_drift, keras_model=source.model)
                write_report(report)
                sets = {n: {k: getattr(s, k) for k in ("reference_acc", "candidate_acc", "delta_pp", "agreement")} for n, s in report.sets.items()}
                rows.append(SummaryRow(run.name, variant, str(path), path.stat().st_size / 1024, report.passed, sets))
            except Exception as exc:  # noqa: BLE001 - one variant failing must not hide the others
                rows.append(SummaryRow(run.name, variant, "", 0.0, None, {}, " ".join(str(exc).split())[:200]))
    out = Path(config.out)
    atomic_write(out / "summary.json", json.dumps([r.__dict__ for r in rows], indent=2))
    return rows, atomic_write(out / "summary.md", summary_markdown(rows, max_drift))


def summary_markdown(rows: list[SummaryRow], max_drift: float) -> str:
    float_kb = {r.model: r.size_kb for r in rows if r.variant == "float32" and r.size_kb}
    lines = [
        "# Export summary", "",
        f"Drift gate: |Δ| ≤ {max_drift} pp against the float Keras model on every set.", "",
        "| model | variant | size KB | × float32 | test acc | Δ test pp | agreement | unseen acc | Δ unseen pp | corrupted acc | Δ corrupted pp | gate |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.passed is None:
            lines.append(f"| {r.model} | {r.variant} | - | - | - | - | - | - | - | - | - | failed: {r.error} |")
            continue
        t, u, c = (r.sets.get(k, {}) for k in ("test", "unseen", "corrupted"))
        ratio = r.size_kb / float_kb[r.model] if float_kb.get(r.model) else float("nan")
        fmt = lambda d, k, f: format(d[k], f) if k in d else "-"  # noqa: E731
        lines.append(
            f"| {r.model} | {r.variant} | {r.size_kb:.1f} | {ratio:.2f} | {fmt(t, 'candidate_acc', '.2%')} | {fmt(t, 'delta_pp', '+.2f')} | "
            f"{fmt(t, 'agreement', '.2%')} | {fmt(u, 'candidate_acc', '.2%')} | {fmt(u, 'delta_pp', '+.2f')} | "
            f"{fmt(c, 'candidate_acc', '.2%')} | {fmt(c, 'delta_pp', '+.2f')} | {'pass' if r.passed else 'FAIL'} |"
        )
    return "\n".join(lines) + "\n"


def pick_default(models_dir: str | Path, out: str | Path, prefer: str = "edge", max_kb: float = 300.0) -> Path:
    """The int8 model to ship: `prefer`'s if its drift check held on the two 10,000-image sets (test and
    corrupted), else the int8 model with the best test accuracy that did. On the small unseen/ set a
    single flipped image moves accuracy by ~1 pp, so it informs the report but does not pick the model.
    The choice reads only the exports' contracts (never real-photo scores)."""
    from edge_app.contract import read_contract

    checked = []
    for path in sorted(Path(models_dir).glob("*-int8.tflite")):
        c = read_contract(path)
        drift = c.checks.get("drift", {})
        held = all(abs(drift.get(k, {}).get("delta_pp", 1e9)) <= c.checks.get("max_drift_pp", 0.5) for k in ("test", "corrupted"))
        if held and path.stat().st_size <= max_kb * 1024:
            checked.append((c.model_name == prefer, c.checks["drift"]["test"]["candidate_acc"], path))
    if not checked:
        raise FileNotFoundError(f"no int8 model under {models_dir} passed its drift check (run fashion-export all)")
    chosen = max(checked)[2]
    atomic_write(out, chosen.read_bytes())
    return chosen
