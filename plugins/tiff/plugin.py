"""The ``tiff`` format plugin: the contract the core calls, over this package's modules.

It states what the plugin is (suffixes, magic, compressions) and sends each call to the
module that does the work: :mod:`~emdconvert.plugins.tiff.integrity` for
``check_complete``, :mod:`~emdconvert.plugins.tiff.reader` and
:mod:`~emdconvert.plugins.tiff.frames` for ``read``,
:mod:`~emdconvert.plugins.tiff.writer` for ``write``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from emdconvert.model import EMDFile
from emdconvert.plugin import BasePlugin, DatasetInfo, FileInfo, package_version
from emdconvert.plugins.tiff.errorlog import errors_are_fatal
from emdconvert.plugins.tiff.frames import TIFF_SUFFIXES, read_frames
from emdconvert.plugins.tiff.integrity import check_pages
from emdconvert.plugins.tiff.reader import read_file
from emdconvert.plugins.tiff.writer import write_tiff
from emdconvert.sources import expand


class TIFFPlugin(BasePlugin):
    """TIFF / BigTIFF / ImageJ stacks, single files or a folder of frames."""

    name: ClassVar[str] = "tiff"
    description: ClassVar[str] = "TIFF, BigTIFF, ImageJ hyperstacks, folders of frames"
    extensions: ClassVar[tuple[str, ...]] = TIFF_SUFFIXES
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = (
        (0, b"II*\0"),
        (0, b"MM\0*"),
        (0, b"II+\0"),
        (0, b"MM\0+"),
    )
    priority: ClassVar[int] = 60
    can_read: ClassVar[bool] = True
    can_write: ClassVar[bool] = True
    reads_stacks: ClassVar[bool] = True
    #: Deflate, which every TIFF reader (ImageJ and Fiji included) decodes.
    compressions: ClassVar[tuple[str, ...]] = ("gzip",)

    def sniff(self, path: Path, head: bytes) -> bool:
        if path.is_file() or not head:
            return super().sniff(path, head)
        files = expand(path, TIFF_SUFFIXES)
        return bool(files) and super().sniff(files[0], head)

    def check_complete(self, path: Path) -> None:
        import tifffile

        with errors_are_fatal(), tifffile.TiffFile(path) as tif:
            check_pages(tif, path.stat().st_size)

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        if not path.is_file():
            return read_frames(path)
        return read_file(path)

    def inspect(self, path: Path, *, options: Mapping[str, Any] | None = None) -> FileInfo:
        """Shapes and dtypes from the TIFF tags only (no pixels, no open handles)."""
        if not path.is_file():
            return super().inspect(path, options=options)
        import tifffile

        with tifffile.TiffFile(path) as tif:
            return FileInfo(
                tuple(
                    DatasetInfo(f"{path.stem}_{i}", tuple(s.shape), np.dtype(s.dtype))
                    for i, s in enumerate(tif.series)
                )
            )

    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        write_tiff(model, path, options)

    def library_versions(self) -> dict[str, str]:
        return {
            "tifffile": package_version("tifffile"),
            "rosettasciio": package_version("rosettasciio"),
        }
