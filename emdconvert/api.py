"""The library facade: :func:`read`, :func:`write`, :func:`convert`.

These are thin wrappers over detection, the plugins and atomic publication, and they
are the only conversion path: the CLI and (later) the watch daemon call exactly these.
Every exception a reader or writer raises is turned into an
:class:`~emdconvert.errors.EmdConvertError` here, at one boundary, so callers see one
kind of error with a one-line reason and an exit code.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from emdconvert import faults
from emdconvert.boundary import error_boundary, guard_reads
from emdconvert.budget import (
    DEFAULT_MAX_RATIO,
    check_budget,
    check_space,
    declared_bytes,
    reading_within,
)
from emdconvert.completeness import check_with
from emdconvert.detect import choose_reader, choose_writer
from emdconvert.emd.provenance import SourceDigest, SourceFacts, conversion_comment
from emdconvert.errors import EmdConvertError, InputError, PolicyError, UsageError
from emdconvert.lazy import nbytes
from emdconvert.model import EMDFile
from emdconvert.plugin import FormatPlugin
from emdconvert.publish import atomic_output, check_destination
from emdconvert.registry import PluginSpec, spec_label
from emdconvert.sources import as_path, expand, is_pattern, read_set

#: Called as ``progress(done_bytes, total_bytes)`` while data are copied.
ProgressCallback = Callable[[int, int], None]

def _source_path(path: str | Path, *, follow_symlinks: bool = False) -> Path:
    """The input as a Path: a readable regular file, a folder, or a glob of files.

    Symbolic links are refused unless *follow_symlinks* (README, Safety rules R11: a
    link planted in a watched or shared folder can point anywhere), and so is anything
    that is not a regular file or folder: a FIFO would block the reader forever.
    """
    src = as_path(path, "the input")
    if is_pattern(src):
        if not expand(src):
            raise InputError("no files match this pattern", path=src, kind="missing")
        return src
    try:
        info = src.lstat()
        link = stat.S_ISLNK(info.st_mode)
        if link and follow_symlinks:
            info = src.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=src, kind="missing") from None
    except PermissionError:
        raise InputError("permission denied", path=src, kind="permission") from None
    if link and not follow_symlinks:
        raise PolicyError("is a symbolic link; refused (give the real path, or "
                          "--follow-symlinks)", path=src, kind="symlink")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise InputError("not a regular file", path=src, kind="not-a-regular-file")
    if not os.access(src, os.R_OK):
        raise InputError("permission denied", path=src, kind="permission")
    if stat.S_ISREG(info.st_mode) and info.st_size == 0:
        raise InputError("empty file (0 bytes)", path=src, kind="empty")
    return src


def refuse_source_target(source: Path, target: Path,
                         reader_suffixes: tuple[str, ...] = ()) -> None:
    """Refuse (exit 2, whatever ``overwrite`` says) an output the reader reads.

    The source of a stack is every frame of its folder or glob: ``emdconvert frames/
    frames/f0.tif --overwrite`` would replace a frame with the output, and raw data
    cannot be re-acquired.  A new file in a source folder with a suffix the reader
    takes would join the stack on the next run, so that is refused too.
    """
    if read_set(source, reader_suffixes).claims(target):
        reason = ("input and output are the same file" if source.is_file() else
                  f"the output would overwrite or join the source stack {source}")
        raise UsageError(reason, path=target, kind="source-is-target")


def _read_model(reader: FormatPlugin, source: Path, options: Mapping[str, Any],
                max_bytes: int | None, max_ratio: float | None) -> EMDFile:
    """Completeness check, lazy read, budget check: all before any output exists."""
    check_with(reader, source)
    source_bytes = sum(f.stat().st_size for f in expand(source))
    with reading_within(source_bytes, max_bytes=max_bytes, max_ratio=max_ratio):
        with error_boundary(source, f"cannot read as {reader.name}", reading=True):
            model = reader.read(source, options=options)
        try:
            check_budget(model, source_bytes, max_bytes=max_bytes, max_ratio=max_ratio)
        except EmdConvertError:
            model.close()
            raise
    return model


def read(path: str | Path, *, plugin: PluginSpec | None = None,
         options: Mapping[str, Any] | None = None, max_bytes: int | None = None,
         max_ratio: float | None = DEFAULT_MAX_RATIO,
         follow_symlinks: bool = False) -> EMDFile:
    """Read any supported file into the canonical model (data stay lazy).

    ``plugin`` forces a format (as ``--from`` does): an installed plugin's name,
    ``"module:Class"``, or a plugin class or instance that need not be installed;
    otherwise the extension proposes and the file's content decides.  ``options`` are
    format-specific (e.g. ``{"delimiter": ";", "decimal": ","}`` for CSV).  A truncated
    file, or one whose header declares more than ``max_bytes`` or more than
    ``max_ratio`` times its own size, fails here, when it is opened, not when its data
    are first read.
    """
    src = _source_path(path, follow_symlinks=follow_symlinks)
    reader = choose_reader(src, plugin)
    return _read_model(reader, src, options or {}, max_bytes, max_ratio)


def refuse_compression(writer: FormatPlugin, compression: str | None, target: Path) -> None:
    """Refuse (exit 2) a ``--compression`` the target format cannot honour.

    Checked as soon as the writer is known, before the source is read: otherwise a
    ``.tif`` asked for ``gzip:9`` would be written uncompressed and exit 0.
    """
    if compression in (None, "", "none"):
        return
    allowed = writer.compressions
    if compression.partition(":")[0] not in allowed:
        honoured = f"takes only {', '.join(allowed)}" if allowed else "cannot be compressed"
        raise UsageError(f"--compression {compression}: the {writer.name} format {honoured}",
                         path=target)


def _write_with(writer: FormatPlugin, model: EMDFile, dst: Path, *, overwrite: bool,
                options: Mapping[str, Any], src: Path | None,
                provenance: Callable[[], Any] | None,
                source_unchanged: Callable[[], Any] | None = None) -> Path:
    """Write through a temp name; verify, append provenance, publish.

    *source_unchanged* raises when the source changed while it was read; it runs
    before publication, whatever the output format.
    """
    def check(tmp: Path) -> None:
        # Before the read-back (a changed source is "changed", not "written data
        # differ") and after it, as close to the rename as possible.
        if source_unchanged is not None:
            source_unchanged()
        try:
            with error_boundary(dst, "verification failed"):
                writer.verify(model, tmp, options=options)
        except EmdConvertError as exc:
            if exc.path in (None, str(tmp)):
                exc.path = str(dst)  # never name the temp file the user will not see
            raise
        if source_unchanged is not None:
            source_unchanged()

    with atomic_output(dst, overwrite=overwrite, check=check) as tmp:
        with error_boundary(src or dst, f"cannot convert to {writer.name}", dst):
            writer.write(model, tmp, options=options)
        if provenance is not None and writer.keeps_provenance:
            comment = provenance()
            with error_boundary(dst, "cannot record provenance", dst):
                writer.append_comment(tmp, comment)
    return dst


def _write_options(dst: Path, model: EMDFile, compression: str | None, axis_order: str,
                   threads: int | None, progress: ProgressCallback | None,
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What every writer is told; ``target_suffix`` because it writes to a temp name.

    Writers report bytes copied as increments; the caller's *progress* gets running
    totals against the model's size (and a planned test fault fires on the way).
    """
    advance = None
    fail_at = faults.write_fraction()
    if progress is not None or fail_at is not None:
        total = sum(nbytes(d.data) for d in model.datasets)
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, total)
            if fail_at is not None and done >= fail_at * total:
                faults.reached("write")

    return {**(extra or {}), "compression": compression, "axis_order": axis_order,
            "threads": threads, "progress": advance, "target_suffix": dst.suffix.lower()}


