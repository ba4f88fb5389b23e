"""Per-op profile of a `.tflite`: where an interpreter's time goes, op by op — on the Pi too.

    >>> result = profile_models(["models/robust-int8.tflite"], batches=(1, 256), out="reports")

`fashion-edge profile` runs it. It needs no TensorFlow: the model is cut up with the flatbuffer tools
that ship with `ai_edge_litert` (the legacy `tflite_runtime` has none, so it is refused there).

LiteRT's Python interpreter has no op profiler, so each operator is cut out into a model of its own
(its constant inputs kept, its other inputs made graph inputs, filled with seeded values of the
right dtype) and timed there, with the same runtime, thread count and batch. Each row says whether
XNNPACK took the op (a DELEGATE node in the execution plan) or LiteRT's built-in kernel ran it.
Only the main graph (subgraph 0) is profiled, and integer inputs are random: fine for the
convolution/pool/dense graphs here, not for ops fed a computed shape or index (GATHER, a RESHAPE
whose shape is computed). The sum of the rows is compared with the whole model: the gap is what running the ops as one graph
saves (XNNPACK fuses a partition and skips the copies between ops) or costs (the hand-offs between
XNNPACK and the built-in kernels).

The whole models — the figures to compare float32 with int8 by — are timed side by side in interleaved
rounds (A B A B …, `ROUNDS`), each round a median, the figure the median of those with their spread:
on a shared machine a burst of load then hits every model alike instead of whichever ran during it.
`profile.json` records the CPU and its instruction sets (`edge_app.machine`).
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_app.atomic import atomic_write
from edge_app.contract import ContractError, read_model
from edge_app.errors import at_least
from edge_app.machine import isa_summary, machine_info, package_versions
from edge_app.runtime import make_interpreter

MIN_SECONDS = 0.1  # timing budget per op and batch size (after warm-up); per model and round for the whole model
ROUNDS = 5  # interleaved rounds of the whole-model timing


@dataclass(frozen=True)
class ProfileOptions:
    """Defaults of `fashion-edge profile`; the CLI options mirror them."""

    batches: tuple[int, ...] = (1, 256)  # batch sizes, each profiled op by op and as a whole model
    threads: int = 1  # interpreter threads
    rounds: int = ROUNDS  # interleaved rounds of the whole-model timing (the median of their medians is reported)

    def __post_init__(self) -> None:
        at_least(self.threads, 1, "--threads")
        at_least(self.rounds, 1, "--rounds")


def parse_batches(text: str) -> tuple[int, ...]:
    """`--batch "1,256"` → (1, 256), duplicates dropped; ValueError unless every size is ≥ 1."""
    try:
        batches = tuple(dict.fromkeys(int(b) for b in text.split(",") if b.strip()))
    except ValueError:
        batches = ()
    if not batches or min(batches) < 1:
        raise ValueError(f"--batch takes comma-separated sizes ≥ 1 such as 1,256; got {text!r}")
    return batches


@dataclass(frozen=True)
class OpTime:
    index: int  # position in the execution order
    op: str  # builtin name, e.g. CONV_2D
    dtype: str  # output dtype
    output_shape: tuple[int, ...]  # at the profiled batch
    delegated: bool  # XNNPACK ran it
    us: float  # median µs per invoke at the profiled batch (per image: divide by the batch)


def _flatbuffer_utils():
    try:
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError:
        raise RuntimeError("fashion-edge profile needs ai-edge-litert (pip install 'fashion-edge[edge]'); "
                           "tflite_runtime has no flatbuffer tools") from None
    return flatbuffer_utils


def op_names(model_obj) -> list[str]:
    """The builtin operator name of each op of a flatbuffer object's main graph, in order ("OP_<code>" when
    the schema has no name for it); reads only the op codes, so TensorFlow's flatbuffer objects work too."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model_obj.operatorCodes]
    return [names.get(codes[op.opcodeIndex], f"OP_{codes[op.opcodeIndex]}") for op in model_obj.subgraphs[0].operators]


