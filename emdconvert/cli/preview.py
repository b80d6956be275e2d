"""``emdconvert preview IN [OUT.png]``: a picture of any readable file (registered by
``cli.app``).

The work is :func:`emdconvert.preview.preview`; this module only maps flags onto it and
prints one line saying what was drawn.  Errors go through the CLI's one-line error
boundary: exit 2 for a bad ``--frame``, ``--size`` or ``--dataset``, 3 for bad input, 4
when OUT exists (without ``--overwrite``) or cannot be written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emdconvert.cli.boundary import Debug, guarded
from emdconvert.cli.options import FollowSymlinks, check_plugin_option
from emdconvert.cli.terminal import warnings_unless_failed
from emdconvert.preview.kinds import SPECTRUM, SPECTRUM_LINE
from emdconvert.preview.sampling import DEFAULT_BUDGET

if TYPE_CHECKING:
    from emdconvert.preview import Preview


def preview(
    source: Annotated[
        Path, typer.Argument(help="Any readable file.", metavar="IN", show_default=False)
    ],
    target: Annotated[
        Path | None,
        typer.Argument(
            help="The PNG to write [default: IN with the suffix .png, beside it].",
            metavar="[OUT.png]",
            show_default=False,
        ),
    ] = None,
    frame: Annotated[
        int | None,
        typer.Option(
            "--frame",
            help="Stacks: the frame to show, 0-based [default: the middle one].",
            show_default=False,
        ),
    ] = None,
    size: Annotated[
        int, typer.Option("--size", help="The picture's long edge in pixels (64-8192).")
    ] = 1024,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Which dataset, by name or 0-based number (see 'emdconvert info') "
            "[default: the first].",
            show_default=False,
        ),
    ] = None,
    max_read: Annotated[
        int,
        typer.Option(
            "--max-read",
            help="Most MiB read from IN (whole HDF5 chunks counted); a larger file is sampled.",
            min=1,
            metavar="MIB",
        ),
    ] = DEFAULT_BUDGET >> 20,
    from_: Annotated[
        str | None, typer.Option("--from", help="Force the format: a name or module:Class.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing OUT (atomically).")
    ] = False,
    follow_symlinks: FollowSymlinks = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing when it succeeds.")
    ] = False,
    debug: Debug = False,
) -> None:
    """Draw IN as a PNG: images with a scale bar, stacks, spectra, spectrum images, 4D-STEM."""
    from emdconvert.preview import preview as draw

    guarded(debug, None, lambda: check_plugin_option("--from", from_))
    with warnings_unless_failed(debug=debug):
        result = guarded(
            debug,
            source,
            lambda: draw(
                source,
                target,
                frame=frame,
                size=size,
                dataset=dataset,
                max_read_bytes=max_read << 20,
                overwrite=overwrite,
                reader=from_,
                follow_symlinks=follow_symlinks,
            ),
        )
    if not quiet:
        typer.echo(summary(result))


def summary(result: Preview) -> str:
    """``scan.png: stack 'HAADF', frame 2 of 5, 1024 x 1024, scale bar 5 nm``."""
    parts = [f"{result.kind} {result.dataset!r}"]
    if result.frame is not None:
        parts.append(f"frame {result.frame} of {result.frames}")
    parts.append(f"{result.width} x {result.height}")
    bars = " and ".join(bar.label for bar in result.bars)
    plural = "s" if len(result.bars) > 1 else ""
    if bars:
        parts.append(f"scale bar{plural} {bars}")
    elif result.kind not in (SPECTRUM, SPECTRUM_LINE):  # a plot has axes, not a bar
        parts.append("no scale bar (uncalibrated)")
    return f"{result.path}: " + ", ".join(parts)