def write(model: EMDFile, path: str | Path, *, overwrite: bool = False,
          compression: str | None = None, axis_order: str = "x-first",
          threads: int | None = None, plugin: PluginSpec | None = None,
          progress: ProgressCallback | None = None,
          options: Mapping[str, Any] | None = None) -> Path:
    """Write *model* to *path* atomically (format from the extension or ``plugin``: a
    name, ``"module:Class"``, a plugin class or an instance, as for :func:`read`).

    ``compression`` is ``None``, ``"gzip[:level]"`` (readable everywhere),
    ``"zstd[:level]"`` or ``"bitshuffle-lz4"`` (readers need hdf5plugin);
    ``axis_order`` is ``"x-first"`` (the spec's layout, default) or ``"c"`` (numpy C
    order, ncempy's convention); ``threads`` copy and compress chunks in parallel
    (default: the CPU count, at most 8).  A provenance entry is appended to the file's
    ``comments``.
    """
    dst = as_path(path, "the output")
    writer = choose_writer(dst, plugin)
    refuse_compression(writer, compression, dst)
    write_options = _write_options(dst, model, compression, axis_order, threads, progress,
                                   options)
    recorded = {"compression": compression, "axis_order": axis_order, **(options or {})}

    def provenance() -> Any:
        return conversion_comment(reader="memory", reader_libraries={}, writer=writer.name,
                                  writer_libraries=writer.library_versions(), source=None,
                                  options=recorded)

    return _write_with(writer, model, dst, overwrite=overwrite, options=write_options,
                       src=None, provenance=provenance)


