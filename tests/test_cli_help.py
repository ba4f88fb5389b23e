"""Every command of the three CLIs answers --help: its options listed, help text printed as written, every
default taken from the stage's dataclass, and nothing heavy (TensorFlow, Keras, OpenCV, matplotlib) loaded."""

from __future__ import annotations

import dataclasses
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

HEAVY = ("tensorflow", "keras", "cv2", "matplotlib", "albumentations", "ai_edge_litert")
COMMANDS = {  # module → every command (None: the app itself)
    "train.cli": [None, "fit", "compare", "speed", "models"],
    "export.cli": [None, "convert", "check", "all", "robustness", "pick-default", "bench"],
    "edge_app.cli": [None, "run", "info", "bench", "profile", "service"],
}
# What each help must say (whitespace-normalised): the commands, the options, text with brackets kept as written.
HELP = [
    ("train.cli", None, ["fit", "compare", "speed", "models", "--version", "--verbose"]),
    ("train.cli", "fit", ["--model", "--epochs", "--batch-size", "--seed", "--out", "--limit", "--data-dir",
                          "--validate-on-test", "--early-stopping", "--strategy", "--resume", "--batch-norm", "--quiet",
                          "[default: the model's own, 10 for the study's]"]),
    ("train.cli", "compare", ["runs", "[default: runs]"]),
    ("train.cli", "speed", ["--model", "--epochs", "--batch-size", "--limit", "--compare", "--rounds", "--steps"]),
    ("train.cli", "models", ["List the registry."]),
    ("export.cli", None, ["convert", "check", "all", "robustness", "pick-default", "bench", "--verbose"]),
    ("export.cli", "convert", ["--variant", "float32 | float16 | dynamic | int8 | all", "--calibration", "--io", "--logits",
                               "--first-conv", "--seed", "--preprocess", "--out", "--data-dir"]),
    ("export.cli", "check", ["--reference", "--unseen", "--max-drift", "--limit", "--threads"]),
    ("export.cli", "all", ["--strict", "--max-drift", "--unseen", "--first-conv"]),
    ("export.cli", "robustness", ["--real-dir", "--modes", "--limit", "--casual", "--empty-dir", "--rendered"]),
    ("export.cli", "pick-default", ["--prefer", "--max-drift", "--force",
                                    "[default: the installed edge_app/models/default.tflite]"]),
    ("export.cli", "bench", ["--threads", "--floor", "--floor-variant", "--per-layer", "--iterations", "--rounds"]),
    ("edge_app.cli", None, ["run", "info", "bench", "profile", "service", "--version"]),
    ("edge_app.cli", "run", ["--source", "--model", "--top-k", "--threshold", "--smooth", "--roi", "--serve", "--host",
                             "--jsonl", "--csv", "--save-dir", "--loop", "fashion-edge[gui]", "143 SIGTERM"]),
    ("edge_app.cli", "info", ["--json"]),
    ("edge_app.cli", "bench", ["--frames", "--folder", "--threads"]),
    ("edge_app.cli", "profile", ["--batch", "--threads", "--rounds", "--out"]),
    ("edge_app.cli", "service", ["--user", "--name", "journalctl"]),
]


def _app(module: str) -> typer.Typer:
    return importlib.import_module(module).app


