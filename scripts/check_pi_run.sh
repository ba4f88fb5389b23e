#!/usr/bin/env bash
# Run the edge app in an emulated 64-bit Raspberry Pi OS and compare it with this machine.
#
#   scripts/check_pi_run.sh            # `make check-pi-run`; CI runs it after the test suite
#   PI_ROOT_DIR=/somewhere scripts/check_pi_run.sh
#
# The emulated system is what Raspberry Pi OS (Bookworm, 64-bit) is built on: Debian Bookworm arm64,
# Python 3.11, glibc 2.36, made with `debootstrap --arch=arm64` and run through qemu-user-static. Inside
# it, the README's Pi recipe (docs/pi.md) runs as a user would type it: a venv with
# --system-site-packages over Debian's NumPy 1 (and python3-bottleneck, a Debian module built against
# NumPy 1, standing in for picamera2's simplejpeg), `pip install -c pi-constraints.txt ".[edge]"` from
# prebuilt wheels only, no TensorFlow. Then `--help`, `info`, `run` on unseen/ and tests/golden/, and
# `bench`; labels must be identical to this machine's and every score within 2 output steps (2/256).
#
# Where the machine cannot emulate (not root, not x86-64, no debootstrap/qemu, binfmt_misc not
# mountable, no Debian mirror in apt's configuration, debootstrap cannot fetch the root) it says so in
# one line and exits 0; where it can, a failed install or a disagreement exits 1. The root is kept in PI_ROOT_DIR (default /var/cache/fashion-edge/pi-root) and
# reused while its recipe (the packages below) is unchanged: ~8 min from nothing, ~3 min reused.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PI_ROOT_DIR="${PI_ROOT_DIR:-/var/cache/fashion-edge/pi-root}"
SUITE=bookworm
PACKAGES="python3,python3-venv,python3-pip,ca-certificates,python3-numpy,python3-bottleneck"
RECIPE="$SUITE arm64 minbase $PACKAGES"  # a root made with another recipe is rebuilt
HOST_PY="${PYTHON:-$ROOT/.venv/bin/python}"
HOST_EDGE="$(dirname "$HOST_PY")/fashion-edge"  # the x86 reference: the same venv's app
QEMU_CPU="${QEMU_CPU:-cortex-a72}"  # Pi 4; cortex-a76 for a Pi 5
export QEMU_CPU

skip() { echo "check-pi-run: skipped — $*"; exit 0; }
fail() { echo "check-pi-run: FAIL — $*" >&2; exit 1; }
step() { echo "check-pi-run: $*"; }

# --- can this machine emulate? ---------------------------------------------------------------
[[ "$(id -u)" == 0 ]] || skip "needs root (debootstrap, chroot, mounts)"
[[ "$(uname -m)" == x86_64 ]] || skip "emulation is set up for an x86-64 host, this is $(uname -m)"
command -v debootstrap >/dev/null || skip "no debootstrap (apt-get install debootstrap qemu-user-static binfmt-support)"
command -v qemu-aarch64-static >/dev/null || skip "no qemu-aarch64-static (apt-get install qemu-user-static binfmt-support)"
[[ -x "$HOST_PY" && -x "$HOST_EDGE" ]] || skip "no $HOST_EDGE for the x86 reference (run make venv first)"
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || skip "binfmt_misc cannot be mounted here"
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
    command -v update-binfmts >/dev/null && update-binfmts --enable qemu-aarch64 2>/dev/null || true
fi
grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || skip "binfmt_misc has no enabled qemu-aarch64 handler"

# The Debian mirror apt already uses (never a host name written here): the first non-security
# source in deb822 (.sources) or one-line (.list) form.
mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] && awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] && awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i !~ /security/) {print $i; exit}}' "$f"
    done
    return 0
}
MIRROR="$(mirror)"
MIRROR="${MIRROR%%$'\n'*}"
[[ -n "$MIRROR" ]] || skip "no Debian mirror in apt's configuration"

