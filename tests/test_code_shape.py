"""The shape of the three packages, read with `ast`: short functions, no reaching into another module's
private names, and imports between siblings at module level unless a heavy library must stay out."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edge_app", "train", "export")
MAX_LINES = 70  # a function's body, its docstring excluded
# Modules whose functions import a sibling lazily, and why (every other import between our modules is at the top).
LAZY_ALLOWED = {
    "export/cli.py": "the commands import TensorFlow and albumentations; --help must not",
    "train/cli.py": "fit, compare and speed import TensorFlow and matplotlib; --help must not",
    "train/fit.py": "train.callbacks subclasses Keras callbacks: importing it loads Keras",
    "train/feed.py": "train.augment's tf.data pieces are needed only with TensorFlow running",
    "edge_app/contract.py": "a contract is read with the standard library alone (`fashion-edge info`)",
}


def _modules():
    return sorted(p for package in PACKAGES for p in (ROOT / package).glob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@functools.cache
def _trees() -> tuple:
    return tuple((_name(p), ast.parse(p.read_text(), filename=str(p))) for p in _modules())


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)
    if docstring and len(body) == 1:
        return 0
    return node.end_lineno - (body[1] if docstring else body[0]).lineno + 1


def _ours(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in PACKAGES


def test_no_function_is_longer_than_the_limit():
    long = [f"{name}:{node.lineno} {node.name}() {_body_lines(node)} lines"
            for name, tree in _trees() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_LINES]
    assert not long, long


def test_no_module_imports_another_modules_private_name():
    private = [f"{name}:{node.lineno} from {node.module} import {alias.name}"
               for name, tree in _trees() for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and _ours(node.module)
               for alias in node.names if alias.name.startswith("_")]
    assert not private, private


def test_siblings_are_imported_at_module_level():
    lazy = sorted({name for name, tree in _trees() for func in ast.walk(tree)
                   if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for node in ast.walk(func) if isinstance(node, ast.ImportFrom) and _ours(node.module)})
    assert set(lazy) <= set(LAZY_ALLOWED), sorted(set(lazy) - set(LAZY_ALLOWED))


def test_the_edge_app_imports_neither_train_nor_export_nor_tensorflow():
    """The dependency direction: edge_app ← train ← export (the subprocess tests prove it at run time)."""
    banned = ("train", "export", "tensorflow", "keras")
    wrong = [f"{name}:{node.lineno}" for name, tree in _trees() if name.startswith("edge_app/")
             for node in ast.walk(tree)
             if (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in banned)
             or (isinstance(node, ast.Import) and any(a.name.split(".")[0] in banned for a in node.names))]
    assert not wrong, wrong


def test_the_checks_see_every_module():
    names = {name for name, _ in _trees()}
    assert {"edge_app/runner.py", "train/fit.py", "export/bench.py"} <= names
    assert set(LAZY_ALLOWED) <= names  # no stale entry
