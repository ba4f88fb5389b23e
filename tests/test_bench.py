"""`fashion-export bench` on the session's tiny model: two exported variants plus its Keras row.

Small `--limit` and `--iterations` keep it quick; the full benchmark's numbers are not checked here, only
the report's shape, the size ratio and the floor gate.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from export.cli import app

REPO = Path(__file__).resolve().parents[1]
ROW_KEYS = {"model": str, "variant": str, "status": str, "size_kb": float, "test_acc": float, "corruption_acc": float,
            "unseen_acc": float, "delta_pp": float, "agreement": float, "p50_us": float, "p95_us": float,
            "p50_us_by_threads": dict, "throughput_ips": float, "load_ms": float, "p50_us_rounds": list,
            "p50_spread_pct": float, "throughput_spread_pct": float}
COLUMNS = ["model", "variant", "status", "size KB", "× float32", "test", "corruption", "unseen", "Δ test pp", "agreement",
           "p50 µs (1T)", "p95 µs (1T)", "p50 spread", "p50 µs (2T)", "img/s @256", "load ms"]


@pytest.fixture(scope="module")
def bench_dirs(export_run, exported, tmp_path_factory):
    """runs/ holding the tiny run, models/ holding its float32 and int8 exports, a 4-image unseen/."""
    root = tmp_path_factory.mktemp("bench")
    name = Path(export_run).name
    models = root / "models"
    models.mkdir()
    for variant in ("float32", "int8"):
        shutil.copyfile(exported[variant], models / f"{name}-{variant}.tflite")
    unseen = root / "unseen"
    for cls in ("bag", "sandal"):
        (unseen / cls).mkdir(parents=True)
        for src in sorted((REPO / "unseen" / cls).glob("*.png"))[:2]:
            shutil.copyfile(src, unseen / cls / src.name)
    return Path(export_run).parent, models, unseen, root


def _invoke(bench_dirs, out: str, floor: str):
    runs, models, unseen, root = bench_dirs
    args = ["bench", str(runs), str(models), "--out", str(root / out), "--threads", "1,2", "--unseen", str(unseen),
            "--limit", "5", "--iterations", "20", "--rounds", "2", "--floor", floor]
    return CliRunner().invoke(app, args), root / out


@pytest.fixture(scope="module")
def passing(bench_dirs):
    return _invoke(bench_dirs, "reports", "test=0.0")


def test_floor_zero_passes_and_writes_reports(passing):
    result, out = passing
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"bench.md", "bench.json", "bench.png"}
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_columns(passing):
    _, out = passing
    header = next(line for line in (out / "bench.md").read_text().splitlines() if line.startswith("| model"))
    assert [c.strip() for c in header.strip("|").split("|")] == COLUMNS
    assert "Machine:" in (out / "bench.md").read_text()


def test_json_rows(passing, export_run):
    _, out = passing
    data = json.loads((out / "bench.json").read_text())
    assert {"machine", "versions", "rows"} <= set(data)
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"]
    assert "tensorflow" in data["versions"]
    rows = {r["variant"]: r for r in data["rows"]}
    assert set(rows) == {"keras", "float32", "float16", "dynamic", "int8"}
    assert rows["float16"]["status"] == rows["dynamic"]["status"] == "failed: not exported"
    for variant in ("keras", "float32", "int8"):
        row = rows[variant]
        assert row["model"] == Path(export_run).name and row["status"] == "ok"
        for key, kind in ROW_KEYS.items():
            assert isinstance(row[key], kind), (variant, key, row[key])
        assert "real_acc" not in row  # only with --real-dir
        assert row["delta_pp"] == pytest.approx((row["test_acc"] - rows["keras"]["test_acc"]) * 100)
        assert row["p50_us"] > 0 and row["p95_us"] >= row["p50_us"] and row["throughput_ips"] > 0
    assert set(rows["int8"]["p50_us_by_threads"]) == {"1", "2"}
    assert rows["int8"]["p50_us"] == rows["int8"]["p50_us_by_threads"]["1"]
    assert rows["keras"]["delta_pp"] == 0.0 and rows["keras"]["p50_us_by_threads"] == {}
    trained = json.loads((Path(export_run) / "metrics.json").read_text())
    assert rows["keras"]["test_acc"] == trained["test_accuracy"]  # the same model on the same 10,000 images
    assert rows["keras"]["agreement"] == 1.0 and rows["float32"]["agreement"] >= 0.999  # float32 is the Keras graph
    assert rows["int8"]["size_kb"] < rows["float32"]["size_kb"]
    assert rows["int8"]["size_ratio"] < 1.0 == rows["float32"]["size_ratio"]
    assert data["rounds"] == 2 and all(len(rows[v]["p50_us_rounds"]) == 2 for v in ("keras", "float32", "int8"))
    assert rows["int8"]["p50_us"] == pytest.approx(sum(rows["int8"]["p50_us_rounds"]) / 2)  # median of two rounds
    isa = data["machine"]["isa"]
    assert isinstance(isa, dict) and (data["machine"]["arch"] != "x86_64" or not isa or {"avx2", "avx512_vnni", "amx_int8"} <= set(isa))
    assert "Timing: 2 interleaved rounds" in (out / "bench.md").read_text()


def test_zero_rounds_is_one_clear_error(bench_dirs):
    runs, models, unseen, root = bench_dirs
    result = CliRunner().invoke(app, ["bench", str(runs), str(models), "--out", str(root / "r0"), "--rounds", "0"])
    assert result.exit_code != 0 and "--rounds must be ≥ 1" in result.output and len(result.output.strip().splitlines()) == 1


def test_timings_interleave_the_rows_round_by_round(monkeypatch):
    """ABAB…: every round times each row once, in order; a failing row drops out and the others go on."""
    import numpy as np

    from export import bench, timing

    order = []

    class Fake:
        keras = False

        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail

        def latency(self, image, threads, iterations):
            order.append((self.name, threads))
            if self.fail:
                raise RuntimeError("interpreter gone")
            return 10.0 * len(order), 20.0 * len(order)

        def throughput(self, images, threads, min_seconds):
            return 1000.0

        def load_ms(self, threads):
            return 1.0

    out = timing.timed_rounds({0: Fake("A"), 1: Fake("B"), 2: Fake("C", fail=True)}, np.zeros((28, 28), np.uint8),
                             np.zeros((4, 28, 28), np.uint8), (1, 2), 1, iterations=30, rounds=3)
    assert order == [("A", 1), ("A", 2), ("B", 1), ("B", 2), ("C", 1)] + [("A", 1), ("A", 2), ("B", 1), ("B", 2)] * 2
    assert out[0]["p50"][1] == [10.0, 60.0, 100.0] and len(out[1]["ips"]) == 3
    assert out[2] == {"error": "interpreter gone"}
    row = bench.with_timing(bench.BenchRow("m", "int8", "ok"), out[0], 1)
    assert row.p50_us == 60.0 and row.p50_spread_pct == pytest.approx(100 * 90 / 60)


def test_floor_above_one_fails(bench_dirs, export_run):
    result, _ = _invoke(bench_dirs, "reports-fail", "test=1.01")
    assert result.exit_code != 0
    line = next(line for line in result.output.splitlines() if line.startswith("error:"))
    assert f"{Path(export_run).name}-keras: test" in line and "< floor 1.01" in line


def test_parse_floors_rejects_unknown_metric():
    from export.config import parse_floors

    assert parse_floors("test=0.9, unseen=0.5") == {"test": 0.9, "unseen": 0.5}
    with pytest.raises(ValueError, match="metric"):
        parse_floors("speed=3")
    with pytest.raises(ValueError, match="not a number"):
        parse_floors("test=high")


def test_failed_check_status(tmp_path):
    from export.bench import BenchRow, apply_floors, drift_failures

    model = tmp_path / "m-int8.tflite"
    model.write_bytes(b"")
    assert drift_failures(model) is None
    model.with_suffix(".drift.json").write_text(json.dumps({"passed": False, "failures": ["unseen"]}))
    assert drift_failures(model) == ["unseen"]
    rows = [BenchRow("m", "int8", "exported-but-failed-check (unseen)", test_acc=0.1),
            BenchRow("m", "float32", "ok", test_acc=0.95)]
    assert apply_floors(rows, {"test": 0.9}) == []
    assert apply_floors(rows, {"test": 0.9}, ("int8",)) == ["no row with status ok among int8 to check the floors on"]


def test_per_layer_report_names_the_worst_tensors(export_run, tmp_path):
    import csv

    from export.quant_debug import per_layer_report
    from export.runs import load_keras

    md_path, csv_path = per_layer_report(load_keras(export_run / "model.keras"), "baseline", tmp_path, calibration=20)
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) >= 2  # one row per quantized tensor
    ratios = [float(r["rmse/scale"]) for r in rows]
    assert ratios == sorted(ratios, reverse=True)  # worst first
    for r in rows:  # rmse/scale is the error in units of the tensor's own quantization step
        if float(r["scale"]):
            assert float(r["rmse/scale"]) == pytest.approx(float(r["rmse"]) / float(r["scale"]), abs=5e-5)  # printed to 4 places
    text = md_path.read_text()
    assert text.startswith("# Per-layer int8 quantization error: baseline")
    assert f"`{rows[0]['tensor_name']}` ({rows[0]['rmse/scale']})" in text  # the worst layer is named first
