"""Bounded reads: what a preview takes from a file, never more than its byte budget.

A preview of a 50 GB 4D-STEM scan must not read 50 GB.  Every read goes through one
:class:`Reader`, which counts what the read costs *in storage*: the whole blocks it
touches (HDF5 chunks, runs of a contiguous file; :mod:`emdconvert.preview.storage`),
not the bytes it returns, because a few scattered patterns of a chunked file read
every chunk they fall in.  Every plan below is priced in those blocks before it reads:

- a plane (an image, one frame of a stack) is read whole when it fits, else every
  ``s``-th row and column, with ``s`` the smallest stride whose blocks fit
  (:func:`read_plane`);
- the mean diffraction pattern averages whole blocks of scan positions (all of their
  patterns), as many as fit, spread evenly over the scan (:func:`scan_tiles`);
- a map over the scan (a virtual bright-field image, a spectrum image's summed image)
  takes every ``k``-th row and column, ``k`` the smallest step whose blocks fit; along
  an axis whose blocks are longer than ``k`` (128 positions of scan_x in one chunk of
  our EMD files) every position is read anyway, so all are and ``k`` of them are
  averaged into one pixel (:func:`scan_rows`, :class:`Grid`).

So the picture's resolution, not the reads, gives way to a large file.  Selections are
plain (strided) slices, which every lazy array of the model supports.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from emdconvert.lazy import ArrayLike, LazyArray, expand_index
from emdconvert.preview.storage import read_cost, storage_chunks

#: Default total bytes one preview may read.
DEFAULT_BUDGET = 256 * 1024 * 1024
#: Most bytes of one read while a scan is visited (a larger storage block is one read).
BLOCK_BYTES = 32 * 1024 * 1024


class Reader:
    """Reads from one lazy array and counts the storage bytes of each read
    (:func:`~emdconvert.preview.storage.read_cost`)."""

    def __init__(self, data: LazyArray) -> None:
        self.data = data
        self.shape = tuple(int(n) for n in data.shape)
        self.itemsize = np.dtype(data.dtype).itemsize
        self.chunks = storage_chunks(data)
        #: The storage block shape; single elements for data without blocks.
        self.unit = self.chunks or (1,) * len(self.shape)
        self.bytes_read = 0

    def cost(self, key: Any) -> int:
        """Bytes ``data[key]`` would read from storage."""
        return read_cost(key, self.shape, self.itemsize, self.chunks)

    def __call__(self, key: Any) -> np.ndarray:
        block = np.asarray(self.data[key])
        self.bytes_read += self.cost(key)
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

    @property
    def storage_chunks(self) -> tuple[int, ...] | None:
        """The base's storage blocks without the dropped axes."""
        inner = storage_chunks(self.base)
        return None if inner is None else tuple(inner[axis] for axis in self.kept)

    def __getitem__(self, key: Any) -> np.ndarray:
        keys, _ = expand_index(key, self.shape)
        full: list[Any] = [0] * len(self.base.shape)
        for axis, k in zip(self.kept, keys, strict=True):
            full[axis] = k
        return np.asarray(self.base[tuple(full)])


def smallest_step(cost: Any, budget: int, most: int, first: int = 1) -> int:
    """The smallest step from *first* up to *most* whose ``cost(step)`` fits *budget*
    (*most* when none does: one block is always read, however large)."""
    step = max(1, min(first, most))
    while step < most and cost(step) > budget:
        step += 1
    return step


