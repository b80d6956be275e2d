"""The arrays over ``.npz`` members, each proving its bytes against the ZIP CRC-32.

A member is read in place when stored, inflated when deflated; either way a damaged
member must fail the conversion, not convert silently, and the checks here do that
without reading a large stored member twice.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.errors import FormatError
from emdconvert.lazy import ArrayLike, RawFileArray, expand_index

ZIP_MAGIC = b"PK\x03\x04"
_LOCAL_HEADER = 30  # fixed part of a zip local file header
#: Out-of-order blocks a :class:`StoredMember` holds back for its running CRC, at most.
_HELD_BYTES = 64 * 1024 * 1024
#: Read size of a separate CRC pass.
_PASS_BYTES = 1024 * 1024


def member_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Where a stored (uncompressed) member's bytes start in the archive."""
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(_LOCAL_HEADER)
        if local[:4] != ZIP_MAGIC:
            raise FormatError(f"{info.filename}: bad zip local header")
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
    return info.header_offset + _LOCAL_HEADER + name_len + extra_len


def _damaged(info: zipfile.ZipInfo) -> FormatError:
    return FormatError(f"{info.filename}: CRC-32 mismatch, the member's bytes are damaged")


@contextlib.contextmanager
def _member_errors(info: zipfile.ZipInfo) -> Iterator[None]:
    """zipfile's CRC and zlib's inflate complaints, as a FormatError naming the member.

    Left alone they are a ``BadZipFile`` traceback, which the core counts as a bug.
    """
    try:
        yield
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc):
            raise _damaged(info) from None
        raise FormatError(f"{info.filename}: {exc}") from None
    except zlib.error as exc:
        raise FormatError(f"{info.filename}: cannot inflate ({exc})") from None


def check_crc(path: Path, info: zipfile.ZipInfo) -> None:
    """Stream the member *info* through :mod:`zipfile`, which checks its CRC-32 at the end."""
    with _member_errors(info), zipfile.ZipFile(path) as archive, archive.open(info) as member:
        while member.read(_PASS_BYTES):
            pass


class StoredMember(RawFileArray):
    """A stored ``.npz`` member read in place, whose CRC-32 is summed as its blocks stream.

    Why this design: the member is read lazily with ``pread`` so that 50 GB convert in
    bounded memory, and a CRC pass before the conversion would read it twice.  Instead a
    running ``zlib.crc32`` takes in every byte range the moment it is first read, in
    member order; the read that completes the member compares the sum with the directory
    and raises :class:`FormatError` on a mismatch (and so does every later read).  The
    exception comes out of the writer's pull of data, inside the core's write, so the
    output is never published (``api._write_with`` verifies and publishes only after the
    writer returns, ``publish.atomic_output`` deletes the temp file on an exception).

    Correct for any read pattern: blocks read twice are summed once; blocks that arrive
    ahead of the sum (the block copier's threads finish out of order) are held back, up
    to :data:`_HELD_BYTES`; a read that is not one byte range (Fortran order, strided
    selections) or would exceed that bound is preceded by a separate streaming CRC pass
    over the whole member, after which reads are plain.  Data returned before the last
    block has been read are not yet verified: a caller of ``emdconvert.read`` that reads
    part of a member gets no verdict, one that reads it all does.
    """

    def __init__(
        self,
        path: Path,
        info: zipfile.ZipInfo,
        start: int,
        header: int,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        fortran: bool,
    ) -> None:
        super().__init__(path, start + header, shape, dtype, fortran_order=fortran)
        self.info = info
        self._payload = math.prod(self.shape) * self.dtype.itemsize
        self._tail = (start + header + self._payload, start + info.file_size)
        self._lock = threading.Lock()
        self._crc = zlib.crc32(_pread(path, start, header))
        self._summed = 0  # payload bytes taken into the running CRC, from the start
        self._held: dict[int, bytes] = {}
        self._verdict: FormatError | bool | None = None  # True once the CRC matched

    def __getitem__(self, key: Any) -> np.ndarray:
        out = super().__getitem__(key)
        self._account(key, out)
        return out

    def read_into(self, key: Any, out: np.ndarray) -> bool:
        if not super().read_into(key, out):
            return False
        self._account(key, out)
        return True

    def _account(self, key: Any, out: np.ndarray) -> None:
        """Take the bytes just read into the CRC; raise if the member is damaged."""
        if self._verdict is True:
            return
        span = (
            None if self.fortran_order else self._contiguous_span(expand_index(key, self.shape)[0])
        )
        with self._lock:
            if self._verdict is None:
                if span is None or not self._take(
                    span[0] * self.dtype.itemsize, out.reshape(-1).view(np.uint8)
                ):
                    self._verdict = self._separate_pass()
            if isinstance(self._verdict, FormatError):
                raise FormatError(str(self._verdict))

    def _take(self, first: int, data: np.ndarray) -> bool:
        """Sum ``data`` (member payload bytes from *first*); False when it cannot be held."""
        if first > self._summed:
            held = sum(len(b) for b in self._held.values())
            if held + len(data) > _HELD_BYTES:
                return False
            if len(data) > len(self._held.get(first, b"")):
                self._held[first] = data.tobytes()
            return True
        self._extend(first, data)
        while ready := [s for s in self._held if s <= self._summed]:
            for start in ready:
                self._extend(start, np.frombuffer(self._held.pop(start), np.uint8))
        if self._summed == self._payload:
            for offset in range(self._tail[0], self._tail[1], _PASS_BYTES):
                size = min(_PASS_BYTES, self._tail[1] - offset)
                self._crc = zlib.crc32(_pread(self.path, offset, size), self._crc)
            self._verdict = True if self._crc == self.info.CRC else _damaged(self.info)
            self._held.clear()
        return True

    def _extend(self, first: int, data: np.ndarray) -> None:
        if first + len(data) > self._summed:
            self._crc = zlib.crc32(data[self._summed - first :].data, self._crc)
            self._summed = first + len(data)

    def _separate_pass(self) -> FormatError | bool:
        self._held.clear()
        try:
            check_crc(self.path, self.info)
        except FormatError as exc:
            return exc
        return True


def _pread(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as handle:
        data = os.pread(handle.fileno(), size, offset)
    if len(data) != size:
        raise FormatError(f"file ends {size - len(data)} bytes early at offset {offset}")
    return data


class CompressedMember(ArrayLike):
    """A deflated ``.npz`` member, inflated on first access (not when the file is read).

    Deflate cannot be read from the middle, so the member is inflated whole, but only
    once the size budgets have accepted its declared shape: a member declaring terabytes
    in a few kilobytes is refused before any memory is spent on it.  The member is read
    to its end, bytes after the array too, so that zipfile checks its CRC-32.
    """

    def __init__(
        self, path: Path, info: zipfile.ZipInfo, shape: tuple[int, ...], dtype: np.dtype[Any]
    ) -> None:
        self.path, self.info = path, info
        self.shape, self.dtype = shape, dtype
        self._array: np.ndarray | None = None

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._array is None:
            self._array = self._inflate()
        return np.asarray(self._array[key])

    def _inflate(self) -> np.ndarray:
        with (
            _member_errors(self.info),
            zipfile.ZipFile(self.path) as archive,
            archive.open(self.info) as handle,
        ):
            array = np.lib.format.read_array(handle, allow_pickle=False)  # type: ignore[arg-type]
            while handle.read(_PASS_BYTES):
                pass
        return array
