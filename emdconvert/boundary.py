"""The one boundary where exceptions from plugins become emdconvert errors.

Readers of damaged files raise anything: ``struct.error``, ``KeyError``, DM tag errors,
``NotImplementedError``, tifffile errors, ``MemoryError``, ``OSError`` and, from h5py,
``RuntimeError`` (README, Safety rules R7).  Wrapped here, each becomes an
:class:`~emdconvert.errors.EmdConvertError` with a one-line reason naming the file and
an exit code, so neither the CLI nor the watch daemon ever shows a traceback for bad
input.

A missing library is not bad input: an ``ImportError`` anywhere in the chain of what a
plugin raised (a codec, an optional reader dependency), or a library's "requires the
'imagecodecs' package", becomes :class:`~emdconvert.errors.MissingDependency` (exit 4,
with the ``pip install`` that fixes it), which the watch daemon retries after back-off
rather than quarantining the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.errors import EmdConvertError, FormatError, InputError, MissingDependency
from emdconvert.lazy import ArrayLike, LazyArray, release
from emdconvert.model import EMDFile
from emdconvert.publish import environment_error

# Exceptions that, raised while reading a source, mean "this input is bad".
_INPUT_FAILURES = (
    struct.error,
    KeyError,
    IndexError,
    ValueError,
    EOFError,
    OSError,
    NotImplementedError,
    UnicodeError,
    OverflowError,
    MemoryError,
    RuntimeError,
)  # h5py reports corrupt object headers as RuntimeError


@contextlib.contextmanager
def error_boundary(
    src: Path, action: str, output: Path | None = None, *, reading: bool = False
) -> Iterator[None]:
    """Map exceptions from a plugin to an EmdConvertError naming *src*.

    While *reading*, every exception is bad input (README, Safety rules R7: readers of
    damaged files raise anything, TypeError included); while writing, only the
    exception types that input problems cause are, and anything else is a bug (exit 70).
    """
    try:
        yield
    except EmdConvertError as exc:
        if exc.path is None:
            exc.path = str(src)  # plugins say what is wrong; the boundary says where
        # A plugin's bad-input error raised from (or while handling) an ImportError:
        # the library is missing.  Not its text: that may quote what readers said about
        # a file they rightly refused (rsciio's list of reader failures).
        cause = _cause(exc) if isinstance(exc, InputError) else None
        missing = None if cause is None else missing_dependency(cause, src)
        if missing is not None:
            raise missing from exc
        raise
    except MemoryError:
        raise InputError(f"{action}: the data do not fit in memory", path=src) from None
    except OSError as exc:
        problem = environment_error(exc, output) if output is not None else None
        if problem is None:
            problem = missing_dependency(exc, src)
        if problem is not None:
            raise problem from exc
        raise FormatError(f"{action}: {_one_line(exc)}", path=src) from exc
    except Exception as exc:
        # h5py reports some write failures as RuntimeError ("unable to extend file
        # properly, errno = 27, ... 'File too large'"): the machine's problem too.
        problem = environment_error(exc, output) if output is not None else None
        if problem is None:
            problem = missing_dependency(exc, src)
        if problem is not None:
            raise problem from exc
        if not (reading or isinstance(exc, _INPUT_FAILURES)):
            raise
        raise FormatError(f"{action}: {type(exc).__name__}: {_one_line(exc)}", path=src) from exc


#: What libraries raise instead of an ImportError when an optional codec is missing:
#: tifffile, for a compression only imagecodecs decodes (LZW, JPEG, PNG, ...), says
#: "<COMPRESSION.LZW: 5> requires the 'imagecodecs' package" (a ValueError from a
#: KeyError from an AttributeError on its fallback module).
_REQUIRES = re.compile(r"requires the '([A-Za-z_][\w.]*)' (?:package|module|library)")
#: A module's name in an ImportError's text, when the exception does not carry one
#: (rsciio's Velox reader: "The 'sparse' library was not found").
_QUOTED = re.compile(r"'([A-Za-z_][\w.]*)'")
#: Modules whose absence means another package is missing: tifffile, without
#: imagecodecs, decodes zstd with Python 3.14's ``compression.zstd`` and the rest with
#: its own ``_imagecodecs``.
_PROVIDED_BY = {"compression": "imagecodecs", "_imagecodecs": "imagecodecs"}


def _cause(exc: BaseException) -> BaseException | None:
    """``__cause__``, else the ``__context__`` unless suppressed (``from None``)."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """*exc*, then what caused it, and so on."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = _cause(link)


def missing_dependency(
    exc: BaseException, path: str | Path | None = None
) -> MissingDependency | None:
    """The :class:`MissingDependency` behind *exc*, or None when no library is missing.

    An ``ImportError`` anywhere in *exc*'s chain (a ``ModuleNotFoundError``: not
    installed; any other: installed but not importable, too old or broken), or a
    library's "requires the 'x' package".
    """
    for link in _chain(exc):
        if isinstance(link, ImportError):
            name = link.name
            if name is None:
                quoted = _QUOTED.search(str(link))
                name = quoted[1] if quoted else None
            module = None if name is None else _PROVIDED_BY.get(name.split(".")[0], name)
            text = _one_line(link)
            if name is not None and text == f"No module named {name!r}" and module == name:
                text = ""  # the reason says it already
            return MissingDependency(
                module, path=path, detail=text, upgrade=not isinstance(link, ModuleNotFoundError)
            )
        required = _REQUIRES.search(str(link))
        if required:
            return MissingDependency(
                _PROVIDED_BY.get(required[1], required[1]),
                path=path,
                detail=_one_line(link).strip("'\""),
            )
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class SourceArray(ArrayLike):
    """A reader's lazy array as a writer pulls it: any failure is bad input (exit 3).

    Lazy readers fail late, while the writer pulls blocks: a tiled TIFF with a zero
    tile width raises ``ZeroDivisionError``, a deflated member with a bad CRC
    ``BadZipFile``, a codec anything at all.  Whatever a source raises while it is read
    says the source is bad, so it is mapped here, once, at the array, rather than by a
    list of exception types at the writer that would never be complete.  Exceptions
    from the writer's own code stay internal errors (exit 70): they are our bugs.
    """

    def __init__(self, base: LazyArray, source: Path, action: str) -> None:
        self.base = base
        self.shape = tuple(int(n) for n in base.shape)
        self.dtype = np.dtype(base.dtype)
        self.source = source
        self.action = action
        #: The block copier reads in parallel only from sources that allow it.
        self.concurrent_reads = bool(getattr(base, "concurrent_reads", False))
        if callable(getattr(base, "read_into", None)):
            self.read_into = self._read_into

    def __repr__(self) -> str:
        return f"SourceArray({self.base!r})"

    def __getitem__(self, key: Any) -> np.ndarray:
        with error_boundary(self.source, self.action, reading=True):
            return np.asarray(self.base[key])

    def _read_into(self, key: Any, out: np.ndarray) -> bool:
        with error_boundary(self.source, self.action, reading=True):
            return bool(self.base.read_into(key, out))  # type: ignore[attr-defined]

    def close(self) -> None:
        release(self.base)


def guard_reads(model: EMDFile, source: Path, action: str) -> EMDFile:
    """*model* with every dataset's array wrapped in a :class:`SourceArray`."""
    datasets = tuple(
        dataclasses.replace(d, data=SourceArray(d.data, source, action)) for d in model.datasets
    )
    return dataclasses.replace(model, datasets=datasets)
