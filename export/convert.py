"""Keras run → LiteRT `.tflite` variants that carry their own contract.

    >>> convert("runs/robust", "int8")           # models/robust-int8.tflite
    PosixPath('models/robust-int8.tflite')

Variants: `float32` (plain), `float16` (fp16 weights), `dynamic` (int8 weights, float activations),
`int8` (full integer: int8 weights and activations, calibrated on a stratified sample of the
*training* set, uint8 input by default so a camera frame goes in without float conversion; the
conv that widens the one-channel image and the last Dense with its Softmax stay float32 —
`first_conv_nodes`, `export.logits_range`).
Conversion goes through `from_keras_model`: it traces the inference graph, so the augmentation
and Dropout layers are inert in the file (a Keras 3 SavedModel export keeps them active).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_app.contract import Contract, write_model
from edge_app.labels import LABELS
from edge_app.preprocess import to_input
from edge_app.profile import op_names
from edge_app.runtime import input_details, make_interpreter, output_details
from export.config import FIRST_CONV, IO_TYPES, LOGITS_RANGES, VARIANTS, ExportConfig, ExportError
from export.logits_range import quantize_with_decision_range
from export.rewrite import inference_graph
from export.runs import contract_preprocess, find_keras, load_keras, read_metrics
from train.data import Dataset, load_dataset, stratified_indices


def calibration_images(n: int, seed: int = 0, data_dir: str | None = None, dataset: Dataset | None = None) -> np.ndarray:
    """`n` training images, stratified by class and seeded, as uint8 (n, 28, 28); `dataset` is
    Fashion-MNIST when the caller has loaded it already (else it is loaded from `data_dir`)."""
    data = dataset or load_dataset(data_dir)
    return data.x_train[stratified_indices(data.y_train, n, seed)]


def make_converter(model, variant: str, calibration: np.ndarray | None = None, io: str = "uint8"):
    """The configured `TFLiteConverter` for one variant (also what the per-layer debugger uses).

    `calibration` (uint8 images) is needed for int8; `io` sets the int8 variant's input/output type
    ("float32" keeps float I/O, which leaves the graph's internal tensors unchanged).
    """
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ExportError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}, all")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if calibration is None or len(calibration) == 0:
            raise ExportError("int8 needs calibration images")
        if io not in IO_TYPES:
            raise ExportError(f"unknown --io {io!r}; valid: {', '.join(IO_TYPES)}")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io != "float32":
            converter.inference_input_type = getattr(tf, io)
            converter.inference_output_type = getattr(tf, io)
    return converter


def representative_dataset(calibration: np.ndarray):
    """A generator factory over uint8 images, one (1, 28, 28, 1) model input at a time."""
    inputs = to_input(calibration)

    def generate():
        for i in range(len(inputs)):
            yield [inputs[i : i + 1]]

    return generate


def to_tflite(model, variant: str, calibration: np.ndarray | None = None, io: str = "uint8", logits: str = "float",
              first_conv: str = "float") -> bytes:
    """The flatbuffer of one variant; `calibration` (uint8 images) is needed for int8."""
    return export_flat(model, variant, calibration, io, logits, first_conv)[0]


def export_flat(model, variant: str, calibration: np.ndarray | None = None, io: str = "uint8", logits: str = "float",
                first_conv: str = "float"):
    """(flatbuffer, `LogitsRange` for int8 else None).

    `logits` (int8 only): "float" keeps the last Dense and its Softmax in float32 (`export.logits_range.
    logits_nodes`); "decision" quantizes the logits over the range where top-1 is decided
    (`export.logits_range`), "full" over the converter's calibrated min/max.
    `first_conv` (int8 only): "float" leaves each conv that reads the one-channel model input in
    float32 (`first_conv_nodes`; the input is dequantized before it and its output quantized after
    it), "int8" quantizes it like every other op.
    """
    if logits not in LOGITS_RANGES:
        raise ExportError(f"unknown --logits {logits!r}; valid: {', '.join(LOGITS_RANGES)}")
    if first_conv not in FIRST_CONV:
        raise ExportError(f"unknown --first-conv {first_conv!r}; valid: {', '.join(FIRST_CONV)}")
    converter = make_converter(model, variant, calibration, io)
    with quiet_native_output():
        if variant == "int8":
            return quantize_with_decision_range(converter, to_input(calibration), logits=logits,
                                                keep_float=first_conv_nodes if first_conv == "float" else None)
        return converter.convert(), None


_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
STEM_CHANNELS = 2  # a conv reading at most this many channels of the input image stays float
# ops that only move, pick, negate or pool the image's own values (`pool_first`'s `PairPool`): part of the stem, any shape
_IMAGE_OPS = ("RESHAPE", "TRANSPOSE", "STRIDED_SLICE", "SLICE", "CONCATENATION", "MAXIMUM", "MINIMUM", "NEG", "MAX_POOL_2D")


def first_conv_nodes(model_obj) -> list[str]:
    """Output tensor names of the ops to keep in float: the first conv that widens the image (reads ≤ `STEM_CHANNELS`
    channels, writes more), with whatever runs between the graph input and it — ops on ≤ `STEM_CHANNELS` channels
    (the `pool_first` rewrite's [x, −x] conv and max-pool) and ops that only reshape, slice, stack, negate or
    max/min-reduce the image (its `PairPool`). [] when anything else comes first.

    Why these stay float: with one or two input channels each output of the conv is 1–2 (1×1) or 9 (3×3)
    multiply-adds, so an int8 kernel's time goes into its per-output work (requantizing each accumulator,
    and reductions packed 4 deep for VNNI / SDOT, deeper for AMX, mostly zero padding here) rather than into
    multiply-adds; a float kernel does the few multiply-adds and a clamp. Measured on an Intel Xeon with
    AMX: `baseline`'s conv int8 11.2 µs vs float 1.5 µs at batch 1; a 1×1 conv to 16 channels on 14×14
    costs 3.45 µs in int8 whatever its depth (1 to 16), 0.7–1.2 µs in float. What the float stem costs
    instead is one QUANTIZE of its output, which XNNPACK runs (as it does the uint8 → float DEQUANTIZE of
    the input) with plain vector code on x86 and ARM alike, no int8 dot-product instructions involved.
    See docs/int8-performance.md.
    """
    graph = model_obj.subgraphs[0]

    def constant(t: int) -> bool:
        buffer = model_obj.buffers[graph.tensors[t].buffer] if graph.tensors[t].buffer else None
        return buffer is not None and buffer.data is not None and len(buffer.data) > 0

    def channels(t: int) -> int:
        shape = graph.tensors[t].shape
        return int(shape[-1]) if shape is not None and len(shape) == 4 else STEM_CHANNELS + 1

    stem = {int(i) for i in graph.inputs if channels(int(i)) <= STEM_CHANNELS}  # the image, and what is computed from it
    pending = []
    for op, name in zip(graph.operators, op_names(model_obj)):
        data = [int(t) for t in op.inputs if t >= 0 and not constant(int(t))]
        if not data or not all(t in stem for t in data):
            return []  # the input's own ops ended before any conv
        out = int(op.outputs[0])
        pending.append(graph.tensors[out].name.decode())
        if channels(out) <= STEM_CHANNELS or name in _IMAGE_OPS:  # still the image: go on
            stem.add(out)
            continue
        return pending if name in _CONVS else []
    return []


def float_ops(flat: bytes) -> list[dict]:
    """The compute ops of a quantized flatbuffer that run in float32: [{op, output, shape}], in graph order."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model_obj = flatbuffer_utils.convert_bytearray_to_object(bytes(flat))
    graph = model_obj.subgraphs[0]
    boundary = ("QUANTIZE", "DEQUANTIZE")
    out = []
    for op, name in zip(graph.operators, op_names(model_obj)):
        tensor = graph.tensors[op.outputs[0]]
        if name not in boundary and tensor.type == schema.TensorType.FLOAT32:
            out.append({"op": name, "output": tensor.name.decode(), "shape": [int(d) for d in tensor.shape[1:]]})
    return out


@contextmanager
def quiet_native_output():
    """Silence the converter's C++ and Python chatter (fd-level); show it only if conversion fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace")[-4000:])
            raise
        finally:
            sys.stdout.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def exportable(model, sample: np.ndarray | None = None, tolerance: float = 1e-4):
    """(model to convert, notes): the trained model after `export.rewrite.inference_graph`.

    The rewrite is kept only when it reproduces the trained model's outputs on `sample` (or on
    seeded noise) to within `tolerance`; otherwise the trained graph is converted as it is.
    """
    folded, notes = inference_graph(model)
    if not notes:
        return model, []
    x = to_input(sample[:64]) if sample is not None and len(sample) else np.random.default_rng(0).random((64, 28, 28, 1), np.float32)
    diff = float(np.abs(model.predict(x, verbose=0) - folded.predict(x, verbose=0)).max())
    if diff > tolerance:
        return model, [f"graph rewrite rejected (max |Δ| {diff:.2g} > {tolerance})"]
    return folded, notes


def _io_contract(flat: bytes) -> dict:
    """Input/output dtype, shape and quantization as the runtime sees them."""
    interp = make_interpreter(flat)
    i, o = input_details(interp), output_details(interp)
    return {
        "input_shape": [1, *map(int, i["shape"][1:])],
        "input_dtype": np.dtype(i["dtype"]).name,
        "input_scale": float(i["quantization"][0]),
        "input_zero_point": int(i["quantization"][1]),
        "output_dtype": np.dtype(o["dtype"]).name,
        "output_scale": float(o["quantization"][0]),
        "output_zero_point": int(o["quantization"][1]),
    }


@dataclass(frozen=True)
class SourceRun:
    """A trained run, loaded once for all its variants (and its drift checks)."""

    name: str  # registry name of the model
    keras_path: Path
    sha256: str  # of the .keras file
    metrics: dict  # the run's metrics.json ({} when absent)
    model: object  # the trained keras.Model: the drift reference
    export_model: object  # what the converter gets (after `exportable`'s verified rewrites)
    rewrites: list[str]


def load_run(source: str | Path, sample: np.ndarray | None = None) -> SourceRun:
    """Read a run folder or `.keras` file; `sample` (uint8 images) verifies the export rewrites."""
    keras_path = find_keras(source)
    metrics, name = read_metrics(keras_path)
    model = load_keras(keras_path)
    export_model, rewrites = exportable(model, sample)
    return SourceRun(
        name=name, keras_path=keras_path,
        sha256=hashlib.sha256(keras_path.read_bytes()).hexdigest(), metrics=metrics,
        model=model, export_model=export_model, rewrites=rewrites,
    )


def convert(
    source: str | Path | SourceRun, variant: str, config: ExportConfig = ExportConfig(), calibration: np.ndarray | None = None
) -> Path:
    """Convert one run to one variant; writes `<out>/<model>-<variant>.tflite` atomically."""
    if variant == "int8" and calibration is None:
        calibration = calibration_images(config.calibration, config.seed, config.data_dir)
    run = source if isinstance(source, SourceRun) else load_run(source, calibration)
    flat, logits_range = export_flat(run.export_model, variant, calibration, config.io, config.logits, config.first_conv)
    metrics = run.metrics
    contract = Contract(
        labels=list(LABELS),
        preprocess=contract_preprocess(run.metrics, run.name, config.preprocess),
        variant=variant,
        model_name=run.name,
        source_sha256=run.sha256,
        training={k: metrics[k] for k in ("test_accuracy", "test_loss", "params", "epochs", "best_epoch", "seconds_per_epoch", "validation", "config", "data") if k in metrics},
        exported_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **_io_contract(flat),
    )
    contract.training["export_rewrites"] = run.rewrites
    if variant == "int8":
        contract.training["calibration"] = {"images": int(len(calibration)), "seed": config.seed, "from": "training set, stratified"}
        if logits_range is not None:
            contract.training["calibration"]["logits_range"] = logits_range.to_dict()
        contract = replace(contract, quantization=quantization_record(flat, config.first_conv, config.logits))
    out = Path(config.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        return write_model(out / f"{run.name}-{variant}.tflite", flat, contract)
    except OSError as exc:
        raise ExportError(f"cannot write to {out}: {exc.strerror or exc}") from exc


def quantization_record(flat: bytes, first_conv: str, logits: str = "float") -> dict:
    """The contract's `quantization` entry of an int8 export: which ops stay float, and how that was chosen."""
    why = []
    if first_conv == "float":
        why.append("the conv that widens the one-channel image (with what runs before it) stays float, its output "
                   "quantized after it: 3-9x faster than in int8 for every model and batch measured")
    if logits == "float":
        why.append("the last Dense and its Softmax stay float, one float-to-uint8 QUANTIZE after them: the int8 "
                   "boundary ops they replace cost more than the few multiply-adds")
    return {
        "first_conv": first_conv,
        "logits": logits,
        "float_ops": float_ops(flat),
        "chosen_by": "fixed" if (first_conv, logits) == ("float", "float") else f"--first-conv {first_conv} --logits {logits}",
        "why": ("; ".join(why) + "; no CPU-specific int8 instructions involved (docs/int8-performance.md)") if why
        else "every op quantized",
    }


def convert_all(source: str | Path, variants=VARIANTS, config: ExportConfig = ExportConfig()) -> list[Path]:
    """Every requested variant of one run (the run is loaded and the calibration set drawn once)."""
    calibration = calibration_images(config.calibration, config.seed, config.data_dir) if "int8" in variants else None
    run = load_run(source, calibration)
    return [convert(run, v, config, calibration) for v in variants]
