"""Bounded reads: what a preview takes from a file, never more than its byte budget.

A preview of a 50 GB 4D-STEM scan must not read 50 GB.  Every read goes through one
:class:`Reader`, which counts the bytes it asked for, and every plan below picks its
selection from the budget before reading:

- a plane (an image, one frame of a stack) is read whole when it fits, else every
  ``s``-th row and column, with ``s`` the smallest stride that fits
  (:func:`plane_stride`);
- a scan (the positions of a spectrum image or a 4D-STEM file) is visited every
  ``s``-th row and column the same way, a row's positions read in blocks of at most
  :data:`BLOCK_BYTES` (:func:`scan_blocks`).

Strided selections are plain slices, which every lazy array of the model supports
(h5py reads them as one hyperslab, our raw arrays map only the pages they touch).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from emdconvert.lazy import ArrayLike, LazyArray, expand_index

#: Default total bytes one preview may read.
DEFAULT_BUDGET = 256 * 1024 * 1024
#: Most bytes of one read while a scan is visited.
BLOCK_BYTES = 32 * 1024 * 1024


class Reader:
    """Reads from one lazy array and counts the bytes of what it returned."""

    def __init__(self, data: LazyArray) -> None:
        self.data = data
        self.bytes_read = 0

    def __call__(self, key: Any) -> np.ndarray:
        block = np.asarray(self.data[key])
        self.bytes_read += block.nbytes
        return block


class Squeezed(ArrayLike):
    """*base* without its length-1 axes (a ``1 x 1024`` point spectrum is a spectrum).

    Indexing inserts ``0`` for each dropped axis, so nothing is read until asked.
    """

    def __init__(self, base: LazyArray) -> None:
        self.base = base
        self.kept = [axis for axis, n in enumerate(base.shape) if int(n) != 1]
        self.shape = tuple(int(base.shape[axis]) for axis in self.kept)
        self.dtype = np.dtype(base.dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        keys, _ = expand_index(key, self.shape)
        full: list[Any] = [0] * len(self.base.shape)
        for axis, k in zip(self.kept, keys, strict=True):
            full[axis] = k
        return np.asarray(self.base[tuple(full)])


def plane_stride(rows: int, cols: int, item_bytes: int, budget: int) -> int:
    """The smallest stride ``s`` so that every ``s``-th of *rows* x *cols* items, each
    *item_bytes* long, fits in *budget* bytes; one item is always read, however large."""
    most = max(rows, cols, 1)
    step = min(most, max(1, math.isqrt(rows * cols * item_bytes // max(budget, 1))))
    while step < most and math.ceil(rows / step) * math.ceil(cols / step) * item_bytes > budget:
        step += 1
    return step


def read_plane(
    read: Reader, lead: tuple[int, ...], rows: int, cols: int, budget: int
) -> tuple[np.ndarray, int]:
    """The 2-D plane at index *lead* (e.g. a frame number), strided to fit *budget*:
    ``(values, stride)``.  Trailing axes (an RGB image's channels) come along whole."""
    item = np.dtype(read.data.dtype).itemsize * math.prod(read.data.shape[len(lead) + 2 :])
    step = plane_stride(rows, cols, item, budget)
    return read((*lead, slice(None, None, step), slice(None, None, step))), step


def scan_blocks(
    read: Reader,
    scan: tuple[int, int],
    budget: int,
    signal: tuple[slice, ...] = (),
) -> tuple[int, Iterator[tuple[int, slice, np.ndarray]]]:
    """Visit a scan's positions within *budget*: ``(stride, blocks)``.

    *scan* is the shape of the two leading (scan) axes; *signal* optionally cuts the
    trailing (signal) axes, e.g. to a virtual detector's bounding box, and only what it
    selects counts against the budget.  Each block is ``(row, columns, values)``: the
    row and column range of the strided scan grid it fills, and the values, one signal
    per position.
    """
    shape = [int(n) for n in read.data.shape[2:]]
    cut = [*signal, *[slice(None)] * (len(shape) - len(signal))]
    kept = math.prod(len(range(*k.indices(n))) for k, n in zip(cut, shape, strict=True))
    item = np.dtype(read.data.dtype).itemsize * kept
    step = plane_stride(scan[0], scan[1], item, budget)
    per_block = max(1, BLOCK_BYTES // max(item, 1))

    def blocks() -> Iterator[tuple[int, slice, np.ndarray]]:
        columns = math.ceil(scan[1] / step)
        for row, i in enumerate(range(0, scan[0], step)):
            for first in range(0, columns, per_block):
                last = min(columns, first + per_block)
                key = (i, slice(first * step, (last - 1) * step + 1, step), *signal)
                yield row, slice(first, last), read(key)

    return step, blocks()
