"""int8 quantization error per tensor, from TensorFlow's `QuantizationDebugger`: which layers lose information.

    >>> md, csv = per_layer_report(keras_model, "robust", "reports")    # per-layer-robust.md / .csv

`fashion-export bench --per-layer` writes one report per run. The error of each tensor is given in units
of its own quantization step (rmse / scale): about 0.29 is pure rounding, well above 1 a layer that
loses information.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from edge_app.atomic import atomic_write
from export.convert import calibration_images, exportable, make_converter, quiet_native_output, representative_dataset
from train.data import Dataset


def per_layer_report(model, name: str, out: str | Path, calibration: int = 100, seed: int = 0, data_dir: str | None = None,
                     worst: int = 5, dataset: Dataset | None = None) -> tuple[Path, Path]:
    """int8 quantization error per tensor (QuantizationDebugger): per-layer-<name>.csv and .md, worst layers first.

    The debugger builds its own int8 model with `export.convert.make_converter` (float I/O, which does
    not change the internal tensors) on `calibration` stratified training images, every op in int8 with
    the converter's full logits range: the exported file keeps its first conv and its logits in float
    (`export.logits_range`), which the debugger's last rows do not describe.
    """
    import tensorflow as tf

    images = calibration_images(calibration, seed, data_dir, dataset)
    graph, _ = exportable(model, images)  # the graph that is really exported (after the rewrites)
    converter = make_converter(graph, "int8", images, io="float32")
    with quiet_native_output():
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=representative_dataset(images))
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
