"""Converting many files: plan the outputs, run them in worker processes, report each.

Every file goes through the same :func:`~emdconvert.pipeline.prepare` and
:func:`~emdconvert.pipeline.run` a single conversion uses (on a Dask cluster too); a
failure is recorded for that file and the others still complete.  Worker processes (not
threads) isolate the readers' C libraries from each other and use every core for the
CPU-bound parts (transposes, compression).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from emdconvert.collisions import Collision, natural_order, unique_targets
from emdconvert.errors import (
    EmdConvertError,
    EnvironmentProblem,
    InputError,
    UsageError,
)
from emdconvert.outfolders import output_folders
from emdconvert.pipeline import ProgressCallback, Request
from emdconvert.progress_channel import FileProgress, worker_pool
from emdconvert.registry import default_registry
from emdconvert.sources import expand, is_pattern

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one file went: its output or its one-line reason, exit code, time, size.

    The fields after *nbytes* are what ``convert --json`` reports besides (README, JSON
    output): acquisition software wants the failure's class, the phases' times and the
    output's size and provenance key without parsing text or opening the file.
    """

    source: Path
    target: Path
    exit_code: int
    message: str
    seconds: float
    nbytes: int
    #: The failure's class (``EmdConvertError.kind``, or ``internal``); ``""`` when ok.
    kind: str = ""
    #: Seconds in ``prepare`` (detect, check, open) and in the write (copy, verify,
    #: provenance, publish, preview); None for a phase that did not start.
    prepare_seconds: float | None = None
    write_seconds: float | None = None
    #: The source's size as read (None when it failed before that), the output's size.
    source_bytes: int | None = None
    output_bytes: int | None = None
    #: The ``comments`` key of this conversion's provenance entry (None if none kept).
    provenance_id: str | None = None
    #: True when ``skip_existing`` found the output already converted from this very
    #: source (provenance SHA-256): nothing was written; *provenance_id* is that entry.
    up_to_date: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def readable_suffixes() -> set[str]:
    """Extensions some installed plugin reads (batch mode and the watch daemon)."""
    return {ext for plugin in default_registry().readers() for ext in plugin.extensions}


def plan_outputs(
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    recursive: bool = False,
    suffix: str = ".emd",
    keep_ext: bool = False,
) -> tuple[list[tuple[Path, Path]], list[Collision]]:
    """(source, target) pairs: files as given, folders' and globs' files by extension;
    and the name collisions resolved on the way (:mod:`emdconvert.collisions`).

    A folder's files keep their relative paths under *out_dir*, so equal names in
    different sub-folders do not collide; equal names in one folder (``scan.dm3``,
    ``scan.dm4``) get distinct outputs.  *out_dir* need not exist yet.  The same file
    given twice is an error: that is a mistake in the command, not a name to resolve.
    """
    known = readable_suffixes()
    entries: list[tuple[Path, Path]] = []  # (source, output path before the suffix)
    for item in inputs:
        if item.is_dir():
            files = [f for f in _folder_files(item, recursive) if f.suffix.lower() in known]
            entries += [(f, out_dir / f.relative_to(item)) for f in files]
        elif is_pattern(item):
            entries += [(f, out_dir / f.name) for f in expand(item)]
        else:
            entries.append((item, out_dir / item.name))
    given: dict[Path, Path] = {}
    for source, _ in entries:
        if source.resolve() in given:
            msg = f"given twice ({given[source.resolve()]}): both would be written to one output"
            raise InputError(msg, path=source)
        given[source.resolve()] = source
    pairs, collisions = unique_targets(entries, suffix, keep_ext=keep_ext)
    root = out_dir.resolve()
    for source, target in pairs:
        if not target.resolve().is_relative_to(root):
            raise UsageError(f"output {target} would fall outside {out_dir}", path=source)
        if target.resolve() in given:  # the rule convert() applies to one file
            raise UsageError(
                f"the output would overwrite the source {target}",
                path=source,
                kind="source-is-target",
            )
    return pairs, collisions


