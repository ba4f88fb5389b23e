"""The LiteRT interpreter, without TensorFlow: `ai_edge_litert` first, `tflite_runtime` as a legacy fallback.

Small pure adapters over an interpreter, in the manner of pycoral's `adapters/common.py`:
quantization always uses the tensor's own scale and zero-point, never constants.

    >>> interpreter = make_interpreter(flatbuffer_bytes, threads=2)
"""

from __future__ import annotations

import numpy as np


class RuntimeMissing(RuntimeError):
    """No usable LiteRT interpreter is installed."""


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # LiteRT, the maintained runtime

        return Interpreter
    except ImportError as first:
        try:
            from tflite_runtime.interpreter import Interpreter  # legacy: NumPy < 2, Python ≤ 3.11 wheels

            return Interpreter
        except ImportError as second:
            if "numpy" in str(second).lower() or "_ARRAY_API" in str(second):
                raise RuntimeMissing(
                    "tflite_runtime is installed but fails with NumPy ≥ 2 (it needs numpy<2 and Python ≤ 3.11); "
                    "install LiteRT instead: pip install ai-edge-litert"
                ) from second
            raise RuntimeMissing(f"no LiteRT interpreter: pip install ai-edge-litert ({first})") from second


def make_interpreter(model: bytes, threads: int | None = None):
    """An interpreter over flatbuffer bytes; ValueError when the runtime rejects the model."""
    interpreter_class = _interpreter_class()
    try:
        interpreter = interpreter_class(model_content=model, num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"the LiteRT runtime rejected the model: {' '.join(str(exc).split())[:200]}") from exc
    return interpreter


def input_details(interpreter) -> dict:
    return interpreter.get_input_details()[0]


def output_details(interpreter) -> dict:
    return interpreter.get_output_details()[0]


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float input → the tensor's dtype with its own scale and zero-point (identity for float tensors)."""
    dtype = detail["dtype"]
    scale, zero = detail["quantization"]
    if not scale or np.issubdtype(dtype, np.floating):
        return x.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    """Tensor output → float32 with the tensor's own scale and zero-point."""
    scale, zero = detail["quantization"]
    if not scale or np.issubdtype(q.dtype, np.floating):
        return q.astype(np.float32, copy=False)
    return (q.astype(np.float32) - zero) * scale


def pixels_to_input(pixels: np.ndarray, detail: dict) -> np.ndarray:
    """uint8 pixels (N, 28, 28) → the input tensor's dtype.

    The model's input is pixels / 255. When the input is uint8 with scale 1/255 and zero-point 0
    (our int8 export), the quantized value *is* the pixel: a camera frame goes in without float math.
    """
    dtype = detail["dtype"]
    scale, zero = detail["quantization"]
    x = pixels[..., None] if pixels.ndim == 3 else pixels
    if dtype == np.uint8 and zero == 0 and abs(scale * 255.0 - 1.0) < 1e-6:
        return np.ascontiguousarray(x, dtype=np.uint8)
    if dtype == np.int8 and zero == -128 and abs(scale * 255.0 - 1.0) < 1e-6:
        # p − 128 as int8 is p with its top bit flipped: one XOR, no widening (bit-identical)
        return np.ascontiguousarray(x ^ np.uint8(128)).view(np.int8)
    return quantize(x.astype(np.float32) / 255.0, detail)