def convert(src: str | Path, dst: str | Path, *, overwrite: bool = False,
            source_plugin: PluginSpec | None = None,
            target_plugin: PluginSpec | None = None,
            compression: str | None = None, axis_order: str = "x-first",
            threads: int | None = None, progress: ProgressCallback | None = None,
            options: Mapping[str, Any] | None = None, max_bytes: int | None = None,
            max_ratio: float | None = DEFAULT_MAX_RATIO,
            follow_symlinks: bool = False) -> Path:
    """Convert *src* to *dst*: ``format -> EMDFile -> format``, published atomically.

    The source is only ever opened for reading.  Its SHA-256 is computed while the data
    stream and recorded, with tool and plugin versions and the options, in the output's
    provenance log.  ``source_plugin``/``target_plugin`` force the formats (``--from``/
    ``--to``), each a name, ``"module:Class"``, a plugin class or an instance.
    ``options`` go to both the reader and the writer (format-specific, e.g. CSV
    ``delimiter``/``decimal``).  Before anything is written the source must be
    complete (as long as its header declares) and within the budgets: ``max_bytes``
    declared bytes at most (default: no limit), at most ``max_ratio`` declared bytes per
    source byte above 1 GiB (a decompression bomb; ``None`` disables), and no more than
    the output's file system has free (uncompressed output).  If the source changes
    while it is read, nothing is published.  Returns the output path.
    """
    source = _source_path(src, follow_symlinks=follow_symlinks)
    target = as_path(dst, "the output")
    writer = choose_writer(target, target_plugin)
    refuse_compression(writer, compression, target)
    reader = choose_reader(source, source_plugin)
    refuse_source_target(source, target, reader.extensions)
    check_destination(target, overwrite=overwrite)
    model = guard_reads(_read_model(reader, source, options or {}, max_bytes, max_ratio),
                        source, f"cannot read as {reader.name}")
    if compression is None:
        check_space(target.parent, declared_bytes(model))
    digest = SourceDigest(source)
    write_options = _write_options(target, model, compression, axis_order, threads,
                                   progress, options)
    recorded = {"compression": compression, "axis_order": axis_order,
                "source_plugin": spec_label(source_plugin),
                "target_plugin": spec_label(target_plugin),
                **(options or {})}

    def provenance() -> Any:
        facts: SourceFacts = digest.result()
        return conversion_comment(reader=reader.name,
                                  reader_libraries=reader.library_versions(),
                                  writer=writer.name,
                                  writer_libraries=writer.library_versions(),
                                  source=facts, options=recorded)

    try:
        return _write_with(writer, model, target, overwrite=overwrite,
                           options=write_options, src=source, provenance=provenance,
                           source_unchanged=digest.result)
    finally:
        model.close()  # the source's handles, now (a daemon worker converts for months)
        with contextlib.suppress(Exception):
            digest.result()
