"""Defaults and validation of the export side, one frozen dataclass per job; `fashion-export` options mirror them.

    >>> ExportConfig(calibration=200).io                 # how a model is converted
    'uint8'
    >>> EvalConfig(unseen="unseen").max_drift             # what every export is judged on
    0.5

Nothing heavy is imported here: the CLI reads its defaults from this module before any TensorFlow,
OpenCV or albumentations is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

VARIANTS = ("float32", "float16", "dynamic", "int8")  # the exported files, smallest change first
IO_TYPES = ("uint8", "int8", "float32")
LOGITS_RANGES = ("float", "decision", "full")  # int8 logits: float32 (last Dense + Softmax unquantized) | int8 over a range
FIRST_CONV = ("float", "int8")  # int8 variant: the first conv on a one-channel input — kept in float | quantized
PREPROCESS_CHOICES = ("model", "photo", "seed")  # what the contract names: the trained spec, or a mode's defaults
REAL_MODES = ("photo", "still", "seed")  # how real images are prepared: photo (a camera frame), still (a photo file:
# the mean over the contract's still views, as `fashion-edge run` on a folder), seed (the study's recipe)
CASUAL = ("closet", "wardrobe")  # source prefixes of casual photos (a garment on a bed, a floor, a hanger)
EMPTY_SCENES = Path(__file__).resolve().parents[1] / "tests" / "empty_scenes"  # committed scenes with no garment


class ExportError(ValueError):
    """The source model or the request cannot be exported."""


@dataclass(frozen=True)
class ExportConfig:
    """Defaults of the export stage; `fashion-export convert` and `all` options mirror it."""

    calibration: int = 500  # representative images for int8, stratified from the training set
    io: str = "uint8"  # int8 variant's input/output type: uint8 (camera pixels as-is) | int8 | float32
    seed: int = 0  # seeds the calibration sample
    out: str = "models"  # folder receiving <model>-<variant>.tflite
    # int8 logits: float (the last Dense and its Softmax stay float32) | int8 over decision (where top-1 is
    # decided) | full (calibrated min/max)
    logits: str = "float"
    first_conv: str = "float"  # int8: a conv reading the one-channel input stays float (a QUANTIZE after it) | int8
    preprocess: str = "model"  # contract's preprocessing: model (the spec it was trained with) | photo | seed
    data_dir: str | None = None  # Fashion-MNIST folder for calibration (else the usual search)

    def __post_init__(self) -> None:
        for flag, value, valid in (("--io", self.io, IO_TYPES), ("--logits", self.logits, LOGITS_RANGES),
                                   ("--preprocess", self.preprocess, PREPROCESS_CHOICES),
                                   ("--first-conv", self.first_conv, FIRST_CONV)):
            if value not in valid:
                raise ExportError(f"unknown {flag} {value!r}; valid: {', '.join(valid)}")
        if self.calibration < 1:
            raise ExportError(f"--calibration must be ≥ 1, got {self.calibration}")


def variants(choice: str) -> tuple[str, ...]:
    """`--variant`: one of VARIANTS, or "all"."""
    if choice == "all":
        return VARIANTS
    if choice not in VARIANTS:
        raise ValueError(f"unknown --variant {choice!r}; valid: {' | '.join(VARIANTS)} | all")
    return (choice,)


@dataclass(frozen=True)
class EvalConfig:
    """What every export is judged on — the drift check (`check`, `all`), `robustness`, `bench` and
    `pick-default` take their sets, limits and gate from here."""

    unseen: str | None = "unseen"  # labelled real-world images in per-class folders (None: none)
    real_dir: str | None = None  # more labelled real photos (e.g. ../shared/wild-dev); robustness and bench only
    data_dir: str | None = None  # Fashion-MNIST folder (else the usual search)
    max_drift: float = 0.5  # pp: the drift gate on every set's |Δ accuracy|, and pick-default's floor
    test_limit: int | None = None  # drift check: only the first N test images (None: all 10,000)
    corruption_limit: int | None = 2000  # robustness, bench: test images per corruption × severity (10,000: all)
    seed: int = 0  # seeds the corrupted copies

    def __post_init__(self) -> None:
        if self.real_dir is not None and not Path(self.real_dir).is_dir():
            raise ValueError(f"--real-dir {self.real_dir}: no such folder")


@dataclass(frozen=True)
class RobustnessConfig:
    """What `fashion-export robustness` adds to the evaluation sets; its options mirror it."""

    modes: tuple[str, ...] = REAL_MODES  # preprocessing modes compared on real images
    casual: tuple[str, ...] = CASUAL  # source prefixes (file name up to the first _) of casual photos
    empty_dir: str | None = str(EMPTY_SCENES)  # photos of empty scenes, to count "no item" answers (None: none)
    rendered: int = 1000  # Fashion-MNIST test items rendered as casual photos (0: none)

    def __post_init__(self) -> None:
        if not self.modes or any(m not in REAL_MODES for m in self.modes):
            raise ValueError(f"--modes takes {', '.join(REAL_MODES)} (comma-separated), got {','.join(self.modes)!r}")
        if self.rendered < 0:
            raise ValueError(f"--rendered must be ≥ 0, got {self.rendered}")
        if self.empty_dir is not None and not Path(self.empty_dir).is_dir():
            raise ValueError(f"--empty-dir {self.empty_dir}: no such folder")


@dataclass(frozen=True)
class PickConfig:
    """Which int8 export `fashion-export pick-default` may ship; its options mirror it."""

    prefer: str = "edge"  # the model to ship when its int8 export may ship
    max_kb: float = 300.0  # refuse a file larger than this
    max_drift: float = EvalConfig.max_drift  # floor on the test and corrupted drift, whatever gate the check used
    force: bool = False  # ship the best model even if none may (its refusals are printed)


BENCH_ROWS = ("keras", *VARIANTS)  # a benchmark's rows per run: its Keras model, then each export
FLOOR_METRICS = {"test": "test_acc", "corruption": "corruption_acc", "unseen": "unseen_acc", "real": "real_acc",
                 "agreement": "agreement"}  # --floor name → BenchRow field


@dataclass(frozen=True)
class BenchConfig:
    """How `fashion-export bench` times the rows, and the floors it gates them on; its options mirror it."""

    threads: tuple[int, ...] = (1,)  # interpreter thread counts for batch-1 latency (the headline: 1, else the first)
    iterations: int = 1000  # timed batch-1 frames per thread count, in all rounds together
    rounds: int = 5  # interleaved timing rounds over all rows; every figure is the median over them
    floors: dict[str, float] = field(default_factory=dict)  # FLOOR_METRICS name → lowest fraction allowed
    floor_variants: tuple[str, ...] = ()  # apply the floors to these rows only (empty: every row with status ok)
    per_layer: bool = False  # also write the per-layer int8 quantization error of each run

    def __post_init__(self) -> None:
        object.__setattr__(self, "threads", tuple(self.threads) or (1,))
        if any(t < 1 for t in self.threads):
            raise ValueError(f"--threads takes counts ≥ 1; got {','.join(map(str, self.threads))!r}")
        if self.rounds < 1:
            raise ValueError(f"--rounds must be ≥ 1, got {self.rounds}")
        unknown = set(self.floors) - set(FLOOR_METRICS)
        if unknown:
            raise ValueError(f"unknown floor metric {', '.join(sorted(unknown))}; valid: {', '.join(FLOOR_METRICS)}")
        bad = set(self.floor_variants) - set(BENCH_ROWS)
        if bad:
            raise ValueError(f"unknown --floor-variant {', '.join(sorted(bad))}; valid: {', '.join(BENCH_ROWS)}")

    @property
    def headline(self) -> int:
        """The thread count of the headline figures: 1 when timed, else the first."""
        return 1 if 1 in self.threads else self.threads[0]


def parse_floors(text: str | None) -> dict[str, float]:
    """`"test=0.9,unseen=0.5"` → {"test": 0.9, "unseen": 0.5}; ValueError on anything else."""
    floors: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in FLOOR_METRICS:
            raise ValueError(f"--floor takes metric=value with metric one of {', '.join(FLOOR_METRICS)}; got {part.strip()!r}")
        try:
            floors[name] = float(value)
        except ValueError:
            raise ValueError(f"--floor {name}: {value.strip()!r} is not a number") from None
    return floors


def parse_threads(text: str) -> tuple[int, ...]:
    """`"1,2"` → (1, 2), duplicates dropped; ValueError on anything but counts ≥ 1."""
    try:
        threads = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"--threads takes comma-separated counts such as 1,2; got {text!r}") from None
    if not threads or any(t < 1 for t in threads):
        raise ValueError(f"--threads takes counts ≥ 1; got {text!r}")
    return tuple(dict.fromkeys(threads))


def parse_list(text: str) -> tuple[str, ...]:
    """`"photo, seed"` → ("photo", "seed"): a comma-separated option, blanks dropped."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())
