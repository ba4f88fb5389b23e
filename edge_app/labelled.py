"""Labelled image folders: `unseen/`, `../shared/wild-dev`, or a user's own photos.

Labels come from per-class folders (`unseen/sneaker/x.png`, slugs or class names) or, for files
at the top level, from the file name in the study's style (`t-shirt.png`, `ankle_boot.png`).

    >>> items = labelled_images("unseen")    # [LabelledImage(path, label), ...], sorted
    >>> decoded = decode_labelled("unseen")   # images, labels, names; unreadable files skipped
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_app.images import IMAGE_EXTENSIONS, ImageError, load_image
from edge_app.labels import label_from_name, label_index


@dataclass(frozen=True)
class LabelledImage:
    path: Path  # the image file
    label: int  # class index


def labelled_images(folder: str | Path) -> list[LabelledImage]:
    """Every image under `folder` whose class is known; ValueError when the folder has none.

    A file's nearest ancestor folder that names a class wins; otherwise its file name is tried.
    Files whose class cannot be told are skipped (a README, a stray photo).
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder")
    items = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS):
        label = None
        for parent in path.relative_to(root).parents:
            if parent.name and (label := label_index(parent.name)) is not None:
                break
        if label is None:
            label = label_from_name(path.name)
        if label is not None:
            items.append(LabelledImage(path, label))
    if not items:
        raise ValueError(f"{root}: no labelled images (expected <class>/<image> or files named like t-shirt.png)")
    return items


@dataclass(frozen=True)
class DecodedSet:
    images: list[np.ndarray]  # RGB uint8 arrays, in `labelled_images` order
    labels: np.ndarray  # (N,) class indices
    names: list[str]  # paths relative to the folder, for reports
    skipped: list[str] = field(default_factory=list)  # one line per unreadable file


def decode_labelled(folder: str | Path) -> DecodedSet:
    """Every labelled image decoded; a file that cannot be read is reported in `skipped`, not fatal."""
    root = Path(folder)
    images, labels, names, skipped = [], [], [], []
    for item in labelled_images(root):
        try:
            images.append(load_image(item.path))
        except ImageError as exc:
            skipped.append(str(exc))
            continue
        labels.append(item.label)
        names.append(item.path.relative_to(root).as_posix())
    return DecodedSet(images, np.array(labels, dtype=int), names, skipped)
