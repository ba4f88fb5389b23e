"""The sets every export is judged on — test, corrupted, `unseen/` and real photos — each built once.

    >>> data = EvalData.load(EvalConfig(test_limit=1000))        # the drift check's three sets
    >>> sets = SuiteSets.load(EvalConfig(real_dir="../shared/wild-dev"), modes=("photo",))
    >>> evaluate(KerasPredictor.from_run("runs/robust"), sets).test

Fashion-MNIST is loaded (and SHA-verified) by the caller once and handed in (`dataset=`), so a job
that also calibrates (`fashion-export all`) reads it one time. Real images are decoded once and
preprocessed once per mode and per preprocessing spec (`SuiteSets.with_spec`): each model is scored on
pixels made the way its own contract says, and models that share a spec share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_app.images import ImageError, load_image
from edge_app.labelled import decode_labelled
from edge_app.labels import LABELS
from edge_app.preprocess import SIZE, PreprocessSpec, preprocess_batch, preprocess_views
from export.config import EvalConfig
from export.corruptions import corrupt_mixed, corruption_suite
from export.runs import keras_probabilities
from train import render
from train.data import Dataset, load_dataset

Suite = list[tuple[str, int, np.ndarray, np.ndarray]]  # (corruption, severity, images, labels)


# --- the drift check's sets ---------------------------------------------------------------------------------


@dataclass
class EvalData:
    """The drift check's three sets (test, `unseen/`, a mixed corrupted copy of test), prepared once
    and reused for every variant of every run."""

    test_x: np.ndarray  # (N, 28, 28) uint8
    test_y: np.ndarray
    corrupted_x: np.ndarray
    corrupted_ids: list[str]
    unseen_images: list  # decoded RGB arrays
    unseen_y: np.ndarray
    unseen_ids: list[str]
    unseen_skipped: list[str] = field(default_factory=list)  # unreadable files, reported not fatal
    _references: dict = field(default_factory=dict, repr=False)  # (id(model), spec) → (model, {set: probabilities})

    def unseen_pixels(self, spec) -> np.ndarray:
        """The unseen images preprocessed as a contract says."""
        return preprocess_batch(self.unseen_images, spec)[0]

    def reference(self, model, spec) -> dict[str, np.ndarray]:
        """The float model's probabilities on each set, computed once per (model, preprocessing):
        every variant of a run is checked against the same reference."""
        key = (id(model), repr(spec))
        if key not in self._references:  # the model is kept with its entry, so its id cannot be reused
            self._references[key] = (model, {
                "test": keras_probabilities(model, self.test_x),
                "unseen": keras_probabilities(model, self.unseen_pixels(spec)),
                "corrupted": keras_probabilities(model, self.corrupted_x),
            })
        return self._references[key][1]

    @classmethod
    def load(cls, config: EvalConfig = EvalConfig(), dataset: Dataset | None = None) -> "EvalData":
        """The sets `config` names; `dataset` is Fashion-MNIST when the caller has loaded it already."""
        data = dataset or load_dataset(config.data_dir)
        x, y = data.x_test, data.y_test
        if config.test_limit:
            x, y = x[:config.test_limit], y[:config.test_limit]
        corrupted, kinds = corrupt_mixed(x, seed=config.seed)
        ids = [f"test[{i}] {name}@{sev}" for i, (name, sev) in enumerate(kinds)]
        if config.unseen is None:
            return cls(x, y, corrupted, ids, [], np.zeros(0, int), [])
        real = decode_labelled(config.unseen)
        return cls(x, y, corrupted, ids, real.images, real.labels, real.names, real.skipped)


# --- robustness and bench: the corruption suite and real photos ---------------------------------------------


def photo_spec(spec: PreprocessSpec) -> PreprocessSpec:
    """The spec a real set's photo and still modes are prepared with for a model of `spec`: its own when
    it is a photo spec; a `seed` or `mnist` model's photo figures use the default's."""
    return spec if spec.mode == "photo" else PreprocessSpec()


@dataclass
class RealSet:
    """A labelled folder, decoded once and preprocessed once per mode."""

    name: str
    labels: np.ndarray
    pixels: dict[str, np.ndarray]  # mode → (N, 28, 28) uint8
    skipped: list[str] = field(default_factory=list)  # unreadable files
    found: dict[str, np.ndarray] = field(default_factory=dict)  # mode → (N,) bool: an item was found ("no item" is wrong)
    names: list[str] = field(default_factory=list)  # paths relative to the folder
    images: list[np.ndarray] = field(default_factory=list, repr=False)  # the decoded photos, for the failure gallery
    view_found: np.ndarray | None = None  # still mode: (N, views) bool, which views found an item
    spec: PreprocessSpec = field(default_factory=PreprocessSpec)  # the photo / still modes' preprocessing

    @classmethod
    def load(cls, name: str, folder: str | Path, modes: tuple[str, ...], spec: PreprocessSpec = PreprocessSpec()) -> "RealSet":
        real = decode_labelled(folder)
        return cls.of(name, real.images, real.labels, list(real.names), modes, real.skipped, spec)

    @classmethod
    def of(cls, name: str, images: list, labels: np.ndarray, names: list[str], modes: tuple[str, ...], skipped=(),
           spec: PreprocessSpec = PreprocessSpec()) -> "RealSet":
        """`spec` prepares the photo and still modes (a model's own: its contract's); `seed` and `mnist`
        have no parameters."""
        spec = photo_spec(spec)
        done, view_found = {}, None
        if "still" in modes:  # every view of every photo, (N × views) rows; `combine` averages them back
            views = [preprocess_views(im, spec) for im in images]
            n_views = len(spec.views())
            pixels = np.array([v.image for vs in views for v in vs], np.uint8).reshape(-1, n_views, SIZE, SIZE)
            view_found = np.array([[v.has_item for v in vs] for vs in views], bool).reshape(-1, n_views)
            done["still"] = (pixels.reshape(-1, SIZE, SIZE), view_found.any(axis=1))
            if "photo" in modes:  # the first view is the camera frame's: the same mask, not computed again
                done["photo"] = (np.ascontiguousarray(pixels[:, 0]), view_found[:, 0])
        done |= {mode: preprocess_batch(images, spec if mode == "photo" else PreprocessSpec(mode)) for mode in modes if mode not in done}
        ordered = {m: done[m] for m in modes}
        return cls(name, np.asarray(labels), {m: d[0] for m, d in ordered.items()}, list(skipped),
                   {m: d[1] for m, d in ordered.items()}, names, list(images), view_found, spec)

    def with_spec(self, spec: PreprocessSpec) -> "RealSet":
        """The same photos prepared with another photo spec (itself when the spec is the same)."""
        spec = photo_spec(spec)
        if spec == self.spec:
            return self
        return RealSet.of(self.name, self.images, self.labels, self.names, tuple(self.pixels), self.skipped, spec)

    def combine(self, mode: str, probs: np.ndarray) -> np.ndarray:
        """Per-image probabilities from the model's output on `pixels[mode]`: as they are, or in still mode
        the mean over the views that found an item (what `Classifier.scores(still=True)` returns)."""
        if mode != "still":
            return probs
        weights = self.view_found.astype(np.float32)
        per_view = probs.reshape(len(weights), weights.shape[1], -1)
        return (per_view * weights[..., None]).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)[:, None]

    @classmethod
    def rendered(cls, x: np.ndarray, y: np.ndarray, n: int, modes: tuple[str, ...], seed: int = 7) -> "RealSet":
        """`n` Fashion-MNIST *test* items rendered as casual 240×320 photos (`train.render`): a
        real-photo-like set that anyone can rebuild, and that no model trained on."""
        images, idx = render.render_sample(x, y, n, seed)
        return cls.of("rendered", images, y[idx], [f"rendered_{i}" for i in idx], modes)

    def correct(self, mode: str, probs: np.ndarray, no_item_wrong: bool = True) -> np.ndarray:
        """Per image: the top class is the truth and (with `no_item_wrong`) an item was found — the
        edge app answers "no item" otherwise."""
        hit = probs.argmax(1) == self.labels
        return hit & self.found[mode] if no_item_wrong and mode in self.found else hit

    def sources(self) -> list[str]:
        """Each image's source: its file name up to the first underscore (`closet_bluetee.jpg` → closet)."""
        return [Path(n).name.split("_", 1)[0] if "_" in Path(n).name else Path(n).stem for n in self.names]


