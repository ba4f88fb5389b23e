"""`fashion-export bench`: every model × variant — size, accuracy, latency, throughput, load time — in one table.

    >>> report = bench("runs", "models", out="reports", threads=(1, 2))
    >>> report.failures                     # floor-gate violations, empty when all rows pass

One row per run × variant (`keras`, `float32`, `float16`, `dynamic`, `int8`). Writes `bench.md`,
`bench.json` and `bench.png` (accuracy vs latency, and sizes) into `out`.

Accuracy reuses `export.robustness`: the test set, the corruption suite (`limit` images per corruption
× severity, mean over all of them) and `unseen/` (and `real_dir`), preprocessed in the mode the model's
contract names. Exported models run through `edge_app.Classifier`, the Pi's code path. Δ pp and top-1
agreement are on the test set, against the run's Keras model.

Timing runs after the accuracy pass, in `rounds` interleaved rounds over all rows (A B C … A B C …,
`timed_rounds`): a burst of load on a shared machine then hits every row alike, and each figure is the
median over the rounds, with its spread (`p50_spread_pct`, `throughput_spread_pct`).
Latency (per thread count): each round a fresh interpreter with its input resized to batch 1, a real test
image, 50 warm-up invokes, then `iterations / rounds` timed frames of set_tensor + invoke + get_tensor
(`time.perf_counter_ns`); p50/p95 µs are the medians of the per-round p50/p95. Throughput: batch 256,
images/s, one window per round. Load: median ms of `make_interpreter` (which allocates), one per round. Headline figures (`p50_us`, `p95_us`,
`throughput_ips`, `load_ms`) are at 1 thread, or at the first of `threads` when 1 is not among them.
The Keras row is timed with `model(x, training=False)` at batch 1 (at most 200 frames in all, TensorFlow's
own thread pool, so its `p50_us_by_threads` is empty), `predict_on_batch` at 256, and `load_model` (one per
round, after a first, untimed load that also initialises TensorFlow). `bench.json` records the CPU and its
instruction sets (`edge_app.machine`: AVX2, AVX-512 VNNI, AMX; NEON dot product on ARM).

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
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_app.atomic import atomic_save, atomic_write
from edge_app.errors import one_line
from edge_app.machine import isa_summary, machine_info, package_versions

VARIANTS = ("keras", "float32", "float16", "dynamic", "int8")
METRICS = {"test": "test_acc", "corruption": "corruption_acc", "unseen": "unseen_acc", "real": "real_acc", "agreement": "agreement"}
WARMUP = 50
KERAS_ITERATIONS = 200  # Keras at batch 1 costs ~1 ms a call: a short run
THROUGHPUT_BATCH = 256
THROUGHPUT_SECONDS = 0.5  # per row in all (split over the rounds)
LOADS = 5
ROUNDS = 5  # interleaved timing rounds: every row is timed once per round


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


# --- inputs --------------------------------------------------------------------------------------------


def parse_floors(text: str | None) -> dict[str, float]:
    """`"test=0.9,unseen=0.5"` → {"test": 0.9, "unseen": 0.5}; ValueError on anything else."""
    floors: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in METRICS:
            raise ValueError(f"--floor takes metric=value with metric one of {', '.join(METRICS)}; got {part.strip()!r}")
        try:
            floors[name] = float(value)
        except ValueError:
            raise ValueError(f"--floor {name}: {value.strip()!r} is not a number") from None
    return floors


def parse_threads(text: str) -> tuple[int, ...]:
    try:
        threads = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"--threads takes comma-separated counts such as 1,2; got {text!r}") from None
    if not threads or any(t < 1 for t in threads):
        raise ValueError(f"--threads takes counts ≥ 1; got {text!r}")
    return tuple(dict.fromkeys(threads))


def _drift_failures(path: Path) -> list[str] | None:
    """Failing sets of the model's drift report, None when there is no (readable) report."""
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


# --- timing ----------------------------------------------------------------------------------------------


