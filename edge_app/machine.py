"""The machine a figure was measured on: CPU, cores, load, and package versions (standard library only)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

PACKAGES = ("tensorflow", "keras", "numpy", "ai-edge-litert", "tflite-runtime", "pillow", "opencv-python-headless")


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                cpu = value.strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": affinity, "arch": platform.machine(),
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "load_avg_1m": load}  # at the start: timings on a busy machine are not comparable


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