def single_op_model(model_obj, index: int) -> bytes:
    """The flatbuffer of one operator of `model_obj`'s main graph, its variable inputs as graph inputs."""
    flatbuffer_utils = _flatbuffer_utils()
    model = copy.deepcopy(model_obj)
    graph = model.subgraphs[0]
    op = graph.operators[index]
    constant = {i for i, t in enumerate(graph.tensors) if t.buffer and model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data)}
    graph.operators = [op]
    graph.inputs = list(dict.fromkeys(i for i in op.inputs if i >= 0 and i not in constant))  # MUL(x, x): x once
    graph.outputs = list(op.outputs)
    model.signatureDefs = []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _filled(detail: dict, rng: np.random.Generator) -> np.ndarray:
    shape, dtype = detail["shape"], np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.random(shape, dtype=np.float32).astype(dtype)


def _interpreter(flat: bytes, threads: int, batch: int):
    interp = make_interpreter(flat, threads)
    for d in interp.get_input_details():
        signature = d.get("shape_signature")
        if len(d["shape"]) and signature is not None and len(signature) and signature[0] == -1:  # a resizable batch
            interp.resize_tensor_input(d["index"], [batch, *map(int, d["shape"][1:])], strict=False)
    interp.allocate_tensors()
    return interp


def _delegated(interp) -> bool:
    try:
        return any(d.get("op_name") == "DELEGATE" for d in interp._get_ops_details())
    except Exception:  # private API; an unknown answer is "not known to be delegated"
        return False


def time_invoke(interp, seed: int = 0, min_seconds: float = MIN_SECONDS) -> float:
    """Median µs of `invoke` over repeats filling at least `min_seconds`, inputs set once."""
    rng = np.random.default_rng(seed)
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], _filled(d, rng))
    for _ in range(3):
        interp.invoke()
    times, t_end = [], time.perf_counter() + min_seconds
    while len(times) < 10 or time.perf_counter() < t_end:
        t0 = time.perf_counter_ns()
        interp.invoke()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e3


def profile_ops(flat: bytes, batch: int = 1, threads: int = 1, min_seconds: float = MIN_SECONDS) -> list[OpTime]:
    """One `OpTime` per operator of the main graph, in execution order."""
    flatbuffer_utils = _flatbuffer_utils()
    model_obj = flatbuffer_utils.convert_bytearray_to_object(bytes(flat))
    names = op_names(model_obj)
    rows = []
    for index, name in enumerate(names):
        interp = _interpreter(single_op_model(model_obj, index), threads, batch)
        out = interp.get_output_details()[0]
        rows.append(OpTime(index, name, np.dtype(out["dtype"]).name, tuple(map(int, out["shape"])), _delegated(interp),
                           time_invoke(interp, index, min_seconds)))
    return rows


def whole_model_us(flat: bytes, batch: int = 1, threads: int = 1, min_seconds: float = MIN_SECONDS) -> float:
    """Median µs of one invoke of the whole model at `batch` (inputs set once, as in `profile_ops`)."""
    return time_invoke(_interpreter(bytes(flat), threads, batch), 0, min_seconds)


def to_markdown(profiles: dict[str, tuple[list[OpTime], float]], batch: int) -> str:
    """One table per model: op, output, XNNPACK or built-in, µs per image, share of the op sum."""
    lines = []
    for name, (ops, whole) in profiles.items():
        total = sum(o.us for o in ops) or 1.0
        lines += [f"#### {name} — batch {batch}", "",
                  "| # | op | output | runs on | µs / image | share |", "|---:|---|---|---|---:|---:|"]
        per_image = [o.us / max(o.output_shape[0] if o.output_shape else 1, 1) for o in ops]  # what each op ran on
        for o, us in zip(ops, per_image):
            shape = "×".join(map(str, o.output_shape[1:])) or "scalar"
            lines.append(f"| {o.index} | {o.op} | {shape} {o.dtype} | {'XNNPACK' if o.delegated else 'built-in'} | {us:.3f} | {o.us / total:.0%} |")
        lines += [f"| | **sum of ops** | | | **{sum(per_image):.3f}** | |",
                  f"| | **whole model** | | | **{whole / batch:.3f}** | |", ""]
    return "\n".join(lines)


