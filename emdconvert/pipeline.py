"""The one conversion pipeline, in two phases: :func:`prepare`, then :func:`run`.

``prepare`` does everything that can fail because of the *input* or the request, before
an output byte exists: choose the writer and reader, hold them to the options, refuse an
output that would overwrite the source, check the file is complete, read it (lazily)
within the memory and size budgets, check the output's free space.  ``run`` writes
through a temporary name, verifies, appends provenance and publishes atomically (README,
Safety rules R1-R3).  :func:`emdconvert.convert`, batch mode, the Dask path and the watch
daemon's worker all call these two, so each check happens once, in one place.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emdconvert import faults
from emdconvert.boundary import error_boundary, guard_reads
from emdconvert.budget import check_budget, check_space, declared_bytes, reading_within
from emdconvert.completeness import check_with
from emdconvert.detect import choose_reader, choose_writer
from emdconvert.emd.provenance import SourceDigest, SourceFacts, conversion_comment
from emdconvert.errors import EmdConvertError, InputError, PolicyError, UsageError
from emdconvert.lazy import nbytes
from emdconvert.model import EMDFile
from emdconvert.options import ConvertOptions
from emdconvert.plugin import FormatPlugin
from emdconvert.publish import atomic_output, check_destination
from emdconvert.registry import PluginSpec, spec_label
from emdconvert.remedies import remedy
from emdconvert.sources import as_path, expand, is_pattern, read_set

#: Called as ``progress(done_bytes, total_bytes)`` while data are copied.
ProgressCallback = Callable[[int, int], None]


def source_path(path: str | Path, *, follow_symlinks: bool = False) -> Path:
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
        raise PolicyError(
            f"is a symbolic link; refused (give the real path, or {remedy('follow_symlinks')})",
            path=src,
            kind="symlink",
        )
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise InputError("not a regular file", path=src, kind="not-a-regular-file")
    if not os.access(src, os.R_OK):
        raise InputError("permission denied", path=src, kind="permission")
    if stat.S_ISREG(info.st_mode) and info.st_size == 0:
        raise InputError("empty file (0 bytes)", path=src, kind="empty")
    return src


def refuse_source_target(source: Path, target: Path, reader_suffixes: tuple[str, ...] = ()) -> None:
    """Refuse (exit 2, whatever ``overwrite`` says) an output the reader reads.

    The source of a stack is every frame of its folder or glob: ``emdconvert frames/
    frames/f0.tif --overwrite`` would replace a frame with the output, and raw data
    cannot be re-acquired.  A new file in a source folder with a suffix the reader
    takes would join the stack on the next run, so that is refused too.
    """
    if read_set(source, reader_suffixes).claims(target):
        reason = (
            "input and output are the same file"
            if source.is_file()
            else f"the output would overwrite or join the source stack {source}"
        )
        raise UsageError(reason, path=target, kind="source-is-target")


def read_model(reader: FormatPlugin, source: Path, options: ConvertOptions) -> tuple[EMDFile, int]:
    """Lazy read within the budgets (after :func:`check_with`): the model and the
    source's size in bytes."""
    source_bytes = sum(f.stat().st_size for f in expand(source))
    limit, ratio = options.max_bytes, options.max_ratio
    with reading_within(source_bytes, max_bytes=limit, max_ratio=ratio):
        with error_boundary(source, f"cannot read as {reader.name}", reading=True):
            model = reader.read(source, options=options.format)
        try:
            check_budget(model, source_bytes, max_bytes=limit, max_ratio=ratio)
        except EmdConvertError:
            model.close()
            raise
    return model, source_bytes


@dataclass(frozen=True)
class Request:
    """What a caller asks of a conversion besides the two paths: the options, whether
    an existing output may be replaced, and forced formats (``--from``/``--to``: a name,
    ``"module:Class"``, a plugin class or an instance).  Picklable (plugins given by
    name or class), so batch workers, Dask tasks and daemon workers receive it whole."""

    options: ConvertOptions = field(default_factory=ConvertOptions)
    overwrite: bool = False
    source_plugin: PluginSpec | None = None
    target_plugin: PluginSpec | None = None


@dataclass
class Prepared:
    """A conversion checked and read, ready to :func:`run`; nothing written yet.

    :meth:`close` (or :func:`run`, which closes it) releases the source's handles.
    """

    source: Path
    target: Path
    reader: FormatPlugin
    writer: FormatPlugin
    model: EMDFile
    options: ConvertOptions
    source_bytes: int
    overwrite: bool = False
    recorded: Mapping[str, Any] = field(default_factory=dict)
    digest: SourceDigest | None = None

    def facts(self) -> SourceFacts:
        """Size, mtime and SHA-256 of the source as it was read (waits for the hash)."""
        if self.digest is None:
            self.digest = SourceDigest(self.source)
        return self.digest.result()

    def close(self) -> None:
        self.model.close()  # the source's handles, now (a daemon worker runs for months)
        if self.digest is not None:
            self.digest.cancel()  # finished after a conversion; after a failure, not needed


