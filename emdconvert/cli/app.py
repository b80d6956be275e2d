"""Command-line interface: ``emdconvert IN OUT`` and its sub-commands.

With its package siblings, the only code that prints or exits.  Every failure is one line on stderr,
``emdconvert: error: <file>: <reason>``, and an exit code: 0 ok, 2 usage, 3 bad or
unsupported input, 4 environment (output exists, no space, permission), 5 refused by
safety policy, 70 internal error.  No traceback unless ``--debug``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from emdconvert.cli.batch_run import run_batch
from emdconvert.cli.boundary import Debug, fail, guarded
from emdconvert.cli.help_format import DescribedCommand, DescribedGroup
from emdconvert.cli.json_commands import convert_json, info_json, validate_json
from emdconvert.cli.machine import guarded_document
from emdconvert.cli.options import (
    AllowHighRatio,
    FollowSymlinks,
    Json,
    MaxBytes,
    MaxRatio,
    check_plugin_option,
    single_pair,
)
from emdconvert.cli.preview import preview
from emdconvert.cli.terminal import progress_bar, warnings_unless_failed
from emdconvert.cli.watch import watch
from emdconvert.remedies import speak_command_line

if TYPE_CHECKING:
    from emdconvert.pipeline import Request

AXIS_ORDER_HELP = (
    "Storage layout. 'x-first' is the EMD spec's: dim1 is x, the array is "
    "stored transposed, and rsciio/HyperSpy show it exactly as acquired while ncempy "
    "returns it transposed. 'c' stores numpy C order (ncempy's and EMD 1.0's "
    "convention): ncempy shows it as acquired, rsciio/HyperSpy show it transposed. "
    "emdconvert reads both back the same way."
)


class DefaultCommandGroup(DescribedGroup):
    """Routes ``emdconvert IN OUT`` to ``convert`` when the first word is no command."""

    default_command = "convert"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's Context
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DefaultCommandGroup,
    name="emdconvert",
    help="Convert electron-microscopy data to spec-compliant Berkeley EMD v0.2 files.\n\n"
    "Usage: emdconvert IN OUT [options]  (same as: emdconvert convert IN OUT)",
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
)


@app.command(cls=DescribedCommand)
def convert(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="IN OUT; or, with --out-dir, any number of inputs (files, folders, globs).",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Convert every input into this folder (batch mode)."),
    ] = None,
    recursive: Annotated[
        bool,
        typer.Option("--recursive", "-r", help="Batch mode: also convert files in sub-folders."),
    ] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Batch mode: worker processes.")
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Batch mode: run each file as a task on this Dask "
            "distributed scheduler (e.g. tcp://head:8786); paths must "
            "be visible to its workers.",
        ),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Force the input format: a "
            "name (see 'emdconvert formats') or "
            "module:Class, a plugin to import.",
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Force the output format: a name or module:Class.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output (atomically).")
    ] = False,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing",
            help="Batch mode: leave an output alone when its provenance records this "
            "very source (SHA-256); one that does not is an error unless --overwrite.",
        ),
    ] = False,
    keep_ext: Annotated[
        bool,
        typer.Option(
            "--keep-ext",
            help="Batch mode: name every output after its whole source name "
            "(scan.dm4 -> scan.dm4.emd), so names never depend on the other files.",
        ),
    ] = False,
    compression: Annotated[
        str | None,
        typer.Option(
            "--compression",
            help="gzip[:LEVEL] (0-9, default 4), readable "
            "by every HDF5 reader; zstd[:LEVEL] (1-22) or "
            "bitshuffle-lz4, which need hdf5plugin to read [default: none].",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="Threads reading, transposing and compressing chunks "
            "[default: CPU count, at most 8].",
            show_default=False,
        ),
    ] = None,
    axis_order: Annotated[str, typer.Option("--axis-order", help=AXIS_ORDER_HELP)] = "x-first",
    preview: Annotated[
        bool,
        typer.Option("--preview", help="Also draw each output as a PNG beside it (scan.png)."),
    ] = False,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Format option KEY=VALUE, repeatable (CSV: delimiter, "
            "decimal, e.g. -o delimiter=';' -o decimal=',').",
        ),
    ] = None,
    max_bytes: MaxBytes = None,
    max_ratio: MaxRatio = None,
    allow_high_ratio: AllowHighRatio = False,
    follow_symlinks: FollowSymlinks = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")
    ] = False,
    json_output: Json = False,
    debug: Debug = False,
) -> None:
    """Convert IN to OUT (EMD, or any other writable format), or many inputs at once."""
    from emdconvert.options import ConvertOptions, ratio_limit
    from emdconvert.pipeline import Request, prepare
    from emdconvert.preview.beside import run_with_preview

    def checked_request() -> Request:
        check_plugin_option("--from", from_)
        check_plugin_option("--to", to)
        return Request(
            ConvertOptions.parse(
                compression=compression,
                axis_order=axis_order,
                threads=threads,
                max_bytes=max_bytes,
                max_ratio=ratio_limit(max_ratio, allow_high_ratio),
                follow_symlinks=follow_symlinks,
                format_options=option,
                preview=preview,
            ),
            overwrite,
            from_,
            to,
        )

    if json_output:
        from emdconvert.cli.machine import convert_failed

        request = guarded_document(debug, None, checked_request, convert_failed)
        with warnings_unless_failed(debug=debug):
            convert_json(
                paths,
                out_dir,
                request,
                recursive=recursive,
                jobs=jobs,
                debug=debug,
                scheduler=scheduler,
                keep_ext=keep_ext,
                skip_existing=skip_existing,
            )
        return
    request = guarded(debug, None, checked_request)
    with warnings_unless_failed(debug=debug):
        if out_dir is not None:
            run_batch(
                paths,
                out_dir,
                request,
                recursive=recursive,
                jobs=jobs,
                quiet=quiet,
                debug=debug,
                scheduler=scheduler,
                keep_ext=keep_ext,
                skip_existing=skip_existing,
            )
            return
        source, target = guarded(
            debug,
            None,
            lambda: single_pair(paths, skip_existing=skip_existing, keep_ext=keep_ext),
        )
        with progress_bar(source.name, enabled=not quiet) as progress:
            guarded(
                debug,
                source,
                lambda: run_with_preview(prepare(source, target, request), progress=progress),
            )


@app.command(cls=DescribedCommand)
def validate(
    files: Annotated[list[Path], typer.Argument(help="EMD files to check.")],
    json_output: Json = False,
    debug: Debug = False,
) -> None:
    """Check files against the EMD v0.2 rules; exit 0 only if all pass."""
    from emdconvert.emd.spec import MUST
    from emdconvert.emd.spec import validate as check

    if json_output:
        validate_json(files, debug)
    failed = False
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file", 1)
            failed = True
            continue
        violations = guarded(debug, path, lambda p=path: check(p))  # type: ignore[misc]
        broken = [v for v in violations if v.level == MUST]
        failed = failed or bool(broken)
        typer.echo(f"{path}: {'FAIL' if broken else 'ok'}")
        for violation in violations:
            typer.echo(f"  {violation}")
    raise typer.Exit(1 if failed else 0)


@app.command(cls=DescribedCommand)
def info(
    file: Annotated[Path, typer.Argument(help="Any readable file.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Force the format: a name or module:Class.")
    ] = None,
    json_output: Json = False,
    debug: Debug = False,
) -> None:
    """Show a file as emdconvert sees it: datasets, dims, metadata, comments."""
    from rich.console import Console

    from emdconvert.api import read
    from emdconvert.cli.report import model_tree

    if json_output:
        info_json(file, from_, debug)
    guarded(debug, None, lambda: check_plugin_option("--from", from_))
    model = guarded(debug, file, lambda: read(file, reader=from_))
    Console().print(model_tree(file.name, model))


@app.command(cls=DescribedCommand)
def formats(json_output: Json = False, debug: Debug = False) -> None:
    """List installed format plugins."""
    from rich.console import Console

    from emdconvert.cli.report import formats_table
    from emdconvert.registry import default_registry

    if json_output:
        from emdconvert.cli.machine import emit, formats_document, formats_failed

        document = lambda: formats_document(default_registry())  # noqa: E731
        emit(guarded_document(debug, None, document, formats_failed))
        raise typer.Exit(0)

    table = guarded(debug, None, lambda: formats_table(default_registry()))
    Console().print(table)


app.command(name="watch", cls=DescribedCommand)(watch)
app.command(name="preview", cls=DescribedCommand)(preview)


def version_callback(value: bool) -> None:
    if value:
        from emdconvert.version import VERSION

        typer.echo(f"emdconvert {VERSION}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Convert electron-microscopy data to spec-compliant Berkeley EMD v0.2 files."""
    import logging

    # The library logs (it never prints); on the command line a warning is one line.
    logging.basicConfig(format="emdconvert: warning: %(message)s", level=logging.WARNING)
    speak_command_line()  # "--overwrite replaces it", not "overwrite=True"


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return app(args=argv, prog_name="emdconvert")
