"""The HDF5 side of a stream: an EMD v0.2 skeleton whose data and growing dim extend.

Every object (root attributes, metadata groups, the data group with its dims, the
provenance entry) is created when the stream opens, because an HDF5 file in SWMR mode
may only extend and write existing datasets afterwards.  What changes while frames
arrive is the extent of ``data`` and of the growing axis's dim vector, so the file is a
complete EMD file at every flush: a live reader sees calibrated axes, and so does
anyone recovering the file a crashed live stream left behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emdconvert.emd.blockcopy import Buffer
from emdconvert.emd.compression import Compression
from emdconvert.emd.stream_layout import StreamLayout, grown
from emdconvert.emd.writer import (
    AXIS_ORDER_ATTR,
    append_comments,
    group_names,
    write_attrs,
    write_dim,
)
from emdconvert.model import METADATA_GROUPS, Comment, Dim, EMDFile
from emdconvert.units import to_emd

if TYPE_CHECKING:
    import h5py


class StreamFile:
    """An open EMD file being streamed into; used by the writer thread only."""

    def __init__(self, path: Path, layout: StreamLayout, model: EMDFile, name: str,
                 compression: Compression | None, comment: Comment, *, live: bool) -> None:
        import h5py

        self.layout = layout
        self.live = live
        self.rows = 0
        # "x": never clobber (a second live stream to the same output, a crash's leftover).
        self.h5 = h5py.File(path, "x", libver="latest" if live else None)
        try:
            self.data, self.dim = self._skeleton(model, name, compression)
            append_comments(self.h5, [comment])
            if live:
                self.h5.swmr_mode = True
        except BaseException:
            self.h5.close()
            raise

    def _skeleton(self, model: EMDFile, name: str, compression: Compression | None
                  ) -> tuple[h5py.Dataset, h5py.Dataset]:
        h5, layout = self.h5, self.layout
        h5.attrs["version_major"] = 0
        h5.attrs["version_minor"] = 2
        group = h5.create_group("data").create_group(group_names([name])[0])
        group.attrs["emd_group_type"] = 1
        group.attrs[AXIS_ORDER_ATTR] = layout.axis_order
        filters = compression.dataset_kwargs() if compression is not None else {}
        data = group.create_dataset("data", shape=layout.stored(layout.shape(0)),
                                    maxshape=layout.maxshape, chunks=layout.chunks,
                                    dtype=layout.dtype, **filters)
        dims = model.datasets[0].dims
        growing_k = len(dims) if layout.transpose else 1
        stored_dims = layout.stored(dims)
        for k, dim in enumerate(stored_dims, start=1):
            if k != growing_k:
                write_dim(group, k, dim)
        self.growing: Dim = dims[0]
        vector = group.create_dataset(f"dim{growing_k}", data=grown(self.growing, 0),
                                      maxshape=(None,), chunks=(4096,))
        vector.attrs["name"] = np.bytes_(self.growing.name.encode("utf-8"))
        vector.attrs["units"] = np.bytes_(to_emd(self.growing.units).encode("utf-8"))
        for meta in METADATA_GROUPS:
            write_attrs(h5.create_group(meta), model.metadata(meta))
        return data, vector

    def grow(self, rows: int) -> None:
        """Make room for *rows* steps of the growing axis.

        Outside live mode the dataset grows geometrically and is cut to size on
        :meth:`close`, and the growing dim vector is written once there: resizing and
        rewriting it for every batch of one or two frames cost more than writing them.
        Live readers must see the true shape, so a live file grows exactly.
        """
        self.rows = rows
        current = self.data.shape[self._axis]
        if rows > current:
            self.data.resize(rows if self.live else max(rows, 2 * current, 64),
                             axis=self._axis)
        if self.live:
            self._write_dim()

    @property
    def _axis(self) -> int:
        layout = self.layout
        return len(layout.frame_shape) + len(layout.positions) - 1 if layout.transpose \
            else 0

    def _write_dim(self) -> None:
        """Extend the growing dim vector to the rows written (only the new values)."""
        values = grown(self.growing, self.rows)
        done = self.dim.shape[0]
        if values.shape[0] != done:
            self.dim.resize(values.shape)
            self.dim[done:] = values[done:]

    def finish(self) -> None:
        """Cut the dataset to the rows written and complete the dim vector."""
        if self.data.shape[self._axis] != self.rows:
            self.data.resize(self.rows, axis=self._axis)
        self._write_dim()

    def write(self, offset: tuple[int, ...], payload: Buffer | None,
              array: np.ndarray) -> None:
        """One chunk: ready bytes by direct write, else through h5py (edges, plugins)."""
        if payload is not None:
            self.data.id.write_direct_chunk(offset, payload)
        else:
            self.data[tuple(slice(o, o + n) for o, n in zip(offset, array.shape,
                                                            strict=True))] = array

    def flush(self) -> None:
        self.h5.flush()

    def close(self) -> None:
        try:
            if self.h5.id.valid and self.rows:
                self.finish()
        finally:
            self.h5.close()
