"""Lazy array-likes: the protocol the model holds, and block-wise iteration over them.

A converter that must handle 50 GB 4D-STEM files cannot ``np.asarray`` its input.  The
model therefore holds anything with ``shape``, ``dtype`` and basic slicing (an
``h5py.Dataset``, an ``np.memmap``, a dask array, our own :class:`RawFileArray`), and
writers pull bounded blocks with :func:`iter_blocks`.  This is xarray's duck-array stance:
no array library becomes a hard dependency of the model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from emdconvert.errors import FormatError

Index = tuple[slice, ...]

#: Upper bound on the bytes of one block handed from a reader to a writer.
DEFAULT_BLOCK_BYTES = 8 * 1024 * 1024


@runtime_checkable
class LazyArray(Protocol):
    """What the model needs from an array: its shape, dtype and basic slicing."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    def __getitem__(self, key: Any) -> Any: ...


def nbytes(array: LazyArray) -> int:
    """Bytes the array would occupy in memory, computed with Python ints (no overflow)."""
    return math.prod(int(n) for n in array.shape) * np.dtype(array.dtype).itemsize


def block_shape(
    shape: tuple[int, ...], itemsize: int, max_bytes: int = DEFAULT_BLOCK_BYTES
) -> tuple[int, ...]:
    """Shape of blocks that are contiguous runs of the C-order array, at most *max_bytes*.

    Trailing axes are taken whole while they fit; the first axis that does not fit is
    split.  Every block is therefore one contiguous byte range of a C-order source (one
    ``pread``), and whole source frames stay together, which is what makes the
    transposed EMD layout cheap to write (README, EMD layout L9).  The split is
    :func:`even_split`, so blocks used as HDF5 chunks waste almost nothing at the edge.
    """
    block = [1] * len(shape)
    size = itemsize
    for axis in range(len(shape) - 1, -1, -1):
        n = max(int(shape[axis]), 1)
        if size * n <= max_bytes:
            block[axis] = n
            size *= n
        else:
            block[axis] = even_split(n, max(1, max_bytes // size))
            break
    return tuple(block)


def even_split(length: int, most: int) -> int:
    """The block length, at most *most*, that cuts *length* into the fewest near-equal parts.

    Chunks of an HDF5 dataset are all one size, so the last one along an axis is stored
    whole even when the data end inside it: a 362-position scan cut into 128s stores
    384 (6 % padding), cut into 121s it stores 363.
    """
    parts = -(-length // most)
    return -(-length // parts)


def block_indices(shape: tuple[int, ...], block: tuple[int, ...]) -> Iterator[Index]:
    """Yield the index tuples that tile *shape* with *block*, in C order."""
    counts = [math.ceil(n / b) if n else 0 for n, b in zip(shape, block, strict=True)]
    if not shape:
        yield ()
        return
    if 0 in counts:
        return
    for flat in range(math.prod(counts)):
        index = []
        for axis in range(len(shape) - 1, -1, -1):
            flat, k = divmod(flat, counts[axis])
            start = k * block[axis]
            index.append(slice(start, min(start + block[axis], shape[axis])))
        yield tuple(reversed(index))


def iter_blocks(
    array: LazyArray, max_bytes: int = DEFAULT_BLOCK_BYTES, block: tuple[int, ...] | None = None
) -> Iterator[tuple[Index, np.ndarray]]:
    """Yield ``(index, ndarray)`` pairs covering *array* with at most *max_bytes* each."""
    if block is None:
        block = block_shape(tuple(array.shape), np.dtype(array.dtype).itemsize, max_bytes)
    for index in block_indices(tuple(array.shape), block):
        yield index, np.asarray(array[index])


def expand_index(key: Any, shape: tuple[int, ...]) -> tuple[list[Any], list[int]]:
    """Expand *key* to one entry per axis; return it and the axes that stay.

    Public because every file-backed array (here, in the npy, tiff and dm plugins)
    turns numpy indexing into file reads the same way.
    """
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1 :]
    key = key + (slice(None),) * (len(shape) - len(key))
    if len(key) != len(shape):
        msg = f"too many indices for array of dimension {len(shape)}"
        raise IndexError(msg)
    return list(key), [i for i, k in enumerate(key) if not isinstance(k, (int, np.integer))]


class ArrayLike:
    """Shared numpy-facing conveniences for our lazy arrays (they define shape and slicing)."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        raise NotImplementedError

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[...]
        return data if dtype is None else data.astype(dtype)


def pread_fully(fd: int, view: memoryview, position: int) -> None:
    """Fill *view* from *fd* at *position*; a short file is an ``EOFError`` (``pread``
    may return fewer bytes than asked, and 0 only at the end of the file)."""
    want, done = len(view), 0
    while done < want:
        got = os.preadv(fd, [view[done:]], position + done)
        if got == 0:
            msg = f"file ends {want - done} bytes before the declared data"
            raise EOFError(msg)
        done += got


def flat_run(key: Sequence[Any], shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]] | None:
    """``(first, count, result shape)`` when *key* (one index or slice per axis) selects
    one C-order run of *shape*'s flat indices, else None.

    That is: whole trailing axes, then one axis cut to a step-1 range, and single
    positions on every axis before it (``[k, r0:r1, :]`` is one run, for example).  A
    file-backed array reads such a selection with one ``pread``.
    """
    starts, counts, out = [], [], []
    for k, n in zip(key, shape, strict=True):
        if isinstance(k, (int, np.integer)):
            i = int(k) + (n if k < 0 else 0)
            if not 0 <= i < n:
                msg = f"index {k} is out of bounds for an axis of size {n}"
                raise IndexError(msg)
            starts.append(i)
            counts.append(1)
        elif isinstance(k, slice):
            begin, stop, step = k.indices(n)
            if step != 1:
                return None
            starts.append(begin)
            counts.append(max(stop - begin, 0))
            out.append(counts[-1])
        else:
            return None
    cut = next((axis for axis in range(len(counts) - 1, -1, -1) if counts[axis] != shape[axis]), -1)
    if any(count != 1 for count in counts[: max(cut, 0)]):
        return None
    first, stride = 0, 1
    for begin, n in zip(reversed(starts), reversed(shape), strict=True):
        first += begin * stride
        stride *= n
    return first, math.prod(counts), tuple(out)


class RawFileArray(ArrayLike):
    """An uncompressed array stored contiguously in a file, read with ``pread``.

    ``np.memmap`` keeps every page it touched resident, so streaming a 2 GiB memmap
    ends with 2 GiB of RSS; this reads each requested block into a fresh buffer
    instead, and for a contiguous C-order run of rows that is a single ``preadv``.
    Other selections map only the rows they need, copy, and unmap.
    """

    #: Each read opens its own descriptor, so blocks may be read from several threads.
    concurrent_reads = True

    def __init__(
        self,
        path: str | Path,
        offset: int,
        shape: tuple[int, ...],
        dtype: np.dtype[Any] | str,
        *,
        fortran_order: bool = False,
    ) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(n) for n in shape)
        self.fortran_order = fortran_order
        # A header can declare anything (a DM4 patched to 10^12 elements still parses):
        # uncompressed data must fit in the file, checked with Python ints before any
        # output exists (README, Safety rules R6).
        declared = math.prod(self.shape) * self.dtype.itemsize
        size = os.stat(self.path).st_size
        if self.offset + declared > size:
            raise FormatError(
                f"declared size {declared} bytes at offset {self.offset} "
                f"does not fit in the {size}-byte file"
            )

    def __repr__(self) -> str:
        return f"RawFileArray({self.path.name!r}, shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, key: Any) -> np.ndarray:
        if self.fortran_order:
            # A Fortran-order array is the C-order array of the reversed shape, transposed.
            key_list, _ = expand_index(key, self.shape)
            flipped = RawFileArray(self.path, self.offset, self.shape[::-1], self.dtype)
            return np.asarray(flipped[tuple(reversed(key_list))]).T
        key_list, _ = expand_index(key, self.shape)
        span = self._contiguous_span(key_list)
        if span is None:
            return self._via_map(key_list)
        first, shape = span
        out = np.empty(shape, dtype=self.dtype)
        self._pread_into(first, out)
        return out

    def read_into(self, key: Index, out: np.ndarray) -> bool:
        """Fill *out* with ``self[key]`` without allocating; False if not one byte range.

        The block copier calls this with reusable buffers: fresh 4 MiB arrays per block
        cost a page fault per 4 KiB, more system time than the read itself.
        """
        if self.fortran_order:
            return False
        span = self._contiguous_span(list(key))
        if span is None or span[1] != out.shape or out.dtype != self.dtype:
            return False
        self._pread_into(span[0], out)
        return True

    def _contiguous_span(self, key: list[Any]) -> tuple[int, tuple[int, ...]] | None:
        """``(first element, result shape)`` when *key* selects one C-order byte range."""
        run = flat_run(key, self.shape)
        return None if run is None else (run[0], run[2])

    def _pread_into(self, first: int, out: np.ndarray) -> None:
        want = out.nbytes
        if not want:
            return
        view = out.reshape(-1).view(np.uint8).data
        position = self.offset + first * self.dtype.itemsize
        fd = os.open(self.path, os.O_RDONLY)
        try:
            pread_fully(fd, view, position)
        finally:
            os.close(fd)

    def _via_map(self, key: list[Any]) -> np.ndarray:
        mapped = np.memmap(
            self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape
        )
        try:
            return np.array(mapped[tuple(key)])
        finally:
            mapped._mmap.close()  # type: ignore[attr-defined]


class TransposedArray(ArrayLike):
    """A lazy transpose: reading ``[key]`` reads the reversed key and transposes it.

    Used for EMD files stored x-first (README, EMD layout L9), so the model always holds the
    numpy orientation ``(..., y, x)`` without reading anything.
    """

    def __init__(self, base: LazyArray) -> None:
        self.base = base
        self.shape = tuple(int(n) for n in base.shape)[::-1]
        self.dtype = np.dtype(base.dtype)

    def __repr__(self) -> str:
        return f"TransposedArray({self.base!r})"

    def __getitem__(self, key: Any) -> np.ndarray:
        key_list, _ = expand_index(key, self.shape)
        return np.asarray(self.base[tuple(reversed(key_list))]).T


def sample_keys(
    shape: tuple[int, ...], itemsize: int, max_bytes: int = 4 * 1024 * 1024
) -> list[tuple[int | slice, ...]]:
    """Up to three small selections spread over an array (its start, middle and end),
    each at most about *max_bytes*.

    Used to compare a written file with its source before publishing: a file that
    "opens fine" after a failed write can hold fill-value zeros (README, Safety rules R3).
    """
    if 0 in shape:
        return []
    lead, per_index = 0, math.prod(shape) * itemsize
    while lead < len(shape) and per_index > max_bytes:
        per_index //= shape[lead]
        lead += 1
    keys: list[tuple[int | slice, ...]] = []
    for fraction in (0.0, 0.5, 1.0):
        key: tuple[int | slice, ...] = ()
        if lead:  # index the axes before `lead - 1`, take a run along it
            n = shape[lead - 1]
            count = max(1, min(n, max_bytes // max(per_index, 1)))
            first = round(fraction * (n - count))
            key = (
                *(round(fraction * (m - 1)) for m in shape[: lead - 1]),
                slice(first, first + count),
            )
        if key not in keys:
            keys.append(key)
    return keys


def release(array: Any) -> None:
    """Close the file behind a lazy array, if it holds one open.

    h5py datasets keep their file open, and so does a tifffile series, until they are
    garbage-collected; a daemon or acquisition program that reads for months wants that
    to happen at a known moment.  Arrays that hold nothing open are left alone.
    """
    if isinstance(array, TransposedArray):
        release(array.base)
    elif callable(getattr(array, "close", None)):
        array.close()
    elif type(array).__module__.startswith("h5py") and array.id.valid:
        array.file.close()  # (already invalid when a sibling dataset closed the file)
