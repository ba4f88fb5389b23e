"""Labelled image folders: `unseen/`, `../shared/wild-dev`, or a user's own photos.

Labels come from per-class folders (`unseen/sneaker/x.png`, slugs or class names) or, for files
at the top level, from the file name in the study's style (`t-shirt.png`, `ankle_boot.png`).

    >>> items = labelled_images("unseen")    # [LabelledImage(path, label), ...], sorted
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_app.images import IMAGE_EXTENSIONS
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
