"""Moving a lazy array into an HDF5 dataset: read ahead, transpose, compress, write chunks.

This is the hot loop of every EMD write, so it is built for throughput in bounded memory:

- **Chunk layout.**  For the spec's x-first layout each chunk is the transpose of one
  contiguous run of source rows inside one frame (``(X, ky, 1, ...)``), so the source is
  read sequentially and every chunk is one 2-D transpose.  Frames smaller than
  :data:`FRAME_CHUNK_MIN` are grouped several to a chunk instead.
- **SIMD transpose.**  ``np.ascontiguousarray(frame.T)`` moves about one element per
  nanosecond; OpenCV's transpose is 6-10x faster and releases the GIL (a tiled numpy
  copy is the fallback when OpenCV is missing).
- **Direct chunk writes.**  Whole chunks go to ``H5Dwrite_chunk`` as ready bytes, skipping
  HDF5's selection machinery; for gzip they are deflated in worker threads (zlib releases
  the GIL) into the same standard zlib stream HDF5's own filter writes.
- **Bounded pipeline.**  A small thread pool prepares the next few chunks while the main
  thread writes, with at most :data:`WINDOW` chunks in flight.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from emdconvert.errors import UnsupportedError
from emdconvert.lazy import Index, LazyArray, block_indices, block_shape

if TYPE_CHECKING:
    import h5py

#: Largest chunk we create: big enough for sequential I/O, small enough to stream.
CHUNK_BYTES = 4 * 1024 * 1024
#: Frames at least this large get chunks of their own (no interleaving of frames).
FRAME_CHUNK_MIN = 256 * 1024
#: Side of the square tiles the transpose works in (fits L1/L2 for any dtype).
TILE = 64
#: Chunks being read, transposed or compressed at once.
WINDOW = 6

ProgressCallback = Callable[[int], None]
#: What a direct chunk write takes: bytes, or the array itself (any C-contiguous buffer).
Buffer = bytes | np.ndarray
ChunkEncoder = Callable[[np.ndarray], Buffer]


def default_threads() -> int:
    """Worker threads for one copy: every core, but no more than the pipeline can feed."""
    return max(1, min(os.cpu_count() or 2, 8))


def raw_bytes(array: np.ndarray) -> Buffer:
    """The encoder of uncompressed chunks: the array itself, written without a copy."""
    return array


def source_chunk(shape: tuple[int, ...], itemsize: int, transpose: bool) -> tuple[int, ...]:
    """The block of the source (numpy order) that becomes one stored chunk."""
    if transpose and len(shape) >= 2:
        row_bytes = shape[-1] * itemsize
        if shape[-2] * row_bytes >= FRAME_CHUNK_MIN and row_bytes <= CHUNK_BYTES:
            rows = max(1, min(shape[-2], CHUNK_BYTES // row_bytes))
            return (1,) * (len(shape) - 2) + (rows, shape[-1])
    return block_shape(shape, itemsize, CHUNK_BYTES)


#: The OpenCV element type that moves each item size's bytes unchanged.
_CV_VIEWS: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.int32),
    8: np.dtype(np.float64)}


#: Data at least this large are worth importing OpenCV for (~25 ms) to transpose.
SIMD_MIN_BYTES = 16 * 1024 * 1024


@functools.cache
def _opencv() -> Any:
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def use_simd_transpose() -> None:
    """Load OpenCV for :func:`transpose_2d`; a 1 MB file is done before it would pay off.

    Called by writers that are about to transpose at least :data:`SIMD_MIN_BYTES`.
    """
    _opencv()


def transpose_2d(frame: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:] = frame.T``: with OpenCV's SIMD transpose when it is installed.

    numpy's strided copy moves about one element per nanosecond whatever the dtype, and
    a tiled numpy copy gains little on frames that fit in cache (0.28 ms for a 512x512
    uint16 frame here, 23 ms for 2048x2048); ``cv2.transpose`` takes 0.045 ms and
    2.3 ms and releases the GIL, so the reader, transposer and writer threads overlap.
    It is used once :func:`use_simd_transpose` has loaded it.
    Only bytes move, so every dtype goes through the integer or float type of its item
    size (16-byte items as two 8-byte channels); the result is bit-identical.
    """
    cv2 = _opencv() if _opencv.cache_info().currsize else None
    size = frame.dtype.itemsize
    if cv2 is not None and frame.ndim == 2 and frame.strides[1] == size and \
            out.flags.c_contiguous and (size in _CV_VIEWS or size == 16):
        view = _CV_VIEWS.get(size, np.dtype(np.float64))
        channels = () if size in _CV_VIEWS else (2,)
        rows, cols = frame.shape
        src = frame.view(view).reshape(rows, cols, *channels)
        dst = out.view(view).reshape(cols, rows, *channels)
        if np.shares_memory(cv2.transpose(src, dst), dst):  # wrote into *out*
            return out
    rows, cols = frame.shape
    for y in range(0, rows, TILE):
        for x in range(0, cols, TILE):
            out[x:x + TILE, y:y + TILE] = frame[y:y + TILE, x:x + TILE].T
    return out


