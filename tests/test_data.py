"""train.data: a verified local Fashion-MNIST (magic, shape, SHA-256), clear errors, stratified splits."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import train.data as data_mod
from train.data import FILES, DataError, load_dataset, load_from, split_validation, stratified_indices


LABELS_GZ = "train-labels-idx1-ubyte.gz"
FMNIST_FILES = ("train-images-idx3-ubyte.gz", LABELS_GZ, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """The tests never download: Keras's fallback raises if anything reaches it."""
    def refuse():
        raise AssertionError("the tests must never reach Keras's download")

    monkeypatch.setattr(data_mod, "_keras_download", refuse)


# ---------------------------------------------------------------- loading a good copy


def test_load_from_copy(fmnist_copy):
    d = load_from(fmnist_copy)
    assert d.x_train.shape == (60000, 28, 28) and d.x_train.dtype == np.uint8
    assert d.y_train.shape == (60000,) and d.y_train.dtype == np.uint8
    assert d.x_test.shape == (10000, 28, 28) and d.x_test.dtype == np.uint8
    assert d.y_test.shape == (10000,) and d.y_test.dtype == np.uint8
    assert set(np.unique(d.y_train)) == set(range(10)) and set(np.unique(d.y_test)) == set(range(10))
    assert np.bincount(d.y_train).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert d.x_train.max() == 255 and d.x_train.min() == 0
    assert d.source == str(fmnist_copy)
    assert d.sha256 == {spec.name: spec.sha256 for spec in FILES.values()}
    # the recorded checksums really are those of the decompressed files
    for spec in FILES.values():
        raw = gzip.decompress((fmnist_copy / f"{spec.name}.gz").read_bytes())
        assert hashlib.sha256(raw).hexdigest() == d.sha256[spec.name]


def test_uncompressed_files_accepted(train_labels_raw, make_data_dir):
    """IDX files may also lie there decompressed (as some mirrors ship them)."""
    folder = make_data_dir(omit=(LABELS_GZ,))
    (folder / "train-labels-idx1-ubyte").write_bytes(train_labels_raw)
    d = load_from(folder)
    assert d.y_train.shape == (60000,)


# ---------------------------------------------------------------- corrupted copies


def _flipped_labels(raw: bytes) -> bytes:
    raw = bytearray(raw)
    raw[1234] ^= 0x01  # one label byte, past the header: shape and magic still right
    return gzip.compress(bytes(raw))


def test_flipped_byte_fails_checksum(train_labels_raw, make_data_dir):
    folder = make_data_dir(replace={LABELS_GZ: _flipped_labels(train_labels_raw)})
    with pytest.raises(ValueError, match="checksum") as info:
        load_from(folder)
    assert "train-labels-idx1-ubyte" in str(info.value)
    assert "images" not in str(info.value)  # only the bad file is reported