def load_flatbuffer(path) -> bytes:
    """The flatbuffer of a packed `.tflite` (contract dropped) or of a plain one; one clear error otherwise."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such model file")
    try:
        flat = read_model(path)[0]
    except ContractError as exc:
        flat = Path(path).read_bytes()
        if flat[4:8] != b"TFL3":  # a .tflite without our contract profiles just as well; anything else does not
            raise ValueError(f"{path}: not a .tflite model ({exc})") from None
    try:
        _flatbuffer_utils().convert_bytearray_to_object(flat)  # parse it now, before any other model is timed
    except RuntimeError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .tflite model ({' '.join(str(exc).split())[:120]})") from None
    return flat


def rounds_summary(per_round: list[float]) -> dict:
    """{"us": median of the per-round medians, "rounds_us": them, "spread_pct": (max − min) / median × 100}."""
    mid = statistics.median(per_round)
    return {"us": mid, "rounds_us": list(per_round), "spread_pct": 100.0 * (max(per_round) - min(per_round)) / mid if mid else 0.0}


def interleaved_whole_us(flats: dict[str, bytes], batch: int, threads: int = 1, rounds: int = ROUNDS,
                         min_seconds: float = MIN_SECONDS, progress=None) -> dict[str, dict]:
    """Whole-model µs per invoke of every model, timed in interleaved rounds: A B C … A B C … (`rounds` times).

    Each round times every model once (a median over at least 10 invokes filling `min_seconds`), so a load
    that comes and goes on a shared machine hits all of them alike; the figure is the median of the
    per-round medians, with their spread. → {name: `rounds_summary`}.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be ≥ 1, got {rounds}")
    interps = {name: _interpreter(bytes(flat), threads, batch) for name, flat in flats.items()}
    per_round: dict[str, list[float]] = {name: [] for name in flats}
    for r in range(rounds):
        if progress:
            progress(f"whole models @ batch {batch}: round {r + 1}/{rounds}")
        for name, interp in interps.items():
            per_round[name].append(time_invoke(interp, 0, min_seconds))
    return {name: rounds_summary(v) for name, v in per_round.items()}


def profile_models(paths, batches=(1, 256), threads: int = 1, out=None, progress=None, min_seconds: float = MIN_SECONDS,
                   rounds: int = ROUNDS) -> dict:
    """Profile every model at every batch size; with `out`, write `profile.md` and `profile.json` there.

    The whole-model figures — the ones to compare models by — come from `interleaved_whole_us` (ABAB… rounds);
    each op is timed once, model after model. Returns {"machine", "versions", "threads", "batches", "rounds",
    "models": {name: {batch: {"whole_us", "whole_rounds_us", "whole_spread_pct", "ops": [OpTime as dict]}}}}.
    """
    if rounds < 1:
        raise ValueError(f"--rounds must be ≥ 1, got {rounds}")
    paths = [Path(p) for p in paths]
    stems = [p.stem for p in paths]
    names = [p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}/{p.stem}" for p in paths]  # models/x-int8 vs other/x-int8
    flats = {name: load_flatbuffer(p) for name, p in zip(names, paths)}  # every file is checked before any is timed
    if out is not None:
        try:
            Path(out).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot write to {out}: {exc.strerror or exc}") from None
    result = {"machine": machine_info(), "versions": package_versions(), "threads": threads, "batches": list(batches),
              "rounds": rounds, "models": {}}
    for batch in batches:
        for name, flat in flats.items():
            if progress:
                progress(f"{name} @ batch {batch}: ops")
            ops = profile_ops(flat, batch, threads, min_seconds)
            result["models"].setdefault(name, {})[str(batch)] = {"ops": [asdict(o) for o in ops]}
        for name, whole in interleaved_whole_us(flats, batch, threads, rounds, min_seconds, progress).items():
            result["models"][name][str(batch)].update(whole_us=whole["us"], whole_rounds_us=whole["rounds_us"],
                                                      whole_spread_pct=whole["spread_pct"])
    if out is not None:
        atomic_write(Path(out) / "profile.md", report_markdown(result))
        atomic_write(Path(out) / "profile.json", json.dumps(result, indent=2))
    return result


