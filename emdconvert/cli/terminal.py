"""Terminal feedback for the CLI: a progress bar that appears only when worth it.

A bar for a conversion that takes 0.1 s is noise, and bars in log files are garbage, so
the bar shows only on a terminal, only with ``--quiet`` off, and only once a conversion
has run for :data:`DELAY` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

#: Seconds a conversion runs before its progress bar appears.
DELAY = 1.0


@contextlib.contextmanager
def progress_bar(label: str, *, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a ``progress(done, total)`` callback (or None when the bar is off)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    started = time.monotonic()
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            if time.monotonic() - started < DELAY:
                return
            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total)
        state["bar"].update(state["task"], completed=done, total=total)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()


class _WarningBuffer(logging.Handler):
    """Keeps warning messages, each once, until the command knows how it ended."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: dict[str, None] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[" ".join(record.getMessage().split())] = None


@contextlib.contextmanager
def warnings_unless_failed(*, debug: bool) -> Iterator[None]:
    """Print the library's warnings (one line each) only if the block succeeds.

    A failed conversion says exactly one line, the error (README, Safety rules R8):
    tifffile's complaints about the very damage the error reports would only
    bury it.  With ``--debug`` they are printed either way.
    """
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    buffer = _WarningBuffer()
    root.handlers, succeeded = [buffer], False
    root.setLevel(logging.WARNING)
    try:
        yield
        succeeded = True
    except BaseException as stop:  # the CLI ends a command by raising typer.Exit(code)
        succeeded = getattr(stop, "exit_code", None) == 0
        raise
    finally:
        root.handlers = saved
        root.setLevel(level)
        if succeeded or debug:
            for message in buffer.messages:
                sys.stderr.write(f"emdconvert: warning: {message}\n")
