"""Stream frames from acquisition software into a valid EMD file while they are acquired.

Acquisition code calls :meth:`StreamWriter.append` once per frame (or block of frames);
the number of frames need not be known.  ``append`` transposes the frame to the spec's
x-first layout into a pooled chunk buffer and queues it; a writer thread extends the
dataset and writes each chunk with a direct chunk write (compressed first in a small
worker pool, with ``compression``).  The producer waits only when the queue is full
(back-pressure), never for the disk.  A failure in the writer thread is raised by the
next ``append`` or by ``close``.

The file is written under a hidden name in the destination folder and published by
:func:`emdconvert.publish.atomic_output` on ``close`` (validated, fsynced, moved into
place), so an exception inside the ``with`` block or a killed process never leaves a
file at the final path.  If publishing itself fails (the output appeared meanwhile, the
disk filled), the frames are not thrown away: the error names the hidden file holding
them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from emdconvert.emd.blockcopy import (
    WINDOW,
    Buffer,
    ChunkEncoder,
    default_threads,
    raw_bytes,
    transposed,
    use_simd_transpose,
)
from emdconvert.emd.compression import parse as parse_compression
from emdconvert.emd.provenance import conversion_comment
from emdconvert.emd.stream_file import StreamFile
from emdconvert.emd.stream_layout import StreamLayout
from emdconvert.emd.writer import X_FIRST
from emdconvert.errors import (
    EmdConvertError,
    OutputExistsError,
    UnsupportedError,
    UsageError,
    ValidationError,
)
from emdconvert.model import AttrValue, Dataset, Dim, EMDFile
from emdconvert.plugin import package_version
from emdconvert.publish import TEMP_PREFIX, atomic_output, check_destination, temp_name

log = logging.getLogger(__name__)

#: Frames the queue holds by default: as many as fit in this many bytes (at least 2).
QUEUE_BYTES = 64 * 1024 * 1024
_STOP = None


def live_path_for(path: str | Path) -> Path:
    """Where a live stream to *path* is written until it is published (``live=True``)."""
    dst = Path(path)
    return dst.parent / f"{TEMP_PREFIX}{dst.name}.live"


def _check(path: Path, dst: Path) -> None:
    from emdconvert.emd.spec import errors, validate

    broken = errors(validate(path))
    if broken:
        raise ValidationError(f"streamed file breaks {broken[0]}", path=dst)


class StreamWriter:
    """Write frames into ``path`` (Berkeley EMD v0.2) as they arrive; publish on close.

    ``frame_shape`` and ``dtype`` describe one frame in numpy orientation ``(..., y, x)``;
    every appended frame must match them exactly.  ``scan_shape`` (e.g. ``(scan_y,
    scan_x)``) makes a scan: frames fill it in scan order and the file holds
    ``(*scan_shape, *frame_shape)``; without it the frames form a series
    ``(frame, *frame_shape)`` of any length.  ``dims`` (numpy order, one
    :class:`~emdconvert.Dim` per axis) calibrate the axes; the first (growing) axis's
    Dim gives name, units, offset and step and is extended to the final count, the
    others must have their axis's length.  ``microscope``/``sample``/``user`` become the
    metadata groups.  ``compression`` is as for :func:`emdconvert.write` (gzip chunks are
    standard deflate, compressed in ``threads`` worker threads).

    ``live=True`` makes the file readable while frames arrive: it is written with HDF5's
    SWMR mode at :attr:`live_path` (``.emdconvert-<name>.live`` beside the output), which
    readers open with ``h5py.File(path, "r", libver="latest", swmr=True)`` and
    ``dataset.refresh()``; ``close`` moves it to the final path (open readers keep
    reading).  The trade-off: the file uses the HDF5 1.10 format (``libver="latest"``),
    which HDF5 1.8 readers cannot open, and SWMR needs POSIX write semantics, so live
    streams must go to a local file system, not NFS or SMB.

    ``append`` is thread-safe: frames from several threads are numbered in the order
    their ``append`` calls take the writer's lock, each frame whole.
    """

    def __init__(self, path: str | Path, frame_shape: Sequence[int], dtype: Any, *,
                 dims: Sequence[Dim] | None = None, scan_shape: Sequence[int | None] | None
                 = None, microscope: Mapping[str, AttrValue] | None = None,
                 sample: Mapping[str, AttrValue] | None = None,
                 user: Mapping[str, AttrValue] | None = None,
                 compression: str | None = None, overwrite: bool = False,
                 live: bool = False, axis_order: str = X_FIRST, name: str = "data",
                 threads: int | None = None, queue_size: int | None = None) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.live = live
        self.layout = layout = StreamLayout.create(frame_shape, dtype, scan_shape, axis_order)
        dims = layout.check_dims(dims) if dims is not None else layout.default_dims()
        try:
            placeholder = np.broadcast_to(np.zeros((), layout.dtype),
                                          layout.shape(dims[0].size))
            model = EMDFile((Dataset(name, placeholder, dims),), microscope or {},
                            sample or {}, user or {})
        except UnsupportedError as exc:
            raise UsageError(exc.reason) from None
        choice = parse_compression(compression)
        check_destination(self.path, overwrite=overwrite)
        self.work_path = live_path_for(self.path) if live else temp_name(self.path.parent)
        options = {"frame_shape": list(layout.frame_shape), "dtype": str(layout.dtype),
                   "scan_shape": None if scan_shape is None else list(layout.positions),
                   "compression": compression, "axis_order": axis_order, "live": live}
        comment = conversion_comment(reader="stream", reader_libraries={}, writer="emd",
                                     writer_libraries={"h5py": package_version("h5py")},
                                     source=None, options=options)
        try:
            self._file = StreamFile(self.work_path, layout, model, name, choice, comment,
                                    live=live)
        except FileExistsError:
            raise OutputExistsError(f"{self.work_path.name} exists: a live stream to this "
                                    "output is running, or a crashed one left it (recover "
                                    "or delete it)", path=self.path) from None
        # None (plugin filters): chunks go through h5py's filter pipeline instead.
        self._encode: ChunkEncoder | None = (raw_bytes if choice is None
                                             else choice.chunk_encoder())
        capacity = queue_size or max(2, QUEUE_BYTES // layout.frame_bytes)
        self._capacity = capacity
        self._slots = threading.Semaphore(capacity)
        self._queue: queue.Queue[tuple[int, list[np.ndarray]] | None] = queue.Queue()
        # Chunk buffers go round: staged by append, freed once written.
        self._chunks: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._pieces = [piece for piece, _ in layout.pieces(0)]
        if layout.transpose:
            use_simd_transpose()  # a stream is many frames: worth OpenCV's import
        block = layout.piece_block
        self._chunk_shape = block[::-1] if layout.transpose else block
        self._lock = threading.Lock()
        self._count = 0
        self._error: BaseException | None = None
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=threads or default_threads(),
                                        thread_name_prefix="emdconvert-stream")
        self._thread = threading.Thread(target=self._run, name="emdconvert-stream-writer",
                                        daemon=True)
        self._thread.start()

    @property
    def live_path(self) -> Path:
        """The file live readers open while the stream runs (``live=True`` only)."""
        if not self.live:
            raise UsageError("live_path: this stream was not opened with live=True")
        return self.work_path

    @property
    def frames(self) -> int:
        """Frames appended so far."""
        return self._count

    # -- producer side -------------------------------------------------------------

    def append(self, frames: Any) -> None:
        """Queue one frame (``frame_shape``) or a block of them (``(..., *frame_shape)``).

        The data are copied before this returns, so the caller may reuse its buffer.
        Blocks only while the queue is full.
        """
        self._raise_if_failed()
        if self._closed:
            raise UsageError("append after close", path=self.path)
        array = np.asarray(frames)
        shape, ndim = self.layout.frame_shape, len(self.layout.frame_shape)
        if array.dtype != self.layout.dtype:
            raise UsageError(f"frame dtype {array.dtype} does not match the stream's "
                             f"{self.layout.dtype}", path=self.path)
        if array.shape[array.ndim - ndim:] != shape or array.ndim < ndim:
            raise UsageError(f"frame shape {array.shape} does not end in the stream's "
                             f"frame shape {shape}", path=self.path)
        for frame in array.reshape(-1, *shape):
            self._put(frame)

    def _put(self, frame: np.ndarray) -> None:
        self._slots.acquire()
        self._raise_if_failed()
        staged = [self._stage(frame[piece]) for piece in self._pieces]
        with self._lock:
            capacity = self.layout.capacity
            if self._closed or (capacity is not None and self._count >= capacity):
                self._slots.release()
                if self._closed:
                    raise UsageError("append after close", path=self.path)
                raise UsageError(f"the scan is full ({capacity} frames)", path=self.path)
            self._queue.put((self._count, staged))
            self._count += 1

    def _stage(self, values: np.ndarray) -> np.ndarray:
        """The chunk one piece of a frame becomes, in a pooled buffer.

        Done in ``append`` because the caller's buffer must be free when it returns
        anyway: transposing straight from it (x-first) touches the frame once instead of
        copying it and transposing the copy, and OpenCV's transpose releases the GIL,
        so the writer thread writes the previous frame meanwhile.
        """
        layout = self.layout
        buffer = None
        if values.shape == layout.piece_block:
            with contextlib.suppress(queue.Empty):
                buffer = self._chunks.get_nowait()
        if buffer is None:
            shape = values.shape[::-1] if layout.transpose else values.shape
            buffer = np.empty(shape, layout.dtype)
        if layout.transpose:
            return transposed(values, buffer)
        np.copyto(buffer, values)
        return buffer

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error = self._error
            if isinstance(error, EmdConvertError):
                raise error
            raise EmdConvertError(f"stream writer failed: {type(error).__name__}: {error}",
                                  path=self.path) from error

    # -- writer thread -------------------------------------------------------------

    def _run(self) -> None:
        pending: deque[tuple[tuple[int, ...], np.ndarray, Future[Buffer] | None]] = deque()
        finished = False
        try:
            while not finished:
                batch: list[tuple[int, list[np.ndarray]]] = []
                item = self._queue.get()
                with contextlib.suppress(queue.Empty):
                    while item is not _STOP:
                        batch.append(item)
                        item = self._queue.get_nowait()
                finished = item is _STOP
                if not batch:
                    continue
                self._file.grow(self.layout.rows_for(batch[-1][0] + 1))
                for index, staged in batch:
                    for (_, offset), chunk in zip(self.layout.pieces(index), staged,
                                                  strict=True):
                        self._submit(pending, offset, chunk)
                while pending:
                    self._write(*pending.popleft())
                self._slots.release(len(batch))
                if self.live:
                    self._file.flush()
        except BaseException as exc:  # reported to the producer by append() / close()
            self._error = exc
            for _, _, future in pending:
                if future is not None:
                    future.cancel()
            self._slots.release(self._capacity)  # wake blocked producers: they fail

    def _submit(self, pending: deque[tuple[tuple[int, ...], np.ndarray,
                                           Future[Buffer] | None]],
                offset: tuple[int, ...], chunk: np.ndarray) -> None:
        """Write *chunk* now (uncompressed), or once a worker has compressed it."""
        if self._encode is raw_bytes or self._encode is None or \
                chunk.shape != self._chunk_shape:
            self._write(offset, chunk, None)
            return
        pending.append((offset, chunk, self._pool.submit(self._encode, chunk)))
        if len(pending) >= WINDOW:
            self._write(*pending.popleft())

    def _write(self, offset: tuple[int, ...], chunk: np.ndarray,
               future: Future[Buffer] | None) -> None:
        whole = chunk.shape == self._chunk_shape
        payload = future.result() if future is not None else \
            chunk if whole and self._encode is raw_bytes else None
        piece = chunk.shape[::-1] if self.layout.transpose else chunk.shape
        full = chunk.reshape(self.layout.stored((1,) * len(self.layout.positions) + piece))
        self._file.write(offset, payload, full)
        if whole:
            self._chunks.put(chunk)

    # -- closing -------------------------------------------------------------------

    def _stop(self) -> None:
        with self._lock:
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._pool.shutdown()
        self._file.close()

    def abort(self) -> None:
        """Stop and throw the frames away: nothing is published, the temp file is removed."""
        if self._closed:
            return
        self._stop()
        with contextlib.suppress(FileNotFoundError):
            self.work_path.unlink()

    def close(self) -> Path:
        """Write the queued frames, finalise the file and publish it; returns the path."""
        if self._closed:
            raise UsageError("stream already closed", path=self.path)
        self._stop()
        try:
            self._raise_if_failed()
            if self._count == 0:
                raise UsageError("no frames were appended; nothing was written",
                                 path=self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                self.work_path.unlink()
            raise
        self._warn_if_incomplete()
        self._publish()
        return self.path

    def _warn_if_incomplete(self) -> None:
        capacity = self.layout.capacity
        if capacity is not None and self._count < capacity:
            log.warning("%s: scan incomplete: %d of %d frames; the unacquired positions "
                        "of the last row are zero", self.path, self._count, capacity)

    def _publish(self) -> None:
        """Hard-link the finished file to a publish temp name and let atomic_output move
        it into place; the work file goes only once the output exists."""
        try:
            with atomic_output(self.path, overwrite=self.overwrite,
                               check=lambda tmp: _check(tmp, self.path)) as tmp:
                try:
                    os.link(self.work_path, tmp)
                except OSError:  # no hard links here: move it (lost if publishing fails)
                    os.replace(self.work_path, tmp)
        except EmdConvertError as exc:
            if self.work_path.exists():
                exc.reason += f"; the frames are kept in {self.work_path}"
            raise
        with contextlib.suppress(FileNotFoundError):
            self.work_path.unlink()

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()
