"""``--json``: what ``convert``, ``info``, ``validate`` and ``formats`` print for programs.

Acquisition software (LabVIEW, C#, DM-script, shell scripts) cannot parse a rich table,
so with ``--json`` stdout holds one JSON document and nothing else; warnings and the
one-line error stay on stderr.  Every document names its ``schema`` with a version
(``emdconvert.info/1``) so a consumer can refuse one it does not know; a new field
keeps the version, a changed or removed one bumps it (README, JSON output).

Values are plain JSON: numpy scalars become numbers, arrays lists (a summary past
:data:`MAX_LIST` elements), bytes text, and non-finite floats ``null``, which strict
parsers (C#, LabVIEW) would otherwise reject.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from emdconvert.cli.boundary import guarded

if TYPE_CHECKING:
    from emdconvert.batch import Outcome
    from emdconvert.emd.spec import Violation
    from emdconvert.model import Dim, EMDFile
    from emdconvert.registry import Registry

T = TypeVar("T")

CONVERT = "emdconvert.convert/1"
INFO = "emdconvert.info/1"
VALIDATE = "emdconvert.validate/1"
FORMATS = "emdconvert.formats/1"

#: Arrays (attributes) longer than this are summarised as ``{"shape", "dtype"}``.
MAX_LIST = 1024

Document = dict[str, Any]
Problem = dict[str, str]


def emit(document: Document) -> None:
    """Print *document* as the whole of stdout (strict JSON: no NaN, no Infinity)."""
    typer.echo(json.dumps(plain(document), indent=2, allow_nan=False))


def plain(value: Any) -> Any:
    """*value* as JSON types: what HDF5 attributes and numpy hand us, made portable."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.size > MAX_LIST:
            return {"shape": list(value.shape), "dtype": str(value.dtype)}
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, complex):
        return {"real": plain(value.real), "imag": plain(value.imag)}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def error_object(exc: BaseException | None, fallback: str = "") -> Problem:
    """``{"kind", "message"}`` for a failure: the error's class word and one line."""
    from emdconvert.errors import EmdConvertError

    if isinstance(exc, EmdConvertError):
        return {"kind": exc.kind, "message": " ".join(str(exc).split())}
    if isinstance(exc, KeyboardInterrupt):
        return {"kind": "interrupted", "message": "interrupted"}
    if exc is None:
        return {"kind": "internal", "message": fallback}
    return {"kind": "internal", "message": f"internal error: {type(exc).__name__}: {exc}"}


def guarded_document(
    debug: bool,
    subject: Path | None,
    action: Callable[[], T],
    failed: Callable[[Problem, int], Document],
) -> T:
    """:func:`~emdconvert.cli.boundary.guarded` (same stderr line, same exit code), and
    on failure also the document ``failed(error, exit_code)`` on stdout, so a program
    reading only stdout still learns why."""
    caught: list[BaseException] = []

    def attempt() -> T:
        try:
            return action()
        except BaseException as exc:
            caught.append(exc)
            raise

    try:
        return guarded(debug, subject, attempt)
    except typer.Exit as stop:
        emit(failed(error_object(caught[-1] if caught else None, "failed"), stop.exit_code))
        raise


# -- convert -------------------------------------------------------------------------


def file_entry(outcome: Outcome) -> Document:
    """One converted, up-to-date or failed input of ``convert --json``."""
    seconds = {
        "total": outcome.seconds,
        "prepare": outcome.prepare_seconds,
        "write": outcome.write_seconds,
    }
    return {
        "source": str(outcome.source),
        "status": _status(outcome),
        "output": str(outcome.target) if outcome.ok else None,
        "exit_code": outcome.exit_code,
        "source_bytes": outcome.source_bytes,
        "output_bytes": outcome.output_bytes,
        "seconds": seconds,
        "error": None if outcome.ok else {"kind": outcome.kind, "message": outcome.message},
        "provenance_id": outcome.provenance_id,
    }


def _status(outcome: Outcome) -> str:
    if not outcome.ok:
        return "failed"
    return "up-to-date" if outcome.up_to_date else "converted"


def skipped_entry(source: Path) -> Document:
    """A folder's file that no installed plugin reads: listed, not converted."""
    reason = (
        f"{source}: no installed format reads {source.suffix or 'files without an extension'!r}"
    )
    return {
        "source": str(source),
        "status": "skipped",
        "output": None,
        "exit_code": 0,
        "source_bytes": source.stat().st_size,
        "output_bytes": None,
        "seconds": {"total": None, "prepare": None, "write": None},
        "error": {"kind": "not-convertible", "message": reason},
        "provenance_id": None,
    }