@pytest.mark.parametrize("module, command, expected", HELP, ids=[f"{m.split('.')[0]}-{c or 'app'}" for m, c, _ in HELP])
def test_help(module, command, expected):
    result = CliRunner().invoke(_app(module), [*([command] if command else []), "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    missing = [e for e in expected if e not in text]
    assert not missing, f"{missing} not in: {text}"


def test_every_command_has_a_help_case():
    assert {(m, c) for m, c, _ in HELP} == {(m, c) for m, commands in COMMANDS.items() for c in commands}


def _defaults(module: str, command: str) -> dict:
    """{parameter name: default} of a command, as click sees it."""
    click_command = typer.main.get_command(_app(module)).commands[command]
    return {p.name: p.default for p in click_command.params}


def _config(module: str, name: str):
    return getattr(importlib.import_module(module), name)()


# command → (the dataclass its defaults come from, {CLI parameter: dataclass field} where the names differ)
DEFAULTS = [
    ("train.cli", "fit", "train.config", "TrainConfig", {}),
    ("export.cli", "convert", "export.config", "ExportConfig", {}),
    ("export.cli", "all", "export.config", "ExportConfig", {}),
    ("export.cli", "check", "export.config", "EvalConfig", {"limit": "test_limit"}),
    ("export.cli", "robustness", "export.config", "RobustnessConfig", {}),
    ("export.cli", "bench", "export.config", "BenchConfig", {}),
    ("export.cli", "pick-default", "export.config", "PickConfig", {}),
    ("edge_app.cli", "run", "edge_app.runner", "RunOptions", {"summary_file": "summary"}),
    ("edge_app.cli", "bench", "edge_app.bench", "BenchOptions", {}),
    ("edge_app.cli", "profile", "edge_app.profile", "ProfileOptions", {"batch": "batches"}),
]


def _same(cli_value, field_value) -> bool:
    """A CLI default stands for a dataclass default: the same value, path, or comma-separated list."""
    if isinstance(field_value, tuple):
        return cli_value == ",".join(map(str, field_value))
    if isinstance(cli_value, Path):
        return field_value is not None and cli_value == Path(field_value)
    return cli_value == field_value


@pytest.mark.parametrize("module, command, config_module, config, renamed", DEFAULTS,
                         ids=[f"{m.split('.')[0]}-{c}" for m, c, *_ in DEFAULTS])
def test_cli_defaults_come_from_the_stages_dataclass(module, command, config_module, config, renamed):
    defaults = _config(config_module, config)
    fields = {f.name for f in dataclasses.fields(defaults)}
    shared = {p: renamed.get(p, p) for p in _defaults(module, command) if renamed.get(p, p) in fields}
    assert len(shared) >= 3, shared  # the command really mirrors the dataclass
    wrong = {p: (v, getattr(defaults, shared[p])) for p, v in _defaults(module, command).items()
             if p in shared and v is not None and not _same(v, getattr(defaults, shared[p]))}
    assert not wrong, wrong


def test_the_evaluation_defaults_are_defined_once():
    """max_drift, unseen and the corruption limit: one value in EvalConfig, the same in every command using them."""
    from export.config import EvalConfig

    evaluation = EvalConfig()
    for command, name, field in (("check", "max_drift", "max_drift"), ("all", "max_drift", "max_drift"),
                                 ("pick-default", "max_drift", "max_drift"), ("check", "unseen", "unseen"),
                                 ("all", "unseen", "unseen"), ("robustness", "unseen", "unseen"), ("bench", "unseen", "unseen"),
                                 ("robustness", "limit", "corruption_limit"), ("bench", "limit", "corruption_limit")):
        assert _same(_defaults("export.cli", command)[name], getattr(evaluation, field)), (command, name)


@pytest.mark.parametrize("module", list(COMMANDS))
def test_help_is_light(module):
    """Every --help of a CLI (and `fashion-train models`) in a fresh interpreter: no heavy library imported."""
    argv = [[c, "--help"] if c else ["--help"] for c in COMMANDS[module]] + ([["models"]] if module == "train.cli" else [])
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        f"from {module} import app\n"
        f"for argv in {argv!r}:\n"
        "    result = CliRunner().invoke(app, argv)\n"
        "    assert result.exit_code == 0, (argv, result.output)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("script, command", [("fashion-train", "fit"), ("fashion-export", "convert"), ("fashion-edge", "run")])
def test_console_script_help(script, command):
    path = Path(sys.executable).with_name(script)
    found = str(path) if path.exists() else shutil.which(script)
    if not found:
        pytest.skip(f"{script} console script not installed")
    result = subprocess.run([found, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and command in result.stdout, result.stderr