def _percentiles(ns: list[int]) -> tuple[float, float]:
    arr = np.asarray(ns, dtype=np.float64) / 1e3
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def _resized(flat: bytes, threads: int | None, batch: int):
    from edge_app import runtime

    interp = runtime.make_interpreter(flat, threads)
    i = runtime.input_details(interp)
    interp.resize_tensor_input(i["index"], [batch, *map(int, i["shape"][1:])], strict=False)
    interp.allocate_tensors()
    return interp, runtime.input_details(interp), runtime.output_details(interp)


def tflite_latency(flat: bytes, image: np.ndarray, threads: int, iterations: int, warmup: int = WARMUP) -> tuple[float, float]:
    """(p50, p95) µs of one frame (set_tensor + invoke + get_tensor) at batch 1 on a fresh interpreter."""
    from edge_app.runtime import pixels_to_input

    interp, i, o = _resized(flat, threads, 1)
    x = pixels_to_input(image[None], i)
    set_tensor, invoke, get_tensor, clock = interp.set_tensor, interp.invoke, interp.get_tensor, time.perf_counter_ns
    idx_in, idx_out = i["index"], o["index"]
    for _ in range(warmup):
        set_tensor(idx_in, x)
        invoke()
        get_tensor(idx_out)
    times = []
    for _ in range(iterations):
        t0 = clock()
        set_tensor(idx_in, x)
        invoke()
        get_tensor(idx_out)
        times.append(clock() - t0)
    return _percentiles(times)


def _throughput(call, n: int, min_calls: int = 5, min_seconds: float = THROUGHPUT_SECONDS) -> float:
    call()  # warm-up
    calls, t0 = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - t0 < min_seconds:
        call()
        calls += 1
    return n * calls / (time.perf_counter() - t0)


def tflite_throughput(flat: bytes, images: np.ndarray, threads: int, min_seconds: float = THROUGHPUT_SECONDS) -> float:
    from edge_app.runtime import pixels_to_input

    interp, i, o = _resized(flat, threads, len(images))
    x = pixels_to_input(images, i)

    def call():
        interp.set_tensor(i["index"], x)
        interp.invoke()
        interp.get_tensor(o["index"])

    return _throughput(call, len(images), min_seconds=min_seconds)


