"""Labelled folders: per-class folders, study-style file names, and what is skipped."""

import shutil
from pathlib import Path

import pytest
from PIL import Image

from edge_app.labelled import labelled_images

ROOT = Path(__file__).resolve().parents[1]


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), "white").save(path)


def test_class_folders_and_study_file_names(tmp_path):
    _png(tmp_path / "sneaker" / "a.png")
    _png(tmp_path / "Ankle boot" / "deeper" / "b.jpg")  # a class name with a space, nested
    _png(tmp_path / "t-shirt.png")  # the study's style, top level
    _png(tmp_path / "ankle_boot.png")
    _png(tmp_path / "holiday.png")  # no class: skipped
    (tmp_path / "README.md").write_text("not an image")
    items = {p.path.relative_to(tmp_path).as_posix(): p.label for p in labelled_images(tmp_path)}
    assert items == {"sneaker/a.png": 7, "Ankle boot/deeper/b.jpg": 9, "t-shirt.png": 0, "ankle_boot.png": 9}


def test_the_committed_unseen_set_covers_every_class():
    items = labelled_images(ROOT / "unseen")
    assert len(items) >= 40 and {i.label for i in items} == set(range(10))


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no labelled images"):
        labelled_images(tmp_path)
    with pytest.raises(ValueError, match="no such folder"):
        labelled_images(tmp_path / "nope")


def test_decode_skips_unreadable_files_and_says_so(tmp_path):
    from edge_app.labelled import decode_labelled

    _png(tmp_path / "bag" / "good.png")
    (tmp_path / "bag" / "broken.png").write_bytes(b"not a png")
    decoded = decode_labelled(tmp_path)
    assert decoded.names == ["bag/good.png"] and decoded.labels.tolist() == [8]
    assert len(decoded.images) == 1 and decoded.images[0].shape == (8, 8, 3)
    assert len(decoded.skipped) == 1 and "broken.png" in decoded.skipped[0]
