"""Lazy views of a DM image's bytes: in native byte order, and channel axis last.

DigitalMicrograph stores spectrum images channel-first, and big-endian files in big-endian
order; the model and the EMD writer want native-order data with the channel axis last,
read in bounded memory.  These views read the file with ``pread`` on demand, for the
writer's threads at once.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from emdconvert.lazy import ArrayLike, Index, RawFileArray, expand_index, flat_run, pread_fully


class NativeOrderArray(ArrayLike):
    """A :class:`RawFileArray` of the other byte order, seen in native byte order.

    The model and the EMD file hold native-order data (what every reader expects of
    the dtype); blocks are read as stored and swapped in place, into the block
    copier's reused buffers when it offers them.
    """

    concurrent_reads = True

    def __init__(self, raw: RawFileArray) -> None:
        self.raw = raw
        self.shape = raw.shape
        self.dtype = raw.dtype.newbyteorder("=")

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.raw[key]).astype(self.dtype)

    def read_into(self, key: Any, out: np.ndarray) -> bool:
        if out.dtype != self.dtype or not self.raw.read_into(key, out.view(self.raw.dtype)):
            return False
        out.byteswap(inplace=True)
        return True


#: Bytes of the source a :class:`SignalLastArray` reads at once: every channel of a run
#: of pixels, one ``pread`` per channel, so each read is SLAB_BYTES / channels long
#: (16 KiB for 2048 channels).
SLAB_BYTES = 32 * 1024 * 1024
#: Slabs a :class:`SignalLastArray` keeps for the next blocks (the writer's threads
#: still want blocks of the previous slab while the next one is read).
SLABS_KEPT = 2


class SignalLastArray(ArrayLike):
    """A DM spectrum image, stored channel-first, seen with its channel axis last.

    The file holds ``(E, *nav)`` in C order; HyperSpy's ``to_signal1D`` gives
    ``(*nav, E)`` (:func:`~emdconvert.plugins.dm.axes.hyperspy_axes`), the 2-D transpose
    of the file seen as ``E`` rows of ``prod(nav)`` pixels.  A block of whole spectra
    (what the EMD writer asks for) is a band of columns of that matrix: read
    element-strided it would cost a ``pread`` per channel per block, so it is read with
    the pixels around it as a *slab* (all channels of a run of pixels filling
    :data:`SLAB_BYTES`, one long ``pread`` per channel), which serves the next blocks
    too; blocks are transposed out of it in memory (OpenCV's SIMD transpose once the
    writer has loaded it).  Small or irregular selections are read directly.  Memory
    stays bounded: at most :data:`SLABS_KEPT` slabs plus one being read per reading
    thread, their buffers reused.
    """

    concurrent_reads = True

    def __init__(
        self, base: RawFileArray | NativeOrderArray, slab_bytes: int | None = None
    ) -> None:
        self.base = base
        self._raw = base.raw if isinstance(base, NativeOrderArray) else base
        self.shape = (*base.shape[1:], base.shape[0])
        self.dtype = np.dtype(base.dtype)
        self.channels = int(base.shape[0])
        self.pixels = math.prod(int(n) for n in base.shape[1:])
        row = max(self.channels * self.dtype.itemsize, 1)
        budget = max(1, (SLAB_BYTES if slab_bytes is None else slab_bytes) // row)
        # Whole rows of the trailing pixel axes where they fit, so that blocks of whole
        # rows (the writer's) never straddle two slabs.
        unit = 1
        for n in reversed(base.shape[1:]):
            if unit * int(n) > budget:
                break
            unit *= int(n)
        self.slab_pixels = max(1, min(self.pixels, budget // unit * unit))
        self._lock = threading.Lock()
        self._slabs: OrderedDict[int, _Slab] = OrderedDict()
        self._spare: list[np.ndarray] = []  # a buffer of an evicted slab, for the next

    def __repr__(self) -> str:
        return f"SignalLastArray({self.base!r})"

    def close(self) -> None:
        """Drop the slabs kept in memory (the file is never held open)."""
        with self._lock:
            self._slabs.clear()
            self._spare.clear()

    def __getitem__(self, key: Any) -> np.ndarray:
        key_list, _ = expand_index(key, self.shape)
        run = None if self._raw.fortran_order else self._run(key_list)
        if run is None:
            values = np.asarray(self.base[(key_list[-1], *key_list[:-1])])
            keeps_channels = not isinstance(key_list[-1], (int, np.integer))
            return np.moveaxis(values, 0, -1) if keeps_channels else values
        out = np.empty(run[-1], dtype=self.dtype)
        self._fill(*run[:-1], out)
        return out

    def read_into(self, key: Index, out: np.ndarray) -> bool:
        """Fill *out* with ``self[key]`` (the block copier's reused buffers); False when
        *key* is not a run of pixels."""
        run = None if self._raw.fortran_order else self._run(list(key))
        if (
            run is None
            or run[-1] != out.shape
            or out.dtype != self.dtype
            or not out.flags.c_contiguous
        ):
            return False
        self._fill(*run[:-1], out)
        return True

    def _run(self, key: list[Any]) -> tuple[int, int, int, int, tuple[int, ...]] | None:
        """``(first pixel, pixels, first channel, channels, result shape)`` of a key that
        selects a C-order run of pixels and a step-1 range of channels, else None."""
        if len(key) != len(self.shape):
            return None
        pixels = flat_run(key[:-1], self.shape[:-1])
        channels = flat_run(key[-1:], (self.channels,))
        if pixels is None or channels is None:
            return None
        return pixels[0], pixels[1], channels[0], channels[1], (*pixels[2], *channels[2])

    def _fill(self, first: int, count: int, c0: int, channels: int, out: np.ndarray) -> None:
        """*out* (C-contiguous) = pixels ``first:first+count`` x channels
        ``c0:c0+channels`` of the ``(pixels, E)`` view."""
        from emdconvert.emd.transpose import transpose_2d

        if not count or not channels:
            return
        flat = out.reshape(count, channels)
        if count * channels * 64 < self.slab_pixels * self.channels and not self._cached(
            first, count
        ):
            # Small (a verification sample, a few spectra): read just that.
            band = np.empty((channels, count), dtype=self._raw.dtype)
            self._read(c0, first, band)
            transpose_2d(self._native(band), flat)
            return
        done = 0
        while done < count:
            index, start = divmod(first + done, self.slab_pixels)
            slab = self._take(index)
            try:
                assert slab.array is not None
                take = min(count - done, slab.width - start)
                transpose_2d(
                    slab.array[c0 : c0 + channels, start : start + take], flat[done : done + take]
                )
            finally:
                self._give(slab)
            done += take

    def _cached(self, first: int, count: int) -> bool:
        """Whether slabs already read hold pixels ``first:first+count``."""
        slabs = range(first // self.slab_pixels, (first + count - 1) // self.slab_pixels + 1)
        with self._lock:
            return all(k in self._slabs and self._slabs[k].error is None for k in slabs)

    def _take(self, index: int) -> _Slab:
        """Slab *index* (all channels of pixels ``index * slab_pixels`` on), read once by
        the first thread that wants it, outside the lock (other threads go on with
        other slabs meanwhile); :meth:`_give` it back."""
        with self._lock:
            slab = self._slabs.get(index)
            load = slab is None
            if slab is None:
                width = min(self.slab_pixels, self.pixels - index * self.slab_pixels)
                slab = self._slabs[index] = _Slab(width)
                buffer = self._spare.pop() if self._spare else None
                self._evict()
            else:
                self._slabs.move_to_end(index)
            slab.users += 1
        if load:
            try:
                # Rows padded by a cache line: with a row stride that is a multiple of
                # 4 KiB, a column of the slab falls on one cache set.
                stride = self.slab_pixels + max(1, 64 // self._raw.dtype.itemsize)
                if buffer is None:
                    buffer = np.empty((self.channels, stride), dtype=self._raw.dtype)
                slab.buffer = buffer
                array = buffer[:, : slab.width]
                self._read(0, index * self.slab_pixels, array)
                slab.array = self._native(array)
            except BaseException as exc:
                slab.error = exc
                with self._lock:
                    if self._slabs.get(index) is slab:
                        del self._slabs[index]
                raise
            finally:
                slab.ready.set()
        else:
            slab.ready.wait()
        if slab.error is not None:
            self._give(slab)
            raise slab.error
        return slab

    def _give(self, slab: _Slab) -> None:
        with self._lock:
            slab.users -= 1
            self._evict()

    def _evict(self) -> None:
        """Under the lock: drop the least recently used slabs no thread is using beyond
        :data:`SLABS_KEPT`, keeping one buffer to read the next slab into (no page
        faults on fresh memory for every slab)."""
        idle = [k for k, slab in self._slabs.items() if not slab.users]
        for k in idle[: max(0, len(self._slabs) - SLABS_KEPT)]:
            buffer = self._slabs.pop(k).buffer
            if buffer is not None and not self._spare:
                self._spare.append(buffer)

    def _native(self, band: np.ndarray) -> np.ndarray:
        """*band*, read in the file's byte order, swapped in place to native order."""
        if self._raw.dtype.isnative:
            return band
        return band.byteswap(inplace=True).view(self.dtype)

    def _read(self, c0: int, first: int, band: np.ndarray) -> None:
        """Fill *band* (channels x pixels, rows contiguous and evenly spaced in one
        buffer, the file's byte order) with channels ``c0:`` of pixels ``first:``: one
        ``pread`` per channel (one in all for whole rows of a C-contiguous band)."""
        raw = self._raw
        channels, count = band.shape
        if not channels or not count:
            return
        itemsize = raw.dtype.itemsize
        length = count * itemsize
        step = band.strides[0] if channels > 1 else length
        # One flat byte view of the whole band, sliced per row: no array per row.
        buffer = np.lib.stride_tricks.as_strided(
            band, shape=((channels - 1) * step // itemsize + count,), strides=(itemsize,)
        )
        flat = memoryview(buffer.view(np.uint8))  # type: ignore[arg-type]  # ndarray is a buffer
        if count == self.pixels and step == length:
            channels, length = 1, channels * length
        fd = os.open(raw.path, os.O_RDONLY)
        try:
            for k in range(channels):
                pread_fully(
                    fd,
                    flat[k * step : k * step + length],
                    raw.offset + ((c0 + k) * self.pixels + first) * itemsize,
                )
        finally:
            os.close(fd)


class _Slab:
    """One slab of a :class:`SignalLastArray`: its pixels, memory, users, load state."""

    __slots__ = ("array", "buffer", "error", "ready", "users", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.buffer: np.ndarray | None = None  # padded rows, the file's byte order
        self.array: np.ndarray | None = None  # the slab's pixels of it, native order
        self.error: BaseException | None = None
        self.users = 0
        self.ready = threading.Event()
