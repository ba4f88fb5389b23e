"""The casual-photo renderer: colour scenes of an item, GIMP patterns, and empty backgrounds."""

import struct

import numpy as np
import pytest

from edge_app.preprocess import preprocess
from train import render
from train.render import Scene, read_pat, render_photo, render_scene


@pytest.fixture(autouse=True)
def procedural_only(monkeypatch, tmp_path_factory):
    """The same scenes whether or not this machine has Debian's gimp-data: procedural textures only."""
    monkeypatch.setattr(render, "PATTERNS", tmp_path_factory.mktemp("no-patterns"))
    render._gimp_patterns.cache_clear()
    yield
    render._gimp_patterns.cache_clear()


def _shirt() -> np.ndarray:
    item = np.zeros((28, 28), np.uint8)
    item[6:24, 9:19] = 180
    item[6:11, 3:25] = 200  # sleeves
    return item


def test_render_is_a_colour_photo_of_the_item_in_a_frame_of_the_scene_sizes():
    s = Scene()
    for seed in range(6):
        photo = render_photo(_shirt(), 0, np.random.default_rng(seed))
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
        assert photo.shape[0] == s.height and photo.shape[1] in s.widths
        assert photo.std() > 5  # an item on a background, not a flat field
    colourful = [render_photo(_shirt(), 0, np.random.default_rng(seed)) for seed in range(12)]
    assert np.mean([np.abs(p[..., 0].astype(int) - p[..., 2]).mean() > 8 for p in colourful]) > 0.5  # colour, not gray


def test_render_is_deterministic_per_generator_seed():
    a = render_photo(_shirt(), 3, np.random.default_rng(7))
    np.testing.assert_array_equal(a, render_photo(_shirt(), 3, np.random.default_rng(7)))


def _shoe() -> np.ndarray:
    item = np.zeros((28, 28), np.uint8)
    item[14:22, 3:25] = 190  # sole and body, toe to the left as in Fashion-MNIST
    item[8:14, 15:25] = 170  # the ankle
    return item


def test_footwear_may_come_as_a_pair_and_nothing_else_does():
    import cv2

    def parts(pair: float, label: int, seed: int) -> int:
        _, mask = render_photo(_shoe(), label, np.random.default_rng(seed), Scene(pair=pair, hand=0), with_mask=True)
        return cv2.connectedComponents(mask.astype(np.uint8))[0] - 1

    assert all(parts(0.0, 7, seed) == 1 for seed in range(12))  # one shoe, one silhouette
    assert sum(parts(1.0, 7, seed) == 2 for seed in range(12)) >= 3  # often two shoes side by side (or overlapping)
    for seed in range(6):  # a top's rendering does not depend on the footwear setting at all
        a = render_photo(_shirt(), 0, np.random.default_rng(seed), Scene(pair=0.0))
        np.testing.assert_array_equal(a, render_photo(_shirt(), 0, np.random.default_rng(seed), Scene(pair=1.0)))


def test_the_preprocessing_finds_most_rendered_items_again():
    found = [preprocess(render_photo(_shirt(), 0, np.random.default_rng(seed))).has_item for seed in range(40)]
    assert np.mean(found) >= 0.85


def test_scenes_without_an_item_are_mostly_no_item():
    rng = np.random.default_rng(11)
    found = [preprocess((render_scene(rng, 96, 128) * 255).astype(np.uint8)).has_item for _ in range(40)]
    assert np.mean(found) <= 0.15


def _pat(tmp_path, w=5, h=3, depth=3, name=b"wood\x00", truncate=0):
    header = struct.pack(">5I", 24 + len(name), 1, w, h, depth) + b"GPAT" + name
    pixels = np.arange(w * h * depth, dtype=np.uint8).tobytes()
    path = tmp_path / "p.pat"
    path.write_bytes((header + pixels)[: len(header + pixels) - truncate])
    return path


def test_read_pat_reads_gimp_patterns_and_refuses_other_files(tmp_path):
    img = read_pat(_pat(tmp_path))
    assert img.shape == (3, 5, 3) and img.dtype == np.float32
    assert img[0, 1, 0] == pytest.approx(3 / 255)
    gray = read_pat(_pat(tmp_path, depth=1))
    assert gray.shape == (3, 5, 3) and (gray[..., 0] == gray[..., 2]).all()
    with pytest.raises(ValueError, match="truncated"):
        read_pat(_pat(tmp_path, truncate=4))
    (tmp_path / "x.pat").write_bytes(b"not a pattern at all, really")
    with pytest.raises(ValueError, match="not a GIMP pattern"):
        read_pat(tmp_path / "x.pat")


def test_patterns_folder_is_optional_and_used_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "PATTERNS", tmp_path / "absent")
    render._gimp_patterns.cache_clear()
    assert render._gimp_patterns() == ()
    assert render_scene(np.random.default_rng(0), 40, 50).shape == (40, 50, 3)
    folder = tmp_path / "patterns" / "Wood"
    folder.mkdir(parents=True)
    _pat(folder.parent, w=8, h=8).rename(folder / "a.pat")
    (folder / "broken.pat").write_bytes(b"GPAT?")  # a damaged file is skipped, not fatal
    monkeypatch.setattr(render, "PATTERNS", tmp_path / "patterns")
    render._gimp_patterns.cache_clear()
    assert len(render._gimp_patterns()) == 1
    scenes = [render_scene(np.random.default_rng(seed), 40, 50) for seed in range(40)]
    assert all(s.shape == (40, 50, 3) and 0 <= s.min() and s.max() <= 1 for s in scenes)
