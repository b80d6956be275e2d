"""The ``.npy`` header, checked, and a ``.npy`` file's payload as a lazy array.

``.npy`` files and ``.npz`` members share this header, so its parsing (never with
pickles) and the check that the declared payload is present live here, used by both.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import IO, Any

import numpy as np

from emdconvert.errors import FormatError, IncompleteError, PolicyError
from emdconvert.lazy import RawFileArray

NPY_MAGIC = b"\x93NUMPY"


def read_header(handle: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype[Any], bool, int]:
    """(shape, dtype, fortran_order, header length) of the ``.npy`` stream at *handle*.

    *where* prefixes messages (an ``.npz`` member's name, or empty for a ``.npy``).
    """
    from numpy.lib import format as npformat

    start = handle.tell()
    try:
        version = npformat.read_magic(handle)
        parse = {
            (1, 0): npformat.read_array_header_1_0,
            (2, 0): npformat.read_array_header_2_0,
        }.get(version)
        if parse is None:
            raise FormatError(f"{where}unsupported .npy format version {version}")
        shape, fortran, dtype = parse(handle)
    except ValueError as exc:
        raise FormatError(f"{where}bad .npy header ({exc})") from None
    if dtype.hasobject:
        raise PolicyError(f"{where}object arrays need pickle, which is never loaded")
    return tuple(int(n) for n in shape), dtype, bool(fortran), handle.tell() - start


def check_payload(where: str, shape: tuple[int, ...], dtype: np.dtype[Any], available: int) -> None:
    """Refuse a header declaring more data bytes than the *available* ones after it."""
    declared = math.prod(shape) * dtype.itemsize
    if declared > available:
        raise IncompleteError(
            f"{where}incomplete: the header's declared size is "
            f"{declared} bytes of data but only {available} follow "
            "(truncated, or still being written)"
        )


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype[Any], bool, int]:
    """(shape, dtype, fortran_order, header length) of the ``.npy`` file, its size checked."""
    with open(path, "rb") as handle:
        shape, dtype, fortran, header = read_header(handle, "")
    check_payload("", shape, dtype, path.stat().st_size - header)
    return shape, dtype, fortran, header


def read_npy(path: Path) -> RawFileArray:
    """The ``.npy`` file's array, read lazily from the file."""
    shape, dtype, fortran, header = npy_header(path)
    return RawFileArray(path, header, shape, dtype, fortran_order=fortran)
