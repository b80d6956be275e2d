"""The HDF5 side of a stream: an EMD v0.2 file whose data and growing dim extend.

The skeleton (root attributes, the data group and its dims, the metadata groups, the
provenance entry) is the batch writer's own (:func:`~emdconvert.emd.writer.start_file`
and the functions after it), created when the stream opens, because an HDF5 file in
SWMR mode may only extend and write existing datasets afterwards.  What is stream's own
is the resizable ``data`` and growing axis's dim vector, so the file is a complete EMD
file at every flush: a live reader sees calibrated axes, and so does anyone recovering
the file a crashed live stream left behind.  Chunks are written by the batch copier's
:class:`~emdconvert.emd.blockcopy.ChunkWriter`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.emd.blockcopy import BufferPool, ChunkWriter, raw_bytes
from emdconvert.emd.compression import Compression
from emdconvert.emd.provenance import conversion_comment
from emdconvert.emd.stream_layout import StreamLayout, grown
from emdconvert.emd.writer import (
    finish_file,
    group_names,
    start_data_group,
    start_file,
    write_dims,
)
from emdconvert.errors import UnsupportedError, UsageError
from emdconvert.model import Dataset, Dim, EMDFile, MetadataValue
from emdconvert.plugin import package_version
from emdconvert.publish import TEMP_PREFIX

#: The writer named in a stream's provenance entry (the batch writer's is "emd").
WRITER = "emd-stream"


def live_path_for(path: str | Path) -> Path:
    """Where a live stream to *path* is written until it is published (``live=True``)."""
    dst = Path(path)
    return dst.parent / f"{TEMP_PREFIX}{dst.name}.live"


def writer_libraries(choice: Compression | None) -> dict[str, str]:
    """The libraries that write a stream: h5py, and what its compression takes."""
    libraries = {"h5py": package_version("h5py")}
    if choice is not None and choice.needs_plugin:
        libraries["hdf5plugin"] = package_version("hdf5plugin")
    elif choice is not None:
        libraries["zlib-ng"] = package_version("zlib-ng")  # the chunks' deflate
    return libraries


def opening_model(
    layout: StreamLayout,
    dims: Sequence[Dim],
    name: str,
    metadata: tuple[
        Mapping[str, MetadataValue], Mapping[str, MetadataValue], Mapping[str, MetadataValue]
    ],
    options: Mapping[str, Any],
    choice: Compression | None,
) -> EMDFile:
    """The model the file opens with: one step of the growing axis (the file grows it
    from its offset and scale), the metadata groups and the stream's provenance entry."""
    comment = conversion_comment(
        reader="stream",
        reader_libraries={},
        writer=WRITER,
        writer_libraries=writer_libraries(choice),
        source=None,
        options=dict(options),
    )
    growing = dims[0]
    first = Dim(growing.name, growing.units, growing.values[:1], growing.scale, growing.attrs)
    try:
        placeholder = np.broadcast_to(np.zeros((), layout.dtype), layout.shape(1))
        return EMDFile(
            (Dataset(name, placeholder, (first, *dims[1:])),), *metadata, comments=(comment,)
        )
    except UnsupportedError as exc:
        raise UsageError(exc.reason) from None


class StreamFile:
    """An open EMD file being streamed into; used by the writer thread only.

    *model* holds the one dataset with one step of the growing axis, whose Dim gives
    its name, units, offset and scale.
    """

    def __init__(
        self,
        path: Path,
        layout: StreamLayout,
        model: EMDFile,
        compression: Compression | None,
        *,
        live: bool,
    ) -> None:
        import h5py

        self.layout = layout
        self.live = live
        self.rows = 0
        # "x": never clobber (a second live stream to the same output, a crash's leftover).
        self.h5 = h5py.File(path, "x", libver="latest" if live else None)
        try:
            dataset = model.datasets[0]
            group = start_data_group(
                start_file(self.h5), group_names([dataset.name])[0], dataset, layout.axis_order
            )
            filters = compression.dataset_kwargs() if compression is not None else {}
            self.data = group.create_dataset(
                "data",
                shape=layout.stored(layout.shape(0)),
                maxshape=layout.maxshape,
                chunks=layout.chunks,
                dtype=layout.dtype,
                **filters,
            )
            self.growing: Dim = dataset.dims[0]
            self.dim = write_dims(group, dataset.dims, layout.axis_order, growing=True)
            finish_file(self.h5, model)
            encode = raw_bytes if compression is None else compression.chunk_encoder()
            self.chunks = ChunkWriter(self.data, encode, BufferPool(layout.chunks, layout.dtype))
            if live:
                self.h5.swmr_mode = True
        except BaseException:
            self.h5.close()
            raise

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
            self.data.resize(rows if self.live else max(rows, 2 * current, 64), axis=self._axis)
        if self.live:
            self._write_dim()

    @property
    def _axis(self) -> int:
        layout = self.layout
        return len(layout.frame_shape) + len(layout.positions) - 1 if layout.transpose else 0

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

    def flush(self) -> None:
        self.h5.flush()

    def close(self) -> None:
        try:
            if self.h5.id.valid and self.rows:
                self.finish()
        finally:
            self.h5.close()