def transposed(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A C-contiguous ``block.T`` (in *out* when given); fast within one frame."""
    if out is None:
        out = np.empty(block.shape[::-1], dtype=block.dtype)
    if block.ndim >= 2 and math.prod(block.shape[:-2]) == 1:
        frame = block.reshape(block.shape[-2:])
        transpose_2d(frame, out.reshape(frame.shape[::-1]))
    else:
        np.copyto(out, block.T)
    return out


class _Prepared:
    """One chunk ready to write: where it goes, its array, and its bytes on disk."""

    __slots__ = ("array", "buffer", "nbytes", "payload", "selection")

    def __init__(self, selection: Index, array: np.ndarray, payload: Buffer | None,
                 nbytes: int, buffer: np.ndarray | None) -> None:
        self.selection = selection
        self.array = array
        self.payload = payload
        self.nbytes = nbytes
        self.buffer = buffer  # a pooled buffer to give back once written


class _BufferPool:
    """Reusable arrays of one shape: fresh 4 MiB arrays cost a page fault per 4 KiB.

    There are never more chunks alive than the pipeline window plus the one being
    written, so a pool of that size never makes a worker wait for long.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype[Any], size: int) -> None:
        self.shape = shape
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        for _ in range(size):
            self._free.put(np.empty(shape, dtype))

    def take(self) -> np.ndarray:
        return self._free.get()

    def give(self, buffer: np.ndarray) -> None:
        self._free.put(buffer)


def copy_into(source: LazyArray, target: h5py.Dataset, block: tuple[int, ...], *,
              transpose: bool, encode: ChunkEncoder | None = raw_bytes, threads: int = 2,
              progress: ProgressCallback | None = None) -> None:
    """Copy *source* into *target* (its transpose when *transpose*) chunk by chunk.

    *block* is the source block of one stored chunk (:func:`source_chunk`).  Whole
    chunks are turned into their stored bytes by *encode* in the worker threads and
    written directly; with ``encode=None`` (HDF5 filter plugins), and for partial edge
    chunks, h5py writes the array through the dataset's own filters.  Sources with a
    ``read_into(index, out)`` method (:class:`~emdconvert.lazy.RawFileArray`) are read
    into reused buffers.  Reads run in the pool only for sources that say they allow
    concurrent reads (``concurrent_reads = True``); others are read under a lock, in
    order.
    """
    shape = tuple(int(n) for n in source.shape)
    dtype = np.dtype(source.dtype)
    if transpose and math.prod(shape) * dtype.itemsize >= SIMD_MIN_BYTES:
        use_simd_transpose()
    read_lock: contextlib.AbstractContextManager[Any] = (
        contextlib.nullcontext() if getattr(source, "concurrent_reads", False)
        else threading.Lock())
    read_into = getattr(source, "read_into", None)
    scratch = threading.local()  # per-thread read buffer, transposed out of at once
    workers = max(1, threads)
    # One stored block: a whole chunk when chunked, a contiguous run otherwise.
    stored_block = block[::-1] if transpose else block
    chunks = _BufferPool(stored_block, dtype, WINDOW + 1)
    direct = target.chunks is not None and tuple(target.chunks) == stored_block

    def read(index: Index, into: np.ndarray | None) -> np.ndarray:
        if into is not None and read_into is not None and read_into(index, into):
            return into
        with read_lock:
            values = np.asarray(source[index])
        expected = tuple(s.stop - s.start for s in index)
        if values.shape != expected:
            msg = f"the reader returned a block of shape {values.shape} for {expected}"
            raise UnsupportedError(msg)
        return values

    def prepare(index: Index) -> _Prepared:
        expected = tuple(s.stop - s.start for s in index)
        whole = expected == block
        pooled = chunks.take() if whole else None
        if transpose:
            buffer = getattr(scratch, "buffer", None)
            if buffer is None or buffer.shape != expected:
                buffer = scratch.buffer = np.empty(expected, dtype) if whole else None
            values = read(index, buffer)
            array = transposed(values, pooled)
        else:
            array = np.ascontiguousarray(read(index, pooled))
        payload = encode(array) if direct and whole and encode is not None else None
        if payload is not None and payload is not array and pooled is not None:
            chunks.give(pooled)  # the compressed copy is what gets written
            pooled = None
        return _Prepared(index[::-1] if transpose else index, array, payload,
                         array.nbytes, pooled)

    def write(item: _Prepared) -> None:
        if item.payload is not None:
            offset = tuple(s.start for s in item.selection)
            target.id.write_direct_chunk(offset, item.payload)
        else:
            target[item.selection] = item.array
        if item.buffer is not None:
            chunks.give(item.buffer)
        if progress is not None:
            progress(item.nbytes)

    with ThreadPoolExecutor(max_workers=workers,
                            thread_name_prefix="emdconvert-copy") as pool:
        pending: deque[Future[_Prepared]] = deque()
        try:
            for index in block_indices(shape, block):
                pending.append(pool.submit(prepare, index))
                if len(pending) >= WINDOW:
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
        finally:
            for future in pending:
                future.cancel()
