"""Every console script answers --help at once: no TensorFlow, Keras, OpenCV or matplotlib loaded."""

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "cv2", "matplotlib", "albumentations", "ai_edge_litert")


@pytest.mark.parametrize("module", ["train.cli", "export.cli", "edge_app.cli"])
def test_help_is_light(module):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        f"from {module} import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
