"""The committed `unseen/` set: every class present, files small RGB PNGs, all listed in SOURCES.md.

Fast and offline: reads only the files in the repository (no npm, apt or network).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from edge_app.images import IMAGE_EXTENSIONS
from edge_app.labelled import labelled_images
from edge_app.labels import LABELS, SLUGS, label_from_name, label_index

ROOT = Path(__file__).resolve().parents[1]
UNSEEN = ROOT / "unseen"
SOURCES_MD = UNSEEN / "SOURCES.md"
MAX_EDGE = 160
MIN_TOTAL = 40
MIN_PER_CLASS = 3  # every class has at least this many built images

# File-name prefixes of the images build.py makes (its SOURCES keys); anything else is a user's own.
PREFIXES = ("google", "twitter", "openmoji", "fluent", "gameicons", "iconpark", "hugeicons",
            "phosphor", "noto", "openclipart")
ROW = re.compile(r"^\|\s*`(unseen/[^`]+)`\s*\|\s*([^|]+?)\s*\|")


def _images() -> list[Path]:
    return sorted(p for p in UNSEEN.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _built() -> list[Path]:
    """The images made by build.py (named `<source>_<name>.png` inside a class folder)."""
    return [p for p in _images() if p.parent != UNSEEN and p.name.split("_", 1)[0] in PREFIXES]


def _rows() -> dict[str, str]:
    """SOURCES.md's file table: repository-relative path -> class name."""
    rows = {}
    for line in SOURCES_MD.read_text(encoding="utf-8").splitlines():
        if m := ROW.match(line):
            assert m.group(1) not in rows, f"{m.group(1)} listed twice in SOURCES.md"
            rows[m.group(1)] = m.group(2)
    return rows


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def test_every_class_has_a_folder_with_images():
    counts = Counter(p.parent.name for p in _built())
    for slug in SLUGS:
        assert (UNSEEN / slug).is_dir(), f"unseen/{slug}/ is missing"
        assert counts[slug] >= MIN_PER_CLASS, f"unseen/{slug}/ has {counts[slug]} images"
    assert set(counts) == set(SLUGS), f"unexpected folders: {set(counts) - set(SLUGS)}"


def test_at_least_40_images():
    assert len(_built()) >= MIN_TOTAL


@pytest.mark.parametrize("path", _built(), ids=_rel)
def test_image_is_small_rgb(path: Path):
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        assert im.mode in ("RGB", "L"), f"{_rel(path)} is {im.mode}"
        assert max(im.size) <= MAX_EDGE, f"{_rel(path)} is {im.size}"
        assert min(im.size) >= 8


def test_every_other_image_opens():
    """A user's own photos may be any size, but they must be images."""
    for path in set(_images()) - set(_built()):
        with Image.open(path) as im:
            im.verify()


def test_sources_md_lists_exactly_the_built_files():
    rows = _rows()
    on_disk = {_rel(p) for p in _built()}
    assert not on_disk - rows.keys(), f"not in SOURCES.md: {sorted(on_disk - rows.keys())}"
    missing = [r for r in rows if not (ROOT / r).is_file()]
    assert not missing, f"listed in SOURCES.md but not on disk: {missing}"


def test_sources_md_class_matches_folder():
    for rel, cls in _rows().items():
        slug = rel.split("/")[1]
        assert cls in LABELS, f"{rel}: unknown class {cls!r}"
        assert LABELS.index(cls) == SLUGS.index(slug), f"{rel}: listed as {cls}"


def test_sources_md_has_rebuild_and_attribution():
    text = SOURCES_MD.read_text(encoding="utf-8")
    assert "python unseen/build.py" in text
    assert "npm install" in text and "apt-get install" in text
    assert "Twemoji" in text and "CC BY 4.0" in text
    assert "OpenMoji" in text and "CC BY-SA 4.0" in text
    assert "://" not in text, "SOURCES.md names packages, not addresses"


def test_labels_agree_with_folders():
    for slug in SLUGS:
        assert label_index(slug) == SLUGS.index(slug)
        assert label_from_name(f"{slug}.png") == SLUGS.index(slug)
    items = labelled_images(UNSEEN)
    by_path = {it.path.resolve(): it.label for it in items}
    for path in _built():
        assert by_path.get(path.resolve()) == SLUGS.index(path.parent.name), _rel(path)
