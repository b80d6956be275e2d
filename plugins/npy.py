"""NumPy ``.npy`` and ``.npz`` read and write.

Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html.
Reading parses the header only (never with pickles: object arrays are refused) and
returns a :class:`~emdconvert.lazy.RawFileArray` over the payload, so a 2 GiB ``.npy``
streams in bounded memory.  The declared size is checked against the file size before
anything is read.  ``.npz`` members stored uncompressed (``np.savez``) are read in place
the same way; compressed members (``np.savez_compressed``) must be inflated into memory.
Every member's ZIP CRC-32 is checked (see :class:`StoredMember` for how without reading
a large member twice), and members are opened by their directory entry, never by name,
so two members that share a name each keep their own data.
A ``.npy`` holds one array and nothing else, so dims and metadata are not kept; ``.npz``
writes each dataset as its own member.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from emdconvert.errors import FormatError, IncompleteError, PolicyError, UnsupportedError
from emdconvert.lazy import (
    DEFAULT_BLOCK_BYTES,
    ArrayLike,
    LazyArray,
    RawFileArray,
    expand_index,
    iter_blocks,
)
from emdconvert.model import Dataset, EMDFile
from emdconvert.plugin import BasePlugin, package_version

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
_LOCAL_HEADER = 30  # fixed part of a zip local file header
#: Stored members up to this size are CRC-checked when the archive is read: reading a
#: few MiB twice costs nothing, and the check is then done before any output exists.
_EAGER_CRC_BYTES = 4 * 1024 * 1024
#: Out-of-order blocks a :class:`StoredMember` holds back for its running CRC, at most.
_HELD_BYTES = 64 * 1024 * 1024
#: Read size of a separate CRC pass.
_PASS_BYTES = 1024 * 1024


def read_header(handle: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype[Any],
                                                         bool, int]:
    """(shape, dtype, fortran_order, header length) of the ``.npy`` stream at *handle*.

    *where* prefixes messages (an ``.npz`` member's name, or empty for a ``.npy``).
    """
    from numpy.lib import format as npformat

    start = handle.tell()
    try:
        version = npformat.read_magic(handle)
        parse = {(1, 0): npformat.read_array_header_1_0,
                 (2, 0): npformat.read_array_header_2_0}.get(version)
        if parse is None:
            raise FormatError(f"{where}unsupported .npy format version {version}")
        shape, fortran, dtype = parse(handle)
    except ValueError as exc:
        raise FormatError(f"{where}bad .npy header ({exc})") from None
    if dtype.hasobject:
        raise PolicyError(f"{where}object arrays need pickle, which is never loaded")
    return tuple(int(n) for n in shape), dtype, bool(fortran), handle.tell() - start


def _check_payload(where: str, shape: tuple[int, ...], dtype: np.dtype[Any],
                   available: int) -> None:
    declared = math.prod(shape) * dtype.itemsize
    if declared > available:
        raise IncompleteError(f"{where}incomplete: the header's declared size is "
                              f"{declared} bytes of data but only {available} follow "
                              "(truncated, or still being written)")


def _member_offset(path: Path, info: zipfile.ZipInfo) -> int:
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
    with _member_errors(info), zipfile.ZipFile(path) as archive, \
            archive.open(info) as member:
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

    def __init__(self, path: Path, info: zipfile.ZipInfo, start: int, header: int,
                 shape: tuple[int, ...], dtype: np.dtype[Any], fortran: bool) -> None:
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
        span = None if self.fortran_order else self._contiguous_span(
            expand_index(key, self.shape)[0])
        with self._lock:
            if self._verdict is None:
                if span is None or not self._take(span[0] * self.dtype.itemsize,
                                                   out.reshape(-1).view(np.uint8)):
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
            self._crc = zlib.crc32(data[self._summed - first:].data, self._crc)
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

    def __init__(self, path: Path, info: zipfile.ZipInfo, shape: tuple[int, ...],
                 dtype: np.dtype[Any]) -> None:
        self.path, self.info = path, info
        self.shape, self.dtype = shape, dtype
        self._array: np.ndarray | None = None

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._array is None:
            self._array = self._inflate()
        return np.asarray(self._array[key])

    def _inflate(self) -> np.ndarray:
        with _member_errors(self.info), zipfile.ZipFile(self.path) as archive, \
                archive.open(self.info) as handle:
            array = np.lib.format.read_array(handle, allow_pickle=False)  # type: ignore[arg-type]
            while handle.read(_PASS_BYTES):
                pass
        return array


class NPYPlugin(BasePlugin):
    """NumPy arrays: ``.npy`` (one array) and ``.npz`` (one array per member)."""

    name: ClassVar[str] = "npy"
    description: ClassVar[str] = "NumPy .npy / .npz arrays (no pickles)"
    extensions: ClassVar[tuple[str, ...]] = (".npy", ".npz")
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, NPY_MAGIC),)
    priority: ClassVar[int] = 60
    can_read: ClassVar[bool] = True
    can_write: ClassVar[bool] = True

    def sniff(self, path: Path, head: bytes) -> bool:
        if super().sniff(path, head):
            return True
        if head[:4] != ZIP_MAGIC:
            return False
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return False
        return bool(names) and all(n.endswith(".npy") for n in names)

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
        if head == NPY_MAGIC:
            return EMDFile((Dataset(path.stem, self._read_npy(path)),))
        return EMDFile(self._read_npz(path))

    def check_complete(self, path: Path) -> None:
        """Every header's declared payload is present (a ``.npz``'s directory too)."""
        with open(path, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
        if head == NPY_MAGIC:
            self._npy_header(path)
        else:
            for _ in self._npz_members(path):
                pass

    def _npy_header(self, path: Path) -> tuple[tuple[int, ...], np.dtype[Any], bool, int]:
        with open(path, "rb") as handle:
            shape, dtype, fortran, header = read_header(handle, "")
        _check_payload("", shape, dtype, path.stat().st_size - header)
        return shape, dtype, fortran, header

    def _read_npy(self, path: Path) -> RawFileArray:
        shape, dtype, fortran, header = self._npy_header(path)
        return RawFileArray(path, header, shape, dtype, fortran_order=fortran)

    @staticmethod
    def _npz_members(path: Path) -> Iterator[tuple[zipfile.ZipInfo,
                                                   tuple[tuple[int, ...], np.dtype[Any],
                                                         bool, int]]]:
        """Each member with its checked header."""
        with zipfile.ZipFile(path) as archive:
            if not archive.infolist():
                raise FormatError("the archive holds no arrays")
            for info in archive.infolist():
                where = f"{info.filename}: "
                with archive.open(info) as member:
                    found = read_header(member, where)  # type: ignore[arg-type]
                shape, dtype, _, header = found
                _check_payload(where, shape, dtype, info.file_size - header)
                yield info, found

    def _read_npz(self, path: Path) -> tuple[Dataset, ...]:
        datasets = []
        for info, (shape, dtype, fortran, header) in self._npz_members(path):
            array: LazyArray
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise FormatError(f"{info.filename}: a stored member's sizes disagree "
                                  f"({info.compress_size} and {info.file_size} bytes)")
            if info.compress_type != zipfile.ZIP_STORED:
                array = CompressedMember(path, info, shape, dtype)
            elif info.file_size <= _EAGER_CRC_BYTES or not math.prod(shape):
                check_crc(path, info)
                offset = _member_offset(path, info) + header
                array = RawFileArray(path, offset, shape, dtype, fortran_order=fortran)
            else:
                array = StoredMember(path, info, _member_offset(path, info), header, shape,
                                     dtype, fortran)
            datasets.append(Dataset(info.filename[:-len(".npy")], array))
        return tuple(datasets)

    def write(self, model: EMDFile, path: Path, *,
              options: Mapping[str, Any] | None = None) -> None:
        options = options or {}
        progress = options.get("progress")
        # *path* is a temp name; the core says which extension the output will have.
        if options.get("target_suffix", path.suffix) == ".npz":
            self._write_npz(model, path, progress)
            return
        if len(model.datasets) != 1:
            names = ", ".join(d.name for d in model.datasets)
            raise UnsupportedError(f".npy holds one array but the input has "
                                   f"{len(model.datasets)} ({names}); write .npz instead")
        with open(path, "wb") as handle:
            _stream_npy(model.datasets[0], handle, progress)

    def _write_npz(self, model: EMDFile, path: Path, progress: Any) -> None:
        from emdconvert.emd.writer import group_names

        names = group_names([d.name for d in model.datasets])
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, dataset in zip(names, model.datasets, strict=True):
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    _stream_npy(dataset, member, progress)

    def library_versions(self) -> dict[str, str]:
        return {"numpy": package_version("numpy")}


def _stream_npy(dataset: Dataset, handle: IO[bytes], progress: Any) -> None:
    """Header, then the array in C order, block by block."""
    from numpy.lib import format as npformat

    header = {"descr": npformat.dtype_to_descr(dataset.dtype), "fortran_order": False,
              "shape": dataset.shape}
    npformat.write_array_header_2_0(handle, header) \
        if _needs_v2(header) else npformat.write_array_header_1_0(handle, header)
    for _, block in iter_blocks(dataset.data, DEFAULT_BLOCK_BYTES):
        handle.write(np.ascontiguousarray(block, dtype=dataset.dtype).data)
        if progress is not None:
            progress(block.nbytes)


def _needs_v2(header: dict[str, Any]) -> bool:
    return len(repr(header)) > 65000
