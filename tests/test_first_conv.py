"""int8 export keeps the conv on the one-channel input in float (issue 16): what the file holds, what the
contract says, that the float op reproduces the trained model's layer, and that `--first-conv int8` keeps
the old all-int8 graph."""

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_app.classifier import Classifier
from edge_app.contract import read_contract, read_model
from edge_app.runtime import make_interpreter, pixels_to_input
from export.config import ExportConfig, ExportError
from export.convert import convert, export_flat, first_conv_nodes, float_ops

TOLERANCE = 1e-5  # relative to the layer's largest output: float32 rounding, nothing quantized


def _ops(flat: bytes) -> list[tuple[str, str]]:
    """(op name, output dtype) in execution order."""
    interp = make_interpreter(flat)
    details = {t["index"]: t for t in interp.get_tensor_details()}
    return [(op["op_name"], np.dtype(details[op["outputs"][0]]["dtype"]).name) for op in interp._get_ops_details()
            if op["op_name"] != "DELEGATE"]  # the delegate's own node, listed after the graph's ops


def _test_images(n: int) -> np.ndarray:
    from train.data import load_dataset

    return load_dataset().x_test[:n]


# what baseline's float stem may hold after export.rewrite.pool_first: PairPool's moves and max / min of the image's
# pixels, then the 1×1 conv on [max, min] — no one-channel MAX_POOL_2D, no QUANTIZE / DEQUANTIZE inside
STEM_OPS = {"RESHAPE", "STRIDED_SLICE", "MAXIMUM", "MINIMUM", "TRANSPOSE", "CONCATENATION"}


def _live(conv) -> np.ndarray:
    kernel, bias = conv.get_weights()
    w = kernel.reshape(-1)
    return np.flatnonzero(~((w <= 0) & (bias <= 0)))


def test_first_conv_is_float_between_dequantize_and_quantize(exported):
    flat, c = read_model(exported["int8"])
    ops = _ops(flat)
    q = c.quantization
    floats = [(o["op"], "float32") for o in q["float_ops"]]
    stem, tail = floats[:-2], floats[-2:]
    n = len(stem)
    # uint8 pixels → DEQUANTIZE (XNNPACK) → the float stem → QUANTIZE → int8 … → DEQUANTIZE → the last Dense
    # and Softmax in float → one QUANTIZE to the uint8 output
    assert ops[0] == ("DEQUANTIZE", "float32") and ops[1 : n + 1] == stem and ops[n + 1] == ("QUANTIZE", "int8")
    assert tail == [("FULLY_CONNECTED", "float32"), ("SOFTMAX", "float32")]
    assert ops[-4:] == [("DEQUANTIZE", "float32"), *tail, ("QUANTIZE", "uint8")]
    assert [o for o, dtype in ops[n + 2 : -4] if dtype == "float32"] == []  # no other float op
    assert {op for op, _ in stem[:-1]} <= STEM_OPS and stem[-1][0] == "CONV_2D"
    assert q["float_ops"][n - 1]["shape"][:2] == [14, 14]  # the conv runs on the pooled image
    assert (c.input_dtype, c.input_zero_point) == ("uint8", 0) and c.input_scale == pytest.approx(1 / 255, rel=1e-5)
    assert (c.output_dtype, c.output_zero_point) == ("uint8", 0)
    assert q["first_conv"] == "float" and q["logits"] == "float" and q["chosen_by"] == "fixed"
    assert c.training["calibration"]["logits_range"]["mode"] == "float"
    assert read_contract(exported["float32"]).quantization == {}  # only quantized variants carry it


