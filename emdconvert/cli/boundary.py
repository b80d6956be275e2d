"""The command line's one error boundary: every failure becomes one line and an exit code.

Library errors (:class:`~emdconvert.errors.EmdConvertError`) carry their exit code;
anything else is a bug, reported as "internal error" with exit 70.  ``--debug`` (or
``EMDCONVERT_DEBUG=1``) adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from emdconvert.errors import EmdConvertError

T = TypeVar("T")

Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]


def fail(message: str, code: int) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    text = " ".join(message.split())
    sys.stderr.write(f"emdconvert: error: {text}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def guarded(debug: bool, subject: Path | None, action: Callable[[], T]) -> T:
    """Run *action* behind the CLI's error boundary."""
    debug = debug or os.environ.get("EMDCONVERT_DEBUG") == "1"
    try:
        return action()
    except EmdConvertError as exc:
        if debug:
            traceback.print_exc()
        text = str(exc) if exc.path is not None or subject is None else f"{subject}: {exc}"
        raise fail(text, exc.exit_code) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        where = f"{subject}: " if subject is not None else ""
        raise fail(
            f"{where}internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for a traceback)",
            70,
        ) from None
