"""A model's contract, stored *inside* its `.tflite` file so it cannot drift from the model.

The contract is a `metadata.json` member of a zip archive appended to the flatbuffer (the same
trick TFLite's own metadata packer uses; the interpreter ignores trailing bytes). Reading it needs
only the standard library.

    >>> from edge_app.contract import read_contract
    >>> read_contract("models/edge-int8.tflite").labels[:2]
    ['T-shirt/top', 'Trouser']
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_app.atomic import atomic_write
from edge_app.labels import LABELS

MEMBER = "metadata.json"  # name of the contract inside the appended zip
FORMAT = 1  # bump when a field changes meaning


class ContractError(ValueError):
    """The file is not a `.tflite` with a readable contract."""


@dataclass(frozen=True)
class Contract:
    labels: list[str] = field(default_factory=lambda: list(LABELS))  # index → class name
    input_shape: list[int] = field(default_factory=lambda: [1, 28, 28, 1])  # NHWC
    input_dtype: str = "float32"  # float32 | uint8 | int8
    input_scale: float = 0.0  # quantization of the input tensor (0.0 = not quantized)
    input_zero_point: int = 0
    output_dtype: str = "float32"
    output_scale: float = 0.0
    output_zero_point: int = 0
    preprocess: dict[str, Any] = field(default_factory=lambda: {"mode": "photo", "params": {}})  # PreprocessSpec.to_dict()
    variant: str = "float32"  # float32 | float16 | dynamic | int8
    model_name: str = ""  # registry name of the source model
    source_sha256: str = ""  # SHA-256 of the source `.keras` file
    flatbuffer_bytes: int = 0  # length of the TFLite flatbuffer before the appended zip
    flatbuffer_sha256: str = ""  # its SHA-256: a truncated or altered model is detected
    training: dict[str, Any] = field(default_factory=dict)  # metrics.json of the run it came from
    checks: dict[str, Any] = field(default_factory=dict)  # drift results, once `fashion-export check` ran
    exported_at: str = ""  # ISO-8601 UTC
    # int8 only: {"first_conv": "float" | "int8", "logits": "float" | "decision" | "full", "float_ops": [{op,
    # output, shape}], "chosen_by", "why"}:
    # which ops of a quantized model run in float32 and how that was chosen (export.convert.quantization_record)
    quantization: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Contract":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def _split(blob: bytes, where: str) -> tuple[bytes, Contract]:
    """(flatbuffer, contract) of a packed model; ContractError when either is missing or damaged."""
    if len(blob) < 8 or blob[4:8] != b"TFL3":
        raise ContractError(f"{where}: not a TFLite model (no 'TFL3' identifier)")
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            data = json.loads(zf.read(MEMBER))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, zipfile.LargeZipFile, EOFError, OSError) as exc:
        if b"PK\x03\x04" in blob and MEMBER.encode() in blob:  # the contract's zip began, but is cut short
            raise ContractError(f"{where}: truncated or damaged model file ({len(blob)} bytes): its contract is "
                                "incomplete; copy or download it again") from exc
        if flatbuffer_truncated(blob):
            raise ContractError(f"{where}: truncated model file ({len(blob)} bytes): the model's own data ends "
                                f"early and it has no contract ({MEMBER}); copy or download it again") from exc
        raise ContractError(f"{where}: TFLite model has no contract ({MEMBER}); export it with fashion-export convert") from exc
    validate(data, where)
    contract = Contract.from_dict(data)
    flat = blob[: contract.flatbuffer_bytes]
    if contract.flatbuffer_bytes > len(blob):
        raise ContractError(f"{where}: truncated model file: {len(blob)} bytes, its contract says the model alone has "
                            f"{contract.flatbuffer_bytes}")
    if contract.flatbuffer_bytes <= 0 or hashlib.sha256(flat).hexdigest() != contract.flatbuffer_sha256:
        raise ContractError(f"{where}: model bytes do not match their contract (truncated or altered file)")
    return flat, contract


class _OutOfBounds(Exception):
    pass


def flatbuffer_truncated(blob: bytes) -> bool:
    """Whether a TFLite flatbuffer's own offsets point past the end of `blob` — a copy that stopped early.

    Follows the Model table's vectors (operator codes, subgraphs, buffers, metadata, …) and every
    buffer's weight data, the bulk of the file; no flatbuffers package needed."""
    size = len(blob)

    def u32(pos: int) -> int:
        if not 0 <= pos <= size - 4:
            raise _OutOfBounds
        return struct.unpack_from("<I", blob, pos)[0]

    def fields(table: int) -> list[int]:
        """Absolute positions of a table's present fields (0 for an absent one)."""
        vtable = table - struct.unpack("<i", struct.pack("<I", u32(table)))[0]
        if not 0 <= vtable <= size - 4:
            raise _OutOfBounds
        vt_size = struct.unpack_from("<H", blob, vtable)[0]
        if vtable + vt_size > size:
            raise _OutOfBounds
        count = max(0, (vt_size - 4) // 2)
        return [table + o if o else 0 for o in struct.unpack_from(f"<{count}H", blob, vtable + 4)]

    def vector(pos: int, item: int) -> tuple[int, int]:
        """(start, length) of the vector a uoffset at `pos` points to, checked to fit."""
        target = pos + u32(pos)
        length = u32(target)
        if target + 4 + length * item > size:
            raise _OutOfBounds
        return target + 4, length

    try:
        model = fields(u32(0))
        for index, item in ((1, 4), (2, 4), (3, 1), (5, 4), (6, 4), (7, 4)):  # the Model's vectors
            if index < len(model) and model[index]:
                vector(model[index], item)
        if len(model) > 4 and model[4]:  # buffers: each one's data (or, in big models, offset + size)
            start, count = vector(model[4], 4)
            for i in range(count):
                slot = start + 4 * i
                buffer = fields(slot + u32(slot))
                if buffer and buffer[0]:
                    vector(buffer[0], 1)
                if len(buffer) > 2 and buffer[1] and buffer[2]:
                    offset, length = struct.unpack_from("<QQ", blob[buffer[1]:buffer[1] + 8] + blob[buffer[2]:buffer[2] + 8])
                    if offset + length > size:
                        raise _OutOfBounds
    except (_OutOfBounds, struct.error):
        return True
    return False


# --- validation: a hand-edited or foreign contract fails at load time, in one line ---------------

_JSON_TYPES = {list: "a list", dict: "an object", str: "a string", int: "an integer", float: "a number", bool: "true/false"}
# Photo-mode preprocessing parameters that are fractions of an edge or an area (0–1).
_FRACTIONS = ("border", "keep_ratio", "min_area", "margin")


def _kind(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def validate(data: Any, where: str = "contract") -> None:
    """ContractError naming the first field whose JSON type or value cannot be right.

    Checks every known field against the type of its default (an integer is a fine number, a bool is
    not), the format version, the labels, and the preprocessing block. Unknown fields are ignored:
    a newer exporter may add some."""
    if not isinstance(data, dict):
        raise ContractError(f"{where}: contract is {_kind(data)}, expected an object")
    defaults = Contract()
    for name in Contract.__dataclass_fields__:
        if name not in data:
            continue
        value, want = data[name], type(getattr(defaults, name))
        ok = isinstance(value, want) and not (isinstance(value, bool) and want is not bool)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ContractError(f"{where}: contract field {name!r} is {_kind(value)}, expected {_JSON_TYPES.get(want, want.__name__)}")
    version = data.get("format", FORMAT)
    if version > FORMAT or version < 1:
        raise ContractError(f"{where}: contract format {version} is not one this fashion-edge reads (1–{FORMAT}); "
                            "upgrade fashion-edge, or re-export the model")
    labels = data.get("labels", [])
    if "labels" in data and (not labels or not all(isinstance(label, str) and label for label in labels)):
        raise ContractError(f"{where}: contract labels must be a non-empty list of class names")
    if "preprocess" in data:
        _validate_preprocess(data["preprocess"], where)


def _validate_preprocess(block: dict, where: str) -> None:
    from edge_app.preprocess import MODES, PhotoParams  # numpy + Pillow only

    mode = block.get("mode", "photo")
    if mode not in MODES:
        raise ContractError(f"{where}: contract preprocess mode {mode!r} is unknown; valid: {', '.join(MODES)}")
    params = block.get("params") or {}
    if not isinstance(params, dict):
        raise ContractError(f"{where}: contract preprocess params is {_kind(params)}, expected an object")
    defaults = PhotoParams()
    for name, value in params.items():
        if name not in PhotoParams.__dataclass_fields__:
            continue
        want = type(getattr(defaults, name))
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if want is bool and not isinstance(value, bool) or want is not bool and not numeric:
            raise ContractError(f"{where}: contract preprocess parameter {name!r} is {_kind(value)}, expected "
                                f"{_JSON_TYPES.get(want, want.__name__)}")
        if want is int and numeric and value != int(value):
            raise ContractError(f"{where}: contract preprocess parameter {name!r} = {value} must be a whole number")
        if numeric and (value != value or value < 0 or (name in _FRACTIONS and value > 1)):
            span = "in [0, 1]" if name in _FRACTIONS else "≥ 0"
            raise ContractError(f"{where}: contract preprocess parameter {name!r} = {value} must be {span}")


def check_outputs(contract: Contract, n_outputs: int, where: str) -> None:
    """ContractError when the contract's labels do not name the model's outputs one to one."""
    if len(contract.labels) != n_outputs:
        raise ContractError(f"{where}: contract has {len(contract.labels)} labels for the model's {n_outputs} outputs")


def read_model(path: str | os.PathLike) -> tuple[bytes, Contract]:
    """The flatbuffer bytes (what the interpreter loads) and the contract of a packed `.tflite`."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"{path}: cannot read model ({exc.strerror or exc})") from exc
    return _split(blob, str(path))


def read_contract(path: str | os.PathLike) -> Contract:
    return read_model(path)[1]


def pack(flatbuffer: bytes, contract: Contract) -> bytes:
    """Flatbuffer + an appended zip holding the contract (with the flatbuffer's length and hash filled in)."""
    if flatbuffer[4:8] != b"TFL3":
        raise ContractError("not a TFLite flatbuffer")
    contract = Contract.from_dict(
        {**asdict(contract), "flatbuffer_bytes": len(flatbuffer), "flatbuffer_sha256": hashlib.sha256(flatbuffer).hexdigest()}
    )
    buf = io.BytesIO()
    buf.write(flatbuffer)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MEMBER, contract.to_json())
    return buf.getvalue()


def write_model(path: str | os.PathLike, flatbuffer: bytes, contract: Contract) -> Path:
    return atomic_write(path, pack(flatbuffer, contract))


def update_contract(path: str | os.PathLike, **changes: Any) -> Contract:
    """Rewrite a packed model's contract with some fields changed (e.g. `checks` after a drift run)."""
    flat, old = read_model(path)
    new = Contract.from_dict({**asdict(old), **changes})
    write_model(path, flat, new)
    return new
