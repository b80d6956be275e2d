"""Size budgets, checked on the declared shapes before any output exists.

A header can declare anything: a 14 KB HDF5 file can hold an 8 TB chunked dataset of
fill values, a 3 MB TIFF a 3.2 GB zlib strip of zeros, a patched DM4 10^12 elements
(README, Safety rules R6).  Lazy readers return such arrays without complaint, and a
writer that created the output from their shape would fill a disk before failing.  So
after reading (which parses headers only) and before writing, the declared bytes are
computed with Python ints and compared with three limits: a configurable maximum, a
compression-ratio limit against the source's size (Pillow's decompression-bomb stance),
and the free space where the output will go.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emdconvert.errors import EnvironmentProblem, PolicyError, UsageError
from emdconvert.model import EMDFile
from emdconvert.remedies import remedy

#: Declared bytes per source byte above which input is treated as a decompression bomb.
DEFAULT_MAX_RATIO = 1000.0
#: Below this many declared bytes a high ratio is harmless (and common: zeros compress).
RATIO_FLOOR = 1 << 30
#: Free space kept on top of the estimated output size (metadata, chunk index).
SPACE_MARGIN = 16 << 20

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"4G"``, ``"500 MiB"``, ``"1.5T"`` or a plain byte count, in bytes (powers of 2)."""
    match = _SIZE.match(text)
    if match is None:
        raise UsageError("not a size (examples: 500M, 4G, 2T)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def human(count: int) -> str:
    """A byte count people can read: ``2.0 TiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def declared_bytes(model: EMDFile) -> int:
    """What the model's datasets declare, exactly (Python ints never overflow)."""
    return sum(math.prod(d.shape) * d.dtype.itemsize for d in model.datasets)


@dataclass
class _Allowance:
    """The limits in force while one source is read, and what its reader has claimed."""

    source_bytes: int
    max_bytes: int | None
    max_ratio: float | None
    reserved: int = 0


_ALLOWANCE: contextvars.ContextVar[_Allowance | None] = contextvars.ContextVar(
    "emdconvert_allowance", default=None
)


@contextlib.contextmanager
def reading_within(
    source_bytes: int, *, max_bytes: int | None = None, max_ratio: float | None = DEFAULT_MAX_RATIO
) -> Iterator[None]:
    """While a reader parses a source's headers, what it allocates counts (:func:`reserve`).

    The declared data are checked after the read; but a 12 KB EMD whose dim vector
    declares 2^28 float64 values makes the reader allocate 2 GB *during* the read,
    before any data budget applies.  Readers announce such arrays (dim vectors, tag
    arrays, lookup tables) with :func:`reserve` first; the same limits refuse them.
    """
    token = _ALLOWANCE.set(_Allowance(source_bytes, max_bytes, max_ratio))
    try:
        yield
    finally:
        _ALLOWANCE.reset(token)


def reserve(nbytes: int, what: str) -> None:
    """Count *nbytes* a reader is about to allocate for *what*; refuse them over budget.

    Outside :func:`reading_within` (a plugin called directly) nothing is counted.
    """
    allowance = _ALLOWANCE.get()
    if allowance is None:
        return
    allowance.reserved += nbytes
    _refuse_over(
        allowance.reserved, allowance.source_bytes, allowance.max_bytes, allowance.max_ratio, what
    )


def check_early(nbytes: int, what: str = "declared size") -> None:
    """Refuse, while the source is still being read, data of *nbytes* that the budget
    would refuse after the read anyway.

    For readers whose remaining work is costly: the TIFF plugin asks before rsciio's
    calibration reader imports dask (and, where installed, sparse and numba: 90 MB) for
    a 60 KB file that declares 3 GB.  Outside :func:`reading_within` nothing is checked.
    """
    allowance = _ALLOWANCE.get()
    if allowance is not None:
        _refuse_over(
            allowance.reserved + nbytes,
            allowance.source_bytes,
            allowance.max_bytes,
            allowance.max_ratio,
            what,
        )


def max_bytes_in_force() -> int | None:
    """The ``max_bytes`` of the read in progress (:func:`reading_within`), if any: a
    reader that must read eagerly sizes itself by it."""
    allowance = _ALLOWANCE.get()
    return None if allowance is None else allowance.max_bytes


#: Attribute on the data group of a dataset whose reader had to read it into memory.
READ_ATTR = "emdconvert_read"
#: Without a caller's ``max_bytes``, an eager read may take this share of physical memory.
EAGER_RAM_FRACTION = 4


def eager_limit() -> int:
    """Bytes an eager read may take: the caller's ``max_bytes`` if one is in force
    (:func:`reading_within`), else a quarter of physical memory, so a reader without
    lazy support cannot make the machine swap or the OOM killer strike."""
    limit = max_bytes_in_force()
    if limit is not None:
        return limit
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // EAGER_RAM_FRACTION


def fits_in_memory(size: int, what: str, path: Path) -> None:
    """Refuse (exit 5) to read *size* bytes of *path* into memory over :func:`eager_limit`;
    *what* starts the message (``"rsciio's MSA reader cannot read lazily, and the file"``)."""
    limit = eager_limit()
    if size > limit:
        raise PolicyError(
            f"{what} ({human(size)}) exceeds the in-memory limit "
            f"{human(limit)} (raise it with {remedy('max_bytes')})",
            path=path,
            kind="budget",
        )


def check_budget(
    model: EMDFile,
    source_bytes: int,
    *,
    max_bytes: int | None = None,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
) -> int:
    """Refuse (exit 5) data over *max_bytes* or over *max_ratio* times *source_bytes*.

    What the reader reserved while reading counts too.  Returns the declared data size
    for the caller's space check.
    """
    declared = declared_bytes(model)
    allowance = _ALLOWANCE.get()
    extra = allowance.reserved if allowance is not None else 0
    _refuse_over(declared + extra, source_bytes, max_bytes, None, "declared size")
    _refuse_over(
        declared - in_memory_bytes(model) + extra, source_bytes, None, max_ratio, "declared size"
    )
    return declared


def in_memory_bytes(model: EMDFile) -> int:
    """Bytes of datasets already read into memory (numpy arrays, not lazy ones).

    The ratio limit judges what a header *declares*, before it is believed; data a
    reader has decoded already exist (a JEOL ``.pts`` event list really does decode to
    800 times its size), and what bounded their decoding is the memory limit of the
    eager read, not the ratio.
    """
    return sum(d.data.nbytes for d in model.datasets if isinstance(d.data, np.ndarray))


def _refuse_over(
    count: int, source_bytes: int, max_bytes: int | None, max_ratio: float | None, what: str
) -> None:
    if max_bytes is not None and count > max_bytes:
        raise PolicyError(
            f"{what}: {human(count)} exceeds the limit "
            f"{human(max_bytes)} (raise it with {remedy('max_bytes')})",
            kind="budget",
        )
    if max_ratio is not None and count > RATIO_FLOOR and count > max_ratio * max(source_bytes, 1):
        ratio = count / max(source_bytes, 1)
        raise PolicyError(
            f"{what}: {human(count)} from a {human(source_bytes)} "
            f"file: compression ratio {ratio:.0f}:1 exceeds limit "
            f"{max_ratio:.0f}:1 ({remedy('max_ratio')} converts it anyway)",
            kind="budget",
        )


def check_space(directory: Path, needed: int) -> None:
    """Fail before writing (exit 4) when *directory* cannot hold *needed* bytes."""
    try:
        stats = os.statvfs(directory)
    except OSError:
        return  # no statvfs here (some network mounts): the write itself will tell
    free = stats.f_bavail * stats.f_frsize
    if needed + SPACE_MARGIN > free:
        raise EnvironmentProblem(
            f"not enough space: the output needs about "
            f"{human(needed)} but {directory} has {human(free)} free",
            path=directory,
        )