def preview_path(target: Path) -> Path:
    """Where ``--preview`` puts the PNG of *target*: beside it, ``scan.emd`` -> ``scan.png``."""
    return target.with_suffix(".png")


def check_preview_path(source: Path, target: Path, *, overwrite: bool) -> None:
    """Refuse, before any work, a preview that would replace the source or the output,
    or an existing PNG without *overwrite*."""
    png = preview_path(target)
    if png == target or any(_same_file(png, f) for f in expand(source)):
        raise UsageError(f"the preview {png.name} would replace the source or the output", path=png)
    check_destination(png, overwrite=overwrite)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def prepare(src: str | Path, dst: str | Path, request: Request) -> Prepared:
    """Everything before the first output byte; see the module docstring."""
    options, overwrite = request.options, request.overwrite
    source_plugin, target_plugin = request.source_plugin, request.target_plugin
    source = source_path(src, follow_symlinks=options.follow_symlinks)
    target = as_path(dst, "the output")
    writer = choose_writer(target, target_plugin)
    options.refuse_unhonoured(writer, format_keys=False)  # before the input is opened
    reader = choose_reader(source, source_plugin)
    options.refuse_unhonoured(writer, reader)
    refuse_source_target(source, target, reader.extensions)
    check_with(reader, source)  # an incomplete file waits, whatever its output's state
    check_destination(target, overwrite=overwrite)
    if options.preview:
        check_preview_path(source, target, overwrite=overwrite)
    # The hash starts now, so it overlaps the reader's imports and header parsing (the
    # TIFF reader's calibration imports dask: 0.8 s) instead of competing with the copy
    # for the second core.
    digest = SourceDigest(source)
    try:
        model, source_bytes = read_model(reader, source, options)
    except BaseException:
        digest.cancel()
        raise
    model = guard_reads(model, source, f"cannot read as {reader.name}")
    try:
        if options.compression is None:
            check_space(target.parent, declared_bytes(model))
    except BaseException:
        digest.cancel()
        model.close()
        raise
    recorded = {
        **options.recorded(),
        "source_plugin": spec_label(source_plugin),
        "target_plugin": spec_label(target_plugin),
    }
    return Prepared(
        source, target, reader, writer, model, options, source_bytes, overwrite, recorded, digest
    )


def write_options(
    target: Path, model: EMDFile, options: ConvertOptions, progress: ProgressCallback | None
) -> dict[str, Any]:
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

    return {
        **options.format,
        "compression": options.compression,
        "axis_order": options.axis_order,
        "threads": options.threads,
        "progress": advance,
        "target_suffix": target.suffix.lower(),
    }


def publish(
    writer: FormatPlugin,
    model: EMDFile,
    target: Path,
    *,
    overwrite: bool,
    options: Mapping[str, Any],
    src: Path | None,
    provenance: Callable[[], Any] | None,
    source_unchanged: Callable[[], Any] | None = None,
) -> Path:
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
            with error_boundary(target, "verification failed"):
                writer.verify(model, tmp, options=options)
        except EmdConvertError as exc:
            if exc.path in (None, str(tmp)):
                exc.path = str(target)  # never name the temp file the user will not see
            raise
        if source_unchanged is not None:
            source_unchanged()

    with atomic_output(target, overwrite=overwrite, check=check) as tmp:
        with error_boundary(src or target, f"cannot convert to {writer.name}", target):
            writer.write(model, tmp, options=options)
        if provenance is not None and writer.keeps_provenance:
            comment = provenance()
            with error_boundary(target, "cannot record provenance", target):
                writer.append_comment(tmp, comment)
    return target


def run(prepared: Prepared, *, progress: ProgressCallback | None = None) -> Path:
    """Write, verify, record provenance and publish *prepared*; always closes it.

    The source's SHA-256 is computed while the data stream (a background thread) and
    checked, with its size and mtime, before publication: a source that changed while
    it was read publishes nothing.
    """
    p = prepared
    p.digest = p.digest or SourceDigest(p.source)

    def provenance() -> Any:
        return conversion_comment(
            reader=p.reader.name,
            reader_libraries=p.reader.library_versions(),
            writer=p.writer.name,
            writer_libraries=p.writer.library_versions(),
            source=p.facts(),
            options=dict(p.recorded),
        )

    try:
        return publish(
            p.writer,
            p.model,
            p.target,
            overwrite=p.overwrite,
            options=write_options(p.target, p.model, p.options, progress),
            src=p.source,
            provenance=provenance,
            source_unchanged=p.facts,
        )
    finally:
        p.close()