def convert_document(
    outcomes: Sequence[Outcome],
    skipped: Sequence[Path] = (),
    *,
    exit_code: int | None = None,
    error: Problem | None = None,
) -> Document:
    """The one document ``convert --json`` prints: every file, then the totals.

    *error* is a failure of the command as a whole (a bad option, a missing output
    folder), before any file was tried.
    """
    files = [file_entry(o) for o in sorted(outcomes, key=lambda o: str(o.source))]
    files += [skipped_entry(p) for p in skipped]
    worst = max((o.exit_code for o in outcomes), default=0)
    return {
        "schema": CONVERT,
        "files": files,
        "summary": {
            "converted": sum(o.ok and not o.up_to_date for o in outcomes),
            "up_to_date": sum(o.up_to_date for o in outcomes),
            "failed": sum(not o.ok for o in outcomes),
            "skipped": len(skipped),
            "seconds": sum(o.seconds for o in outcomes),
        },
        "exit_code": worst if exit_code is None else exit_code,
        "error": error,
    }


def convert_failed(error: Problem, exit_code: int) -> Document:
    """``convert --json`` when the command failed before any file: no files, the error."""
    return convert_document([], exit_code=exit_code, error=error)


# -- info ----------------------------------------------------------------------------


def dim_entry(dim: Dim) -> Document:
    """One axis: name, units, size, offset and scale; the values' range when the axis is
    not uniformly spaced (offset and scale then do not describe it)."""
    import numpy as np

    uniform = dim.is_uniform or dim.size <= 2
    if not uniform:
        values = dim.values
        uniform = bool(
            np.allclose(np.diff(values.astype(np.float64)), dim.scale, rtol=1e-9, atol=0)
        )
    summary = None
    if not uniform:
        summary = {"first": values[0], "last": values[-1], "min": values.min(), "max": values.max()}
    return {
        "name": dim.name,
        "units": dim.units,
        "size": dim.size,
        "offset": dim.offset,
        "scale": dim.scale,
        "uniform": uniform,
        "values": summary,
    }


def info_document(path: Path, model: EMDFile, format_name: str) -> Document:
    """``info --json``: the file as emdconvert reads it (numpy orientation, ``(..., y, x)``)."""
    from emdconvert.emd.provenance import parse_comment
    from emdconvert.model import METADATA_GROUPS
    from emdconvert.sources import expand

    datasets = [
        {
            "name": d.name,
            "shape": list(d.shape),
            "dtype": str(d.dtype),
            "units": d.units,
            "dims": [dim_entry(dim) for dim in d.dims],
            "attrs": dict(d.attrs),
        }
        for d in model.datasets
    ]
    comments = [
        {"key": c.key, "message": c.message, "provenance": parse_comment(c.message)}
        for c in model.comments
    ]
    return {
        "schema": INFO,
        "file": str(path),
        "format": format_name,
        "file_bytes": sum(f.stat().st_size for f in expand(path)),
        "datasets": datasets,
        "metadata": {group: dict(model.metadata(group)) for group in METADATA_GROUPS},
        "comments": comments,
        "exit_code": 0,
        "error": None,
    }


def info_failed(path: Path, error: Problem, exit_code: int) -> Document:
    """``info --json`` for a file that could not be read."""
    return {"schema": INFO, "file": str(path), "exit_code": exit_code, "error": error}


# -- validate ------------------------------------------------------------------------


def validate_entry(path: Path, violations: Sequence[Violation] | None) -> Document:
    """One file of ``validate --json``; *violations* None means there was no file."""
    from emdconvert.emd.spec import MUST

    if violations is None:
        error = {"kind": "missing", "message": f"{path}: no such file"}
        return {"path": str(path), "valid": False, "problems": [], "error": error}
    problems = [
        {"rule": v.rule, "level": v.level, "where": v.where, "message": v.message}
        for v in violations
    ]
    valid = not any(v.level == MUST for v in violations)
    return {"path": str(path), "valid": valid, "problems": problems, "error": None}


def validate_document(
    files: Sequence[Document], error: Problem | None = None, exit_code: int | None = None
) -> Document:
    """``validate --json``: valid only if every file is (exit 1 otherwise, as in text)."""
    valid = bool(files) and error is None and all(f["valid"] for f in files)
    code = (0 if valid else 1) if exit_code is None else exit_code
    return {
        "schema": VALIDATE,
        "valid": valid,
        "files": list(files),
        "exit_code": code,
        "error": error,
    }


# -- formats -------------------------------------------------------------------------


def formats_document(registry: Registry) -> Document:
    """``formats --json``: every installed plugin, as ``emdconvert formats`` lists them."""
    plugins = []
    for name in registry.names():
        plugin = registry.plugins[name]
        plugins.append(
            {
                "name": name,
                "extensions": list(plugin.extensions),
                "read": bool(plugin.can_read),
                "write": bool(plugin.can_write),
                "module": type(plugin).__module__,
                "class": type(plugin).__qualname__,
                "provided_by": registry.distribution(name),
                "description": plugin.description,
            }
        )
    return {"schema": FORMATS, "formats": plugins, "exit_code": 0, "error": None}


def formats_failed(error: Problem, exit_code: int) -> Document:
    """``formats --json`` when the plugin set cannot be loaded."""
    return {"schema": FORMATS, "formats": [], "exit_code": exit_code, "error": error}
