"""The machine a figure was measured on: CPU, its instruction sets, cores, load, and package versions (standard library only)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

PACKAGES = ("tensorflow", "keras", "numpy", "ai-edge-litert", "tflite-runtime", "pillow", "opencv-python-headless")

# The instruction sets XNNPACK's float and int8 kernels are chosen by, as /proc/cpuinfo spells them
# (x86 "flags", ARM "Features"): a per-CPU figure means little without them.
ISA_FLAGS = {
    "x86_64": ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8"),
    "aarch64": ("asimd", "asimdhp", "asimddp", "i8mm", "sve", "sve2", "bf16"),  # asimddp: NEON dot product (SDOT)
}
ISA_FLAGS["AMD64"] = ISA_FLAGS["x86_64"]
ISA_FLAGS["arm64"] = ISA_FLAGS["aarch64"]
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72",
             "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77",
             "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710",
             "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2"}


def cpu_facts(cpuinfo: str | None = None, arch: str | None = None) -> dict:
    """{"cpu": model name, "isa": {flag: present} for this architecture's `ISA_FLAGS`} from /proc/cpuinfo text.

    ARM: the model is the board ("Model", e.g. a Raspberry Pi) or the core ("CPU part", e.g. Cortex-A76).
    Without /proc/cpuinfo (macOS, Windows) the ISA is {} — unknown, not absent.
    """
    arch = arch or platform.machine()
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if value and key not in fields:  # the first core's entry
            fields[key] = value
    part = ARM_PARTS.get(fields.get("CPU part", "").lower())
    cpu = fields.get("model name") or fields.get("Model") or fields.get("Hardware") or part or platform.processor() or arch
    if part and part not in cpu:
        cpu = f"{cpu} ({part})"
    present = set((fields.get("flags") or fields.get("Features") or "").split())
    isa = {flag: flag in present for flag in ISA_FLAGS.get(arch, ())} if present else {}
    return {"cpu": cpu, "isa": isa}


def machine_info() -> dict:
    facts = cpu_facts()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return {"cpu": facts["cpu"], "isa": facts["isa"], "cores": os.cpu_count(), "usable_cores": affinity, "arch": platform.machine(),
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "load_avg_1m": load}  # at the start: timings on a busy machine are not comparable


def isa_summary(machine: dict) -> str:
    """'avx2, avx512_vnni, amx_int8 (no avx_vnni)'-style line of a `machine_info` dict's ISA flags."""
    isa = machine.get("isa") or {}
    if not isa:
        return "instruction sets unknown"
    have = [k for k, v in isa.items() if v]
    lack = [k for k, v in isa.items() if not v]
    return ", ".join(have) + (f" (no {', '.join(lack)})" if lack else "") if have else f"none of {', '.join(lack)}"


def package_versions(names=PACKAGES) -> dict[str, str]:
    """Installed versions (from package metadata; nothing is imported), absent packages left out."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
