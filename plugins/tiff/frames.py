"""A folder or glob of single-frame TIFFs read as one ``(frame, ...)`` stack.

Cameras and acquisition scripts often save a series as one TIFF per frame.  The frames
are taken in natural sort order and must agree in shape and dtype; the calibration
and metadata are those of the first frame, and the file names are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emdconvert.errors import FormatError
from emdconvert.metadata_map import readable_metadata
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.plugins.tiff.calibration_read import dims_for, imagej_info, rsciio_calibration
from emdconvert.plugins.tiff.pages import PagedArray
from emdconvert.signals import ORIGINAL_METADATA_ATTR, metadata_json
from emdconvert.sources import expand

#: The suffixes of a TIFF file, and of the frames a folder or glob is searched for.
TIFF_SUFFIXES = (".tif", ".tiff")


class TiffFramesArray(PagedArray):
    """A folder of single-image TIFFs as one ``(frame, ...)`` stack."""

    def __init__(self, files: Sequence[Path]) -> None:
        import tifffile

        self.files = list(files)
        with tifffile.TiffFile(self.files[0]) as first:
            self.page_shape = tuple(int(n) for n in first.series[0].shape)
            self.dtype = np.dtype(first.series[0].dtype)
        for file in self.files[1:]:
            with tifffile.TiffFile(file) as tif:
                shape, dtype = tuple(tif.series[0].shape), np.dtype(tif.series[0].dtype)
            if (shape, dtype) != (self.page_shape, self.dtype):
                raise FormatError(
                    f"frame {file.name} is {shape} {dtype} but "
                    f"{self.files[0].name} is {self.page_shape} {self.dtype}; "
                    "all frames of a stack must match"
                )
        self.shape = (len(self.files), *self.page_shape)

    def _read_pages(self, flat: np.ndarray) -> np.ndarray:
        import tifffile

        return np.stack([tifffile.imread(self.files[int(i)]) for i in flat])


def read_frames(path: Path) -> EMDFile:
    """The TIFFs a folder or glob *path* names, as one dataset."""
    files = expand(path, TIFF_SUFFIXES)
    if not files:
        raise FormatError("no .tif/.tiff files here", path=path)
    import tifffile

    array = TiffFramesArray(files)
    first = rsciio_calibration(files[0])
    with tifffile.TiffFile(files[0]) as tif:
        imagej = imagej_info(tif, tif.series[0])
    dims = dims_for(array.page_shape, first[0] if first else None, imagej)
    if dims:
        dims = (Dim.uniform("frame", size=len(files), scale=1.0), *dims)
    attrs = {"source_files": "\n".join(f.name for f in files)}
    if first and first[0]["original_metadata"]:
        attrs[ORIGINAL_METADATA_ATTR] = metadata_json(first[0]["original_metadata"])
    name = path.name if path.is_dir() else files[0].stem
    return EMDFile((Dataset(name, array, dims, attrs),), **readable_metadata(first))