def read_plane(
    read: Reader, lead: tuple[int, ...], rows: int, cols: int, budget: int
) -> tuple[np.ndarray, int]:
    """The 2-D plane at index *lead* (e.g. a frame number), strided to fit *budget*:
    ``(values, stride)``.  Trailing axes (an RGB image's channels) come along whole."""

    def key(step: int) -> tuple[Any, ...]:
        return (*lead, slice(None, None, step), slice(None, None, step))

    whole = read.cost(key(1))
    first = math.isqrt(whole // max(budget, 1))
    step = smallest_step(lambda s: read.cost(key(s)), budget, max(rows, cols, 1), first)
    return read(key(step)), step


def _evenly(total: int, count: int) -> list[int]:
    """*count* of ``range(total)`` spread evenly (the centres of equal parts)."""
    return sorted({(2 * i + 1) * total // (2 * count) for i in range(count)})


def scan_tiles(read: Reader, scan: tuple[int, int], budget: int) -> Iterator[np.ndarray]:
    """Whole storage blocks of scan positions with all their signal, ``(rows, cols,
    *signal)`` each: as many as fit *budget* (at least one), spread evenly over the scan
    in a grid of about the scan's aspect."""
    (cy, cx), (rows, cols) = read.unit[:2], scan
    tiles = (math.ceil(rows / cy), math.ceil(cols / cx))
    count = max(1, budget // max(read.cost((slice(0, cy), slice(0, cx))), 1))
    across = min(tiles[1], max(1, round(math.sqrt(count * tiles[1] / tiles[0]))))
    down = min(tiles[0], max(1, count // across))
    across = min(tiles[1], max(1, count // down))
    for i in _evenly(tiles[0], down):
        for j in _evenly(tiles[1], across):
            yield read((slice(i * cy, (i + 1) * cy), slice(j * cx, (j + 1) * cx)))


@dataclass(frozen=True)
class ScanPlan:
    """Which positions of a scan a map reads: every ``step``-th along each axis, or all
    of them (averaged ``step`` to a pixel) where *whole* says the axis's storage blocks
    are longer than ``step``."""

    scan: tuple[int, int]
    step: int
    whole: tuple[bool, bool]

    @property
    def note(self) -> str:
        """How the map was sampled, for a caption ("" when every position was read)."""
        if self.step == 1:
            return ""
        th = ordinal(self.step)
        if self.whole == (False, False):
            return f"every {th} position"
        if self.whole == (False, True):
            return f"every {th} row, {self.step} positions a pixel"
        if self.whole == (True, False):
            return f"every {th} column, {self.step} positions a pixel"
        return f"{self.step} x {self.step} positions a pixel"

    def first(self, axis: int) -> int:
        """The first position read along *axis*: 0 when all are, else near the middle of
        the first ``step`` (a sample stands for its square; the last one must still
        fall inside the scan)."""
        if self.whole[axis]:
            return 0
        n = self.scan[axis]
        return min(self.step // 2, n - 1 - (math.ceil(n / self.step) - 1) * self.step)

    def axis_key(self, axis: int, start: int | None = None, stop: int | None = None) -> slice:
        """The positions read along *axis* from *start* to *stop*; a step-1 slice when
        that is all or only one (a contiguous file reads it with one ``pread``)."""
        begin = self.first(axis) if start is None else start
        n = self.scan[axis] if stop is None else stop
        whole = self.whole[axis] or n - begin <= 1
        return slice(begin, n) if whole else slice(begin, n, self.step)


def scan_rows(
    read: Reader, scan: tuple[int, int], budget: int, signal: tuple[slice, ...] = ()
) -> tuple[ScanPlan, Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Visit a scan within *budget* for a map: ``(plan, blocks)``.

    *signal* optionally cuts the trailing (signal) axes, e.g. to a virtual detector's
    bounding box; the cut is widened to whole storage blocks for reading (what the read
    costs) and applied in memory.  Each block is ``(rows, cols, values)``: the scan row
    and column numbers read and their signals, ``values[i, j]`` at ``(rows[i], cols[j])``.
    """
    sig_shape = read.shape[2:]
    cut = [*signal, *[slice(None)] * (len(sig_shape) - len(signal))]
    wide, local = [], []
    for k, n, c in zip(cut, sig_shape, read.unit[2:], strict=True):
        start, stop, _ = k.indices(n)
        low, high = start // c * c, min(n, -(-stop // c) * c)
        wide.append(slice(low, high))
        local.append(slice(start - low, stop - low))

    def plan_for(step: int) -> ScanPlan:
        return ScanPlan(scan, step, (step < read.unit[0], step < read.unit[1]))

    def cost(step: int) -> int:
        p = plan_for(step)
        return read.cost((p.axis_key(0), p.axis_key(1), *wide))

    first = max(1, math.isqrt(cost(1) // max(budget, 1)))
    chosen = plan_for(smallest_step(cost, budget, max(scan), first))
    per_position = read.itemsize * math.prod(k.stop - k.start for k in wide)  # in memory

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        cy, cx = read.unit[:2]
        band = cy if chosen.whole[0] else 1
        row_starts = range(chosen.first(0), scan[0], band if chosen.whole[0] else chosen.step)
        rows_per_read = band if chosen.whole[0] else 1
        span = max(1, BLOCK_BYTES // max(per_position * rows_per_read, 1))
        span = max(cx, span // cx * cx) if chosen.whole[1] else span * chosen.step
        for r0 in row_starts:
            row_key = chosen.axis_key(0, r0, min(scan[0], r0 + band))
            for c0 in range(chosen.first(1), scan[1], span):
                col_key = chosen.axis_key(1, c0, min(scan[1], c0 + span))
                values = read((row_key, col_key, *wide))
                yield (
                    np.arange(*row_key.indices(scan[0])),
                    np.arange(*col_key.indices(scan[1])),
                    values[(slice(None), slice(None), *local)],
                )

    return chosen, blocks()


class Grid:
    """A map of a scan at ``1/step`` of its resolution: each pixel the mean of the values
    of the positions read in its ``step x step`` square (NaN where none was)."""

    def __init__(self, plan: ScanPlan) -> None:
        self.step = plan.step
        shape = (math.ceil(plan.scan[0] / plan.step), math.ceil(plan.scan[1] / plan.step))
        self.total, self.count = np.zeros(shape), np.zeros(shape)

    def add(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        where = (rows[:, None] // self.step, cols[None, :] // self.step)
        finite = np.isfinite(values)
        np.add.at(self.total, where, np.where(finite, values, 0))
        np.add.at(self.count, where, finite)

    def image(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.total / self.count


def ordinal(n: int) -> str:
    """``2`` -> ``2nd``, ``11`` -> ``11th``, ``23`` -> ``23rd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
