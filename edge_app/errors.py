"""How every CLI reports a failure: one clear line on stderr and a non-zero exit; the traceback
only with `--debug`. Shared by `fashion-train`, `fashion-export` and `fashion-edge`, with the habits
users expect of all three: `--version`, exit 130 on Ctrl-C, a quiet end when `| head` closes the pipe.

    >>> with cli_errors(debug=False):
    ...     do_the_work()
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from contextlib import contextmanager

import typer

from edge_app.quiet import hush_native_logs

EXIT_INTERRUPTED = 130  # Ctrl-C, the shell's convention (128 + SIGINT), in every command


def one_line(exc: BaseException) -> str:
    """A short, single-line description of an exception (KeyError's quotes dropped)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = " ".join(str(text).split()) or type(exc).__name__
    return text


@contextmanager
def cli_errors(debug: bool = False, redact: Callable[[str], str] = lambda text: text):
    """Turn any exception into `error: <one line>` and exit 1 (Ctrl-C: exit 130; a closed stdout,
    as under `| head`: exit 0 quietly). `redact` scrubs secrets (a stream's password) from the line."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        stdout_closed()
        raise typer.Exit(0) from None
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: everything becomes one line
        if debug:
            traceback.print_exc()
        print(f"error: {redact(one_line(exc))}", file=sys.stderr)
        raise typer.Exit(1) from None


def at_least(value: float | None, least: float, flag: str) -> None:
    """ValueError naming the option `flag` when `value` is given and below `least`."""
    if value is not None and value < least:
        raise ValueError(f"{flag} must be ≥ {least:g}, got {value:g}")


def stdout_closed() -> None:
    """The reader of stdout went away (`| head`): point stdout at /dev/null, so the interpreter's
    final flush does not print "Broken pipe" (the Python documentation's recipe for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def package_version() -> str:
    """This toolkit's installed version (the `fashion-edge` distribution), or "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fashion-edge")
    except PackageNotFoundError:
        return "unknown (not installed; run from a checkout)"


def version_option(program: str):
    """A `--version` option for a Typer callback: prints "<program> <version>" and exits 0."""
    def show(value: bool) -> None:
        if value:
            typer.echo(f"{program} {package_version()}")
            raise typer.Exit(0)

    return typer.Option(False, "--version", callback=show, is_eager=True, help="print the version and exit")


def tensorflow_cli(app: typer.Typer, program: str) -> None:
    """Give a TensorFlow-side CLI (`fashion-train`, `fashion-export`) its `--version` and `--verbose`,
    and quiet TensorFlow's start-up logging before any command imports it."""

    @app.callback()
    def _options(
        version: bool = version_option(program),
        verbose: bool = typer.Option(False, "--verbose", help="also show TensorFlow's own log lines (CUDA, oneDNN)"),
    ) -> None:
        hush_native_logs(verbose)  # before TensorFlow is imported