def test_float_first_conv_reproduces_the_trained_layer(exported, export_run):
    """The float stem of the int8 file computes the trained model's conv + max-pool, to float32 rounding: its
    live channels (the dropped ones are zero in the trained model for every image)."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from edge_app.preprocess import to_input

    flat, c = read_model(exported["int8"])
    model = keras.models.load_model(export_run / "model.keras")
    pool = next(layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D))
    live = _live(model.layers[0])
    x = _test_images(32)
    reference = keras.Model(model.inputs, pool.output).predict(to_input(x), verbose=0)
    assert not np.delete(reference, live, axis=-1).any()
    interp = Interpreter(model_content=flat, experimental_preserve_all_tensors=True)
    detail = interp.get_input_details()[0]
    interp.resize_tensor_input(detail["index"], [len(x), 28, 28, 1])
    interp.allocate_tensors()
    interp.set_tensor(detail["index"], pixels_to_input(x, interp.get_input_details()[0]))
    interp.invoke()
    name = next(o["output"] for o in c.quantization["float_ops"] if o["op"] == "CONV_2D")
    got = interp.get_tensor(next(t["index"] for t in interp.get_tensor_details() if t["name"] == name))
    assert got.dtype == np.float32 and got.shape == reference[..., live].shape
    assert np.abs(got - reference[..., live]).max() <= TOLERANCE * np.abs(reference).max()


def test_int8_first_conv_keeps_the_all_int8_graph(export_run, exported, tmp_path):
    path = convert(export_run, "int8", ExportConfig(out=str(tmp_path), calibration=200, first_conv="int8", logits="decision"))
    flat, c = read_model(path)
    ops = _ops(flat)
    assert ops[0] == ("QUANTIZE", "int8") and ("CONV_2D", "int8") in ops
    assert float_ops(flat) == [] and c.quantization["first_conv"] == "int8"
    # the float first conv agrees with Keras at least as well as the all-int8 graph, on the same calibration
    from export.runs import load_keras
    from edge_app.preprocess import to_input

    x = _test_images(2000)
    keras_top1 = load_keras(export_run / "model.keras").predict(to_input(x), verbose=0).argmax(1)
    agree = {k: float((Classifier(p).probabilities(x).argmax(1) == keras_top1).mean()) for k, p in (("float", exported["int8"]), ("int8", path))}
    assert agree["float"] >= agree["int8"] - 1 / len(x), agree  # one image of slack: rounding elsewhere differs


@pytest.mark.parametrize("name", ["robust", "edge"])
def test_each_models_one_channel_conv_is_found(name):
    """robust (a 3×3 conv behind inert flips) and edge (3×3 'same', BN folded in): one float conv each."""
    from train.models import build_model

    from export.convert import exportable

    graph, _ = exportable(build_model(name))
    calibration = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    flat, _ = export_flat(graph, "int8", calibration, "uint8", "decision", "float")
    found = float_ops(flat)
    assert [o["op"] for o in found] == ["CONV_2D"], found
    assert found[0]["shape"][-1] == (16 if name == "robust" else 32)


def test_only_convs_on_a_one_channel_input_are_picked():
    from tensorflow.lite.tools import flatbuffer_utils

    import keras

    from export.convert import make_converter, quiet_native_output

    three = keras.Sequential([keras.Input((28, 28, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(10)])
    with quiet_native_output():
        flat = make_converter(three, "float32").convert()
    assert first_conv_nodes(flatbuffer_utils.convert_bytearray_to_object(flat)) == []


def test_image_ops_alone_are_no_stem():
    """Reshapes of the image that reach a Dense before any conv: nothing stays float."""
    from tensorflow.lite.tools import flatbuffer_utils

    import keras

    from export.convert import make_converter, quiet_native_output

    dense_only = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Reshape((14, 56)), keras.layers.Flatten(),
                                   keras.layers.Dense(10)])
    with quiet_native_output():
        flat = make_converter(dense_only, "float32").convert()
    assert first_conv_nodes(flatbuffer_utils.convert_bytearray_to_object(flat)) == []


def test_unknown_first_conv_is_one_clear_error(export_run, tmp_path):
    from export.cli import app

    with pytest.raises(ExportError, match="unknown --first-conv"):
        export_flat(None, "int8", np.zeros((1, 28, 28), np.uint8), first_conv="fp16")
    result = CliRunner().invoke(app, ["convert", str(export_run), "--variant", "int8", "--first-conv", "fp16", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "unknown --first-conv 'fp16'" in result.output
    assert len(result.output.strip().splitlines()) == 1
