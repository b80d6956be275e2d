"""Batch mode on the command line: plan, convert every pair, report each failure and
a summary table; the exit code is the most severe failure's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from emdconvert.cli.boundary import guarded
from emdconvert.cli.options import batch_pairs

if TYPE_CHECKING:
    from emdconvert.pipeline import Request


def run_batch(
    inputs: list[Path],
    out_dir: Path,
    request: Request,
    *,
    recursive: bool,
    jobs: int,
    quiet: bool,
    debug: bool,
    scheduler: str | None = None,
) -> None:
    """Batch mode: every input into *out_dir*; a table at the end; failures -> exit code."""
    from emdconvert.batch import convert_many, exit_code
    from emdconvert.cli.batch_progress import batch_progress
    from emdconvert.cli.report import outcomes_table

    pairs = guarded(debug, None, lambda: batch_pairs(inputs, out_dir, request, recursive=recursive))
    outcomes = []

    def collect() -> None:
        with batch_progress([s for s, _ in pairs], enabled=not quiet) as shown:
            for outcome in convert_many(
                pairs, jobs=jobs, request=request, scheduler=scheduler, progress=shown.callback
            ):
                shown.finish(outcome)
                outcomes.append(outcome)
                if not outcome.ok:
                    sys.stderr.write(f"emdconvert: error: {outcome.message}\n")

    guarded(debug, None, collect)
    if not quiet:
        from rich.console import Console

        Console().print(outcomes_table(outcomes, out_dir=out_dir))
    raise typer.Exit(exit_code(outcomes))
