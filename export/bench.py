"""`fashion-export bench`: every model × variant — size, accuracy, latency, throughput, load time — in one table.

    >>> report = bench("runs", "models", "reports", EvalConfig(), BenchConfig(threads=(1, 2)))
    >>> report.failures                     # floor-gate violations, empty when all rows pass

One row per run × variant (`keras`, `float32`, `float16`, `dynamic`, `int8`). Writes `bench.md`,
`bench.json` and `bench.png` (accuracy vs latency, and sizes) into `out`.

Accuracy uses the sets of `export.evalsets`: the test set, the corruption suite (`corruption_limit`
images per corruption × severity, mean over all of them) and `unseen/` (and `real_dir`), preprocessed in
the mode the model's contract names. Exported models run through `edge_app.Classifier`, the Pi's code
path. Δ pp and top-1 agreement are on the test set, against the run's Keras model.

Timing (`export.timing`) runs after the accuracy pass, in `rounds` interleaved rounds over all rows
(A B C … A B C …): a burst of load on a shared machine then hits every row alike, and each figure is the
median over the rounds, with its spread (`p50_spread_pct`, `throughput_spread_pct`).
Latency (per thread count): each round a fresh interpreter with its input resized to batch 1, a real test
image, 50 warm-up invokes, then `iterations / rounds` timed frames of set_tensor + invoke + get_tensor
(`time.perf_counter_ns`); p50/p95 µs are the medians of the per-round p50/p95. Throughput: batch 256,
images/s, one window per round. Load: median ms of `make_interpreter` (which allocates), one per round.
Headline figures (`p50_us`, `p95_us`, `throughput_ips`, `load_ms`) are at 1 thread, or at the first of
`threads` when 1 is not among them. The Keras row is timed with `model(x, training=False)` at batch 1 (at
most 200 frames in all, TensorFlow's own thread pool, so its `p50_us_by_threads` is empty),
`predict_on_batch` at 256, and `load_model` (one per round, after a first, untimed load that also
initialises TensorFlow). `bench.json` records the CPU and its instruction sets (`edge_app.machine`: AVX2,
AVX-512 VNNI, AMX; NEON dot product on ARM). `--per-layer` adds `export.quant_debug`'s report per run.

Status: `ok`; `exported-but-failed-check (<sets>)` when `models/<m>-<v>.drift.json` (written by
`fashion-export check` / `all`) says passed=false — the row is still measured; `failed: <reason>` when the
model cannot be loaded or run, and `failed: not exported` when the file is missing (the row is kept so a
gap shows). Floors (`{"test": 0.9}`) apply to rows with status ok (optionally only `floor_variants`);
a row under a floor, or a floor with no ok row to check, is listed in `BenchReport.failures`.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_app.atomic import atomic_save, atomic_write
from edge_app.classifier import Classifier
from edge_app.contract import read_contract, read_model
from edge_app.errors import one_line
from edge_app.machine import isa_summary, machine_info, package_versions
from export.config import BENCH_ROWS, FLOOR_METRICS, VARIANTS, BenchConfig, EvalConfig
from export.evalsets import SuiteSets, evaluate
from export.quant_debug import per_layer_report
from export.runs import KerasPredictor, find_runs
from export.timing import KERAS_ITERATIONS, THROUGHPUT_BATCH, WARMUP, KerasTimer, TfliteTimer, spread_pct, timed_rounds


@dataclass(frozen=True)
class BenchRow:
    model: str
    variant: str  # keras | float32 | float16 | dynamic | int8
    status: str  # ok | exported-but-failed-check (<sets>) | failed: <reason>
    path: str = ""
    size_kb: float | None = None  # file size (the .keras file for keras)
    size_ratio: float | None = None  # size_kb / float32's size_kb
    test_acc: float | None = None  # fractions
    corruption_acc: float | None = None  # mean over corruption × severity
    unseen_acc: float | None = None
    real_acc: float | None = None  # only with real_dir
    delta_pp: float | None = None  # (test_acc − keras test_acc) × 100
    agreement: float | None = None  # top-1 agreement with keras on the test set
    p50_us: float | None = None  # batch-1 latency at the headline thread count
    p95_us: float | None = None
    p50_us_by_threads: dict[str, float] = field(default_factory=dict)  # "threads" → µs
    p95_us_by_threads: dict[str, float] = field(default_factory=dict)
    throughput_ips: float | None = None  # images/s at batch 256
    load_ms: float | None = None
    p50_us_rounds: list[float] = field(default_factory=list)  # headline p50 of each interleaved round (p50_us is their median)
    p50_spread_pct: float | None = None  # (max − min) of those, in % of their median
    throughput_spread_pct: float | None = None  # the same for throughput_ips

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def measured(self) -> bool:
        return not self.status.startswith("failed")


@dataclass(frozen=True)
class BenchReport:
    machine: dict
    versions: dict
    threads: tuple[int, ...]
    headline_threads: int
    iterations: int
    limit: int
    rows: list[BenchRow]
    floors: dict[str, float] = field(default_factory=dict)
    floor_variants: tuple[str, ...] = ()
    failures: list[str] = field(default_factory=list)  # one line per floor violation
    real: str | None = None  # real_dir's name, when given
    files: dict[str, str] = field(default_factory=dict)  # md/json/png (+ per-layer) paths
    rounds: int = 1  # interleaved timing rounds (every row timed once per round)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        keep_real = self.real is not None
        rows = []
        for r in self.rows:
            d = asdict(r)
            if not keep_real:
                d.pop("real_acc")
            rows.append(d)
        return {
            "machine": self.machine, "versions": self.versions, "threads": list(self.threads),
            "headline_threads": self.headline_threads, "iterations": self.iterations, "rounds": self.rounds,
            "corruption_images_per_severity": self.limit, "floors": self.floors,
            "floor_variants": list(self.floor_variants), "failures": self.failures, "rows": rows,
        }


def drift_failures(path: Path) -> list[str] | None:
    """Failing sets of the model's drift report (`<model>.drift.json`), None when there is no readable report."""
    report = path.with_suffix(".drift.json")
    if not report.exists():
        return None
    try:
        data = json.loads(report.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("passed", True):
        return []
    return list(data.get("failures") or ["drift"])


# --- accuracy --------------------------------------------------------------------------------------------


def _accuracy(predictor, mode: str, sets: SuiteSets) -> tuple[dict, np.ndarray]:
    """{test_acc, corruption_acc, unseen_acc, real_acc} in the contract's preprocessing `mode`, and the
    test-set predictions (for Δ and agreement). A photo the preprocessing finds no item in is scored
    by the model's top class here (robustness counts it wrong)."""
    sets = sets.with_spec(predictor.spec)  # the real photos as this model's contract prepares them
    result = evaluate(predictor, sets, modes=(mode,), no_item_wrong=False)
    out = {"test_acc": result.test, "corruption_acc": result.corruption_mean if result.corruption else None}
    for rs in sets.real:
        out["unseen_acc" if rs.name == "unseen" else "real_acc"] = result.real[rs.name][mode]
    return out, result.test_probs.argmax(1)


def _mode(path: Path) -> str | None:
    """The preprocessing mode an export's contract names; None when the file is missing or unreadable."""
    try:
        return read_contract(path).preprocess.get("mode", "photo")
    except Exception:  # noqa: BLE001 - missing or broken files get their row later
        return None


def _keras_row(run: Path, mode: str, sets: SuiteSets) -> tuple[BenchRow, KerasPredictor | None, np.ndarray | None]:
    """(the Keras row without its timings, the loaded model — None when it failed to load —, its test top-1)."""
    keras = None
    try:
        keras = KerasPredictor.from_run(run)  # the first load also initialises TensorFlow: not timed
        acc, top1 = _accuracy(keras, mode, sets)
    except Exception as exc:  # noqa: BLE001 - one failing row must not hide the others
        return BenchRow(run.name, "keras", f"failed: {one_line(exc)[:200]}", str(run)), keras, None
    size_kb = keras.path.stat().st_size / 1024
    return BenchRow(run.name, "keras", "ok", str(keras.path), size_kb, None, **acc, delta_pp=0.0, agreement=1.0), keras, top1


def _export_row(model: str, variant: str, path: Path, sets: SuiteSets, keras_top1, keras_row: BenchRow,
                headline: int) -> tuple[BenchRow, bytes | None]:
    """(the row without its timings, the flatbuffer to time — None for a failed row)."""
    if not path.exists():
        return BenchRow(model, variant, "failed: not exported", str(path)), None
    size_kb = path.stat().st_size / 1024
    try:
        flat, _contract = read_model(path)
        clf = Classifier(path, threads=headline)
        acc, top1 = _accuracy(clf, clf.spec.mode, sets)
    except Exception as exc:  # noqa: BLE001 - a broken export is a row, not a crash
        return BenchRow(model, variant, f"failed: {one_line(exc)[:200]}", str(path), size_kb), None
    failing = drift_failures(path)
    status = f"exported-but-failed-check ({', '.join(failing)})" if failing else "ok"
    delta = (acc["test_acc"] - keras_row.test_acc) * 100 if keras_row.test_acc is not None else None
    agreement = float((top1 == keras_top1).mean()) if keras_top1 is not None else None
    return BenchRow(model, variant, status, str(path), size_kb, None, **acc, delta_pp=delta, agreement=agreement), flat


def _run_rows(run: Path, exports: list[tuple[str, Path]], sets: SuiteSets, headline: int, say):
    """One run's rows (Keras first, then every export), their timers by row position, and the Keras predictor."""
    say(f"{run.name}-keras")
    contract_mode = next((m for m in (_mode(p) for _v, p in exports) if m), "photo")
    keras_row, keras, keras_top1 = _keras_row(run, contract_mode, sets)
    rows, timers = [keras_row], {}
    if keras_row.ok:
        timers[0] = KerasTimer(keras.model, keras.path)
    for variant, path in exports:
        say(f"{run.name}-{variant}")
        row, flat = _export_row(run.name, variant, path, sets, keras_top1, keras_row, headline)
        if flat is not None:
            timers[len(rows)] = TfliteTimer(flat)
        rows.append(row)
    return _with_ratios(rows), timers, keras


# --- the benchmark ---------------------------------------------------------------------------------------


def _check(evaluation: EvalConfig, config: BenchConfig) -> None:
    """What the two configs cannot check alone."""
    if config.iterations < 1 or evaluation.corruption_limit is None or evaluation.corruption_limit < 1:
        raise ValueError(f"iterations and limit must be ≥ 1 (got {config.iterations}, {evaluation.corruption_limit})")
    if "real" in config.floors and evaluation.real_dir is None:
        raise ValueError("--floor real=… needs --real-dir")


def _modes(exports: dict[str, list[tuple[str, Path]]]) -> tuple[str, ...]:
    """The preprocessing modes the real images are needed in: photo, and every mode an export's contract names."""
    modes = {"photo"} | {m for paths in exports.values() for _v, p in paths if (m := _mode(p))}
    return tuple(sorted(modes))


def bench(
    runs_dir: str | Path,
    models_dir: str | Path,
    out: str | Path = "reports",
    evaluation: EvalConfig = EvalConfig(),
    config: BenchConfig = BenchConfig(),
    progress=None,
) -> BenchReport:
    """Benchmark every run × variant; writes bench.md/.json/.png (and per-layer reports) into `out`.

    Accuracy first, row by row; then every timing (latency per thread count, throughput, load) in
    `config.rounds` interleaved rounds over all rows (`export.timing.timed_rounds`)."""
    _check(evaluation, config)
    machine = machine_info()  # before the work: its load average is other processes' load
    runs, models_dir, out = find_runs(runs_dir), Path(models_dir), Path(out)
    say = progress or (lambda _name: None)
    exports = {run.name: [(v, models_dir / f"{run.name}-{v}.tflite") for v in VARIANTS] for run in runs}
    sets = SuiteSets.load(evaluation, _modes(exports), say=say)
    rows: list[BenchRow] = []
    timers: dict[int, object] = {}  # row index → its `KerasTimer` / `TfliteTimer`
    per_layer_files: dict[str, str] = {}
    for run in runs:
        run_rows, run_timers, keras = _run_rows(run, exports[run.name], sets, config.headline, say)
        timers.update({len(rows) + i: timer for i, timer in run_timers.items()})
        rows.extend(run_rows)
        if config.per_layer and keras is not None:
            say(f"{run.name}: per-layer int8 error")
            per_layer_files[run.name] = _per_layer(keras, run.name, out, evaluation, sets)
    x = sets.dataset.x_test
    timings = timed_rounds(timers, x[0], x[:THROUGHPUT_BATCH], config.threads, config.headline, config.iterations,
                           config.rounds, say)
    rows = _timed(rows, timings, config.headline)
    real = Path(evaluation.real_dir).name if evaluation.real_dir is not None else None
    report = BenchReport(machine, package_versions(), config.threads, config.headline, config.iterations,
                         evaluation.corruption_limit, rows, config.floors, config.floor_variants,
                         apply_floors(rows, config.floors, config.floor_variants), real, rounds=config.rounds)
    say("writing reports")
    return _write(report, out, per_layer_files)


def _per_layer(keras: KerasPredictor, name: str, out: Path, evaluation: EvalConfig, sets: SuiteSets) -> str:
    """The per-layer report's path, or why it failed."""
    try:
        md, _csv = per_layer_report(keras.model, name, out, data_dir=evaluation.data_dir, dataset=sets.dataset)
        return str(md)
    except Exception as exc:  # noqa: BLE001
        return f"failed: {one_line(exc)[:200]}"


def _timed(rows: list[BenchRow], timings: dict[int, dict], headline: int) -> list[BenchRow]:
    """The rows with their timings, or failed with the timing's error."""
    rows = list(rows)
    for index, timing in timings.items():
        rows[index] = with_timing(rows[index], timing, headline) if "error" not in timing else \
            replace(rows[index], status=f"failed: {timing['error']}")
    return rows


def _write(report: BenchReport, out: Path, per_layer_files: dict[str, str]) -> BenchReport:
    files = {"md": str(out / "bench.md"), "json": str(out / "bench.json"), "png": str(out / "bench.png")}
    atomic_write(out / "bench.json", json.dumps(report.to_dict(), indent=2))
    plot(report, out / "bench.png")
    atomic_write(out / "bench.md", to_markdown(report, per_layer_files))
    files.update({f"per-layer-{k}": v for k, v in per_layer_files.items()})
    return replace(report, files=files)


def with_timing(row: BenchRow, timing: dict, headline: int) -> BenchRow:
    """The row with the medians over the rounds of its timings (`timed_rounds`'s entry for it)."""
    med = statistics.median
    p50 = {t: med(v) for t, v in timing["p50"].items()}
    p95 = {t: med(v) for t, v in timing["p95"].items()}
    keras = row.variant == "keras"
    return replace(row, p50_us=p50[headline], p95_us=p95[headline],
                   p50_us_by_threads={} if keras else {str(t): v for t, v in p50.items()},
                   p95_us_by_threads={} if keras else {str(t): v for t, v in p95.items()},
                   throughput_ips=med(timing["ips"]), load_ms=med(timing["load_ms"]),
                   p50_us_rounds=list(timing["p50"][headline]), p50_spread_pct=spread_pct(timing["p50"][headline]),
                   throughput_spread_pct=spread_pct(timing["ips"]))


def _with_ratios(rows: list[BenchRow]) -> list[BenchRow]:
    """One run's rows with their size as a fraction of its float32 export's."""
    base = next((r.size_kb for r in rows if r.variant == "float32" and r.size_kb), None)
    if not base:
        return rows
    return [replace(r, size_ratio=r.size_kb / base) if r.size_kb else r for r in rows]


def apply_floors(rows: list[BenchRow], floors: dict[str, float], variants: tuple[str, ...] = ()) -> list[str]:
    """One line per (row, metric) under its floor; rows with status ok only (and `variants`, if given)."""
    if not floors:
        return []
    gated = [r for r in rows if r.ok and (not variants or r.variant in variants)]
    if not gated:
        return [f"no row with status ok{' among ' + ', '.join(variants) if variants else ''} to check the floors on"]
    failures = []
    for r in gated:
        for name, floor in floors.items():
            value = getattr(r, FLOOR_METRICS[name])
            if value is None or (isinstance(value, float) and math.isnan(value)):
                failures.append(f"{r.model}-{r.variant}: {name} not measured (floor {floor:g})")
            elif value < floor:
                failures.append(f"{r.model}-{r.variant}: {name} {value:.4f} < floor {floor:g}")
    return failures


# --- reports ------------------------------------------------------------------------------------------------


def _pct(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2%}"


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def to_markdown(report: BenchReport, per_layer_files: dict[str, str] | None = None) -> str:
    m, h = report.machine, report.headline_threads
    others = [t for t in report.threads if t != h]
    head = ["model", "variant", "status", "size KB", "× float32", "test", "corruption", "unseen"]
    if report.real:
        head.append(report.real)
    head += ["Δ test pp", "agreement", f"p50 µs ({h}T)", f"p95 µs ({h}T)", "p50 spread"]
    head += [f"p50 µs ({t}T)" for t in others]
    head += [f"img/s @{THROUGHPUT_BATCH}", "load ms"]
    lines = [
        "# Benchmark", "",
        f"Machine: {m['cpu']} ({isa_summary(m)}), {m['cores']} cores ({m['usable_cores']} usable), {m['arch']}, {m['system']}; "
        f"load average {m.get('load_avg_1m')} when the run started (timings are only comparable on an idle machine).  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()) + ".", "",
        f"Accuracy: full test set; corruption = mean over the suite ({report.limit} images per corruption × severity); "
        "unseen in each model's contract preprocessing. Δ and agreement: test set, against the run's Keras model.  ",
        f"Timing: {report.rounds} interleaved rounds over all rows (every row timed once per round, in table order); "
        "each figure is the median over the rounds, *p50 spread* the (max − min) of the per-round p50s in % of their median.  ",
        f"Latency: batch 1, one real test image, {WARMUP} warm-up frames excluded per round, {report.iterations} timed frames in all "
        f"(set_tensor + invoke + get_tensor; Keras: model(x, training=False), ≤ {KERAS_ITERATIONS} frames, TF's own threads); "
        f"p50/p95 at {h} thread(s) (T = interpreter threads). Throughput: batch {THROUGHPUT_BATCH} at {h} thread(s). "
        f"Load: median of one interpreter load per round (Keras: load_model, after an untimed one).", "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * 3 + "---:|" * (len(head) - 3),
    ]
    for r in report.rows:
        cells = [r.model, r.variant, r.status, _f(r.size_kb, ".1f"), _f(r.size_ratio, ".2f"), _pct(r.test_acc),
                 _pct(r.corruption_acc), _pct(r.unseen_acc)]
        if report.real:
            cells.append(_pct(r.real_acc))
        cells += [_f(r.delta_pp, "+.2f"), _pct(r.agreement), _f(r.p50_us, ",.1f"), _f(r.p95_us, ",.1f"),
                  "-" if r.p50_spread_pct is None else f"{r.p50_spread_pct:.0f} %"]
        cells += [_f(r.p50_us_by_threads.get(str(t)), ",.0f") for t in others]
        cells += [_f(r.throughput_ips, ",.0f"), _f(r.load_ms, ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    if report.floors:
        scope = ", ".join(report.floor_variants) if report.floor_variants else "all"
        gate = "PASS" if report.passed else "FAIL"
        lines += ["", f"Floors ({', '.join(f'{k} ≥ {v:g}' for k, v in report.floors.items())}; rows with status ok, variants: {scope}): **{gate}**"]
        lines += [f"- {f}" for f in report.failures]
    if per_layer_files:
        lines += ["", "Per-layer int8 error: " + ", ".join(f"{k}: {v}" for k, v in per_layer_files.items())]
    return "\n".join(lines) + "\n"


MARKERS = {"keras": "o", "float32": "s", "float16": "D", "dynamic": "^", "int8": "*"}


def plot(report: BenchReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = [r for r in report.rows if r.measured]
    models = list(dict.fromkeys(r.model for r in report.rows))
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(models)}
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for r in rows:
        if r.p50_us and r.test_acc is not None:
            ax.scatter(r.p50_us, r.test_acc * 100, marker=MARKERS.get(r.variant, "x"), s=110 if r.variant == "int8" else 60,
                       color=colors[r.model], edgecolor="black" if r.ok else "red", linewidth=0.6 if r.ok else 1.5)
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 latency per image, µs (batch 1, {report.headline_threads} thread(s); log scale)")
    ax.set_ylabel("test accuracy, %")
    ax.set_title("Accuracy vs latency")
    ax.grid(True, which="both", alpha=0.3)
    handles = [Line2D([], [], marker=MARKERS[v], linestyle="", color="gray", label=v) for v in BENCH_ROWS]
    handles += [Line2D([], [], marker="o", linestyle="", color=colors[m], label=m) for m in models]
    ax.legend(handles=handles, fontsize=8, loc="best")
    width = 0.8 / len(BENCH_ROWS)
    for k, v in enumerate(BENCH_ROWS):
        sizes = [next((r.size_kb or 0 for r in report.rows if r.model == m and r.variant == v), 0) for m in models]
        bx.bar(np.arange(len(models)) + (k - (len(BENCH_ROWS) - 1) / 2) * width, sizes, width, label=v)
    bx.set_xticks(range(len(models)), models)
    bx.set_ylabel("size, KB")
    bx.set_title("Model size")
    bx.legend(fontsize=8)
    bx.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"{report.machine['cpu']} · {report.machine['cores']} cores", fontsize=10)
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
    return path