def tflite_load_ms(flat: bytes, threads: int, loads: int = LOADS) -> float:
    from edge_app.runtime import make_interpreter

    times = []
    for _ in range(loads):
        t0 = time.perf_counter()
        make_interpreter(flat, threads)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def keras_load_ms(path: Path, loads: int = 3) -> float:
    from export.convert import load_keras

    times = []
    for _ in range(loads):
        t0 = time.perf_counter()
        load_keras(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def keras_latency(model, image: np.ndarray, iterations: int, warmup: int = WARMUP) -> tuple[float, float]:
    import tensorflow as tf

    from edge_app.preprocess import to_input

    x = tf.constant(to_input(image[None]))
    for _ in range(warmup):
        model(x, training=False).numpy()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        model(x, training=False).numpy()
        times.append(time.perf_counter_ns() - t0)
    return _percentiles(times)


# --- accuracy --------------------------------------------------------------------------------------------


class _Remember:
    """Pass-through predictor that keeps its test-set probabilities (for Δ and agreement)."""

    def __init__(self, predictor, test_x: np.ndarray):
        self.predictor, self.test_x, self.test_probs = predictor, test_x, None

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        probs = self.predictor.probabilities(pixels)
        if pixels is self.test_x:
            self.test_probs = probs
        return probs


def _accuracy(predictor, mode: str, data, suite, real_sets) -> tuple[dict, np.ndarray]:
    """{test_acc, corruption_acc, unseen_acc, real_acc} and the test predictions, via export.robustness.evaluate."""
    from export.robustness import RealSet, evaluate

    views = [RealSet(rs.name, rs.labels, {mode: rs.pixels[mode]}, rs.skipped) for rs in real_sets]
    remember = _Remember(predictor, data.x_test)
    test, corruption, real, _ = evaluate(remember, data.x_test, data.y_test, suite, views)
    out = {"test_acc": test, "corruption_acc": float(np.mean(list(corruption.values()))) if corruption else None}
    for rs in real_sets:
        out["unseen_acc" if rs.name == "unseen" else "real_acc"] = real[rs.name][mode]
    return out, remember.test_probs.argmax(1)


# --- the benchmark ---------------------------------------------------------------------------------------


def bench(
    runs_dir: str | Path,
    models_dir: str | Path,
    out: str | Path = "reports",
    threads: tuple[int, ...] = (1,),
    real_dir: str | Path | None = None,
    unseen: str | Path | None = "unseen",
    floors: dict[str, float] | None = None,
    per_layer: bool = False,
    limit: int = 2000,
    iterations: int = 1000,
    progress=None,
    floor_variants: tuple[str, ...] = (),
    data_dir: str | None = None,
    rounds: int = ROUNDS,
) -> BenchReport:
    """Benchmark every run × variant; writes bench.md/.json/.png (and per-layer reports) into `out`.

    Accuracy first, row by row; then every timing (latency per thread count, throughput, load) in `rounds`
    interleaved rounds over all rows (`timed_rounds`)."""
    from edge_app.classifier import Classifier
    from edge_app.contract import read_model
    from export.pipeline import find_runs
    from export.robustness import RealSet, _Keras, corrupted_sets
    from train.data import load_dataset

    threads = tuple(threads) or (1,)
    if iterations < 1 or limit < 1:
        raise ValueError(f"iterations and limit must be ≥ 1 (got {iterations}, {limit})")
    if rounds < 1:
        raise ValueError(f"--rounds must be ≥ 1, got {rounds}")
    floors = dict(floors or {})
    unknown = set(floors) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown floor metric {', '.join(sorted(unknown))}; valid: {', '.join(METRICS)}")
    if "real" in floors and real_dir is None:
        raise ValueError("--floor real=… needs --real-dir")
    bad_variants = set(floor_variants) - set(VARIANTS)
    if bad_variants:
        raise ValueError(f"unknown --floor-variant {', '.join(sorted(bad_variants))}; valid: {', '.join(VARIANTS)}")
    if real_dir is not None and not Path(real_dir).is_dir():
        raise ValueError(f"--real-dir {real_dir}: no such folder")
    headline = 1 if 1 in threads else threads[0]
    machine = machine_info()  # before the work: its load average is other processes' load
    runs, models_dir, out = find_runs(runs_dir), Path(models_dir), Path(out)
    say = progress or (lambda _name: None)

    say("loading data")
    data = load_dataset(data_dir)
    say("corrupting the test set")
    suite = corrupted_sets(data.x_test, data.y_test, limit)
    candidates = {run.name: [(v, models_dir / f"{run.name}-{v}.tflite") for v in VARIANTS[1:]] for run in runs}
    modes = {"photo"}
    for paths in candidates.values():
        for _v, p in paths:
            try:
                modes.add(read_model(p)[1].preprocess.get("mode", "photo"))
            except Exception:  # noqa: BLE001 - missing or broken files get their row later
                pass
    real_sets = []
    say("preprocessing real images")
    if unseen is not None and Path(unseen).is_dir():
        real_sets.append(RealSet.load("unseen", unseen, tuple(sorted(modes))))
    if real_dir is not None:
        real_sets.append(RealSet.load(Path(real_dir).name, real_dir, tuple(sorted(modes))))
    one = data.x_test[0]
    batch = data.x_test[:THROUGHPUT_BATCH]

    rows: list[BenchRow] = []
    timers: dict[int, object] = {}  # row index → its `_KerasTimer` / `_TfliteTimer`
    per_layer_files: dict[str, str] = {}
    for run in runs:
        run_rows: list[BenchRow] = []
        say(f"{run.name}-keras")
        keras_pred = None
        contract_mode = next((m for m in (_mode(p) for _v, p in candidates[run.name]) if m), "photo")
        try:
            keras_pred = _Keras(run)  # the first load also initialises TensorFlow: not timed
            acc, keras_top1 = _accuracy(keras_pred, contract_mode, data, suite, real_sets)
            keras_path = run / "model.keras"
            timers[len(rows)] = _KerasTimer(keras_pred.model, keras_path)
            run_rows.append(BenchRow(run.name, "keras", "ok", str(keras_path), keras_path.stat().st_size / 1024, None,
                                     **acc, delta_pp=0.0, agreement=1.0))
        except Exception as exc:  # noqa: BLE001 - one failing row must not hide the others
            keras_top1 = None
            run_rows.append(BenchRow(run.name, "keras", f"failed: {one_line(exc)[:200]}", str(run)))
        for variant, path in candidates[run.name]:
            say(f"{run.name}-{variant}")
            row, flat = _bench_tflite(run.name, variant, path, data, suite, real_sets, keras_top1, run_rows[0], headline,
                                      Classifier, read_model)
            if flat is not None:
                timers[len(rows) + len(run_rows)] = _TfliteTimer(flat)
            run_rows.append(row)
        rows.extend(_with_ratios(run_rows))
        if per_layer and keras_pred is not None:
            say(f"{run.name}: per-layer int8 error")
            try:
                md, csv = per_layer_report(keras_pred.model, run.name, out, data_dir=data_dir)
                per_layer_files[run.name] = str(md)
            except Exception as exc:  # noqa: BLE001
                per_layer_files[run.name] = f"failed: {one_line(exc)[:200]}"

    timings = timed_rounds(timers, one, batch, threads, headline, iterations, rounds, say)
    for index, timing in timings.items():
        rows[index] = _with_timing(rows[index], timing, headline) if "error" not in timing else \
            replace(rows[index], status=f"failed: {timing['error']}")
    failures = apply_floors(rows, floors, floor_variants)
    report = BenchReport(machine, package_versions(), threads, headline, iterations, limit, rows, floors,
                         tuple(floor_variants), failures, Path(real_dir).name if real_dir is not None else None, rounds=rounds)
    say("writing reports")
    files = {"md": str(out / "bench.md"), "json": str(out / "bench.json"), "png": str(out / "bench.png")}
    atomic_write(out / "bench.json", json.dumps(report.to_dict(), indent=2))
    plot(report, out / "bench.png")
    atomic_write(out / "bench.md", to_markdown(report, per_layer_files))
    files.update({f"per-layer-{k}": v for k, v in per_layer_files.items()})
    return replace(report, files=files)


def _to_input(pixels):
    from edge_app.preprocess import to_input

    return to_input(pixels)


def _mode(path: Path) -> str | None:
    from edge_app.contract import read_contract

    try:
        return read_contract(path).preprocess.get("mode", "photo")
    except Exception:  # noqa: BLE001
        return None


def _bench_tflite(model, variant, path, data, suite, real_sets, keras_top1, keras_row, headline,
                  Classifier, read_model) -> tuple[BenchRow, bytes | None]:
    """(the row without its timings, the flatbuffer to time — None for a failed row)."""
    if not path.exists():
        return BenchRow(model, variant, "failed: not exported", str(path)), None
    size_kb = path.stat().st_size / 1024
    try:
        flat, contract = read_model(path)
        clf = Classifier(path, threads=headline)
        acc, top1 = _accuracy(clf, clf.spec.mode, data, suite, real_sets)
    except Exception as exc:  # noqa: BLE001 - a broken export is a row, not a crash
        return BenchRow(model, variant, f"failed: {one_line(exc)[:200]}", str(path), size_kb), None
    failing = _drift_failures(path)
    status = f"exported-but-failed-check ({', '.join(failing)})" if failing else "ok"
    delta = (acc["test_acc"] - keras_row.test_acc) * 100 if keras_row.test_acc is not None else None
    agreement = float((top1 == keras_top1).mean()) if keras_top1 is not None else None
    return BenchRow(model, variant, status, str(path), size_kb, None, **acc, delta_pp=delta, agreement=agreement), flat


# --- interleaved timing -------------------------------------------------------------------------------------


class _TfliteTimer:
    """One round's worth of each timing of one exported model (fresh interpreters, as a deployment gets)."""

    keras = False

    def __init__(self, flat: bytes):
        self.flat = flat

    def latency(self, image, threads, iterations):
        return tflite_latency(self.flat, image, threads, iterations)

    def throughput(self, images, threads, min_seconds):
        return tflite_throughput(self.flat, images, threads, min_seconds)

    def load_ms(self, threads):
        return tflite_load_ms(self.flat, threads, loads=1)


class _KerasTimer:
    """The same for the Keras row: `model(x, training=False)` at batch 1 on TF's own threads, `predict_on_batch` at 256."""

    keras = True

    def __init__(self, model, path: Path):
        self.model, self.path = model, path

    def latency(self, image, threads, iterations):
        return keras_latency(self.model, image, max(1, min(iterations, KERAS_ITERATIONS)))

    def throughput(self, images, threads, min_seconds):
        return _throughput(lambda: self.model.predict_on_batch(_to_input(images)), len(images), min_seconds=min_seconds)

    def load_ms(self, threads):
        return keras_load_ms(self.path, loads=1)


def timed_rounds(timers: dict, image: np.ndarray, images: np.ndarray, threads: tuple[int, ...], headline: int,
                 iterations: int, rounds: int = ROUNDS, progress=None) -> dict[int, dict]:
    """Every timing of every row, in `rounds` interleaved rounds: round 1 times row A, B, C …, round 2 again A, B, C ….

    A round gives each row `iterations / rounds` batch-1 frames per thread count (Keras: at most
    `KERAS_ITERATIONS / rounds`, at its own thread count), one throughput window and one load; a row's
    figure is the median over the rounds (p50/p95: of the per-round p50/p95). A load that comes and goes
    while the benchmark runs then lands on every row alike instead of on whichever ran during it.
    → {row index: {"p50": {t: [per round]}, "p95": …, "ips": [...], "load_ms": [...]}} or {"error": line}.
    """
    per_round_frames = max(10, math.ceil(iterations / rounds))
    window = max(0.1, THROUGHPUT_SECONDS / rounds)
    out: dict[int, dict] = {i: {"p50": {}, "p95": {}, "ips": [], "load_ms": []} for i in timers}
    for r in range(rounds):
        if progress:
            progress(f"timing round {r + 1}/{rounds}")
        for index, timer in timers.items():
            timing = out[index]
            if "error" in timing:
                continue
            try:
                for t in ((headline,) if timer.keras else threads):
                    p50, p95 = timer.latency(image, t, per_round_frames if not timer.keras else math.ceil(KERAS_ITERATIONS / rounds))
                    timing["p50"].setdefault(t, []).append(p50)
                    timing["p95"].setdefault(t, []).append(p95)
                timing["ips"].append(timer.throughput(images, headline, window))
                timing["load_ms"].append(timer.load_ms(headline))
            except Exception as exc:  # noqa: BLE001 - one failing row must not hide the others
                out[index] = {"error": one_line(exc)[:200]}
    return out


def _spread_pct(values: list[float]) -> float | None:
    mid = statistics.median(values) if values else 0.0
    return 100.0 * (max(values) - min(values)) / mid if mid else None


def _with_timing(row: BenchRow, timing: dict, headline: int) -> BenchRow:
    med = statistics.median
    p50 = {t: med(v) for t, v in timing["p50"].items()}
    p95 = {t: med(v) for t, v in timing["p95"].items()}
    keras = row.variant == "keras"
    return replace(row, p50_us=p50[headline], p95_us=p95[headline],
                   p50_us_by_threads={} if keras else {str(t): v for t, v in p50.items()},
                   p95_us_by_threads={} if keras else {str(t): v for t, v in p95.items()},
                   throughput_ips=med(timing["ips"]), load_ms=med(timing["load_ms"]),
                   p50_us_rounds=list(timing["p50"][headline]), p50_spread_pct=_spread_pct(timing["p50"][headline]),
                   throughput_spread_pct=_spread_pct(timing["ips"]))


def _with_ratios(rows: list[BenchRow]) -> list[BenchRow]:
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
            value = getattr(r, METRICS[name])
            if value is None or (isinstance(value, float) and math.isnan(value)):
                failures.append(f"{r.model}-{r.variant}: {name} not measured (floor {floor:g})")
            elif value < floor:
                failures.append(f"{r.model}-{r.variant}: {name} {value:.4f} < floor {floor:g}")
    return failures


# --- per-layer quantization error --------------------------------------------------------------------------


def per_layer_report(model, name: str, out: str | Path, calibration: int = 100, seed: int = 0, data_dir: str | None = None,
                     worst: int = 5) -> tuple[Path, Path]:
    """int8 quantization error per tensor (QuantizationDebugger): per-layer-<name>.csv and .md, worst layers first.

    The debugger builds its own int8 model with `export.convert.make_converter` (float I/O, which does
    not change the internal tensors) on `calibration` stratified training images, with the converter's
    full logits range: the exported file's decision-range logits (`export.logits_range`) are not what
    its last row describes.
    """
    import csv
    import io

    import tensorflow as tf

    from export.convert import calibration_images, exportable, make_converter, quiet_native_output, representative_dataset

    images = calibration_images(calibration, seed, data_dir)
    graph, _ = exportable(model, images)  # the graph that is really exported (after the rewrites)
    converter = make_converter(graph, "int8", images, io="float32")
    dataset = representative_dataset(images)
    with quiet_native_output():
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=dataset)
        debugger.run()
    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    for r in rows:
        scale = float(r.get("scale") or 0.0)
        rmse = math.sqrt(float(r.get("mean_squared_error") or 0.0))
        r["rmse"] = f"{rmse:.6g}"
        r["rmse/scale"] = f"{rmse / scale:.4f}" if scale else "nan"
    rows.sort(key=lambda r: -_num(r["rmse/scale"]))
    out = Path(out)
    fields = list(rows[0].keys()) if rows else ["tensor_name", "rmse", "rmse/scale"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    csv_path = atomic_write(out / f"per-layer-{name}.csv", text.getvalue())
    lines = [f"# Per-layer int8 quantization error: {name}", "",
             f"QuantizationDebugger on {len(images)} stratified training images. rmse/scale is the error in units of the",
             "tensor's quantization step: ≈ 0.29 is pure rounding (1/√12); well above 1 means the layer loses information.", ""]
    if rows:
        named = [f"`{r.get('tensor_name', '?')}` ({r['rmse/scale']})" for r in rows[:worst]]
        lines += ["Worst layers: " + ", ".join(named), "",
                  "| tensor | op | scale | rmse | rmse/scale | max abs error |", "|---|---|---:|---:|---:|---:|"]
        lines += [f"| {r.get('tensor_name', '')} | {r.get('op_name', '')} | {_num(r.get('scale')):.4g} | {r['rmse']} | {r['rmse/scale']} | "
                  f"{_num(r.get('max_abs_error')):.4g} |" for r in rows]
    md_path = atomic_write(out / f"per-layer-{name}.md", "\n".join(lines) + "\n")
    return md_path, csv_path


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


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
    handles = [Line2D([], [], marker=MARKERS[v], linestyle="", color="gray", label=v) for v in VARIANTS]
    handles += [Line2D([], [], marker="o", linestyle="", color=colors[m], label=m) for m in models]
    ax.legend(handles=handles, fontsize=8, loc="best")
    width = 0.8 / len(VARIANTS)
    for k, v in enumerate(VARIANTS):
        sizes = [next((r.size_kb or 0 for r in report.rows if r.model == m and r.variant == v), 0) for m in models]
        bx.bar(np.arange(len(models)) + (k - (len(VARIANTS) - 1) / 2) * width, sizes, width, label=v)
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
