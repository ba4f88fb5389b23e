"""The one list of Fashion-MNIST class names, and how file and folder names map onto it.

    >>> from edge_app.labels import LABELS, label_from_name
    >>> label_from_name("ankle_boot.png")
    9
"""

from __future__ import annotations

import re

# Index i is the class whose Fashion-MNIST label is i (Xiao et al. 2017, table 1).
LABELS: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Folder-safe names, one per class, in label order: `unseen/<slug>/` and `wild-dev/<slug>/`.
SLUGS: tuple[str, ...] = (
    "tshirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
)

# Other spellings people use in file names (the study saved `t-shirt.png`, `ankle_boot.png`).
_ALIASES: dict[str, int] = {
    "tshirt": 0, "t_shirt": 0, "tee": 0, "top": 0, "tshirttop": 0,
    "trousers": 1, "pants": 1, "jeans": 1,
    "sweater": 2, "jumper": 2, "hoodie": 2,
    "ankleboot": 9, "boot": 9, "boots": 9,
    "sneakers": 7, "shoe": 7, "trainer": 7,
    "sandals": 5, "handbag": 8, "dresses": 3, "coats": 4, "shirts": 6,
    "bags": 8, "pullovers": 2,
}


def _norm(text: str) -> str:
    """Lower-case, with every run of non-alphanumerics made one underscore."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


_BY_NAME: dict[str, int] = {}
for _i, (_label, _slug) in enumerate(zip(LABELS, SLUGS)):
    for _key in (_norm(_label), _slug, _slug.replace("_", "")):
        _BY_NAME[_key] = _i
_BY_NAME.update(_ALIASES)


def label_index(name: str) -> int | None:
    """The class index for a class name, slug or alias (`"Ankle boot"`, `"ankle_boot"`); None if unknown."""
    key = _norm(name)
    return _BY_NAME.get(key, _BY_NAME.get(key.replace("_", "")))


def label_from_name(file_name: str) -> int | None:
    """The class named by a file name's stem or its leading words (`t-shirt2.png`, `bag_01.jpg`).

    Tries the whole stem, then ever shorter prefixes of its words, with trailing digits dropped,
    so `ankle_boot_3.png` and `tshirt2.jpg` both resolve. None when nothing matches.
    """
    stem = _norm(file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    words = [w for w in stem.split("_") if w]
    for n in range(len(words), 0, -1):
        guess = re.sub(r"\d+$", "", "_".join(words[:n])).strip("_")
        if guess and (hit := label_index(guess)) is not None:
            return hit
    return None
