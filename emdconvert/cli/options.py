"""Command-line options that ``convert``, ``preview`` and ``watch`` share, defined once.

The size budgets mean the same in a one-off conversion and in the daemon, so both
commands take the same flags with the same help (a daemon user reads the same words).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emdconvert.errors import EmdConvertError, UsageError

if TYPE_CHECKING:
    from emdconvert.pipeline import Request

MaxBytes = Annotated[
    str | None,
    typer.Option(
        "--max-bytes",
        help="Refuse inputs whose headers declare more data than this "
        "(e.g. 500M, 64G, 2T) [default: no limit].",
        show_default=False,
    ),
]
AllowHighRatio = Annotated[
    bool,
    typer.Option(
        "--allow-high-ratio",
        help="Convert inputs declaring over 1000x their file size "
        "(refused by default as decompression bombs).",
    ),
]

Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document on stdout and nothing else, for programs "
        "(README, JSON output); errors still one line on stderr, same exit codes.",
    ),
]

FollowSymlinks = Annotated[
    bool,
    typer.Option(
        "--follow-symlinks", help="Read an input given as a symbolic link (refused by default)."
    ),
]


def check_plugin_option(flag: str, spec: str | None) -> None:
    """Import, instantiate and validate a ``module:Class`` given to *flag* now, so a bad
    one is a usage error (exit 2) naming it before any input is looked at.  A plain name
    is looked up when the format is chosen, as before."""
    if spec is None or ":" not in spec:
        return
    from emdconvert.registry import default_registry

    try:
        default_registry().resolve(spec)
    except EmdConvertError as exc:
        raise UsageError(f"{flag}: {exc.reason}") from None


def batch_suffix(request: Request) -> str:
    """The extension batch outputs get: ``.emd``, or the first of ``--to``'s format's."""
    from emdconvert.registry import default_registry

    target_plugin = request.target_plugin
    if target_plugin is None:
        return ".emd"
    return default_registry().resolve(target_plugin).extensions[0]


def single_pair(paths: list[Path]) -> tuple[Path, Path]:
    """``IN OUT`` of a one-file conversion; any other count is a usage error."""
    if len(paths) != 2:
        raise UsageError(
            f"expected IN OUT, got {len(paths)} path(s); use --out-dir DIR to "
            "convert several inputs"
        )
    return paths[0], paths[1]


def batch_pairs(
    paths: list[Path], out_dir: Path, request: Request, *, recursive: bool
) -> list[tuple[Path, Path]]:
    """Batch mode's (source, output) plan, or the error that stops it before any work
    (text and ``--json`` share it, so they refuse the same things the same way)."""
    from emdconvert.batch import plan
    from emdconvert.errors import EnvironmentProblem, InputError

    if not out_dir.is_dir():
        raise EnvironmentProblem("output folder does not exist", path=out_dir)
    pairs = plan(paths, out_dir, recursive=recursive, suffix=batch_suffix(request))
    if not pairs:
        raise InputError("no convertible files among the inputs")
    return pairs
