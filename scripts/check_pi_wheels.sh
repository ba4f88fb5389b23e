#!/usr/bin/env bash
# Check that every dependency of `fashion-edge[edge]` (base deps + the `edge` extra, read from
# pyproject.toml, and everything they pull in) resolves to a binary wheel for a 64-bit Raspberry Pi
# (Linux aarch64) on each CPython version in PI_PYTHONS. No source builds on the Pi: a package that
# only has an sdist for aarch64 fails this check.
#
#   scripts/check_pi_wheels.sh                      # Python 3.11, 3.12, 3.13; extra "edge"
#   PI_PYTHONS="3.11" PI_EXTRAS="edge gui" scripts/check_pi_wheels.sh
#   PI_MORE="tflite-runtime" scripts/check_pi_wheels.sh   # also check requirements not in pyproject
#
# Prints a table (package × Python version → wheel version and tag) and exits 1 naming each
# requirement/Python version without an aarch64 wheel. Needs the package index (pip download);
# the wheels go to a temporary folder that is removed afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PI_PYTHONS="${PI_PYTHONS:-3.11 3.12 3.13}" PI_EXTRAS="${PI_EXTRAS:-edge}" PI_ROOT="$ROOT"
DEST="$(mktemp -d "${TMPDIR:-/tmp}/pi-wheels.XXXXXX")"
trap 'rm -rf "$DEST"' EXIT
export PI_DEST="$DEST"

exec "$PYTHON" - <<'PY'
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

PLATFORMS = ["manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"]
root, dest = Path(os.environ["PI_ROOT"]), Path(os.environ["PI_DEST"])
pythons = os.environ["PI_PYTHONS"].split()
extras = os.environ["PI_EXTRAS"].split()

project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in extras:
    requirements += project["optional-dependencies"][extra]
requirements += os.environ.get("PI_MORE", "").split()
requirements = list(dict.fromkeys(requirements))  # de-duplicated, in order
direct = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def download(reqs: list[str], version: str, folder: Path) -> subprocess.CompletedProcess:
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
           "--only-binary=:all:", "--implementation", "cp", "--python-version", version,
           *[arg for p in PLATFORMS for arg in ("--platform", p)], "--dest", str(folder), *reqs]
    return subprocess.run(cmd, capture_output=True, text=True)


def last_error(proc: subprocess.CompletedProcess) -> str:
    lines = [l for l in proc.stderr.splitlines() if l.startswith("ERROR")]
    return (lines[0] if lines else proc.stderr.strip().splitlines()[-1:][0] if proc.stderr.strip() else "pip failed")[:160]


print(f"requirements (base + {', '.join(extras)} from pyproject.toml{' + PI_MORE' if os.environ.get('PI_MORE') else ''}): {', '.join(requirements)}")
print(f"platforms: {', '.join(PLATFORMS)}\n")
table: dict[str, dict[str, str]] = {}
failures: list[str] = []
for version in pythons:
    folder = dest / f"cp{version.replace('.', '')}"
    proc = download(requirements, version, folder)
    if proc.returncode != 0:
        # Find which requirement(s) have no aarch64 wheel: resolve each alone.
        for req in requirements:
            single = download([req], version, dest / "single" / version / re.sub(r"\W", "_", req))
            if single.returncode != 0:
                failures.append(f"Python {version}: {req} — {last_error(single)}")
        if not any(f.startswith(f"Python {version}:") for f in failures):
            failures.append(f"Python {version}: the set does not resolve together — {last_error(proc)}")
        continue
    for wheel in sorted(folder.glob("*.whl")):
        name, ver, *_, pytag, abi, plat = wheel.stem.split("-")
        tag = "py3-none-any" if plat == "any" else f"{abi if abi == 'abi3' else pytag} {plat.split('.')[0]}"
        table.setdefault(name.lower().replace("_", "-"), {})[version] = f"{ver} {tag}"

if table:
    width = max(len(n) for n in table) + 2
    col = max([len(c) for row in table.values() for c in row.values()] + [12]) + 2
    print(("package".ljust(width) + "".join(f"Python {v}".ljust(col) for v in pythons)).rstrip())
    for name in sorted(table, key=lambda n: (n not in direct, n)):
        cells = "".join(table[name].get(v, "-").ljust(col) for v in pythons)
        print(f"{name + ('*' if name in direct else '')}".ljust(width) + cells.rstrip())
    print("(* = direct requirement; the rest are pulled in by them)")
if failures:
    print("\nFAIL: no aarch64 wheel for:", file=sys.stderr)
    for f in failures:
        print(f"  {f}", file=sys.stderr)
    sys.exit(1)
print(f"\nOK: every requirement has an aarch64 wheel for Python {', '.join(pythons)}")
PY
