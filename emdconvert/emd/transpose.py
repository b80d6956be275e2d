"""Transposing blocks into the spec's x-first layout, fast: OpenCV's SIMD transpose
when it is installed and worth loading, tiled numpy otherwise; bit-identical either way.

Used by the chunk pipeline (:mod:`emdconvert.emd.blockcopy`), the stream writer and the
DM plugin's signal-last arrays.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np

#: Side of the square tiles the transpose works in (fits L1/L2 for any dtype).
TILE = 64

#: The OpenCV element type that moves each item size's bytes unchanged.
_CV_VIEWS: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.uint16),
    4: np.dtype(np.int32),
    8: np.dtype(np.float64),
}


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
    if (
        cv2 is not None
        and frame.ndim == 2
        and frame.strides[1] == size
        and out.flags.c_contiguous
        and (size in _CV_VIEWS or size == 16)
    ):
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
            out[x : x + TILE, y : y + TILE] = frame[y : y + TILE, x : x + TILE].T
    return out


_scratch = threading.local()


def _scratch_buffer(shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """A per-thread buffer of *shape*, reused (a fresh 4 MiB array page-faults each time)."""
    nbytes = math.prod(shape) * dtype.itemsize
    buffer: np.ndarray | None = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = _scratch.buffer = np.empty(nbytes, np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


def transposed(block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A C-contiguous ``block.T`` (in *out* when given), fast for any number of axes.

    One frame is one 2-D transpose.  A block of several frames (4D-STEM chunks hold 128
    diffraction patterns; stacks of small frames hold many) reverses three or more axes
    ``(a, m..., c) -> (c, ...m, a)``; numpy's strided ``copyto(out, block.T)`` moves
    0.35 GB/s there.  Instead: one 2-D transpose of ``(a, m*...*c)`` gives
    ``(m..., c, a)``, then reversing ``m..., c`` moves contiguous runs of *a* items
    (2.3 GB/s for a 128-frame 128 x 128 uint16 chunk here).
    """
    if out is None:
        out = np.empty(block.shape[::-1], dtype=block.dtype)
    core = tuple(n for n in block.shape if n != 1)
    if len(core) <= 2:
        frame = block.reshape(core if len(core) == 2 else (1, math.prod(core)))
        transpose_2d(frame, out.reshape(frame.shape[::-1]))
    elif not block.flags.c_contiguous:
        np.copyto(out, block.T)
    else:
        first, rest = core[0], core[1:]
        moved = _scratch_buffer((math.prod(rest), first), block.dtype)
        transpose_2d(block.reshape(first, -1), moved)
        k = len(rest)
        reverse_rest = (*range(k - 1, -1, -1), k)
        np.copyto(
            out.reshape(*rest[::-1], first), moved.reshape(*rest, first).transpose(reverse_rest)
        )
    return out


def to_stored(values: np.ndarray, out: np.ndarray | None, *, transpose: bool) -> np.ndarray:
    """A source block as it is stored: its transpose (x-first) or itself, C-contiguous.

    Written into *out* when given (a copy, so the caller's buffer is free afterwards);
    without *out* a C-contiguous block is used as it is.
    """
    if transpose:
        return transposed(values, out)
    if out is None:
        return np.ascontiguousarray(values)
    if out is not values:
        np.copyto(out, values)
    return out