def _folder_files(folder: Path, recursive: bool) -> list[Path]:
    """A folder's non-hidden regular files (below it too if *recursive*), naturally
    sorted: what batch mode looks at, whether a plugin reads them or not."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        (
            p
            for p in found
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        ),
        key=natural_order,
    )


def skipped(inputs: Sequence[Path], *, recursive: bool = False) -> list[Path]:
    """The files of the input folders that :func:`plan` leaves out because no installed
    plugin reads their extension, so ``convert --json`` can say so for each."""
    known = readable_suffixes()
    return [
        f
        for item in inputs
        if item.is_dir()
        for f in _folder_files(item, recursive)
        if f.suffix.lower() not in known
    ]


def failure(source: Path, exc: BaseException) -> tuple[int, str, str]:
    """``(exit code, kind, one-line message naming the file)`` for an exception: the
    boundary batch mode and ``convert --json`` share, so both say the same."""
    if isinstance(exc, EmdConvertError):
        text = str(exc) if exc.path is not None else f"{source}: {exc}"
        return exc.exit_code, exc.kind, text
    return 70, "internal", f"{source}: internal error: {type(exc).__name__}: {exc}"


def provenance_key(target: Path, source: Path) -> str | None:
    """The ``comments`` key of the newest ``convert`` entry for *source* in the HDF5
    file *target*, None when it keeps none: a conversion's provenance has no id of its
    own, and its key (an ISO-8601 UTC timestamp) names it uniquely within the file."""
    from emdconvert.uptodate import conversions

    ours = [c for c, entry in conversions(target) if entry["source"].get("name") == source.name]
    return ours[-1].key if ours else None


def convert_one(
    source: Path,
    target: Path,
    request: Request,
    *,
    make_parents: bool = True,
    skip_existing: bool = False,
    progress: ProgressCallback | None = None,
) -> Outcome:
    """One conversion, never raising: an error becomes a failed :class:`Outcome`.

    *make_parents* (batch mode) creates the output's folder (batch mode mirrors
    sub-folders) and looks at an existing output first
    (:func:`~emdconvert.uptodate.existing_output`); a single ``convert IN OUT`` leaves
    it False, so a missing folder is an error there.
    *progress* is the copy's ``progress(done, total)``.
    """
    from emdconvert.pipeline import prepare
    from emdconvert.preview.beside import run_with_preview
    from emdconvert.uptodate import existing_output

    start = time.perf_counter()
    prepared_at: float | None = None
    size: int | None = None
    try:
        if make_parents:
            key = existing_output(source, target, request, skip_existing=skip_existing)
            if key is not None:
                now = time.perf_counter() - start
                found = (source.stat().st_size, target.stat().st_size, key, True)
                return Outcome(source, target, 0, "up to date", now, 0, "", now, None, *found)
            target.parent.mkdir(parents=True, exist_ok=True)
        prepared = prepare(source, target, request)
        size, prepared_at = prepared.source_bytes, time.perf_counter()
        run_with_preview(prepared, progress=progress)
    except Exception as exc:  # a bug must not stop the other files of the batch
        code, kind, message = failure(source, exc)
        now = time.perf_counter()
        write = None if prepared_at is None else now - prepared_at
        phases = ((prepared_at or now) - start, write)
        return Outcome(source, target, code, message, now - start, 0, kind, *phases, size)
    written_at = time.perf_counter()
    key = _provenance_or_none(target, source) if prepared.writer.keeps_provenance else None
    return Outcome(
        source,
        target,
        0,
        str(target),
        written_at - start,
        size,
        "",
        prepared_at - start,
        written_at - prepared_at,
        size,
        target.stat().st_size,
        key,
    )


def _provenance_or_none(target: Path, source: Path) -> str | None:
    """:func:`provenance_key`, but a published output stays a success if it cannot be
    looked at again (a warning says so)."""
    try:
        return provenance_key(target, source)
    except (OSError, ValueError) as exc:
        log.warning("%s: cannot read back the provenance key: %s", target, exc)
        return None


def convert_many(
    pairs: Sequence[tuple[Path, Path]],
    *,
    jobs: int = 1,
    request: Request | None = None,
    scheduler: str | None = None,
    out_dir: Path | None = None,
    skip_existing: bool = False,
    progress: FileProgress | None = None,
) -> Iterator[Outcome]:
    """Convert every pair, *jobs* at a time; yield outcomes as they finish.

    With *scheduler* (a Dask distributed address such as ``tcp://head:8786``) each file
    is one task on that cluster, running the same :func:`convert_one`; the paths must
    be visible to the workers (a shared file system).  *out_dir* is created (with its
    parents) before the first file; the folders the run created and left empty are
    removed at the end, so a run where every file failed leaves nothing behind.
    *skip_existing*: an output already converted from the same source (by its
    provenance SHA-256) is left alone and reported ``up_to_date``.  *progress* gets
    each file's ``(source, done, total)`` while it is copied, from worker processes too
    (not from a cluster, whose files report only as they finish).
    """
    request = request or Request()
    with output_folders(out_dir, [target for _, target in pairs]):
        yield from _convert_all(pairs, jobs, request, scheduler, skip_existing, progress)


def _convert_all(
    pairs: Sequence[tuple[Path, Path]],
    jobs: int,
    request: Request,
    scheduler: str | None,
    skip_existing: bool,
    progress: FileProgress | None,
) -> Iterator[Outcome]:
    if scheduler is not None:
        yield from _on_cluster(pairs, request, scheduler, skip_existing)
        return
    if jobs <= 1 or len(pairs) <= 1:
        for source, target in pairs:
            each = None if progress is None else functools.partial(progress, source)
            yield convert_one(source, target, request, skip_existing=skip_existing, progress=each)
        return
    with worker_pool(min(jobs, len(pairs), os.cpu_count() or 1), progress) as (pool, report):
        futures = [
            pool.submit(convert_one, s, t, request, skip_existing=skip_existing, progress=report(s))
            for s, t in pairs
        ]
        for future in as_completed(futures):
            yield future.result()


def _on_cluster(
    pairs: Sequence[tuple[Path, Path]], request: Request, scheduler: str, skip_existing: bool
) -> Iterator[Outcome]:
    try:
        from distributed import Client
        from distributed import as_completed as completed
    except ImportError:
        msg = "--scheduler needs Dask distributed: pip install 'emdconvert[distributed]'"
        raise UsageError(msg) from None
    try:
        client = Client(scheduler, timeout=30)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        futures = [
            client.submit(convert_one, s, t, request, skip_existing=skip_existing, pure=False)
            for s, t in pairs
        ]
        for future in completed(futures):
            yield future.result()


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 when every file converted, else the most severe failure's code."""
    return max((o.exit_code for o in outcomes), default=0)
