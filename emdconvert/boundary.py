"""The one boundary where exceptions from plugins become emdconvert errors.

Readers of damaged files raise anything: ``struct.error``, ``KeyError``, DM tag errors,
``NotImplementedError``, tifffile errors, ``MemoryError``, ``OSError`` and, from h5py,
``RuntimeError`` (reliability.md rule 8).  Wrapped here, each becomes an
:class:`~emdconvert.errors.EmdConvertError` with a one-line reason naming the file and
an exit code, so neither the CLI nor the watch daemon ever shows a traceback for bad
input.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from pathlib import Path

from emdconvert.errors import EmdConvertError, FormatError, InputError
from emdconvert.publish import environment_error

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
        # h5py reports some write failures as RuntimeError ("unable to extend file
        # properly, errno = 27, ... 'File too large'"): the machine's problem too.
        problem = environment_error(exc, output) if output is not None else None
        if problem is not None:
            raise problem from exc
        if not (reading or isinstance(exc, _INPUT_FAILURES)):
            raise
        raise FormatError(f"{action}: {type(exc).__name__}: {_one_line(exc)}",
                          path=src) from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