def test_truncated_gzip_rejected(make_data_dir, fmnist_dir):
    gz = (fmnist_dir / LABELS_GZ).read_bytes()
    folder = make_data_dir(replace={LABELS_GZ: gz[: len(gz) // 2]})
    with pytest.raises(ValueError, match="truncated") as info:
        load_from(folder)
    assert LABELS_GZ in str(info.value)


def test_truncated_content_rejected_by_shape(train_labels_raw, make_data_dir):
    """A well-formed gzip of a partial file: the IDX length gives it away."""
    short = gzip.compress(train_labels_raw[:-100])
    folder = make_data_dir(replace={LABELS_GZ: short})
    with pytest.raises(ValueError, match=r"shape.*truncated") as info:
        load_from(folder)
    assert "60000" in str(info.value)


def test_wrong_dimensions_rejected(train_labels_raw, make_data_dir):
    raw = bytearray(train_labels_raw)
    raw[4:8] = (59999).to_bytes(4, "big")
    folder = make_data_dir(replace={LABELS_GZ: gzip.compress(bytes(raw))})
    with pytest.raises(ValueError, match=r"shape \(59999,\)"):
        load_from(folder)


def test_wrong_magic_rejected(train_labels_raw, make_data_dir):
    raw = bytearray(train_labels_raw)
    raw[2] = 0x0D  # float32 instead of unsigned byte
    folder = make_data_dir(replace={LABELS_GZ: gzip.compress(bytes(raw))})
    with pytest.raises(ValueError, match="magic 00000d01"):
        load_from(folder)


def test_corrupt_deflate_stream_is_a_value_error(make_data_dir, fmnist_dir):
    """A byte flipped inside the compressed stream (zlib.error) is reported, not raised raw."""
    gz = bytearray((fmnist_dir / LABELS_GZ).read_bytes())
    gz[5000] ^= 0xFF
    folder = make_data_dir(replace={LABELS_GZ: bytes(gz)})
    with pytest.raises(ValueError, match="unreadable|checksum"):
        load_from(folder)
    with pytest.raises(DataError, match=LABELS_GZ):
        load_dataset(folder)


def test_not_gzip_rejected(make_data_dir):
    folder = make_data_dir(replace={LABELS_GZ: b"<html>404 Not Found</html>"})
    with pytest.raises(ValueError, match="unreadable"):
        load_from(folder)


def test_missing_file_named(make_data_dir):
    folder = make_data_dir(omit=("t10k-images-idx3-ubyte.gz",))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte") as info:
        load_from(folder)
    assert "missing" in str(info.value)
    assert "train-" not in str(info.value)


def test_every_problem_listed(train_labels_raw, make_data_dir):
    folder = make_data_dir(replace={LABELS_GZ: _flipped_labels(train_labels_raw)},
                            omit=("t10k-labels-idx1-ubyte.gz",))
    with pytest.raises(ValueError) as info:
        load_from(folder)
    assert "checksum" in str(info.value) and "t10k-labels-idx1-ubyte(.gz) missing" in str(info.value)


def test_not_a_folder(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        load_from(tmp_path / "nowhere")


# ---------------------------------------------------------------- load_dataset: where it looks


def test_load_dataset_bad_dir_one_message(train_labels_raw, make_data_dir):
    folder = make_data_dir(replace={LABELS_GZ: _flipped_labels(train_labels_raw)})
    with pytest.raises(DataError) as info:
        load_dataset(data_dir=folder)
    message = str(info.value)
    assert "\n" not in message
    assert str(folder) in message and "checksum" in message
    assert "dataset-fashion-mnist" in message  # how to fix it


def test_explicit_dir_used_alone(fmnist_dir, tmp_path, monkeypatch):
    """A named folder that fails is an error, even though a valid Debian copy exists (no silent fall-back)."""
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as info:
        load_dataset(data_dir=empty)
    message = str(info.value)
    assert str(empty) in message and "missing" in message
    assert str(fmnist_dir) not in message  # the Debian folder was not tried
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(data_dir=tmp_path / "typo")


def test_env_var_honoured(fmnist_copy, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(fmnist_copy))
    assert data_mod.candidate_dirs() == [fmnist_copy]
    assert load_dataset().source == str(fmnist_copy)


def test_env_var_bad_folder_is_an_error(make_data_dir, monkeypatch):
    bad = make_data_dir(omit=(LABELS_GZ,))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(bad))
    with pytest.raises(DataError) as info:
        load_dataset()
    assert str(bad) in str(info.value) and "train-labels-idx1-ubyte(.gz) missing" in str(info.value)


def test_argument_beats_env_var(fmnist_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    assert load_dataset(data_dir=fmnist_copy).source == str(fmnist_copy)


def test_default_search_order(fmnist_dir, monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    assert data_mod.candidate_dirs() == [data_mod.DEBIAN_DIR, data_mod.KERAS_DIR]
    assert load_dataset().source == str(fmnist_dir)


def test_no_local_copy_reports_every_place(tmp_path, monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(data_mod, "KERAS_DIR", tmp_path / "keras")
    with pytest.raises(DataError) as info:
        load_dataset(allow_download=False)
    message = str(info.value)
    assert str(tmp_path / "debian") in message and str(tmp_path / "keras") in message
    assert "\n" not in message


def test_download_failure_reported_with_the_rest(tmp_path, monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(data_mod, "KERAS_DIR", tmp_path / "keras")

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(data_mod, "_keras_download", offline)
    with pytest.raises(DataError, match="Keras download: network unreachable"):
        load_dataset()


# ---------------------------------------------------------------- stratified subsets and the split


@pytest.fixture(scope="module")
def y_train(fmnist_dir):
    return load_from(fmnist_dir).y_train


@pytest.mark.parametrize("n", [20, 1000, 2000, 5003])
def test_stratified_keeps_proportions(y_train, n):
    idx = stratified_indices(y_train, n, seed=0)
    assert len(idx) == n and len(np.unique(idx)) == n
    assert np.all(np.diff(idx) > 0)  # sorted
    counts = np.bincount(y_train[idx], minlength=10)
    assert np.all(np.abs(counts - n / 10) <= 1)


def test_stratified_deterministic_per_seed(y_train):
    a, b = stratified_indices(y_train, 2000, seed=3), stratified_indices(y_train, 2000, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, stratified_indices(y_train, 2000, seed=4))


def test_stratified_all_when_n_too_large():
    labels = np.array([0, 1, 1, 2])
    np.testing.assert_array_equal(stratified_indices(labels, 10), np.arange(4))


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=5, max_size=300),
    frac=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**16),
)
def test_stratified_property(labels, frac, seed):
    labels = np.array(labels)
    n = max(1, int(len(labels) * frac))
    idx = stratified_indices(labels, n, seed)
    assert len(idx) == min(n, len(labels)) and len(np.unique(idx)) == len(idx)
    classes, counts = np.unique(labels, return_counts=True)
    got = np.array([np.sum(labels[idx] == c) for c in classes])
    assert np.all(np.abs(got - counts / counts.sum() * len(idx)) <= 1 + 1e-9)


def test_split_validation(y_train):
    tr, val = split_validation(y_train, 0.1, seed=0)
    assert len(np.intersect1d(tr, val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, val])), np.arange(len(y_train)))
    assert len(val) == 6000
    assert np.bincount(y_train[val], minlength=10).tolist() == [600] * 10
    tr2, val2 = split_validation(y_train, 0.1, seed=0)
    np.testing.assert_array_equal(val, val2)
    np.testing.assert_array_equal(tr, tr2)


def test_split_validation_on_a_subset(y_train):
    sub = y_train[stratified_indices(y_train, 2000, seed=0)]
    tr, val = split_validation(sub, 0.1, seed=0)
    assert len(val) == 200 and len(tr) == 1800
    assert set(tr).isdisjoint(val) and set(tr) | set(val) == set(range(2000))
    assert np.all(np.abs(np.bincount(sub[val], minlength=10) - 20) <= 1)


def test_files_table_matches_names():
    assert sorted(f"{spec.name}.gz" for spec in FILES.values()) == sorted(FMNIST_FILES)
