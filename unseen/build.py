#!/usr/bin/env python3
"""Build the `unseen/` image set from redistributable artwork in npm and Debian packages.

Every committed image under `unseen/<slug>/` is listed in ITEMS below, together with the
package and the file inside it that it was made from. For each one this script:

1. loads the source (a PNG, an SVG rendered with `rsvg-convert`, an icon from an Iconify
   JSON set rendered the same way, or a glyph of the Noto Color Emoji font drawn by Pillow);
2. crops it to the drawing (the bounding box of non-transparent pixels) plus a small margin;
3. scales it so that its longest edge is at most 160 px (never enlarging a source that is
   already smaller; SVGs are rendered at 160 px);
4. flattens transparency onto WHITE and saves an RGB PNG as `unseen/<slug>/<source>_<name>.png`.

It also writes `unseen/SOURCES.md` from the same table, so the two cannot drift apart.

Usage (see SOURCES.md for the install commands):

    python unseen/build.py                 # (re)build all images and SOURCES.md
    python unseen/build.py --check         # rebuild in memory and compare with the committed files
    python unseen/build.py --sources-only  # rewrite SOURCES.md only (needs no packages)

`--npm-dir` (or the UNSEEN_NPM_DIR environment variable) names the `node_modules` folder the
npm packages were installed into; the default is /tmp/unseen-npm/node_modules.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
MAX_EDGE = 160
MARGIN = 0.06  # of the longest edge of the cropped drawing, on every side
DEFAULT_NPM_DIR = "/tmp/unseen-npm/node_modules"
NOTO_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
OPENCLIPART = "/usr/share/openclipart/svg"


@dataclass(frozen=True)
class Source:
    """One package that images are taken from."""

    key: str          # file-name prefix, e.g. "google"
    kind: str         # "npm" or "Debian"
    package: str
    version: str      # the version the committed files were built from
    spdx: str         # short licence name for the table
    licence: str
    attribution: str


SOURCES: dict[str, Source] = {s.key: s for s in (
    Source("google", "npm", "emoji-datasource-google", "16.0.0", "Apache-2.0",
           "Apache-2.0 (Noto Emoji artwork; the package's own code is MIT)",
           "Noto Emoji, Copyright Google Inc., Apache License 2.0."),
    Source("twitter", "npm", "emoji-datasource-twitter", "16.0.0", "CC-BY-4.0",
           "CC-BY-4.0 (Twemoji graphics; the package's own code is MIT)",
           "Twemoji by Twitter, Inc. (X Corp) and other contributors, "
           "licensed under CC BY 4.0; cropped, scaled and flattened onto white."),
    Source("openmoji", "npm", "openmoji", "17.0.0", "CC-BY-SA-4.0", "CC-BY-SA-4.0",
           "Emoji designed by OpenMoji, the open-source emoji and icon project. "
           "License: CC BY-SA 4.0; cropped, scaled and flattened onto white. "
           "Share-alike applies: these derived files are likewise CC BY-SA 4.0."),
    Source("fluent", "npm", "fluentui-emoji", "1.3.0", "MIT", "MIT",
           "Fluent Emoji, Copyright (c) Microsoft Corporation, MIT License "
           "(packaged by Mohammad Abu Mattar)."),
    Source("gameicons", "npm", "@iconify-json/game-icons", "1.2.4", "CC-BY-3.0", "CC-BY-3.0",
           "Icon by Delapouite, game-icons.net, licensed under CC BY 3.0; "
           "rendered black on white, cropped and scaled."),
    Source("iconpark", "npm", "@iconify-json/icon-park", "1.2.4", "Apache-2.0", "Apache-2.0",
           "IconPark, Copyright ByteDance, Apache License 2.0."),
    Source("hugeicons", "npm", "@iconify-json/hugeicons", "1.2.35", "MIT", "MIT",
           "Hugeicons, MIT License."),
    Source("phosphor", "npm", "@iconify-json/ph", "1.2.2", "MIT", "MIT",
           "Phosphor Icons, MIT License."),
    Source("noto", "Debian", "fonts-noto-color-emoji", "2.042-0+deb12u1", "OFL-1.1",
           "OFL-1.1 (the font file; Debian's copyright file gives the rest of noto-emoji as Apache-2.0)",
           "Noto Color Emoji, Copyright 2013-2017 Google Inc., SIL Open Font License 1.1."),
    Source("openclipart", "Debian", "openclipart-svg", "1:0.18+dfsg-19", "public domain",
           "Public domain (Creative Commons public domain dedication, per Debian's copyright file)",
           "Open Clip Art Library, public domain dedication; no attribution required."),
)}


@dataclass(frozen=True)
class Item:
    slug: str
    source: str
    name: str   # the part of the output file name after "<source>_"
    inner: str  # the file inside the package (for Iconify sets: "icons.json#<icon>")
    what: str   # what the picture shows, for SOURCES.md


def _emoji(slug: str, code: str, fluent_name: str, what: str, *, noto: bool = False,
           fluent: bool = True) -> list[Item]:
    """The same emoji from each emoji source (Noto font only where asked)."""
    lo = code.lower()
    out = [
        Item(slug, "google", lo, f"img/google/64/{lo}.png", what),
        Item(slug, "twitter", lo, f"img/twitter/64/{lo}.png", what),
        Item(slug, "openmoji", lo, f"color/svg/{code.upper()}.svg", what),
    ]
    if fluent:
        out.append(Item(slug, "fluent", fluent_name.replace("-", "_"), f"icons/flat/{fluent_name}.svg", what))
    if noto:
        out.append(Item(slug, "noto", lo, f"/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf#U+{code.upper()}", what))
    return out


def _icon(slug: str, source: str, icon: str, what: str) -> Item:
    return Item(slug, source, icon.replace("-", "_"), f"icons.json#{icon}", what)


def _clip(slug: str, path: str, name: str, what: str) -> Item:
    return Item(slug, "openclipart", name, f"{OPENCLIPART}/{path}", what)


ITEMS: list[Item] = [
    # 0 T-shirt/top
    *_emoji("tshirt_top", "1F455", "t-shirt", "t-shirt emoji", noto=True),
    _icon("tshirt_top", "gameicons", "t-shirt", "T-shirt silhouette"),
    _icon("tshirt_top", "phosphor", "t-shirt-fill", "T-shirt silhouette"),
    _clip("tshirt_top", "people/clothing/t-shirt_01.svg", "t_shirt_01", "black T-shirt"),
    _clip("tshirt_top", "people/clothing/t-shirt_03.svg", "t_shirt_03", "blue T-shirt"),
    # 1 Trouser
    *_emoji("trouser", "1F456", "jeans", "jeans emoji", noto=True),
    _icon("trouser", "phosphor", "pants-fill", "trousers silhouette"),
    _icon("trouser", "iconpark", "clothes-pants", "trousers outline"),
    _icon("trouser", "hugeicons", "jogger-pants", "jogger trousers outline"),
    # 2 Pullover (no emoji exists for a sweater)
    _icon("pullover", "gameicons", "hoodie", "hooded pullover silhouette"),
    _icon("pullover", "iconpark", "sweater", "sweater, blue fill"),
    _icon("pullover", "iconpark", "clothes-crew-neck", "crew-neck jumper outline"),
    _icon("pullover", "iconpark", "clothes-turtleneck", "turtleneck jumper outline"),
    _icon("pullover", "hugeicons", "jumpers", "jumper outline"),
    _icon("pullover", "hugeicons", "turtle-neck", "turtleneck jumper outline"),
    _icon("pullover", "hugeicons", "hoodie", "hoodie outline"),
    # 3 Dress
    *_emoji("dress", "1F457", "dress", "dress emoji", noto=True),
    _icon("dress", "gameicons", "ample-dress", "dress silhouette"),
    _icon("dress", "phosphor", "dress-fill", "dress silhouette"),
    _clip("dress", "unsorted/vestito_rosa.svg", "vestito_rosa", "pink dress"),
    # 4 Coat
    *_emoji("coat", "1F9E5", "coat", "coat emoji", noto=True),
    _icon("coat", "gameicons", "lab-coat", "long coat silhouette"),
    _icon("coat", "iconpark", "women-coat", "long coat outline"),
    # 5 Sandal
    *_emoji("sandal", "1F461", "womans-sandal", "woman's sandal emoji", noto=True),
    *_emoji("sandal", "1FA74", "thong-sandal", "thong sandal (flip-flop) emoji"),
    _icon("sandal", "hugeicons", "sandals", "pair of flip-flops outline"),
    _clip("sandal", "people/clothing/thongs_01.svg", "thongs_01", "pair of flip-flops"),
    # 6 Shirt
    # (Twemoji's and Fluent's necktie show little more than a tie, so they are left out.)
    *[it for it in _emoji("shirt", "1F454", "necktie", "collared shirt with necktie emoji", noto=True,
                          fluent=False) if it.source != "twitter"],
    _icon("shirt", "phosphor", "shirt-folded-fill", "folded button-up shirt"),
    _clip("shirt", "people/clothing/camicia_in_seta_architet_01.svg", "camicia_in_seta", "button-up silk shirt"),
    # 7 Sneaker
    *_emoji("sneaker", "1F45F", "running-shoe", "running shoe emoji", noto=True),
    _icon("sneaker", "gameicons", "converse-shoe", "canvas sneaker silhouette"),
    _icon("sneaker", "gameicons", "running-shoe", "running shoe silhouette"),
    _icon("sneaker", "phosphor", "sneaker-fill", "sneaker silhouette"),
    _icon("sneaker", "hugeicons", "sneaker", "sneaker outline"),
    _clip("sneaker", "people/clothing/tennis_shoe_jarno_vasama_.svg", "tennis_shoe", "tennis shoe"),
    # 8 Bag
    *_emoji("bag", "1F45C", "handbag", "handbag emoji", noto=True),
    *_emoji("bag", "1F45B", "purse", "purse emoji"),
    # (The clutch-bag emoji U+1F45D is left out: drawn as a pouch, it could be a pencil case.)
    _icon("bag", "gameicons", "beach-bag", "tote bag silhouette"),
    _icon("bag", "phosphor", "handbag-fill", "handbag silhouette"),
    _icon("bag", "iconpark", "handbag", "handbag, blue fill"),
    _icon("bag", "hugeicons", "hand-bag-01", "handbag outline"),
    _clip("bag", "unsorted/borsetta.svg", "borsetta", "handbag line drawing"),
    _clip("bag", "containers/borsa_estiva_architetto__01.svg", "borsa_estiva", "summer tote bag"),
    # 9 Ankle boot
    *_emoji("ankle_boot", "1F97E", "hiking-boot", "hiking boot emoji", noto=True),
    *_emoji("ankle_boot", "1F462", "womans-boot", "woman's boot emoji"),
    _icon("ankle_boot", "phosphor", "boot-fill", "ankle boot silhouette"),
    _clip("ankle_boot", "people/clothing/hiking_boot_jarno_vasama_.svg", "hiking_boot", "hiking boot"),
]


# ----------------------------------------------------------------------------- packages


def npm_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("UNSEEN_NPM_DIR") or DEFAULT_NPM_DIR)


def installed_version(src: Source, npm_root: Path) -> str | None:
    if src.kind == "npm":
        pj = npm_root / src.package / "package.json"
        return json.loads(pj.read_text())["version"] if pj.exists() else None
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", src.package],
                             capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# ----------------------------------------------------------------------------- rendering


def _rsvg(svg: bytes, size: int) -> Image.Image:
    """Render SVG bytes with rsvg-convert so that the longest edge is `size` px (RGBA)."""
    png = subprocess.run(["rsvg-convert", "-w", str(size), "-h", str(size), "--keep-aspect-ratio"],
                         input=svg, capture_output=True, check=True).stdout
    return Image.open(io.BytesIO(png)).convert("RGBA")


def _iconify_svg(json_path: Path, icon: str) -> bytes:
    data = json.loads(json_path.read_text())
    ic = data["icons"][icon]
    w = ic.get("width", data.get("width", 16))
    h = ic.get("height", data.get("height", 16))
    left, top = ic.get("left", data.get("left", 0)), ic.get("top", data.get("top", 0))
    body = ic["body"].replace("currentColor", "#000")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="{left} {top} {w} {h}">{body}</svg>').encode()


def _noto(codepoint: str) -> Image.Image:
    font = ImageFont.truetype(NOTO_FONT, 109)  # 109 px is the font's only bitmap strike
    im = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((20, 20), chr(int(codepoint, 16)), font=font, embedded_color=True)
    return im


def load(item: Item, npm_root: Path) -> Image.Image:
    """The source image as RGBA, before cropping and scaling."""
    src = SOURCES[item.source]
    if item.source == "noto":
        return _noto(item.inner.rsplit("#U+", 1)[1])
    if src.kind == "Debian":
        return _rsvg(Path(item.inner).read_bytes(), 2 * MAX_EDGE)
    base = npm_root / src.package
    if "#" in item.inner:
        rel, icon = item.inner.split("#", 1)
        return _rsvg(_iconify_svg(base / rel, icon), 2 * MAX_EDGE)
    path = base / item.inner
    if path.suffix == ".svg":
        return _rsvg(path.read_bytes(), 2 * MAX_EDGE)
    return Image.open(path).convert("RGBA")


def finish(rgba: Image.Image) -> Image.Image:
    """Crop to the drawing plus a margin, scale to <= MAX_EDGE, flatten onto white -> RGB."""
    bbox = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if bbox:
        rgba = rgba.crop(bbox)
    w, h = rgba.size
    pad = round(MARGIN * max(w, h))
    canvas = Image.new("RGBA", (w + 2 * pad, h + 2 * pad), (255, 255, 255, 0))
    canvas.paste(rgba, (pad, pad))
    longest = max(canvas.size)
    if longest > MAX_EDGE:
        scale = MAX_EDGE / longest
        size = (max(1, round(canvas.width * scale)), max(1, round(canvas.height * scale)))
        canvas = canvas.resize(size, Image.LANCZOS)
    white = Image.new("RGBA", canvas.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, canvas).convert("RGB")


def out_path(item: Item) -> Path:
    return HERE / item.slug / f"{item.source}_{item.name}.png"


def build_one(item: Item, npm_root: Path) -> Image.Image:
    return finish(load(item, npm_root))


# ----------------------------------------------------------------------------- SOURCES.md

HEADER = """\
# Sources of the `unseen/` images

