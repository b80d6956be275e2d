"""Where each streamed frame goes: shapes, chunks and dims of a :class:`StreamWriter` file.

A stream is a grid of *positions* (a frame series: one growing axis; a 4D-STEM scan:
``(scan_y, scan_x)``) with one frame at each.  In numpy orientation the data are
``(*positions, *frame_shape)``; the first position axis is the one that grows (frames of
a series, rows of a scan), so it is the only resizable one.  Stored x-first (the spec's
layout, as :mod:`emdconvert.emd.writer` writes it) the whole array is transposed, so the
growing axis is the *last* stored axis and each chunk is the transpose of one frame (or
of one run of rows of a frame larger than the 4 MiB chunk limit): chunks never straddle
frames, and a live reader sees whole frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emdconvert.emd.blockcopy import source_chunk
from emdconvert.emd.writer import AXIS_ORDERS, X_FIRST
from emdconvert.errors import UsageError
from emdconvert.lazy import Index, block_indices
from emdconvert.model import Dim, default_dims


def _scan_names(count: int) -> list[str]:
    return ["scan_y", "scan_x"] if count == 2 else [f"scan_{k}" for k in range(count)]


@dataclass(frozen=True)
class StreamLayout:
    """The geometry of one stream, checked once when the writer is created."""

    frame_shape: tuple[int, ...]
    dtype: np.dtype[Any]
    #: Numpy-order position grid; ``None`` first entry: grows without limit.
    positions: tuple[int | None, ...]
    axis_order: str = X_FIRST

    @classmethod
    def create(
        cls,
        frame_shape: Sequence[int],
        dtype: Any,
        scan_shape: Sequence[int | None] | None,
        axis_order: str,
    ) -> StreamLayout:
        try:
            shape = tuple(int(n) for n in frame_shape)
            kind = np.dtype(dtype)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad frame shape or dtype: {exc}") from None
        if not shape or min(shape) < 1:
            raise UsageError(f"frame shape must be non-empty and positive, got {shape}")
        if kind.fields is not None or kind.kind not in "biufc":
            raise UsageError(f"dtype {kind} cannot be stored as EMD data")
        if axis_order not in AXIS_ORDERS:
            raise UsageError(f"axis order must be one of {AXIS_ORDERS}, got {axis_order!r}")
        positions: tuple[int | None, ...] = (None,)
        if scan_shape is not None:
            positions = tuple(None if n is None else int(n) for n in scan_shape)
            inner = positions[1:]
            if (
                not positions
                or any(n is None or n < 1 for n in inner)
                or (positions[0] is not None and positions[0] < 1)
            ):
                raise UsageError(
                    "scan_shape must be positive sizes (only the first may be "
                    f"None, for an open-ended scan), got {tuple(scan_shape)}"
                )
        return cls(shape, kind, positions, axis_order)

    @property
    def transpose(self) -> bool:
        return self.axis_order == X_FIRST

    @property
    def per_row(self) -> int:
        """Frames per step of the growing axis (1 for a series, scan_x for a 2-D scan)."""
        return math.prod(n or 1 for n in self.positions[1:])

    @property
    def capacity(self) -> int | None:
        """Frames the stream can take, or None when the growing axis is unbounded."""
        first = self.positions[0]
        return None if first is None else first * self.per_row

    @property
    def frame_bytes(self) -> int:
        return math.prod(self.frame_shape) * self.dtype.itemsize

    def rows_for(self, frames: int) -> int:
        """Length of the growing axis once *frames* frames have been appended."""
        return -(-frames // self.per_row)

    def shape(self, rows: int) -> tuple[int, ...]:
        """The numpy-orientation data shape with *rows* steps of the growing axis."""
        return (rows, *(n or 1 for n in self.positions[1:]), *self.frame_shape)

    def stored(self, numpy_order: tuple[Any, ...]) -> tuple[Any, ...]:
        return numpy_order[::-1] if self.transpose else numpy_order

    @property
    def piece_block(self) -> tuple[int, ...]:
        """The part of one frame that makes one chunk (the whole frame unless > 4 MiB)."""
        block = source_chunk((1, *self.frame_shape), self.dtype.itemsize, self.transpose)
        return block[1:]

    @property
    def chunks(self) -> tuple[int, ...]:
        ones = (1,) * len(self.positions)
        return self.stored((*ones, *self.piece_block))

    @property
    def maxshape(self) -> tuple[int | None, ...]:
        return self.stored((None, *self.shape(1)[1:]))

    def position(self, index: int) -> tuple[int, ...]:
        """Numpy-order grid position of frame number *index* (scan order)."""
        row, rest = divmod(index, self.per_row)
        inner = [n or 1 for n in self.positions[1:]]
        return (row, *(int(k) for k in np.unravel_index(rest, inner))) if inner else (row,)

    def pieces(self, index: int) -> Iterator[tuple[Index, tuple[int, ...]]]:
        """``(slice of the frame, stored offset)`` of every chunk frame *index* fills."""
        where = self.position(index)
        for piece in block_indices(self.frame_shape, self.piece_block):
            yield piece, self.stored((*where, *(s.start for s in piece)))

    def default_dims(self) -> tuple[Dim, ...]:
        """Uncalibrated axes: ``frame`` (or ``scan_y``, ``scan_x``), then the frame's."""
        names = ["frame"] if len(self.positions) == 1 else _scan_names(len(self.positions))
        grid = [
            Dim.uniform(name, size=n or 1, scale=1.0)
            for name, n in zip(names, self.positions, strict=True)
        ]
        return (*grid, *default_dims(self.frame_shape))

    def check_dims(self, dims: Sequence[Dim]) -> tuple[Dim, ...]:
        """The caller's dims, checked: one per axis, fixed axes of the right length.

        The growing axis's Dim gives name, units, offset and scale; its length does not
        matter (it is extended to the final count), but it must be uniformly spaced.
        """
        dims = tuple(dims)
        wanted = len(self.positions) + len(self.frame_shape)
        if len(dims) != wanted or not all(isinstance(d, Dim) for d in dims):
            raise UsageError(
                f"dims: need {wanted} emdconvert.Dim objects (numpy order: "
                f"{len(self.positions)} position axes, then the frame's), "
                f"got {len(dims)}"
            )
        for dim, size in zip(dims[1:], self.shape(1)[1:], strict=True):
            if dim.size != size:
                raise UsageError(
                    f"dim {dim.name!r} has {dim.size} values for an axis of length {size}"
                )
        growing = dims[0]
        if growing.size < 2:  # one value carries no scale: it would silently become 1.0
            raise UsageError(
                f"dim {growing.name!r}: give the growing axis at least two "
                "values (offset and scale), e.g. Dim.uniform(name, size=2, "
                "scale=0.05, units='s')"
            )
        if growing.size > 2 and not np.allclose(np.diff(growing.values), growing.scale):
            raise UsageError(
                f"dim {growing.name!r}: the growing axis must be uniformly "
                "spaced (it is extended from its offset and scale)"
            )
        return dims


def grown(dim: Dim, rows: int) -> np.ndarray:
    """The stored vector of the growing axis at *rows* (2-element form for one row)."""
    return dim.offset + dim.scale * np.arange(max(rows, 2), dtype=np.float64)
