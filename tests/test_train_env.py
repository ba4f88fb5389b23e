"""train/__init__.py: TensorFlow's settings are made before anything imports it, and a user's own win."""

import os
import platform
import subprocess
import sys

import pytest

SHOW = "import os, {pkg}; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"


def _show(pkg: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
    out = subprocess.run([sys.executable, "-c", SHOW.format(pkg=pkg)], env={**clean, **env}, capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize("pkg", ["train", "export"])
def test_onednn_kernels_are_asked_for_on_x86_and_the_log_level_set(pkg):
    onednn, level = _show(pkg)
    assert level == "2"
    assert onednn == ("1" if platform.machine().lower() in ("x86_64", "amd64") else "None")


def test_a_users_own_setting_wins():
    assert _show("train", TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="0") == ["0", "0"]