def report_markdown(result: dict) -> str:
    """profile.md: the machine, the side-by-side whole-model table, then one per-op table per model and batch."""
    m, threads = result["machine"], result["threads"]
    head = (f"# Per-op profile\n\n{m.get('cpu', '?')} ({m.get('arch', '?')}; {isa_summary(m)}), {m.get('cores', '?')} cores, "
            f"load average {m.get('load_avg_1m')} at the start; " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + "; "
            f"{threads} interpreter thread(s). Each op timed alone (median µs per invoke ÷ batch), so each row also carries "
            "one invoke's fixed cost (~0.4 µs at batch 1); *whole model* is one invoke of the full graph, timed in the "
            "interleaved rounds of the first table.\n\n")
    return head + "\n".join([side_by_side(result), ""] + sections(result))


def _pairs(names) -> list[tuple[str, str, str]]:
    """(base, float32 name, int8 name) for every model given in both variants."""
    by_base: dict[str, dict[str, str]] = {}
    for name in names:
        base, _, variant = name.rpartition("-")
        by_base.setdefault(base, {})[variant] = name
    return [(b, v["float32"], v["int8"]) for b, v in by_base.items() if "float32" in v and "int8" in v]


def side_by_side(result: dict) -> str:
    """The whole-model table: µs per image, median of per-round medians [spread], and int8 ÷ float32 where both are given."""
    rounds, batches, models = result.get("rounds", 1), result["batches"], result["models"]
    lines = [f"### Whole model, side by side — {rounds} interleaved round(s)", "",
             f"Every round times each model once, in the order given (ABAB…); µs per image = median of the {rounds} per-round "
             "medians ÷ batch; the spread is (max − min) of the per-round medians, in % of their median.", "",
             "| model | " + " | ".join(f"batch {b} µs/image | spread" for b in batches) + " |",
             "|---|" + "---:|---:|" * len(batches)]
    for name, per in models.items():
        cells = []
        for b in batches:
            row = per[str(b)]
            cells += [f"{row['whole_us'] / b:.3f}", f"{row.get('whole_spread_pct', 0.0):.1f} %"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    pairs = _pairs(models)
    if pairs:
        lines += ["", "| model | " + " | ".join(f"int8 ÷ float32 @ {b}" for b in batches) + " | int8 ≤ float32 |",
                  "|---|" + "---:|" * len(batches) + "---|"]
        for base, f, q in pairs:
            ratios = [models[q][str(b)]["whole_us"] / models[f][str(b)]["whole_us"] for b in batches]
            lines.append(f"| {base} | " + " | ".join(f"{r:.2f}" for r in ratios) + f" | {'yes' if max(ratios) <= 1 else 'no'} |")
    return "\n".join(lines) + "\n"


def sections(result: dict) -> list[str]:
    """`to_markdown` for each batch size of a `profile_models` result."""
    out = []
    for batch in result["batches"]:
        profiles = {}
        for name, per in result["models"].items():
            ops = [OpTime(**{**o, "output_shape": tuple(o["output_shape"])}) for o in per[str(batch)]["ops"]]
            profiles[name] = (ops, per[str(batch)]["whole_us"])
        out.append(to_markdown(profiles, batch))
    return out
