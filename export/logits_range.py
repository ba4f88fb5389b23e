"""The logits of an int8 export: float32 by default, else int8 steps where top-1 is decided.

By default (`--logits float`, `logits_nodes`) the last Dense and its Softmax are left in float32 and the
graph ends in one float → uint8 QUANTIZE (`merge_output_quantize`): the logits are never quantized. The
rest of this module is what `--logits decision` does when they are.

Full-integer export quantizes the last Dense layer's output (the logits, before Softmax) over the
range calibration saw. For the study's models that range is about [−32, +21]: one int8 step is
~0.2 logits, so two classes whose logits are closer than that get the *same* quantized score and
the argmax falls to the lower class index. That alone cost ~1.2 % top-1 agreement with the float
model (2 % of test images had such a tie).

Most of that range never decides anything. A class whose logit is `margin` below the winner has a
softmax probability under e^-margin, which an 8-bit output (steps of 1/256) already shows as 0; a
winner `margin` above the runner-up shows as 1. So the logits only need to be resolved from
`margin` below the lowest winning logit to `margin` above the highest runner-up seen in
calibration — a range about half as wide, hence steps half as coarse:

    calibrated = calibrate(converter)               # float graph + min/max per tensor
    lo, hi = decision_range(logits_of(calibrated))  # from the calibration images' own logits
    quantize(with_range(calibrated, lo, hi))        # the rest of the export is unchanged

Values outside the range saturate, which is what int8 does with any out-of-range value; the
margin keeps that away from every decision the calibration images make. Everything here uses the
*training* calibration sample only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_app.profile import op_names

MARGIN = 8.0  # logits; e^-8 ≈ 3e-4 is below half an 8-bit output step (1/512), with room to spare
MIN_IMAGES = 100  # fewer calibration images say too little about where decisions fall: keep the full range
MIN_GAIN = 0.05  # narrow only when the range shrinks by at least this fraction (else: full range, reason given)
CHUNK = 256  # calibration images per interpreter call when reading the logits


@dataclass(frozen=True)
class LogitsRange:
    """What the calibration did to the logits tensor; written into the model's contract."""

    mode: str  # "decision" (narrowed here) | "full" (the converter's min/max, kept)
    calibrated: tuple[float, float] | None = None  # min/max the converter measured, when known
    used: tuple[float, float] | None = None  # range the file's int8 logits represent (from their scale and zero point)
    margin: float | None = None  # logits kept beyond the lowest winner and the highest runner-up
    reason: str = ""  # why the full range was kept, when it was

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items() if v not in (None, "")}


def decision_range(logits: np.ndarray, margin: float = MARGIN) -> tuple[float, float]:
    """[lowest winning logit − margin, highest runner-up + margin], within the logits' own range."""
    ranked = np.sort(np.asarray(logits, np.float64), axis=1)
    lo = max(float(ranked.min()), float(ranked[:, -1].min()) - margin)
    hi = min(float(ranked.max()), float(ranked[:, -2].max()) + margin)
    return lo, hi


def _final_softmax(model_obj):
    """The graph's final SOFTMAX op, or None. Final: nothing but I/O type conversions (QUANTIZE /
    DEQUANTIZE) runs after it."""
    found = None
    for op, name in zip(model_obj.subgraphs[0].operators, op_names(model_obj)):
        if name == "SOFTMAX":
            found = op
        elif name not in ("QUANTIZE", "DEQUANTIZE"):
            found = None
    return found


def softmax_input(model_obj) -> int | None:
    """Index of the tensor feeding the graph's final SOFTMAX (the logits), or None."""
    softmax = _final_softmax(model_obj)
    return int(softmax.inputs[0]) if softmax is not None else None


def tensor_values(flat: bytes, tensor: int, inputs: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """One intermediate tensor of a float flatbuffer over model inputs, `chunk` images per invoke."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(flat), experimental_preserve_all_tensors=True)
    detail = interp.get_input_details()[0]
    parts, size = [], None
    for start in range(0, len(inputs), chunk):
        batch = inputs[start : start + chunk].astype(np.float32)
        if len(batch) != size:  # every call but (perhaps) the last reuses the allocation
            interp.resize_tensor_input(detail["index"], [len(batch), *detail["shape"][1:]])
            interp.allocate_tensors()
            size = len(batch)
        interp.set_tensor(detail["index"], batch)
        interp.invoke()
        parts.append(interp.get_tensor(tensor).copy())
    return np.concatenate(parts)


def quantized_range(flat: bytes) -> tuple[float, float] | None:
    """The range the logits tensor of a quantized flatbuffer can represent (from its scale and zero point)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytes(flat))
    logits = softmax_input(model)
    if logits is None:
        return None
    q = model.subgraphs[0].tensors[logits].quantization
    if q is None or q.scale is None or not len(q.scale):
        return None
    scale, zero = float(q.scale[0]), int(q.zeroPoint[0])
    return (-128 - zero) * scale, (127 - zero) * scale


