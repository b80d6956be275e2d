"""Command-line options that ``convert``, ``preview`` and ``watch`` share, defined once.

The size budgets mean the same in a one-off conversion and in the daemon, so both
commands take the same flags with the same help (a daemon user reads the same words).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emdconvert.errors import EmdConvertError, UsageError

if TYPE_CHECKING:
    from emdconvert.pipeline import Request
    from emdconvert.plugin import FormatPlugin

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
        help="The same as --max-ratio none.",
    ),
]
MaxRatio = Annotated[
    str | None,
    typer.Option(
        "--max-ratio",
        metavar="RATIO",
        help="Refuse inputs declaring more than RATIO times their file size (above "
        "1 GiB) as decompression bombs; none lifts the limit [default: 1000].",
        show_default=False,
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


def batch_writer(request: Request) -> FormatPlugin:
    """The plugin batch outputs are written with: ``--to``'s, else the EMD writer."""
    from emdconvert.detect import choose_writer

    return choose_writer(Path("output.emd"), request.target_plugin)


def single_pair(
    paths: list[Path], *, skip_existing: bool = False, keep_ext: bool = False
) -> tuple[Path, Path]:
    """``IN OUT`` of a one-file conversion; any other count is a usage error, and so
    are the batch-only flags (ignoring them would make a different promise)."""
    for flag, given in (("--skip-existing", skip_existing), ("--keep-ext", keep_ext)):
        if given:
            raise UsageError(f"{flag} is for batch mode: use it with --out-dir DIR")
    if len(paths) != 2:
        raise UsageError(
            f"expected IN OUT, got {len(paths)} path(s); use --out-dir DIR to "
            "convert several inputs"
        )
    return paths[0], paths[1]


def batch_pairs(
    paths: list[Path],
    out_dir: Path,
    request: Request,
    *,
    recursive: bool,
    keep_ext: bool = False,
    skip_existing: bool = False,
) -> list[tuple[Path, Path]]:
    """Batch mode's (source, output) plan, or the error that stops it before any work
    (text and ``--json`` share it, so they refuse the same things the same way).

    Each name collision the plan resolved is one ``emdconvert: note:`` line on stderr,
    here, once, even with ``--quiet`` or ``--json``: output names that differ from the
    usual ``scan.emd`` need saying before anyone looks for them.  *out_dir* is not
    created here (the conversions create it), so a refused plan leaves nothing behind.
    """
    from emdconvert.batch import plan_outputs
    from emdconvert.errors import EnvironmentProblem, InputError

    if out_dir.exists() and not out_dir.is_dir():
        raise EnvironmentProblem("the output folder is not a folder", path=out_dir)
    writer = batch_writer(request)
    if skip_existing and not writer.keeps_provenance:
        raise UsageError(
            f"--skip-existing compares an output's provenance with its source, and "
            f"{writer.name} files keep none; use it with EMD outputs"
        )
    pairs, collisions = plan_outputs(
        paths, out_dir, recursive=recursive, suffix=writer.extensions[0], keep_ext=keep_ext
    )
    if not pairs:
        raise InputError("no convertible files among the inputs")
    for collision in collisions:
        sys.stderr.write(f"emdconvert: note: {collision.note()}\n")
    return pairs
