"""`fashion-export all`: every run × every variant, converted and checked, with one summary; and
`pick-default`, which ships the best checked int8 export into the edge app.

    >>> rows, summary = export_all("runs", ExportConfig(out="models"))      # models/summary.md
    >>> pick_default("models", "edge_app/models/default.tflite")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge_app.atomic import atomic_write
from edge_app.contract import read_contract
from export.check import check, write_report
from export.config import VARIANTS, EvalConfig, ExportConfig, PickConfig
from export.convert import calibration_images, convert, load_run
from export.evalsets import EvalData
from export.runs import find_runs
from train.data import load_dataset


@dataclass(frozen=True)
class SummaryRow:
    model: str
    variant: str
    path: str
    size_kb: float
    passed: bool | None  # None when conversion itself failed
    sets: dict  # set → {reference_acc, candidate_acc, delta_pp, agreement}
    error: str = ""


def export_all(
    runs_dir: str | Path,
    config: ExportConfig = ExportConfig(),
    variants=VARIANTS,
    evaluation: EvalConfig = EvalConfig(),
    progress=None,
) -> tuple[list[SummaryRow], Path]:
    """Convert and check everything; a failing variant is reported, the others go on.

    Fashion-MNIST is loaded and verified once, for the drift check's sets and the calibration sample."""
    runs = find_runs(runs_dir)
    dataset = load_dataset(config.data_dir)
    evaldata = EvalData.load(evaluation, dataset)
    calibration = calibration_images(config.calibration, config.seed, dataset=dataset) if "int8" in variants else None
    max_drift = evaluation.max_drift
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


@dataclass(frozen=True)
class DefaultCandidate:
    path: Path  # an exported <model>-int8.tflite
    model: str  # its registry name
    test_acc: float  # int8 test accuracy from its check (-1.0 when unchecked)
    refusals: tuple[str, ...]  # why it may not ship (empty: it may)


def default_candidates(models_dir: str | Path, config: PickConfig = PickConfig()) -> list[DefaultCandidate]:
    """Every int8 export under `models_dir`, with the reasons it may not be shipped: no check yet, a
    check that failed, or drift on the two 10,000-image sets (test and corrupted) above `config.max_drift`
    — the floor, whatever looser gate the check itself was run with — or a file above `config.max_kb`."""
    max_drift, max_kb = config.max_drift, config.max_kb
    found = []
    for path in sorted(Path(models_dir).glob("*-int8.tflite")):
        c = read_contract(path)
        drift, refusals = c.checks.get("drift", {}), []
        if not c.checks:
            refusals.append("not checked (fashion-export check)")
        elif c.checks.get("passed") is not True:
            refusals.append(f"its drift check failed (gate {c.checks.get('max_drift_pp', '?')} pp)")
        for name in ("test", "corrupted"):
            delta = drift.get(name, {}).get("delta_pp")
            if c.checks and delta is None:
                refusals.append(f"no {name} drift in its check")
            elif delta is not None and abs(delta) > max_drift:
                refusals.append(f"{name} drift {delta:+.2f} pp is beyond the {max_drift} pp floor")
        if path.stat().st_size > max_kb * 1024:
            refusals.append(f"{path.stat().st_size / 1024:.0f} KB is above {max_kb:.0f} KB")
        acc = drift.get("test", {}).get("candidate_acc", -1.0)
        found.append(DefaultCandidate(path, c.model_name, float(acc), tuple(refusals)))
    return found


def pick_default(models_dir: str | Path, out: str | Path, config: PickConfig = PickConfig()) -> DefaultCandidate:
    """The int8 model to ship: `config.prefer`'s if it may ship (see `default_candidates`), else the one
    with the best test accuracy that may. On the small unseen/ set a single flipped image moves accuracy
    by ~1 pp, so it does not rank the models; but a model whose check failed is not shipped unless
    `config.force` (then the best of all, refusals and all). Reads only the exports' contracts."""
    candidates = default_candidates(models_dir, config)
    if not candidates:
        raise FileNotFoundError(f"no *-int8.tflite under {models_dir} (run fashion-export all)")
    pool = [c for c in candidates if not c.refusals] or (candidates if config.force else [])
    if not pool:
        why = "; ".join(f"{c.path.name}: {', '.join(c.refusals)}" for c in candidates)
        raise ValueError(f"no int8 model under {models_dir} passed its drift check ({why}); "
                         "run fashion-export all, or ship one anyway with --force")
    chosen = max(pool, key=lambda c: (c.model == config.prefer, c.test_acc))
    atomic_write(out, chosen.path.read_bytes())
    return chosen
