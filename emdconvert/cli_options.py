"""Command-line options that ``convert`` and ``watch`` share, defined once.

The size budgets mean the same in a one-off conversion and in the daemon, so both
commands take the same flags with the same help (a daemon user reads the same words).
"""

from __future__ import annotations

from typing import Annotated

import typer

MaxBytes = Annotated[str | None, typer.Option(
    "--max-bytes", help="Refuse inputs whose headers declare more data than this "
                        "(e.g. 500M, 64G, 2T) [default: no limit].",
    show_default=False)]
AllowHighRatio = Annotated[bool, typer.Option(
    "--allow-high-ratio", help="Convert inputs declaring over 1000x their file size "
                               "(refused by default as decompression bombs).")]
