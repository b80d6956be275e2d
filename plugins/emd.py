"""The ``emd`` format plugin: a thin shell over the EMD engine (:mod:`emdconvert.emd`).

Berkeley EMD v0.2 is read and written by the engine; Velox, EMD 1.0 and prismatic
files are recognised by it and read through rsciio here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from emdconvert import budget
from emdconvert.emd import reader
from emdconvert.emd.provenance import append_comment
from emdconvert.emd.verify import check_written, compare_samples
from emdconvert.emd.writer import X_FIRST, write_emd
from emdconvert.errors import FormatError
from emdconvert.model import Comment, EMDFile
from emdconvert.plugin import BasePlugin, FileInfo, package_version


class EMDPlugin(BasePlugin):
    """Berkeley EMD v0.2 (read/write); Velox, EMD 1.0, prismatic (read, via rsciio)."""

    name: ClassVar[str] = "emd"
    description: ClassVar[str] = (
        "Berkeley EMD v0.2 (read/write); Velox, EMD 1.0 and prismatic (read, via rsciio)"
    )
    extensions: ClassVar[tuple[str, ...]] = (".emd", ".h5", ".hdf5", ".hdf")
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = tuple(
        (offset, reader.HDF5_SIGNATURE) for offset in (0, 512, 1024, 2048)
    )
    priority: ClassVar[int] = 80
    can_read: ClassVar[bool] = True
    can_write: ClassVar[bool] = True
    #: The core appends its provenance entry through :meth:`append_comment`.
    keeps_provenance: ClassVar[bool] = True
    compressions: ClassVar[tuple[str, ...]] = ("gzip", "zstd", "bitshuffle-lz4")
    write_options: ClassVar[tuple[str, ...]] = ("axis_order", "threads")

    def sniff(self, path: Path, head: bytes) -> bool:
        if not super().sniff(path, head):
            return False
        try:
            import h5py

            reader.probe(path)  # metadata that would hang or crash libhdf5: ours to say
            with h5py.File(path, "r") as h5:
                return reader.flavour(h5) is not None
        except Exception:
            # HDF5's signature but unreadable (cut short, being written): ours to say
            # why, in check_complete, rather than "unrecognised format".
            return True

    def check_complete(self, path: Path) -> None:
        reader.check_complete(path)

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        h5 = reader.open_checked(path)
        kind = reader.flavour(h5)
        if kind in reader.VIA_RSCIIO:
            stream_bytes = reader.velox_stream_bytes(h5)
            h5.close()
            return self._read_with_rsciio(path, stream_bytes)
        if kind is None:
            h5.close()
            raise FormatError("HDF5 file is not EMD (no version attributes)", path=path)
        return reader.read_berkeley(h5, path)

    def _read_with_rsciio(self, path: Path, stream_bytes: int | None) -> EMDFile:
        """Velox, EMD 1.0 and prismatic files, read by rsciio.

        A Velox spectrum stream is decoded once by rsciio's eager read but once per
        block pulled from its lazy one (a 128 x 128 x 4096 EDS map: 1.6 s eagerly,
        170 s lazily), so a file with streams is read into memory when what they decode
        to (:func:`~emdconvert.emd.reader.velox_stream_bytes`) fits the memory budget,
        and marked so; larger ones stay lazy (slow, but bounded).
        """
        from rsciio.emd import file_reader

        from emdconvert.signals import signals_to_model

        size = path.stat().st_size
        if stream_bytes is None or size + stream_bytes > budget.eager_limit():
            return signals_to_model(file_reader(str(path), lazy=True))
        return signals_to_model(file_reader(str(path), lazy=False), {budget.READ_ATTR: "eager"})

    def inspect(self, path: Path, *, options: Mapping[str, Any] | None = None) -> FileInfo:
        with reader.open_checked(path) as h5:
            if reader.flavour(h5) != reader.BERKELEY:
                return super().inspect(path, options=options)
            return FileInfo(reader.dataset_infos(h5), {"flavour": reader.BERKELEY})

    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        options = options or {}
        write_emd(
            model,
            path,
            axis_order=options.get("axis_order") or X_FIRST,
            compression=options.get("compression"),
            threads=options.get("threads"),
            progress=options.get("progress"),
        )

    def append_comment(self, path: Path, comment: Comment) -> None:
        append_comment(path, comment)

    def verify(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        """The check a stream passes too (the spec's MUST rules, every dataset with the
        model's shape and dtype), then the sampled read-back of the data."""
        check_written(path, [(d.shape, d.dtype) for d in model.datasets])
        compare_samples(model, path)

    def library_versions(self) -> dict[str, str]:
        return {
            "h5py": package_version("h5py"),
            "hdf5plugin": package_version("hdf5plugin"),
            "rosettasciio": package_version("rosettasciio"),
        }
