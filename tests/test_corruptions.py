"""The corruption suite on small synthetic images: a grey ellipse and a rectangle on black."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from export.corruptions import CORRUPTIONS, SEVERITIES, corrupt, corrupt_mixed, corruption_suite

# These ignore the seed; every other corruption draws something at random for each image.
DETERMINISTIC = {"scale", "brightness", "stripe", "canny_edges", "contrast", "inversion", "hflip"}
# These have no strength: all three severities give the same image.
NO_STRENGTH = {"inversion", "hflip"}
PAIRS = [(name, severity) for name in CORRUPTIONS for severity in SEVERITIES]


def items(n: int = 8, seed: int = 0) -> np.ndarray:
    """Fashion-MNIST-like: a bright ellipse with a duller rectangle off to the left (so a flip shows)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for image in images:
        centre = tuple(int(c) for c in rng.integers(11, 17, size=2))
        axes = tuple(int(a) for a in rng.integers(5, 10, size=2))
        cv2.ellipse(image, centre, axes, int(rng.integers(0, 180)), 0, 360, int(rng.integers(150, 256)), -1)
        x, y = (int(c) for c in rng.integers(3, 9, size=2))
        cv2.rectangle(image, (x, y), (x + 5, y + 3), int(rng.integers(40, 110)), -1)
    return images


X = items()


def test_the_list() -> None:
    assert len(CORRUPTIONS) == len(set(CORRUPTIONS)) == 18
    assert SEVERITIES == (1, 2, 3)


@pytest.mark.parametrize(("name", "severity"), PAIRS)
def test_shape_dtype_and_input_untouched(name: str, severity: int) -> None:
    before = X.copy()
    out = corrupt(X, name, severity)
    assert out.shape == X.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(("name", "severity"), PAIRS)
def test_deterministic_and_independent_of_batching(name: str, severity: int) -> None:
    full = corrupt(X, name, severity, seed=3)
    np.testing.assert_array_equal(full, corrupt(X, name, severity, seed=3))
    # A slice, told where it starts, matches the same rows of the whole …
    np.testing.assert_array_equal(corrupt(X[3:7], name, severity, seed=3, start=3), full[3:7])
    # … so corrupting in pieces is the same as corrupting at once.
    pieces = [corrupt(X[:5], name, severity, seed=3), corrupt(X[5:], name, severity, seed=3, start=5)]
    np.testing.assert_array_equal(np.concatenate(pieces), full)


@pytest.mark.parametrize(("name", "severity"), PAIRS)
def test_every_image_changes(name: str, severity: int) -> None:
    out = corrupt(X, name, severity)
    changed = (out != X).any(axis=(1, 2))
    assert changed.all(), f"{name}@{severity} left images {np.flatnonzero(~changed)} as they were"


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_seed(name: str) -> None:
    a, b = corrupt(X, name, 2, seed=0), corrupt(X, name, 2, seed=1)
    if name in DETERMINISTIC:
        np.testing.assert_array_equal(a, b)
    else:
        assert not np.array_equal(a, b)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_images_get_different_draws(name: str) -> None:
    # Per-image seeds: the same image at two positions in a batch is (for random corruptions) corrupted differently.
    twins = np.repeat(X[:1], 2, axis=0)
    a, b = corrupt(twins, name, 2)
    assert np.array_equal(a, b) == (name in DETERMINISTIC)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_grows(name: str) -> None:
    outs = [corrupt(X, name, s) for s in SEVERITIES]
    if name in NO_STRENGTH:
        for out in outs[1:]:
            np.testing.assert_array_equal(out, outs[0])
        return
    change = [np.abs(out.astype(int) - X).mean() for out in outs]
    assert change[0] < change[1] < change[2], f"{name}: mean |change| by severity {change}"


def test_empty_batch() -> None:
    empty = np.zeros((0, 28, 28), np.uint8)
    for name in CORRUPTIONS:
        assert corrupt(empty, name).shape == (0, 28, 28)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="shot_noise.*hflip"):  # the message lists the valid names
        corrupt(X, "gaussian_noise")
    for severity in (0, 4, -1):
        with pytest.raises(ValueError, match="severity"):
            corrupt(X, "rotate", severity)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(X.astype(np.float32), "rotate")
    with pytest.raises(ValueError, match="28"):
        corrupt(np.zeros((2, 32, 32), np.uint8), "rotate")
    with pytest.raises(ValueError, match="28"):
        corrupt(X[0], "rotate")  # one image needs its batch axis