Every image here was made by `unseen/build.py` from a file inside an npm or Debian package;
the table says which. Each was cropped to the drawing, scaled so its longest edge is at most
160 px, flattened onto white and saved as an RGB PNG. They are drawings (emoji and icons), not
photos: the point is a set that looks nothing like Fashion-MNIST.

## Rebuild

```sh
apt-get update
apt-get install -y librsvg2-bin fonts-noto-color-emoji openclipart-svg
mkdir -p /tmp/unseen-npm && cd /tmp/unseen-npm && npm init -y >/dev/null && \\
  npm install --no-audit --no-fund {npm_pins}
cd -   # back to the repository root
.venv/bin/python unseen/build.py           # rebuild images and this file
.venv/bin/python unseen/build.py --check   # or only compare with what is committed
```

Other versions of the packages may change a few pixels; `--check` reports such files.

## Your own photos

Drop your own pictures into `unseen/<slug>/` (`tshirt_top`, `trouser`, `pullover`, `dress`,
`coat`, `sandal`, `shirt`, `sneaker`, `bag`, `ankle_boot`); the folder name is the label.
Files you add are yours: `build.py` never deletes them, and they need no row here as long as
their names do not start with one of the source prefixes below (`google_`, `twitter_`, ...).
`tests/test_unseen_set.py` holds every file with such a prefix to this table and to the
160 px RGB rule; other files need only be images Pillow can open.

