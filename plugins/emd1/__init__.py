"""The ``emd1`` format plugin: EMD 1.0 as emdfile and py4DSTEM write it (write only).

``emdconvert scan.dm4 scan_py4dstem.emd --to emd1`` gives a file that ``emdfile.read``,
``py4DSTEM.read`` (a 4D-STEM scan as a calibrated ``DataCube``) and rsciio open.
Reading EMD 1.0 stays with the ``emd`` plugin (via rsciio); its priority is below
``emd``'s so that ``.emd`` outputs still default to Berkeley EMD v0.2.  The layout is in
:mod:`.layout`, the datacube rule in :mod:`.datacube`, emdfile's Metadata in
:mod:`.metadata`; data stream through the v0.2 writer's chunk pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from emdconvert.model import Comment, EMDFile
from emdconvert.plugin import BasePlugin, package_version


class EMD1Plugin(BasePlugin):
    """EMD 1.0 (emdfile / py4DSTEM), written through the v0.2 writer's data path."""

    name: ClassVar[str] = "emd1"
    description: ClassVar[str] = (
        "EMD 1.0 as emdfile/py4DSTEM write it (write only; 4D-STEM scans as DataCube)"
    )
    extensions: ClassVar[tuple[str, ...]] = (".emd", ".h5")
    priority: ClassVar[int] = 40
    can_write: ClassVar[bool] = True
    #: The conversion log goes into the root's ``comments`` Metadata.
    keeps_provenance: ClassVar[bool] = True
    compressions: ClassVar[tuple[str, ...]] = ("gzip", "zstd", "bitshuffle-lz4")
    write_options: ClassVar[tuple[str, ...]] = ("threads",)

    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        from emdconvert.plugins.emd1.layout import write_emd1

        options = options or {}
        write_emd1(
            model,
            path,
            compression=options.get("compression"),
            threads=options.get("threads"),
            progress=options.get("progress"),
        )

    def verify(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        from emdconvert.plugins.emd1.verify import check_written

        check_written(model, path)

    def append_comment(self, path: Path, comment: Comment) -> None:
        from emdconvert.plugins.emd1.provenance import append_comment

        append_comment(path, comment)

    def library_versions(self) -> dict[str, str]:
        return {"h5py": package_version("h5py"), "hdf5plugin": package_version("hdf5plugin")}