@dataclass
class SuiteSets:
    """Fashion-MNIST's test set, the corruption suite over it and the real sets, built once for all models."""

    dataset: Dataset
    suite: Suite
    real: list[RealSet]
    _by_spec: dict = field(default_factory=dict, repr=False)  # repr(spec) → SuiteSets prepared with it

    def with_spec(self, spec: PreprocessSpec) -> "SuiteSets":
        """These sets with the real photos prepared as `spec` says — a model's own preprocessing, so that
        no model is scored on pixels made another way. Prepared once per spec; the default's are these."""
        if all(rs.spec == photo_spec(spec) for rs in self.real):
            return self
        key = repr(spec)
        if key not in self._by_spec:
            self._by_spec[key] = SuiteSets(self.dataset, self.suite, [rs.with_spec(spec) for rs in self.real])
        return self._by_spec[key]

    @classmethod
    def load(cls, config: EvalConfig, modes: tuple[str, ...], rendered: int = 0, say=None,
             dataset: Dataset | None = None) -> "SuiteSets":
        """`unseen/` (when the folder exists), `config.real_dir` and `rendered` rendered test items, each in `modes`."""
        say = say or (lambda _text: None)
        say("loading data")
        data = dataset or load_dataset(config.data_dir)
        say("corrupting the test set")
        suite = list(corruption_suite(data.x_test, data.y_test, seed=config.seed, limit=config.corruption_limit))
        say("preprocessing real images")
        real = []
        if config.unseen is not None and Path(config.unseen).is_dir():
            real.append(RealSet.load("unseen", config.unseen, modes))
        if config.real_dir is not None:
            real.append(RealSet.load(Path(config.real_dir).name, config.real_dir, modes))
        if rendered:
            real.append(RealSet.rendered(data.x_test, data.y_test, rendered, modes))
        return cls(data, suite, real)