# --- the emulated root (built once, kept) ----------------------------------------------------
if [[ ! -f "$PI_ROOT_DIR/.recipe" || "$(cat "$PI_ROOT_DIR/.recipe")" != "$RECIPE" ]]; then
    step "building the emulated root in $PI_ROOT_DIR (debootstrap $SUITE arm64, several minutes)"
    rm -rf "$PI_ROOT_DIR.new"
    mkdir -p "$(dirname "$PI_ROOT_DIR")"
    if ! debootstrap --arch=arm64 --variant=minbase --include="$PACKAGES" "$SUITE" "$PI_ROOT_DIR.new" "$MIRROR" \
            > "$PI_ROOT_DIR.log" 2>&1; then
        tail -n 3 "$PI_ROOT_DIR.log" >&2
        rm -rf "$PI_ROOT_DIR.new"
        skip "debootstrap could not build the arm64 root from apt's mirror (log: $PI_ROOT_DIR.log)"
    fi
    echo "$RECIPE" > "$PI_ROOT_DIR.new/.recipe"
    rm -rf "$PI_ROOT_DIR"
    mv "$PI_ROOT_DIR.new" "$PI_ROOT_DIR"
else
    step "reusing the emulated root in $PI_ROOT_DIR"
fi
R="$PI_ROOT_DIR"

# --- mounts, network and pip's configuration inside it ---------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pi-run.XXXXXX")"
MOUNTS=()
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
mount -t proc proc "$R/proc"; MOUNTS+=("$R/proc")
mount --bind /dev "$R/dev"; MOUNTS+=("$R/dev")
# LiteRT reads the CPU list from /sys; without it XNNPACK falls back to generic kernels whose int8
# rounding differs from a Pi's (up to 5 output steps, where with it the outputs match this machine's).
mount --bind /sys "$R/sys"; MOUNTS+=("$R/sys")
# qemu passes the host's x86 /proc/cpuinfo through, and LiteRT's CPU detection crashes parsing it; a
# Raspberry Pi 4's (with this machine's core count) takes its place. A real Pi needs nothing of this.
"$HOST_PY" - "$WORK/cpuinfo" "$(nproc)" <<'PY'
import sys
core = ("processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n")
pi = "Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n"
open(sys.argv[1], "w").write("".join(core.format(n=n) for n in range(int(sys.argv[2]))) + pi)
PY
mount --bind "$WORK/cpuinfo" "$R/proc/cpuinfo"; MOUNTS+=("$R/proc/cpuinfo")  # unmounted first
cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
[[ -f /etc/ssl/certs/ca-certificates.crt ]] && cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/host-ca.crt"
[[ -f /etc/pip.conf ]] && cp /etc/pip.conf "$R/etc/pip.conf"
PIP_ENV=(PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1)
[[ -f "$R/etc/ssl/certs/host-ca.crt" ]] && PIP_ENV+=(PIP_CERT=/etc/ssl/certs/host-ca.crt)
for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_DEFAULT_TIMEOUT HTTPS_PROXY HTTP_PROXY https_proxy http_proxy NO_PROXY no_proxy; do
    [[ -n "${!v:-}" ]] && PIP_ENV+=("$v=${!v}")
done

# The working tree as git sees it (tracked and untracked-but-not-ignored files), fresh each run.
rm -rf "$R/opt/fashion-edge" "$R/tmp/pi-run"
mkdir -p "$R/opt/fashion-edge/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r \
    sh -c 'for f in "$@"; do [ -e "$f" ] && printf "%s\0" "$f"; done' _ | tar --null -T - -cf -) \
    | tar -xf - -C "$R/opt/fashion-edge/src"

pi() {  # run a command in the emulated Pi, in the project folder, with the venv first on PATH
    chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/opt/fashion-edge/venv/bin:/usr/bin:/bin \
        QEMU_CPU="$QEMU_CPU" "${PIP_ENV[@]}" /bin/sh -c "cd /opt/fashion-edge/src && $1"
}

