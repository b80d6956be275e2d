"""Batch mode on the command line: plan, convert every pair, report each failure and
a summary table; the exit code is the most severe failure's."""

from __future__ import annotations

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
    keep_ext: bool = False,
    skip_existing: bool = False,
) -> None:
    """Batch mode: every input into *out_dir*; a table at the end; failures -> exit code."""
    from emdconvert.batch import convert_many, exit_code
    from emdconvert.cli.batch_progress import batch_progress
    from emdconvert.cli.report import outcomes_table

    def plan() -> list[tuple[Path, Path]]:
        flags = {"recursive": recursive, "keep_ext": keep_ext, "skip_existing": skip_existing}
        return batch_pairs(inputs, out_dir, request, **flags)

    pairs = guarded(debug, None, plan)
    outcomes = []

    def collect() -> None:
        with batch_progress([s for s, _ in pairs], enabled=not quiet) as shown:
            for outcome in convert_many(
                pairs,
                jobs=jobs,
                request=request,
                scheduler=scheduler,
                progress=shown.callback,
                out_dir=out_dir,
                skip_existing=skip_existing,
            ):
                shown.finish(outcome)
                outcomes.append(outcome)
                if not outcome.ok:
                    shown.say(f"emdconvert: error: {outcome.message}")

    guarded(debug, None, collect)
    if outcomes and all(o.up_to_date for o in outcomes):
        if not quiet:
            count = f"{len(outcomes)} file{'s' if len(outcomes) > 1 else ''}"
            typer.echo(f"{count} up to date, nothing to convert")
        raise typer.Exit(0)
    if not quiet:
        from rich.console import Console

        Console().print(outcomes_table(outcomes, out_dir=out_dir))
    raise typer.Exit(exit_code(outcomes))
