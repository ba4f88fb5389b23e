"""Classify images with a packed `.tflite` model, using the preprocessing its contract names.

The same code path serves the Pi, `fashion-export check` and the benchmarks.

    >>> clf = Classifier("models/edge-int8.tflite")
    >>> clf.classify(rgb_frame)
    Prediction(label='Sneaker', index=7, score=0.93, top_k=[('Sneaker', 0.93), ...])

`classify` is `scores` (preprocess + inference) followed by `decide`, a pure function over the
probabilities (pycoral's `get_classes_from_scores`); a caller that changes the probabilities in
between — the runner's smoother on a stream — calls the two itself.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_app import runtime
from edge_app.contract import Contract, ContractError, read_model
from edge_app.preprocess import SIZE, PreprocessSpec, preprocess, preprocess_views

DEFAULT_MODEL = Path(__file__).parent / "models" / "default.tflite"  # the shipped int8 model
UNCERTAIN = "uncertain"  # the answer when the top score is below --threshold
NO_ITEM = "no item"  # the answer when preprocessing finds no foreground object


@dataclass(frozen=True)
class Prediction:
    label: str  # class name, UNCERTAIN or NO_ITEM
    index: int  # class index; -1 for NO_ITEM
    score: float  # probability of the top class (0.0 for NO_ITEM)
    top_k: list[tuple[str, float]] = field(default_factory=list)  # best classes, best first
    ms_preprocess: float = 0.0
    ms_inference: float = 0.0


@dataclass(frozen=True)
class Scores:
    """One image through preprocessing and the model, before any decision."""

    probs: np.ndarray | None  # (classes,) float32; None when preprocessing found no item
    ms_preprocess: float
    ms_inference: float

    def decide(self, labels: list[str], top_k: int = 3, threshold: float = 0.0, probs: np.ndarray | None = None) -> Prediction:
        """The Prediction for these scores (`probs` replaces them, e.g. a stream's running mean); NO_ITEM
        when there was no item."""
        if self.probs is None:
            return Prediction(NO_ITEM, -1, 0.0, [], self.ms_preprocess, 0.0)
        chosen = self.probs if probs is None else probs
        return decide(chosen, labels, top_k, threshold, self.ms_preprocess, self.ms_inference)


def decide(probs: np.ndarray, labels: list[str], top_k: int = 3, threshold: float = 0.0,
           ms_preprocess: float = 0.0, ms_inference: float = 0.0) -> Prediction:
    """Probabilities → a Prediction: the `top_k` classes, best first (ties: the lower class index, every
    time), and UNCERTAIN as the label when the best score is below `threshold`."""
    order = np.argsort(-probs, kind="stable")[: max(1, top_k)]
    top = [(labels[i], float(probs[i])) for i in order]
    best = int(order[0])
    label = labels[best] if probs[best] >= threshold else UNCERTAIN
    return Prediction(label, best, float(probs[best]), top, ms_preprocess, ms_inference)


class Classifier:
    """A LiteRT interpreter plus the model's contract; batched with `resize_tensor_input`."""

    def __init__(
        self, model: str | os.PathLike = DEFAULT_MODEL, threads: int | None = None, max_batch: int = 256,
        preprocess: PreprocessSpec | None = None,
    ):
        """`preprocess` overrides the contract's spec (experiments only: a warning says the model was
        not trained with it); any spec this edge app cannot reproduce exactly is warned about too."""
        self.path = Path(model)
        flat, self.contract = read_model(self.path)
        _validate(self.contract, self.path)
        self.interpreter = runtime.make_interpreter(flat, threads)
        self._in = runtime.input_details(self.interpreter)
        self._out = runtime.output_details(self.interpreter)
        if list(self._in["shape"][1:]) != [SIZE, SIZE, 1]:
            raise ContractError(f"{self.path}: model input is {list(self._in['shape'])}, expected [N, 28, 28, 1]")
        trained = PreprocessSpec.from_dict(self.contract.preprocess)
        self.spec = preprocess or trained
        self.warning = spec_warning(trained, self.spec)
        if self.warning:
            print(f"warning: {self.path.name}: {self.warning}", file=sys.stderr)
        self.labels = list(self.contract.labels)
        self.max_batch = max_batch
        self._batch = int(self._in["shape"][0])

    # --- batched scores on pixels that are already 28×28 -------------------------------------------

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        n = len(chunk)
        if n != self._batch:
            self.interpreter.resize_tensor_input(self._in["index"], [n, SIZE, SIZE, 1], strict=False)
            self.interpreter.allocate_tensors()
            self._in = runtime.input_details(self.interpreter)
            self._out = runtime.output_details(self.interpreter)
            self._batch = n
        self.interpreter.set_tensor(self._in["index"], runtime.pixels_to_input(chunk, self._in))
        self.interpreter.invoke()
        return runtime.dequantize(self.interpreter.get_tensor(self._out["index"]), self._out)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 28, 28) uint8 pixels → (N, classes) float32 probabilities, in batches of `max_batch`."""
        pixels = np.asarray(pixels, dtype=np.uint8)
        if pixels.ndim == 2:
            pixels = pixels[None]
        if len(pixels) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.concatenate([self._run(pixels[i : i + self.max_batch]) for i in range(0, len(pixels), self.max_batch)])

    # --- one image, any size, through the contract's preprocessing ---------------------------------

    def scores(self, image, still: bool = False) -> Scores:
        """An RGB/gray array or PIL image → its probabilities, through the contract's preprocessing, with
        the milliseconds each step took; no probabilities when preprocessing finds no item.

        `still`: a photo, not a camera frame — the contract's still views (`PreprocessSpec.still`: the
        mask computed several ways) each go through the model, and their probabilities are averaged over
        the views that found an item; "no item" only when none did. Slower (~5× the preprocessing)."""
        t0 = time.perf_counter()
        views = preprocess_views(image, self.spec) if still else [preprocess(image, self.spec)]
        found = [v.image for v in views if v.has_item]
        t1 = time.perf_counter()
        if not found:
            return Scores(None, (t1 - t0) * 1e3, 0.0)
        probs = self.probabilities(np.stack(found)).mean(axis=0)
        t2 = time.perf_counter()
        return Scores(probs, (t1 - t0) * 1e3, (t2 - t1) * 1e3)

    def classify(self, image, top_k: int = 3, threshold: float = 0.0, still: bool = False) -> Prediction:
        """An RGB/gray array or PIL image → a Prediction; "no item" and "uncertain" as documented; `still`
        as in `scores`."""
        return self.scores(image, still).decide(self.labels, top_k, threshold)


def spec_warning(trained: PreprocessSpec, used: PreprocessSpec) -> str | None:
    """Why the pixels this model meets may differ from those it was trained on, or None."""
    if used != trained:
        return f"runs with {used.mode} preprocessing v{used.version}, but was trained with {trained.mode} v{trained.version}"
    return trained.mismatch()


def _validate(contract: Contract, path: Path) -> None:
    shape = list(contract.input_shape)
    if len(shape) != 4 or shape[1:] != [SIZE, SIZE, 1]:
        raise ContractError(f"{path}: contract input shape {shape} is not [N, 28, 28, 1]")
    if not contract.labels:
        raise ContractError(f"{path}: contract has no labels")
