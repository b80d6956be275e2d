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
  thread writes, with at most :data:`WINDOW` chunks in flight (:class:`Pipeline`).

The stream writer (:mod:`emdconvert.emd.stream`) stages, encodes and writes its chunks
with the same :class:`BufferPool`, :func:`to_stored`, :class:`ChunkWriter` and
:class:`Pipeline`.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from emdconvert.emd.transpose import SIMD_MIN_BYTES, to_stored, use_simd_transpose
from emdconvert.errors import UnsupportedError
from emdconvert.lazy import Index, LazyArray, block_indices, block_shape, even_split

if TYPE_CHECKING:
    import h5py

#: Largest chunk we create: big enough for sequential I/O, small enough to stream.
CHUNK_BYTES = 4 * 1024 * 1024
#: Frames at least this large get chunks of their own (no interleaving of frames).
FRAME_CHUNK_MIN = 256 * 1024
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
            rows = even_split(shape[-2], max(1, CHUNK_BYTES // row_bytes))
            return (1,) * (len(shape) - 2) + (rows, shape[-1])
    return block_shape(shape, itemsize, CHUNK_BYTES)


class BufferPool:
    """Reusable chunk arrays of one shape: fresh 4 MiB arrays cost a page fault per 4 KiB.

    A buffer is taken when a chunk is staged and given back once it is written, so the
    pool grows to the chunks in flight (a pipeline window, a stream's queue) and no more.
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.shape = shape
        self.dtype = dtype
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()

    def take(self) -> np.ndarray:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return np.empty(self.shape, self.dtype)

    def give(self, buffer: np.ndarray) -> None:
        self._free.put(buffer)


class Chunk:
    """One chunk ready to write: its stored offset, its array, and its bytes on disk."""

    __slots__ = ("array", "buffer", "offset", "payload")

    def __init__(
        self,
        offset: tuple[int, ...],
        array: np.ndarray,
        payload: Buffer | None,
        buffer: np.ndarray | None,
    ) -> None:
        self.offset = offset
        self.array = array
        self.payload = payload
        self.buffer = buffer  # a pooled buffer to give back once written


class ChunkWriter:
    """The one way a chunk reaches a dataset, for the batch copier and the stream alike.

    A whole chunk of a chunked dataset is turned into its stored bytes by *encode*
    (:data:`raw_bytes`, or a compressor that writes the dataset's own filter's stream)
    and written with ``H5Dwrite_chunk``, its filter mask 0 (every filter applied);
    partial edge chunks, contiguous datasets and ``encode=None`` (HDF5 filter plugins,
    whose bytes only the plugin makes) go through h5py's selection and filter pipeline.
    """

    def __init__(
        self, target: h5py.Dataset, encode: ChunkEncoder | None, pool: BufferPool | None = None
    ) -> None:
        self.target = target
        self.encode = encode
        self.pool = pool
        self.chunk_shape = None if target.chunks is None else tuple(target.chunks)

    @property
    def compresses(self) -> bool:
        """True when whole chunks are worth encoding in a worker thread."""
        return (
            self.encode is not None
            and self.encode is not raw_bytes
            and self.chunk_shape is not None
        )

    def prepare(
        self, offset: tuple[int, ...], array: np.ndarray, buffer: np.ndarray | None = None
    ) -> Chunk:
        """Encode *array* (stored at *offset*; held in the pooled *buffer*, if any)."""
        payload = None
        if self.encode is not None and array.shape == self.chunk_shape:
            payload = self.encode(array)
        if (
            payload is not None
            and payload is not array
            and buffer is not None
            and self.pool is not None
        ):
            self.pool.give(buffer)  # the encoded copy is what gets written
            buffer = None
        return Chunk(offset, array, payload, buffer)

    def write(self, chunk: Chunk) -> None:
        if chunk.payload is not None:
            self.target.id.write_direct_chunk(chunk.offset, chunk.payload, 0)
        else:
            self.target[
                tuple(slice(o, o + n) for o, n in zip(chunk.offset, chunk.array.shape, strict=True))
            ] = chunk.array
        if chunk.buffer is not None and self.pool is not None:
            self.pool.give(chunk.buffer)


class Pipeline:
    """Chunks prepared in worker threads and written in order by the calling thread.

    At most :data:`WINDOW` chunks are in flight: :meth:`submit` writes the oldest once
    the window is full.  Leaving the ``with`` block cancels what was not written.
    """

    def __init__(self, write: Callable[[Chunk], None], threads: int, name: str) -> None:
        self._write = write
        self._pending: deque[Future[Chunk]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix=name)

    def submit(self, prepare: Callable[..., Chunk], *args: Any) -> None:
        self._pending.append(self._pool.submit(prepare, *args))
        if len(self._pending) >= WINDOW:
            self._write(self._pending.popleft().result())

    def drain(self) -> None:
        """Write every chunk submitted so far."""
        while self._pending:
            self._write(self._pending.popleft().result())

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def copy_into(
    source: LazyArray,
    target: h5py.Dataset,
    block: tuple[int, ...],
    *,
    transpose: bool,
    encode: ChunkEncoder | None = raw_bytes,
    threads: int = 2,
    progress: ProgressCallback | None = None,
) -> None:
    """Copy *source* into *target* (its transpose when *transpose*) chunk by chunk.

    *block* is the source block of one stored chunk (:func:`source_chunk`).  Chunks are
    read, staged and encoded in the worker threads and written by :class:`ChunkWriter`.
    Sources with a ``read_into(index, out)`` method
    (:class:`~emdconvert.lazy.RawFileArray`) are read into reused buffers.  Reads run in
    the pool only for sources that say they allow concurrent reads
    (``concurrent_reads = True``); others are read under a lock, in order.
    """
    shape = tuple(int(n) for n in source.shape)
    dtype = np.dtype(source.dtype)
    if transpose and math.prod(shape) * dtype.itemsize >= SIMD_MIN_BYTES:
        use_simd_transpose()
    read_lock: contextlib.AbstractContextManager[Any] = (
        contextlib.nullcontext() if getattr(source, "concurrent_reads", False) else threading.Lock()
    )
    read_into = getattr(source, "read_into", None)
    scratch = threading.local()  # per-thread read buffer, transposed out of at once
    # One stored block: a whole chunk when chunked, a contiguous run otherwise.
    pool = BufferPool(block[::-1] if transpose else block, dtype)
    writer = ChunkWriter(target, encode, pool)

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

    def prepare(index: Index) -> Chunk:
        expected = tuple(s.stop - s.start for s in index)
        pooled = pool.take() if expected == block else None
        if transpose:
            buffer = getattr(scratch, "buffer", None)
            if buffer is None or buffer.shape != expected:
                buffer = scratch.buffer = np.empty(expected, dtype) if pooled is not None else None
            array = to_stored(read(index, buffer), pooled, transpose=True)
        else:  # read straight into the pooled buffer when the source can
            array = to_stored(read(index, pooled), None, transpose=False)
        offset = tuple(s.start for s in (index[::-1] if transpose else index))
        return writer.prepare(offset, array, pooled)

    def write(chunk: Chunk) -> None:
        writer.write(chunk)
        if progress is not None:
            progress(chunk.array.nbytes)

    with Pipeline(write, threads, "emdconvert-copy") as pipeline:
        for index in block_indices(shape, block):
            pipeline.submit(prepare, index)
        pipeline.drain()
