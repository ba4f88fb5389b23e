"""Shared fixtures of the training tests: the installed Fashion-MNIST copy, and ONE tiny trained run.

TensorFlow is imported inside the fixtures only, so test modules that never ask for a run stay light.
With pytest-xdist every worker has its own session: `tiny_run` costs each worker that uses it a few
seconds (1 epoch of `robust` on a 2,000-image stratified subset).
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

# Rendered photos use procedural textures only in tests, so results do not depend on whether this
# machine has Debian's gimp-data (make run installs it; CI need not). Set before train.render is imported.
os.environ.setdefault("FASHION_PATTERNS", "/nonexistent/gimp-patterns")

# Export fixtures (a tiny trained run and its four exported variants), shared across modules.
pytest_plugins = ["_export_fixtures"]

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _have_data() -> bool:
    return all((FMNIST_DIR / name).is_file() for name in FMNIST_FILES)


requires_data = pytest.mark.skipif(
    not _have_data(), reason=f"Fashion-MNIST not installed in {FMNIST_DIR} (apt-get install dataset-fashion-mnist)"
)


@pytest.fixture(scope="session")
def fmnist_dir() -> Path:
    """The installed, verified data set (read-only: never modify it)."""
    if not _have_data():
        pytest.skip(f"Fashion-MNIST not installed in {FMNIST_DIR} (apt-get install dataset-fashion-mnist)")
    return FMNIST_DIR


@pytest.fixture(scope="session")
def fmnist_copy(fmnist_dir, tmp_path_factory) -> Path:
    """A private copy of the four gz files (~30 MB), shared by the session."""
    folder = tmp_path_factory.mktemp("fmnist-copy")
    for name in FMNIST_FILES:
        shutil.copyfile(fmnist_dir / name, folder / name)
    return folder


def corrupted_copy(fmnist_dir: Path, folder: Path, *, replace: dict[str, bytes] | None = None,
                   omit: tuple[str, ...] = ()) -> Path:
    """A data folder of symlinks to the real files, with some replaced by `replace[name]` bytes or left out."""
    folder.mkdir(parents=True, exist_ok=True)
    replace = replace or {}
    for name in FMNIST_FILES:
        if name in omit:
            continue
        if name in replace:
            (folder / name).write_bytes(replace[name])
        else:
            os.symlink(fmnist_dir / name, folder / name)
    return folder


def labels_raw(fmnist_dir: Path) -> bytes:
    """The decompressed training labels (8-byte header + 60,000 labels)."""
    return gzip.decompress((fmnist_dir / "train-labels-idx1-ubyte.gz").read_bytes())


@pytest.fixture
def make_data_dir(fmnist_dir, tmp_path):
    """`make_data_dir(replace={name: bytes}, omit=(name,))` → a folder of symlinks to the real files, altered."""
    made = []

    def make(*, replace: dict[str, bytes] | None = None, omit: tuple[str, ...] = ()) -> Path:
        made.append(tmp_path / f"data{len(made)}")
        return corrupted_copy(fmnist_dir, made[-1], replace=replace, omit=omit)

    return make


@pytest.fixture(scope="session")
def train_labels_raw(fmnist_dir) -> bytes:
    """The decompressed training labels file (8-byte header + 60,000 labels)."""
    return labels_raw(fmnist_dir)


@pytest.fixture
def corrupt_dir(make_data_dir, train_labels_raw) -> Path:
    """A data folder whose training labels have one byte flipped (decompressed, flipped, re-gzipped)."""
    raw = bytearray(train_labels_raw)
    raw[1000] ^= 0x01
    return make_data_dir(replace={"train-labels-idx1-ubyte.gz": gzip.compress(bytes(raw))})


@pytest.fixture(scope="session")
def tiny_run(fmnist_dir, tmp_path_factory):
    """ONE real fit per session: `robust`, 1 epoch, 2,000 images → train.fit.RunResult."""
    from train.config import TrainConfig
    from train.fit import fit

    out = tmp_path_factory.mktemp("tiny-run")
    config = TrainConfig(model="robust", epochs=1, limit=2000, out=str(out), data_dir=str(fmnist_dir))
    return fit(config, progress=False)


@pytest.fixture
def headless_opencv():
    """Skip unless this OpenCV cannot open a window (no GUI build, or no display): what `--show` meets on a Pi."""
    cv2 = pytest.importorskip("cv2")
    try:
        cv2.namedWindow("probe")
        cv2.destroyWindow("probe")
    except cv2.error:
        return cv2
    pytest.skip("this OpenCV has a GUI and a display")
