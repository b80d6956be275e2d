"""NumPy ``.npy`` and ``.npz`` read and write.

Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html.
Reading parses the header only (never with pickles: object arrays are refused) and
returns a :class:`~emdconvert.lazy.RawFileArray` over the payload, so a 2 GiB ``.npy``
streams in bounded memory.  The declared size is checked against the file size before
anything is read.  ``.npz`` members stored uncompressed (``np.savez``) are read in place
the same way; compressed members (``np.savez_compressed``) must be inflated into memory.
A ``.npy`` holds one array and nothing else, so dims and metadata are not kept; ``.npz``
writes each dataset as its own member.
"""

from __future__ import annotations

import math
import zipfile
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
    iter_blocks,
)
from emdconvert.model import Dataset, EMDFile
from emdconvert.plugin import BasePlugin, package_version

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
_LOCAL_HEADER = 30  # fixed part of a zip local file header


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


class CompressedMember(ArrayLike):
    """A deflated ``.npz`` member, inflated on first access (not when the file is read).

    Deflate cannot be read from the middle, so the member is inflated whole, but only
    once the size budgets have accepted its declared shape: a member declaring terabytes
    in a few kilobytes is refused before any memory is spent on it.
    """

    def __init__(self, path: Path, member: str, shape: tuple[int, ...],
                 dtype: np.dtype[Any]) -> None:
        self.path, self.member = path, member
        self.shape, self.dtype = shape, dtype
        self._array: np.ndarray | None = None

    def __getitem__(self, key: Any) -> np.ndarray:
        if self._array is None:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as handle:
                self._array = np.lib.format.read_array(handle, allow_pickle=False)  # type: ignore[arg-type]
        return np.asarray(self._array[key])


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
            if info.compress_type == zipfile.ZIP_STORED:
                offset = _member_offset(path, info) + header
                array = RawFileArray(path, offset, shape, dtype, fortran_order=fortran)
            else:
                array = CompressedMember(path, info.filename, shape, dtype)
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
        from emdconvert.emdwrite import group_names

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
