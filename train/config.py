"""Defaults of the training stage, in one frozen dataclass; `fashion-train fit` options mirror it."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class TrainConfig:
    model: str = "baseline"  # registry name (train.models.MODELS)
    epochs: int | None = None  # passes over the training set; None: the model's own (ModelSpec.epochs; the study: 10)
    batch_size: int | None = None  # images per step; None: the model's own (ModelSpec.batch_size; the study: 32)
    seed: int = 0  # seeds Python, NumPy, TensorFlow, the split and the subset
    out: str = "runs"  # runs/<model>/ receives every artifact
    limit: int | None = None  # train on a stratified subset of this many images (smoke tests)
    data_dir: str | None = None  # explicit Fashion-MNIST folder (else $FASHION_MNIST_DIR, Debian, Keras)
    val_fraction: float = 0.1  # stratified share of the training set held out for validation
    validate_on_test: bool = False  # the study's choice: validate (and schedule the LR) on the test set
    early_stopping: int = 0  # stop after this many epochs without val-loss improvement (0 = off)
    strategy: str = "default"  # default | mirrored (tf.distribute.MirroredStrategy)
    resume: bool = False  # continue from runs/<model>/last.keras and state.json
    batch_norm: str = "fused"  # fused (TensorFlow's kernel, train.batchnorm) | keras (Keras's own ops: runs before Dec 2026)

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"--epochs must be ≥ 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"--batch-size must be ≥ 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 20:
            raise ValueError(f"--limit must be ≥ 20 (two images per class), got {self.limit}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ValueError(f"validation fraction must be in (0, 0.5), got {self.val_fraction}")
        if self.strategy not in ("default", "mirrored"):
            raise ValueError(f"--strategy must be default or mirrored, got {self.strategy!r}")
        if self.batch_norm not in ("fused", "keras"):
            raise ValueError(f"--batch-norm must be fused or keras, got {self.batch_norm!r}")
        if self.early_stopping < 0:
            raise ValueError(f"--early-stopping must be ≥ 0, got {self.early_stopping}")

    def for_model(self, spec) -> "TrainConfig":
        """This config with the model's own epochs and batch size where none was given."""
        return replace(self, epochs=self.epochs or spec.epochs, batch_size=self.batch_size or spec.batch_size)
