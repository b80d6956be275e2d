"""The ``--json`` variants of ``convert``, ``validate`` and ``info`` (README, JSON output).

The same work as the text commands, through the same pipeline and error boundary; only
what reaches stdout differs (one document, built by :mod:`emdconvert.cli.machine`).
Kept out of ``app`` so each module stays one job.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from emdconvert.cli.boundary import fail
from emdconvert.cli.machine import guarded_document
from emdconvert.cli.options import batch_pairs, check_plugin_option, single_pair

if TYPE_CHECKING:
    from emdconvert.pipeline import Request


def convert_json(
    paths: list[Path],
    out_dir: Path | None,
    request: Request,
    *,
    recursive: bool,
    jobs: int,
    debug: bool,
    scheduler: str | None,
    keep_ext: bool = False,
    skip_existing: bool = False,
) -> None:
    """``convert --json``: the same conversions, one JSON document on stdout (README,
    JSON output), the same exit code and one stderr line per failure."""
    from emdconvert.batch import convert_many, convert_one, skipped
    from emdconvert.cli.machine import convert_document, convert_failed, emit

    def pairs_and_skipped() -> tuple[list[tuple[Path, Path]], list[Path]]:
        if out_dir is None:
            return [single_pair(paths, skip_existing=skip_existing, keep_ext=keep_ext)], []
        flags = {"recursive": recursive, "keep_ext": keep_ext, "skip_existing": skip_existing}
        pairs = batch_pairs(paths, out_dir, request, **flags)
        return pairs, skipped(paths, recursive=recursive)

    pairs, left_out = guarded_document(debug, None, pairs_and_skipped, convert_failed)
    if out_dir is None:
        outcomes = [convert_one(*pairs[0], request, make_parents=False)]
    else:
        outcomes = guarded_document(
            debug,
            None,
            lambda: list(
                convert_many(
                    pairs,
                    jobs=jobs,
                    request=request,
                    scheduler=scheduler,
                    out_dir=out_dir,
                    skip_existing=skip_existing,
                )
            ),
            convert_failed,
        )
    document = convert_document(outcomes, left_out)
    emit(document)
    for outcome in outcomes:
        if not outcome.ok:
            sys.stderr.write(f"emdconvert: error: {' '.join(outcome.message.split())}\n")
    raise typer.Exit(document["exit_code"])


def validate_json(files: list[Path], debug: bool) -> None:
    """``validate --json``: every file's problems in one document; exit 1 if any fails."""
    from emdconvert.cli.machine import emit, validate_document, validate_entry
    from emdconvert.emd.spec import validate as check

    def failed(error: dict[str, str], code: int) -> dict[str, Any]:
        return validate_document(entries, error, code)

    entries: list[dict[str, Any]] = []
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file", 1)
            entries.append(validate_entry(path, None))
            continue
        violations = guarded_document(debug, path, lambda p=path: check(p), failed)  # type: ignore[misc]
        entries.append(validate_entry(path, violations))
    document = validate_document(entries)
    emit(document)
    raise typer.Exit(document["exit_code"])


def info_json(file: Path, from_: str | None, debug: bool) -> None:
    """``info --json``: the file as one document, with the format that read it."""
    from emdconvert.api import read
    from emdconvert.cli.machine import emit, info_document, info_failed
    from emdconvert.detect import choose_reader
    from emdconvert.pipeline import source_path

    def failed(error: dict[str, str], code: int) -> dict[str, Any]:
        return info_failed(file, error, code)

    def document() -> dict[str, Any]:
        check_plugin_option("--from", from_)
        reader = choose_reader(source_path(file), from_)
        with read(file, reader=reader) as model:
            return info_document(file, model, reader.name)

    emit(guarded_document(debug, file, document, failed))
    raise typer.Exit(0)
