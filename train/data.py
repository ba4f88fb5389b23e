"""Fashion-MNIST from a verified local copy, without the network where one exists.

Search order: an explicit folder (`data_dir`, `--data-dir`, `$FASHION_MNIST_DIR`), Debian's
`dataset-fashion-mnist` package, Keras's cache, and only then Keras's download. Every file is checked:
IDX magic, shape, and the SHA-256 of its *decompressed* content.

    >>> data = load_dataset()                  # a Dataset: x_train, y_train, x_test, y_test, source, sha256
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_DIR = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "fashion-mnist"


@dataclass(frozen=True)
class IdxFile:
    name: str  # file stem as published (…-idx3-ubyte)
    shape: tuple[int, ...]  # array shape after the header
    sha256: str  # of the decompressed content


FILES = {
    "train_images": IdxFile("train-images-idx3-ubyte", (60000, 28, 28), "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": IdxFile("train-labels-idx1-ubyte", (60000,), "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": IdxFile("t10k-images-idx3-ubyte", (10000, 28, 28), "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": IdxFile("t10k-labels-idx1-ubyte", (10000,), "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}


class DataError(RuntimeError):
    """No folder held a complete, verified copy; the message names each place and what was wrong."""


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray  # (60000, 28, 28) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray  # (10000,) uint8
    source: str  # the folder it came from
    sha256: dict[str, str]  # file stem → SHA-256 of its decompressed content


def _read_idx(folder: Path, idx: IdxFile) -> np.ndarray:
    """One verified IDX file (gzipped or not) → array; ValueError saying what is wrong."""
    for path in (folder / f"{idx.name}.gz", folder / idx.name):
        if path.exists():
            break
    else:
        raise ValueError(f"{idx.name}(.gz) missing")
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except EOFError as exc:  # the gzip stream stops early: a partial download or copy
        raise ValueError(f"{path.name} is truncated ({exc})") from exc
    except (OSError, zlib.error) as exc:  # bad gzip header, CRC, or a corrupt deflate stream
        raise ValueError(f"{path.name} unreadable ({exc})") from exc
    header = 4 + 4 * len(idx.shape)
    expected_magic = bytes([0, 0, 8, len(idx.shape)])  # 0x08 = unsigned byte, then the number of dims
    if raw[:4] != expected_magic:
        raise ValueError(f"{path.name} has a bad IDX magic {raw[:4].hex()}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(len(idx.shape)))
    if dims != idx.shape or len(raw) != header + int(np.prod(idx.shape)):
        raise ValueError(f"{path.name} has shape {dims} and {len(raw)} bytes; expected {idx.shape} (truncated?)")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != idx.sha256:
        raise ValueError(f"{path.name} checksum mismatch (altered or corrupt file)")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(idx.shape)


def load_from(folder: str | os.PathLike) -> Dataset:
    """Load and verify all four files from one folder; ValueError listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError("no such folder")
    arrays, problems = {}, []
    for key, idx in FILES.items():
        try:
            arrays[key] = _read_idx(folder, idx)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    sums = {idx.name: idx.sha256 for idx in FILES.values()}
    return Dataset(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"], str(folder), sums)


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in order: explicit (argument or $FASHION_MNIST_DIR), Debian, Keras cache."""
    explicit = data_dir or os.environ.get("FASHION_MNIST_DIR")
    return [Path(explicit)] if explicit else [DEBIAN_DIR, KERAS_DIR]


def load_dataset(data_dir: str | os.PathLike | None = None, *, allow_download: bool = True) -> Dataset:
    """The first verified copy; with `allow_download`, Keras's download only when no local copy exists.

    An explicit folder is used alone: when a user names one, a silent fall-back would hide a mistake.
    """
    tried = []
    for folder in candidate_dirs(data_dir):
        try:
            return load_from(folder)
        except ValueError as exc:
            tried.append(f"{folder}: {exc}")
    nothing_local = all(s.endswith("no such folder") for s in tried)
    if allow_download and nothing_local and not (data_dir or os.environ.get("FASHION_MNIST_DIR")):
        try:
            _keras_download()
            return load_from(KERAS_DIR)
        except Exception as exc:  # the network or Keras may be missing: report with the rest
            tried.append(f"Keras download: {exc}")
    raise DataError(
        "Fashion-MNIST not found or invalid — " + " | ".join(tried)
        + " (install it: sudo apt-get install dataset-fashion-mnist, or pass --data-dir)"
    )


def _keras_download() -> None:
    """Keras's own download into its cache folder (needs the network; never used by the tests)."""
    from keras.datasets import fashion_mnist  # lazily: TensorFlow-heavy

    fashion_mnist.load_data()


def stratified_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """`n` indices drawn so every class keeps its share (sorted, deterministic for a seed)."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts / counts.sum() * n).astype(int)
    # hand the rounding remainder to the classes with the largest fractional share
    rest = n - quota.sum()
    frac = counts / counts.sum() * n - quota
    quota[np.argsort(-frac)[:rest]] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked))


def split_validation(labels: np.ndarray, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): a stratified, seeded `fraction` of the training set held out."""
    val = stratified_indices(labels, round(len(labels) * fraction), seed)
    train = np.setdiff1d(np.arange(len(labels)), val, assume_unique=True)
    return train, val
