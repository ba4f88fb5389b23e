"""The contract travels inside the .tflite and is read with the standard library alone."""

import json
import subprocess
import sys
import zipfile

import pytest

from edge_app.contract import Contract, ContractError, pack, read_contract, read_model, update_contract, write_model

FAKE_FLATBUFFER = b"\x1c\x00\x00\x00TFL3" + bytes(range(200))


def test_round_trip(tmp_path):
    c = Contract(variant="int8", model_name="edge", input_dtype="uint8", input_scale=1 / 255, training={"test_accuracy": 0.9})
    path = write_model(tmp_path / "m.tflite", FAKE_FLATBUFFER, c)
    flat, back = read_model(path)
    assert flat == FAKE_FLATBUFFER
    assert back.variant == "int8" and back.model_name == "edge" and back.training["test_accuracy"] == 0.9
    assert back.flatbuffer_bytes == len(FAKE_FLATBUFFER)
    assert zipfile.is_zipfile(path)  # a plain zip tool can read it too


def test_update_keeps_model_bytes(tmp_path):
    path = write_model(tmp_path / "m.tflite", FAKE_FLATBUFFER, Contract())
    update_contract(path, checks={"passed": True})
    flat, c = read_model(path)
    assert flat == FAKE_FLATBUFFER and c.checks == {"passed": True}
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["metadata.json"]


def test_readable_without_tensorflow_or_numpy(tmp_path):
    path = write_model(tmp_path / "m.tflite", FAKE_FLATBUFFER, Contract(model_name="x"))
    code = (
        "import sys; from edge_app.contract import read_contract; "
        f"print(read_contract({str(path)!r}).model_name); "
        "assert 'tensorflow' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "x"


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"", "not a TFLite model"),
        (b"hello world, not a model", "not a TFLite model"),
        (FAKE_FLATBUFFER, "has no contract"),
    ],
)
def test_foreign_files_are_refused(tmp_path, blob, message):
    path = tmp_path / "bad.tflite"
    path.write_bytes(blob)
    with pytest.raises(ContractError, match=message):
        read_contract(path)


def test_truncated_or_altered_model_is_detected(tmp_path):
    data = pack(FAKE_FLATBUFFER, Contract())
    altered = bytearray(data)
    altered[20] ^= 0xFF  # inside the flatbuffer
    (tmp_path / "a.tflite").write_bytes(bytes(altered))
    with pytest.raises(ContractError, match="do not match"):
        read_contract(tmp_path / "a.tflite")
    (tmp_path / "t.tflite").write_bytes(data[: len(data) - 30])  # zip directory cut off
    with pytest.raises(ContractError):
        read_contract(tmp_path / "t.tflite")


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(ContractError, match="cannot read model"):
        read_contract(tmp_path / "nope.tflite")


def test_contract_json_is_plain(tmp_path):
    path = write_model(tmp_path / "m.tflite", FAKE_FLATBUFFER, Contract())
    with zipfile.ZipFile(path) as zf:
        data = json.loads(zf.read("metadata.json"))
    for key in ("labels", "input_shape", "input_dtype", "input_scale", "input_zero_point", "output_scale",
                "preprocess", "variant", "source_sha256", "training", "exported_at"):
        assert key in data
