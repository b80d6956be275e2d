"""How a lazy array is stored: the blocks a read of it pulls from disk, and their cost.

A read from a file never costs just the bytes it returns.  HDF5 reads (and inflates)
every chunk a selection touches, so ten scattered patterns of an EMD file stored in
chunks of 128 patterns cost ten 4 MiB chunks; a memory map or ``pread`` of a
contiguous file pulls whole pages and the kernel's readahead around them.  So a
preview plans its reads in whole *storage blocks* and counts them
(:func:`read_cost`), not the bytes handed back:

- an ``h5py.Dataset``'s ``chunks`` (reversed under a
  :class:`~emdconvert.lazy.TransposedArray`, the x-first EMD layout);
- for contiguous data (an HDF5 contiguous dataset, a
  :class:`~emdconvert.lazy.RawFileArray` such as a ``.npy``, an ``np.memmap``) runs of
  C-order (or Fortran-order) rows of :data:`CONTIGUOUS_BLOCK` bytes, as
  :func:`~emdconvert.lazy.block_shape` cuts them;
- a dask array's ``chunksize``;
- any array-like may say itself with a ``storage_chunks`` attribute (a tuple of block
  lengths in its own index order, or None): :class:`~emdconvert.preview.sampling.Squeezed`
  does, and wrappers with the same shape (the read guard's ``SourceArray``) pass
  their ``base``'s through.

Anything else (an array in memory, an unknown reader's array) has no blocks
(:func:`storage_chunks` is None) and costs the bytes it returns.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from emdconvert.lazy import RawFileArray, TransposedArray, block_shape, expand_index

#: Length of the blocks contiguous storage is planned in (the size of our EMD chunks);
#: a read of part of one still costs all of it, which covers the kernel's readahead.
CONTIGUOUS_BLOCK = 4 * 1024 * 1024


def storage_chunks(array: Any) -> tuple[int, ...] | None:
    """The storage block shape of *array* in its own index order, or None (in memory,
    or unknown); see the module docstring."""
    shape = tuple(int(n) for n in array.shape)
    if hasattr(array, "storage_chunks"):
        hint = array.storage_chunks
        return None if hint is None else tuple(int(n) for n in hint)
    if isinstance(array, TransposedArray):
        inner = storage_chunks(array.base)
        return None if inner is None else inner[::-1]
    if type(array).__module__.startswith("h5py"):
        if array.chunks is not None:
            return tuple(int(n) for n in array.chunks)
        return _contiguous(shape, array.dtype, fortran=False)
    if isinstance(array, RawFileArray):
        return _contiguous(shape, array.dtype, fortran=array.fortran_order)
    if isinstance(array, np.memmap):
        if array.flags.c_contiguous or array.flags.f_contiguous:
            return _contiguous(shape, array.dtype, fortran=not array.flags.c_contiguous)
        return None
    if isinstance(array, np.ndarray):
        return None
    size = getattr(array, "chunksize", None)  # dask
    if isinstance(size, tuple) and len(size) == len(shape):
        return tuple(int(n) for n in size)
    base = getattr(array, "base", None)
    if base is not None and tuple(getattr(base, "shape", ())) == shape:
        return storage_chunks(base)
    return None


def _contiguous(shape: tuple[int, ...], dtype: Any, *, fortran: bool) -> tuple[int, ...]:
    item = np.dtype(dtype).itemsize
    if fortran:
        return block_shape(shape[::-1], item, CONTIGUOUS_BLOCK)[::-1]
    return block_shape(shape, item, CONTIGUOUS_BLOCK)


def extent(key: Any, length: int, chunk: int) -> int:
    """Elements along one axis of the blocks that *key* (an int or a slice) touches."""
    if isinstance(key, (int, np.integer)):
        first = (int(key) % length) // chunk * chunk
        return min(chunk, length - first)
    start, stop, step = key.indices(length)
    if start >= stop:
        return 0
    if step == 1:  # every block from the first to the last
        count, final = (stop - 1) // chunk - start // chunk + 1, (stop - 1) // chunk
    else:
        index = np.arange(start, stop, step) // chunk
        count, final = int(np.count_nonzero(np.diff(index))) + 1, int(index[-1])
    last = (length - 1) // chunk
    return count * chunk - (chunk * (last + 1) - length if final == last else 0)


def read_cost(
    key: Any, shape: tuple[int, ...], itemsize: int, chunks: tuple[int, ...] | None
) -> int:
    """Bytes a read of ``array[key]`` pulls from storage: the blocks it touches (see
    :func:`storage_chunks`), or the bytes it returns when there are none."""
    keys, _ = expand_index(key, shape)
    blocks = chunks or (1,) * len(shape)
    return itemsize * math.prod(
        extent(k, n, c) for k, n, c in zip(keys, shape, blocks, strict=True)
    )
