"""How every CLI reports a failure: one clear line on stderr and a non-zero exit; the traceback
only with `--debug`. Shared by `fashion-train`, `fashion-export` and `fashion-edge`.

    >>> with cli_errors(debug=False):
    ...     do_the_work()
"""

from __future__ import annotations

import sys
import traceback
from contextlib import contextmanager

import typer


def one_line(exc: BaseException) -> str:
    """A short, single-line description of an exception (KeyError's quotes dropped)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = " ".join(str(text).split()) or type(exc).__name__
    return text


@contextmanager
def cli_errors(debug: bool = False):
    """Turn any exception into `error: <one line>` and exit 1 (Ctrl-C: exit 130)."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: everything becomes one line
        if debug:
            traceback.print_exc()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        raise typer.Exit(1) from None