## Licences and attribution

{licence_lines}

## Files

| path | class | package | version | file in package | licence | attribution |
| --- | --- | --- | --- | --- | --- | --- |
"""


def sources_md() -> str:
    from edge_app_labels import LABELS, SLUGS  # noqa: PLC0415 (see _import_labels)

    pins = " ".join(f"{s.package}@{s.version}" for s in SOURCES.values() if s.kind == "npm")
    lic = "\n".join(
        f"- **{s.key}** ({s.kind} package `{s.package}` {s.version}): {s.licence}. {s.attribution}"
        for s in SOURCES.values())
    text = HEADER.format(npm_pins=pins, licence_lines=lic)
    counts = {slug: 0 for slug in SLUGS}
    rows = []
    for it in sorted(ITEMS, key=lambda i: (SLUGS.index(i.slug), i.source, i.name)):
        s = SOURCES[it.source]
        rel = out_path(it).relative_to(HERE.parent).as_posix()
        cls = LABELS[SLUGS.index(it.slug)]
        inner = it.inner
        rows.append(f"| `{rel}` | {cls} | {s.package} ({s.kind}) | {s.version} | `{inner}` ({it.what}) "
                    f"| {s.spdx} | {s.attribution} |")
        counts[it.slug] += 1
    text += "\n".join(rows) + "\n"
    text += "\n## Counts\n\n| class | slug | images |\n| --- | --- | --- |\n"
    text += "\n".join(f"| {LABELS[i]} | `{slug}` | {counts[slug]} |" for i, slug in enumerate(SLUGS))
    text += f"\n| **total** | | **{len(ITEMS)}** |\n"
    text += ("\nPullover has no emoji in Unicode, so its images are all icons (game-icons.net, "
             "IconPark, Hugeicons); none of the emoji sets or openclipart-svg has a sweater.\n")
    return text


def _import_labels() -> None:
    """Make `edge_app.labels` importable as `edge_app_labels` without installing the project."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("edge_app_labels", HERE.parent / "edge_app" / "labels.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    sys.modules["edge_app_labels"] = mod


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    ap.add_argument("--sources-only", action="store_true", help="only (re)write SOURCES.md")
    ap.add_argument("--npm-dir", help=f"node_modules with the npm packages (default {DEFAULT_NPM_DIR})")
    args = ap.parse_args(argv)
    _import_labels()
    from edge_app_labels import SLUGS  # noqa: PLC0415

    assert all(it.slug in SLUGS for it in ITEMS)
    names = [out_path(it) for it in ITEMS]
    assert len(set(names)) == len(names), "duplicate output names"

    md_path = HERE / "SOURCES.md"
    md = sources_md()
    if args.sources_only:
        md_path.write_text(md)
        print(f"wrote {md_path}")
        return 0

    root = npm_dir(args.npm_dir)
    problems = 0
    for s in SOURCES.values():
        v = installed_version(s, root)
        if v is None:
            print(f"MISSING {s.kind} package {s.package} (want {s.version})", file=sys.stderr)
            problems += 1
        elif v != s.version:
            print(f"note: {s.package} is {v}, the committed files came from {s.version}", file=sys.stderr)
    if problems:
        print("install the packages first: see the Rebuild section of unseen/SOURCES.md", file=sys.stderr)
        return 2

    if args.check:
        bad = 0
        for it in ITEMS:
            p = out_path(it)
            new = build_one(it, root)
            if not p.exists():
                print(f"missing  {p.relative_to(HERE.parent)}")
                bad += 1
                continue
            old = Image.open(p).convert("RGB")
            if old.size != new.size:
                print(f"size     {p.relative_to(HERE.parent)}: {old.size} != {new.size}")
                bad += 1
                continue
            diff = ImageChops.difference(old, new)
            if diff.getbbox():
                hist = diff.convert("L").histogram()
                mean = sum(i * n for i, n in enumerate(hist)) / (new.width * new.height)
                print(f"pixels   {p.relative_to(HERE.parent)}: mean abs diff {mean:.3f}")
                bad += mean > 1.0
        if md_path.read_text() != md:
            print("SOURCES.md differs from what build.py would write")
            bad += 1
        print(f"{len(ITEMS)} images checked, {bad} problem(s)")
        return 1 if bad else 0

    for it in ITEMS:
        p = out_path(it)
        p.parent.mkdir(parents=True, exist_ok=True)
        build_one(it, root).save(p, optimize=True)
    md_path.write_text(md)
    total = sum(out_path(it).stat().st_size for it in ITEMS)
    print(f"wrote {len(ITEMS)} images ({total / 1024:.0f} KiB) and {md_path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