@dataclass(frozen=True)
class Evaluation:
    """One predictor's accuracies (fractions) on a `SuiteSets`, and the probabilities worth keeping."""

    test: float
    corruption: dict[str, float]  # corruption → accuracy, mean over its severities
    real: dict[str, dict[str, float]]  # set → mode → accuracy
    per_class: dict[str, dict[str, float]]  # set → class → accuracy (photo mode)
    confusion: dict[str, list[list[int]]]  # set → 10×10 counts, true class × predicted (photo mode)
    test_probs: np.ndarray  # (N, classes) on the test set
    photo_probs: dict[str, np.ndarray]  # set → (N, classes) in photo mode
    still_probs: dict[str, np.ndarray] = field(default_factory=dict)  # set → (N, classes) in still mode

    @property
    def corruption_mean(self) -> float:
        return float(np.mean(list(self.corruption.values()))) if self.corruption else float("nan")


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(1) == labels).mean()) if len(labels) else float("nan")


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = len(LABELS)) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    m = np.zeros((classes, classes), int)
    np.add.at(m, (labels, predicted), 1)
    return m


def evaluate(predictor, sets: SuiteSets, modes: tuple[str, ...] | None = None, no_item_wrong: bool = True) -> Evaluation:
    """Score `predictor` (anything with `probabilities(pixels)`) on the test set, the suite and the real
    sets, in `modes` (default: every mode the real sets were preprocessed in)."""
    test_probs = predictor.probabilities(sets.dataset.x_test)
    by_name: dict[str, list[float]] = {}
    for name, _severity, images, labels in sets.suite:
        by_name.setdefault(name, []).append(_accuracy(predictor.probabilities(images), labels))
    real, per_class, confusion, photo_probs, still_probs = {}, {}, {}, {}, {}
    for rs in sets.real:
        real[rs.name] = {}
        for mode, pixels in rs.pixels.items():
            if modes is not None and mode not in modes:
                continue
            probs = rs.combine(mode, predictor.probabilities(pixels))
            real[rs.name][mode] = float(rs.correct(mode, probs, no_item_wrong).mean()) if len(rs.labels) else float("nan")
            if mode == "still":
                still_probs[rs.name] = probs
            if mode == "photo":
                photo_probs[rs.name] = probs
                pred = probs.argmax(1)
                per_class[rs.name] = {LABELS[c]: float((pred[rs.labels == c] == c).mean()) for c in range(10) if (rs.labels == c).any()}
                confusion[rs.name] = confusion_matrix(rs.labels, pred).tolist()
    return Evaluation(_accuracy(test_probs, sets.dataset.y_test), {n: float(np.mean(v)) for n, v in by_name.items()},
                      real, per_class, confusion, test_probs, photo_probs, still_probs)


def empty_scene_rate(folder: str | Path, spec: PreprocessSpec = PreprocessSpec()) -> dict:
    """How many photos of scenes with no garment the preprocessing answers "no item" for, as a camera
    frame (`no_item`) and as a photo file (`no_item_still`: none of the still views finds an item)."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    found, found_still = [], []
    for p in paths:
        try:
            views = preprocess_views(load_image(p), spec)
        except ImageError:
            continue
        found.append(views[0].has_item)
        found_still.append(any(v.has_item for v in views))
    return {"folder": Path(folder).name, "n": len(found), "no_item": int(len(found) - sum(found)),
            "no_item_still": int(len(found) - sum(found_still))}