def quantize_with_decision_range(converter, inputs: np.ndarray, margin: float = MARGIN, logits: str = "decision",
                                 keep_float=None) -> tuple[bytes, LogitsRange]:
    """Full-integer flatbuffer from an int8-configured converter, and what it did with the logits.

    `inputs` are the calibration images as model inputs (float, N×28×28×1) — the same ones the
    converter's representative dataset yields. `logits`: "decision" gives the int8 logits their
    decision range, "full" keeps the converter's calibrated range (`--logits full`), "float" leaves the
    Dense that makes them and the Softmax after it in float32 (`logits_nodes`). `keep_float`, when given,
    maps the calibrated float graph (a flatbuffer object) to the output tensor names of other ops to
    leave in float (selective quantization, `denylisted_nodes` as `QuantizationDebugger` passes it;
    `export.convert.first_conv_nodes`).
    """
    import tensorflow as tf
    from tensorflow.lite.python import convert as tf_convert
    from tensorflow.lite.tools import flatbuffer_utils

    in_type = converter.inference_input_type or tf.float32
    out_type = converter.inference_output_type or tf.float32
    converter.experimental_new_quantizer = True
    converter._experimental_calibrate_only = True  # the float graph with min/max per tensor (as QuantizationDebugger does)
    calibrated = converter.convert()

    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    denylisted = list(keep_float(model)) if keep_float is not None else []
    tail = logits_nodes(model) if logits == "float" else []

    def quantize(graph: bytes) -> bytes:
        return _quantize(tf_convert, graph, converter, in_type, out_type, denylisted + tail)

    index = softmax_input(model)
    if index is None:
        return quantize(calibrated), LogitsRange("full", reason="the graph does not end in Softmax")
    stats = model.subgraphs[0].tensors[index].quantization
    full = (float(stats.min[0]), float(stats.max[0]))
    if tail:
        return merge_output_quantize(quantize(calibrated)), LogitsRange(
            "float", full, reason="the last Dense and its Softmax run in float32: the logits are never quantized")

    def keep_full(reason: str):
        flat = quantize(calibrated)
        return flat, LogitsRange("full", full, quantized_range(flat), margin if logits == "decision" else None, reason=reason)

    if logits != "decision":
        return keep_full("--logits full: the converter's calibrated min/max")
    if len(inputs) < MIN_IMAGES:
        return keep_full(f"{len(inputs)} calibration images (< {MIN_IMAGES}) say too little about where decisions fall")
    lo, hi = decision_range(tensor_values(calibrated, index, inputs), margin)
    lo, hi = min(max(lo, full[0]), 0.0), max(min(hi, full[1]), 0.0)  # narrow, never widen; 0 stays representable
    if (hi - lo) > (1 - MIN_GAIN) * (full[1] - full[0]):
        return keep_full("the decision range covers the calibrated range")
    stats.min, stats.max = [lo], [hi]
    narrowed = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    flat = quantize(narrowed)
    return flat, LogitsRange("decision", full, quantized_range(flat), margin)


def logits_nodes(model_obj) -> list[str]:
    """Output tensor names of the final Softmax and of the op that makes its input (the logits: the last
    Dense), to keep in float; [] when the graph does not end in Softmax.

    Why: the last Dense is a few hundred to a few thousand multiply-adds, so in int8 the time goes into
    the boundary, not the arithmetic — requantizing the logits, an int8 Softmax, and an int8 → uint8
    QUANTIZE on LiteRT's built-in kernel (XNNPACK does not take it). In float the Dense and Softmax run on
    XNNPACK and one float → uint8 QUANTIZE (`merge_output_quantize`) ends the graph. Measured on an Intel
    Xeon with AMX: `baseline` int8 3.15 vs 3.36 µs at batch 1, the others unchanged (docs/int8-performance.md);
    and the logits lose no resolution, so no two classes tie on a shared int8 step."""
    softmax = _final_softmax(model_obj)
    if softmax is None:
        return []
    tensors = model_obj.subgraphs[0].tensors
    return [tensors[int(softmax.inputs[0])].name.decode(), tensors[int(softmax.outputs[0])].name.decode()]


def merge_output_quantize(flat: bytes) -> bytes:
    """A float Softmax followed by QUANTIZE (float → int8) and QUANTIZE (int8 → uint8, a built-in kernel)
    becomes one QUANTIZE (float → uint8, which XNNPACK takes) with the uint8 output's own scale; any other
    ending (int8 or float32 output) is returned unchanged."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytes(flat))
    graph = model.subgraphs[0]
    if op_names(model)[-2:] != ["QUANTIZE", "QUANTIZE"]:
        return flat
    first, last = graph.operators[-2], graph.operators[-1]
    if not (int(last.inputs[0]) == int(first.outputs[0])
            and graph.tensors[int(first.inputs[0])].type == schema.TensorType.FLOAT32
            and graph.tensors[int(last.outputs[0])].type == schema.TensorType.UINT8):
        return flat
    last.inputs = first.inputs
    del graph.operators[-2]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _quantize(tf_convert, calibrated: bytes, converter, in_type, out_type, denylisted_nodes=()) -> bytes:
    """The converter's own quantization step (`TFLiteConverter._quantize`, MLIR quantizer), as it calls it;
    ops whose output tensor is named in `denylisted_nodes` stay in float (a QUANTIZE follows them)."""
    return tf_convert.mlir_quantize(
        calibrated,
        disable_per_channel=converter._experimental_disable_per_channel,
        input_data_type=in_type,
        output_data_type=out_type,
        denylisted_nodes=list(denylisted_nodes) or None,
        disable_per_channel_for_dense_layers=converter._experimental_disable_per_channel_quantization_for_dense_layers,
    )