# --- the README's Pi recipe, as a user types it ----------------------------------------------
step "installing .[edge] into a venv with --system-site-packages (emulated $QEMU_CPU, Python $(pi 'python3 -c "import platform; print(platform.python_version())"'))"
pi "python3 -m venv --system-site-packages /opt/fashion-edge/venv"
if ! pi "pip install -c pi-constraints.txt '.[edge]'" > "$WORK/pip.log" 2>&1 \
        && ! { step "pip failed once; retrying (a dropped download)"; pi "pip install -c pi-constraints.txt '.[edge]'" > "$WORK/pip.log" 2>&1; }; then
    tail -n 5 "$WORK/pip.log" >&2
    fail "pip install -c pi-constraints.txt '.[edge]' failed in the emulated Pi"
fi
built="$(grep -o 'Building wheel for [^ ]*' "$WORK/pip.log" | awk '{print $4}' | grep -v '^fashion-edge$' || true)"
[[ -z "$built" ]] || fail "built from source in the emulated Pi (no aarch64 wheel): $(echo $built)"
pi "python - <<'PY'
import importlib.util, sys
import numpy, bottleneck, edge_app.runtime, edge_app.preprocess
assert importlib.util.find_spec('tensorflow') is None, 'TensorFlow is installed'
assert numpy.__file__.startswith('/usr/lib/python3/dist-packages/'), f'NumPy is not Debian\'s: {numpy.__file__}'
assert numpy.__version__.startswith('1.'), numpy.__version__
bottleneck.nanmean(numpy.arange(3.0))  # a Debian module built against NumPy 1 still works beside the app
print(f'check-pi-run: NumPy {numpy.__version__} (Debian\'s) and python3-bottleneck import beside the app; no TensorFlow')
PY"

# --- the same commands here and there --------------------------------------------------------
# Folders are named relative to the project on both sides, so that results match by name.
pi "fashion-edge --help" > /dev/null
pi "fashion-edge info" > "$WORK/info.txt"
here() { (cd "$ROOT" && "$@"); }
mkdir -p "$R/tmp/pi-run"
for src in unseen tests/golden; do
    tag="${src//\//-}"
    here "$HOST_EDGE" run --source "$src" --top-k 10 --quiet --jsonl "$WORK/x86-$tag.jsonl" > /dev/null 2>&1 \
        || fail "the x86 reference run on $src failed"
    pi "fashion-edge run --source $src --top-k 10 --quiet --jsonl /tmp/pi-run/arm-$tag.jsonl" > /dev/null 2>&1 \
        || fail "fashion-edge run --source $src failed in the emulated Pi"
done
here "$HOST_PY" scripts/pi_compare.py inputs "$WORK/inputs-x86.npz" unseen tests/golden 2>/dev/null
here "$HOST_PY" scripts/pi_compare.py outputs "$WORK/inputs-x86.npz" "$WORK/model-x86.npz" 2>/dev/null
cp "$WORK/inputs-x86.npz" "$R/tmp/pi-run/"
pi "python scripts/pi_compare.py inputs /tmp/pi-run/inputs-arm.npz unseen tests/golden" 2>/dev/null
pi "python scripts/pi_compare.py outputs /tmp/pi-run/inputs-x86.npz /tmp/pi-run/model-arm.npz" 2>/dev/null
# The model alone on a Pi 5's core too (SDOT int8 kernels): a few seconds.
QEMU_CPU=cortex-a76 pi "python scripts/pi_compare.py outputs /tmp/pi-run/inputs-x86.npz /tmp/pi-run/model-arm-a76.npz" 2>/dev/null
cp "$R"/tmp/pi-run/arm-*.jsonl "$R"/tmp/pi-run/*-arm*.npz "$WORK/"
pi "fashion-edge bench --frames 30" > "$WORK/bench.txt" 2>&1 || fail "fashion-edge bench failed in the emulated Pi"
step "bench (emulated: says it runs, not how fast a Pi is):$(grep -m1 -i 'total' "$WORK/bench.txt" | tr -s ' ' || true)"
"$HOST_PY" "$ROOT/scripts/pi_compare.py" compare "$WORK"
