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
import struct
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from emdconvert.detect import choose_reader, choose_writer
from emdconvert.errors import EmdConvertError, FormatError, InputError, UsageError
from emdconvert.lazy import nbytes
from emdconvert.model import EMDFile
from emdconvert.plugin import FormatPlugin
from emdconvert.provenance import SourceDigest, SourceFacts, conversion_comment
from emdconvert.publish import atomic_output, check_destination, environment_error
from emdconvert.sources import expand, is_pattern

#: Called as ``progress(done_bytes, total_bytes)`` while data are copied.
ProgressCallback = Callable[[int, int], None]

# Exceptions that, raised while reading a source, mean "this input is bad".
_INPUT_FAILURES = (struct.error, KeyError, IndexError, ValueError, EOFError, OSError,
                   NotImplementedError, UnicodeError, OverflowError, MemoryError,
                   RuntimeError)  # h5py reports corrupt object headers as RuntimeError


@contextlib.contextmanager
def error_boundary(src: Path, action: str, output: Path | None = None, *,
                   reading: bool = False) -> Iterator[None]:
    """Map exceptions from a plugin to an EmdConvertError naming *src*.

    While *reading*, every exception is bad input (reliability.md rule 8: readers of
    damaged files raise anything, TypeError included); while writing, only the
    exception types that input problems cause are, and anything else is a bug (exit 70).
    """
    try:
        yield
    except EmdConvertError as exc:
        if exc.path is None:
            exc.path = str(src)  # plugins say what is wrong; the boundary says where
        raise
    except MemoryError:
        raise InputError(f"{action}: the data do not fit in memory", path=src) from None
    except OSError as exc:
        problem = environment_error(exc, output) if output is not None else None
        if problem is not None:
            raise problem from exc
        raise FormatError(f"{action}: {_one_line(exc)}", path=src) from exc
    except Exception as exc:
        if not (reading or isinstance(exc, _INPUT_FAILURES)):
            raise
        raise FormatError(f"{action}: {type(exc).__name__}: {_one_line(exc)}",
                          path=src) from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _source_path(path: str | Path) -> Path:
    """The input as a Path: a readable regular file, a folder, or a glob of files."""
    src = Path(path)
    if is_pattern(src):
        if not expand(src):
            raise InputError("no files match this pattern", path=src)
        return src
    try:
        info = src.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=src) from None
    except PermissionError:
        raise InputError("permission denied", path=src) from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise InputError("not a regular file", path=src)
    if not os.access(src, os.R_OK):
        raise InputError("permission denied", path=src)
    return src


def read(path: str | Path, *, plugin: str | None = None,
         options: Mapping[str, Any] | None = None) -> EMDFile:
    """Read any supported file into the canonical model (data stay lazy).

    ``plugin`` forces a format by name (as ``--from`` does); otherwise the extension
    proposes and the file's content decides.  ``options`` are format-specific (e.g.
    ``{"delimiter": ";", "decimal": ","}`` for CSV).
    """
    src = _source_path(path)
    reader = choose_reader(src, plugin)
    with error_boundary(src, f"cannot read as {reader.name}", reading=True):
        return reader.read(src, options=options or {})


def _write_with(writer: FormatPlugin, model: EMDFile, dst: Path, *, overwrite: bool,
                options: Mapping[str, Any], src: Path | None,
                provenance: Callable[[], Any] | None) -> Path:
    """Write through a temp name; verify, append provenance, publish."""
    def check(tmp: Path) -> None:
        try:
            with error_boundary(dst, "verification failed"):
                writer.verify(model, tmp, options=options)
        except EmdConvertError as exc:
            exc.path = str(dst)  # never name the temp file the user will not see
            raise

    with atomic_output(dst, overwrite=overwrite, check=check) as tmp:
        with error_boundary(src or dst, f"cannot convert to {writer.name}", dst):
            writer.write(model, tmp, options=options)
        if provenance is not None and getattr(writer, "keeps_provenance", False):
            comment = provenance()
            with error_boundary(dst, "cannot record provenance", dst):
                writer.append_comment(tmp, comment)  # type: ignore[attr-defined]
    return dst


def _write_options(dst: Path, model: EMDFile, compression: str | None, axis_order: str,
                   threads: int | None, progress: ProgressCallback | None,
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What every writer is told; ``target_suffix`` because it writes to a temp name.

    Writers report bytes copied as increments; the caller's *progress* gets running
    totals against the model's size.
    """
    advance = None
    if progress is not None:
        total = sum(nbytes(d.data) for d in model.datasets)
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            progress(done, total)

    return {**(extra or {}), "compression": compression, "axis_order": axis_order,
            "threads": threads, "progress": advance, "target_suffix": dst.suffix.lower()}


def write(model: EMDFile, path: str | Path, *, overwrite: bool = False,
          compression: str | None = None, axis_order: str = "x-first",
          threads: int | None = None, plugin: str | None = None,
          progress: ProgressCallback | None = None,
          options: Mapping[str, Any] | None = None) -> Path:
    """Write *model* to *path* atomically (format from the extension or ``plugin``).

    ``compression`` is ``None``, ``"gzip[:level]"`` (readable everywhere),
    ``"zstd[:level]"`` or ``"bitshuffle-lz4"`` (readers need hdf5plugin);
    ``axis_order`` is ``"x-first"`` (the spec's layout, default) or ``"c"`` (numpy C
    order, ncempy's convention); ``threads`` copy and compress chunks in parallel
    (default: the CPU count, at most 8).  A provenance entry is appended to the file's
    ``comments``.
    """
    dst = Path(path)
    writer = choose_writer(dst, plugin)
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
            source_plugin: str | None = None, target_plugin: str | None = None,
            compression: str | None = None, axis_order: str = "x-first",
            threads: int | None = None, progress: ProgressCallback | None = None,
            options: Mapping[str, Any] | None = None) -> Path:
    """Convert *src* to *dst*: ``format -> EMDFile -> format``, published atomically.

    The source is only ever opened for reading.  Its SHA-256 is computed while the data
    stream and recorded, with tool and plugin versions and the options, in the output's
    provenance log.  ``options`` go to both the reader and the writer (format-specific,
    e.g. CSV ``delimiter``/``decimal``).  Returns the output path.
    """
    source = _source_path(src)
    target = Path(dst)
    with contextlib.suppress(OSError):
        if target.exists() and os.path.samefile(source, target):
            raise UsageError("input and output are the same file", path=target)
    writer = choose_writer(target, target_plugin)
    check_destination(target, overwrite=overwrite)
    reader = choose_reader(source, source_plugin)
    digest = SourceDigest(source)
    with error_boundary(source, f"cannot read as {reader.name}", reading=True):
        model = reader.read(source, options=options or {})
    write_options = _write_options(target, model, compression, axis_order, threads,
                                   progress, options)
    recorded = {"compression": compression, "axis_order": axis_order,
                "source_plugin": source_plugin, "target_plugin": target_plugin,
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
                           options=write_options, src=source, provenance=provenance)
    finally:
        with contextlib.suppress(Exception):
            digest.result()

