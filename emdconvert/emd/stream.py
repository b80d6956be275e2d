"""Stream frames from acquisition software into a valid EMD file while they are acquired.

Acquisition code calls :meth:`StreamWriter.append` once per frame (or block of frames);
the number of frames need not be known.  ``append`` transposes the frame to the spec's
x-first layout into a pooled chunk buffer and queues it; a writer thread extends the
dataset and writes each chunk with a direct chunk write (compressed first in a small
worker pool, with ``compression``).  Skeleton, chunk pipeline, check and provenance
entry are the batch writer's (:mod:`emdconvert.emd.writer`, :mod:`~.blockcopy`,
:func:`emdconvert.emd.verify.check_spec`, ``conversion_comment`` naming the writer
``emd-stream``).  The producer waits only when the queue is full (back-pressure), never
for the disk.  A failure in the writer thread is raised by the next ``append`` or by
``close``.

The file is written under a hidden name and published by
:func:`emdconvert.publish.atomic_output` on ``close``, so a failure never leaves a file
at the final path; if publishing itself fails, the error names the hidden file holding
the frames.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from emdconvert.emd.blockcopy import Pipeline, default_threads
from emdconvert.emd.compression import parse as parse_compression
from emdconvert.emd.stream_file import StreamFile, live_path_for, opening_model
from emdconvert.emd.stream_layout import StreamLayout
from emdconvert.emd.transpose import to_stored, use_simd_transpose
from emdconvert.emd.verify import check_written
from emdconvert.emd.writer import X_FIRST
from emdconvert.errors import EmdConvertError, OutputExistsError, UsageError
from emdconvert.model import Dim, MetadataValue
from emdconvert.options import ConvertOptions
from emdconvert.publish import atomic_output, check_destination, temp_name

log = logging.getLogger(__name__)

#: A staged chunk: its stored array, and the pooled buffer holding it (None for edges).
Staged = tuple[np.ndarray, np.ndarray | None]

#: Frames the queue holds by default: as many as fit in this many bytes (at least 2).
QUEUE_BYTES = 64 * 1024 * 1024
_STOP = None


class StreamWriter:
    """Write frames into ``path`` (Berkeley EMD v0.2) as they arrive; publish on close.

    ``frame_shape`` and ``dtype`` describe one frame in numpy orientation ``(..., y, x)``;
    every appended frame must match them exactly.  ``scan_shape`` (e.g. ``(scan_y,
    scan_x)``) makes a scan: frames fill it in scan order and the file holds
    ``(*scan_shape, *frame_shape)``; without it the frames form a series
    ``(frame, *frame_shape)`` of any length.  ``dims`` (numpy order, one
    :class:`~emdconvert.Dim` per axis) calibrate the axes; the first (growing) axis's
    Dim gives name, units, offset and scale and is extended to the final count, the
    others must have their axis's length.  ``microscope``/``sample``/``user`` become the
    metadata groups, as for :class:`~emdconvert.EMDFile` (nested dicts are sub-groups,
    ``None`` is dropped with a ``UserWarning``, other objects are a ``TypeError``).
    ``compression`` is as for :func:`emdconvert.write` (gzip chunks are standard
    deflate, compressed in ``threads`` worker threads).

    ``live=True`` writes with HDF5's SWMR mode at :attr:`live_path`, readable while
    frames arrive and moved to *path* on ``close``; it needs HDF5 >= 1.10 readers and a
    local file system (README, Streaming frames).

    ``append`` is thread-safe: frames from several threads are numbered in the order
    their ``append`` calls take the writer's lock, each frame whole.

    Example::

        >>> import numpy as np, emdconvert
        >>> from emdconvert import Dim
        >>> with emdconvert.StreamWriter("series.emd", (64, 64), np.uint16, dims=[
        ...         Dim.uniform("time", size=2, scale=0.05, units="s"),
        ...         Dim.uniform("y", size=64, scale=0.02, units="nm"),
        ...         Dim.uniform("x", size=64, scale=0.02, units="nm")]) as out:
        ...     for i in range(5): out.append(np.full((64, 64), i, np.uint16))
        >>> emdconvert.read("series.emd").datasets[0].shape
        (5, 64, 64)
    """

    def __init__(
        self,
        path: str | Path,
        frame_shape: Sequence[int],
        dtype: Any,
        *,
        dims: Sequence[Dim] | None = None,
        scan_shape: Sequence[int | None] | None = None,
        microscope: Mapping[str, MetadataValue] | None = None,
        sample: Mapping[str, MetadataValue] | None = None,
        user: Mapping[str, MetadataValue] | None = None,
        compression: str | None = None,
        overwrite: bool = False,
        live: bool = False,
        axis_order: str = X_FIRST,
        name: str = "data",
        threads: int | None = None,
        queue_size: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.live = live
        # The same parser as convert(): the same messages, the same hdf5plugin warning.
        settings = ConvertOptions.parse(
            compression=compression, axis_order=axis_order, threads=threads
        )
        self.layout = layout = StreamLayout.create(frame_shape, dtype, scan_shape, axis_order)
        dims = layout.check_dims(dims) if dims is not None else layout.default_dims()
        choice = parse_compression(settings.compression)
        options = {
            "frame_shape": list(layout.frame_shape),
            "dtype": str(layout.dtype),
            "scan_shape": None if scan_shape is None else list(layout.positions),
            **settings.recorded(),
            "live": live,
        }
        metadata = (microscope or {}, sample or {}, user or {})
        model = opening_model(layout, dims, name, metadata, options, choice)
        check_destination(self.path, overwrite=overwrite)
        self.work_path = live_path_for(self.path) if live else temp_name(self.path.parent)
        try:
            self._file = StreamFile(self.work_path, layout, model, choice, live=live)
        except FileExistsError:
            raise OutputExistsError(
                f"{self.work_path.name} exists: a live stream to this "
                "output is running, or a crashed one left it (recover "
                "or delete it)",
                path=self.path,
            ) from None
        capacity = queue_size or max(2, QUEUE_BYTES // layout.frame_bytes)
        self._capacity = capacity
        self._slots = threading.Semaphore(capacity)
        self._queue: queue.Queue[tuple[int, list[Staged]] | None] = queue.Queue()
        self._pieces = [piece for piece, _ in layout.pieces(0)]
        if layout.transpose:
            use_simd_transpose()  # a stream is many frames: worth OpenCV's import
        self._lock = threading.Lock()
        self._count = 0
        self._error: BaseException | None = None
        self._closed = False
        self._threads = threads or default_threads()
        self._thread = threading.Thread(
            target=self._run, name="emdconvert-stream-writer", daemon=True
        )
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
            raise UsageError(
                f"frame dtype {array.dtype} does not match the stream's {self.layout.dtype}",
                path=self.path,
            )
        if array.shape[array.ndim - ndim :] != shape or array.ndim < ndim:
            raise UsageError(
                f"frame shape {array.shape} does not end in the stream's frame shape {shape}",
                path=self.path,
            )
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

    def _stage(self, values: np.ndarray) -> Staged:
        """The stored chunk one piece of a frame becomes, in a pooled buffer if whole.

        Done in ``append`` because the caller's buffer must be free when it returns
        anyway: transposing straight from it (x-first) touches the frame once instead of
        copying it and transposing the copy, and OpenCV's transpose releases the GIL,
        so the writer thread writes the previous frame meanwhile.
        """
        layout = self.layout
        pool = self._file.chunks.pool
        whole = pool is not None and values.shape == layout.piece_block
        buffer = pool.take() if pool is not None and whole else None
        out = (
            buffer
            if buffer is not None
            else np.empty(layout.stored((1,) * len(layout.positions) + values.shape), layout.dtype)
        )
        piece = out.reshape(values.shape[::-1] if layout.transpose else values.shape)
        to_stored(values, piece, transpose=layout.transpose)
        return out, buffer

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error = self._error
            if isinstance(error, EmdConvertError):
                raise error
            raise EmdConvertError(
                f"stream writer failed: {type(error).__name__}: {error}", path=self.path
            ) from error

    # -- writer thread -------------------------------------------------------------

    def _run(self) -> None:
        chunks = self._file.chunks
        try:
            with Pipeline(chunks.write, self._threads, "emdconvert-stream") as pipeline:
                finished = False
                while not finished:
                    batch: list[tuple[int, list[Staged]]] = []
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
                        for (_, offset), (array, buffer) in zip(
                            self.layout.pieces(index), staged, strict=True
                        ):
                            if chunks.compresses and buffer is not None:
                                pipeline.submit(chunks.prepare, offset, array, buffer)
                            else:  # uncompressed (or an edge): no worker needed
                                chunks.write(chunks.prepare(offset, array, buffer))
                    pipeline.drain()
                    self._slots.release(len(batch))
                    if self.live:
                        self._file.flush()
        except BaseException as exc:  # reported to the producer by append() / close()
            self._error = exc
            self._slots.release(self._capacity)  # wake blocked producers: they fail

    # -- closing -------------------------------------------------------------------

    def _stop(self) -> None:
        with self._lock:
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
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
                raise UsageError("no frames were appended; nothing was written", path=self.path)
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
            log.warning(
                "%s: scan incomplete: %d of %d frames; the unacquired positions "
                "of the last row are zero",
                self.path,
                self._count,
                capacity,
            )

    def _publish(self) -> None:
        """Hard-link the finished file to a publish temp name and let atomic_output move
        it into place; the work file goes only once the output exists."""
        try:
            with atomic_output(self.path, overwrite=self.overwrite, check=self._check) as tmp:
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

    def _check(self, tmp: Path) -> None:
        """The check every conversion passes, and the data have the shape and dtype
        the appended frames make."""
        layout = self.layout
        wanted = [(layout.shape(layout.rows_for(self._count)), layout.dtype)]
        try:
            check_written(tmp, wanted, what="streamed file")
        except EmdConvertError as exc:
            exc.path = str(self.path)  # never name the temp file the user will not see
            raise

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()