def test_mixed_covers_every_pair_and_matches_corrupt() -> None:
    images = items(len(PAIRS) + 3, seed=1)
    out, which = corrupt_mixed(images, seed=5)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert len(which) == len(images)
    assert set(which[: len(PAIRS)]) == set(PAIRS)  # 54 consecutive images: each pair once
    assert which[0] == (CORRUPTIONS[0], 1) and which[len(CORRUPTIONS)] == (CORRUPTIONS[0], 2)
    for i, (name, severity) in enumerate(which):
        np.testing.assert_array_equal(out[i], corrupt(images, name, severity, seed=5)[i])
    np.testing.assert_array_equal(out, corrupt_mixed(images, seed=5)[0])


def test_suite_yields_every_pair_in_order() -> None:
    labels = np.arange(len(X))
    got = list(corruption_suite(X, labels, seed=2))
    assert [(name, severity) for name, severity, _, _ in got] == PAIRS
    for name, severity, images, y in got:
        np.testing.assert_array_equal(images, corrupt(X, name, severity, seed=2))
        np.testing.assert_array_equal(y, labels)


def test_suite_subset_and_without_labels() -> None:
    images = items(20, seed=2)
    full = {(n, s): x for n, s, x, _ in corruption_suite(images, names=["fog", "hflip"], severities=[3])}
    got = list(corruption_suite(images, np.arange(20), names=["fog", "hflip"], severities=[3], limit=6))
    assert [(n, s) for n, s, _, _ in got] == [("fog", 3), ("hflip", 3)]
    for name, severity, x, y in got:
        assert len(x) == len(y) == 6
        assert list(y) == sorted(set(y))  # distinct, in the set's order; labels here are the indices
        np.testing.assert_array_equal(x, full[name, severity][y])  # as in the full run
    again = list(corruption_suite(images, np.arange(20), names=["fog"], severities=[3], limit=6))
    np.testing.assert_array_equal(again[0][3], got[0][3])  # the subset is seeded
    assert all(y is None for *_, y in corruption_suite(X, names=["stripe"]))


def test_suite_checks_arguments_before_iterating() -> None:
    with pytest.raises(ValueError, match="unknown corruption"):
        corruption_suite(X, names=["rotate", "snow"])
    with pytest.raises(ValueError, match="severity"):
        corruption_suite(X, severities=[1, 5])
    with pytest.raises(ValueError, match="labels"):
        corruption_suite(X, np.arange(3))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.sampled_from(CORRUPTIONS),
    st.sampled_from(SEVERITIES),
    st.integers(0, 2**32 - 1),
    st.integers(0, 10),
    st.data(),
)
def test_any_images_any_split(n: int, name: str, severity: int, seed: int, cut: int, data: st.DataObject) -> None:
    raw = data.draw(st.binary(min_size=n * 784, max_size=n * 784))
    images = np.frombuffer(raw, np.uint8).reshape(n, 28, 28)
    whole = corrupt(images, name, severity, seed)
    assert whole.shape == images.shape and whole.dtype == np.uint8
    cut = min(cut, n)
    parts = [corrupt(images[:cut], name, severity, seed), corrupt(images[cut:], name, severity, seed, start=cut)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_bad_severity_seed_and_start_types() -> None:
    for severity in (True, 2.0, "2"):
        with pytest.raises(ValueError, match="severity"):
            corrupt(X, "rotate", severity)  # type: ignore[arg-type]
    assert corrupt(X, "rotate", np.int64(2)).shape == X.shape  # a NumPy integer is fine
    with pytest.raises(ValueError, match="seed"):
        corrupt(X, "stripe", seed=-1)
    with pytest.raises(ValueError, match="start"):
        corrupt(X, "rotate", start=-1)
    with pytest.raises(ValueError, match="limit"):
        corruption_suite(X, limit=-1)
