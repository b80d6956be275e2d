"""A ``.npz`` archive read as datasets: each member's header checked, its array chosen.

Which array a member gets (read in place, CRC-checked now or as it streams, or
inflated on access) depends on how it is stored and how large it is; that choice and
the per-member header checks, shared by ``read`` and ``check_complete``, live here.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.errors import FormatError
from emdconvert.lazy import LazyArray, RawFileArray
from emdconvert.model import Dataset
from emdconvert.plugins.npy.header import check_payload, read_header
from emdconvert.plugins.npy.members import (
    CompressedMember,
    StoredMember,
    check_crc,
    member_offset,
)

#: Stored members up to this size are CRC-checked when the archive is read: reading a
#: few MiB twice costs nothing, and the check is then done before any output exists.
_EAGER_CRC_BYTES = 4 * 1024 * 1024


def npz_members(
    path: Path,
) -> Iterator[tuple[zipfile.ZipInfo, tuple[tuple[int, ...], np.dtype[Any], bool, int]]]:
    """Each member with its checked header."""
    with zipfile.ZipFile(path) as archive:
        if not archive.infolist():
            raise FormatError("the archive holds no arrays")
        for info in archive.infolist():
            where = f"{info.filename}: "
            with archive.open(info) as member:
                found = read_header(member, where)  # type: ignore[arg-type]
            shape, dtype, _, header = found
            check_payload(where, shape, dtype, info.file_size - header)
            yield info, found


def read_npz(path: Path) -> tuple[Dataset, ...]:
    """One dataset per member, named after it without ``.npy``."""
    datasets = []
    for info, (shape, dtype, fortran, header) in npz_members(path):
        array: LazyArray
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise FormatError(
                f"{info.filename}: a stored member's sizes disagree "
                f"({info.compress_size} and {info.file_size} bytes)"
            )
        if info.compress_type != zipfile.ZIP_STORED:
            array = CompressedMember(path, info, shape, dtype)
        elif info.file_size <= _EAGER_CRC_BYTES or not math.prod(shape):
            check_crc(path, info)
            offset = member_offset(path, info) + header
            array = RawFileArray(path, offset, shape, dtype, fortran_order=fortran)
        else:
            array = StoredMember(
                path, info, member_offset(path, info), header, shape, dtype, fortran
            )
        datasets.append(Dataset(info.filename[: -len(".npy")], array))
    return tuple(datasets)
