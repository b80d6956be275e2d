"""Reading one TIFF file: its series, each as a lazy array with its calibration.

tifffile groups a file's pages into series (single images, multi-page and BigTIFF
stacks, ImageJ hyperstacks, compressed TIFF through imagecodecs).  An uncompressed
series stored as one byte range is read directly from the file; any other is read page
by page, so a stack streams in bounded memory.  The calibration of each series comes
from :mod:`emdconvert.plugins.tiff.calibration_read`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.budget import check_early
from emdconvert.errors import FormatError
from emdconvert.lazy import LazyArray, RawFileArray
from emdconvert.metadata_map import readable_metadata
from emdconvert.model import Dataset, EMDFile
from emdconvert.plugins.tiff.calibration_read import dims_for, imagej_info, rsciio_calibration
from emdconvert.plugins.tiff.errorlog import errors_are_fatal
from emdconvert.plugins.tiff.pages import TiffSeriesArray
from emdconvert.signals import ORIGINAL_METADATA_ATTR, metadata_json


def read_file(path: Path) -> EMDFile:
    """Every series of the TIFF file *path*, one dataset each."""
    import tifffile

    # check_complete (run by the core before every read) has walked the pages.
    with errors_are_fatal(), tifffile.TiffFile(path) as tif:
        count = len(tif.series)
        contiguous = [_contiguous(tif, series) for series in tif.series]
        imagej = [imagej_info(tif, series) for series in tif.series]
        declared = sum(math.prod(s.shape) * np.dtype(s.dtype).itemsize for s in tif.series)
    if count == 0:
        raise FormatError("the file holds no images", path=path)
    check_early(declared)  # before rsciio's calibration reader imports dask
    # Vendor metadata tifffile cannot parse is only logged: the pixels, checked
    # above, are what must be whole.
    calibrations = rsciio_calibration(path)
    datasets = []
    for index in range(count):
        array: LazyArray = contiguous[index] or TiffSeriesArray(path, index)
        calibration = calibrations[index] if len(calibrations) == count else None
        name = path.stem if count == 1 else f"{path.stem}_{index}"
        datasets.append(_dataset(name, array, calibration, imagej[index]))
    return EMDFile(tuple(datasets), **readable_metadata(calibrations))


def _dataset(
    name: str,
    array: LazyArray,
    calibration: dict[str, Any] | None,
    imagej: dict[str, Any] | None = None,
) -> Dataset:
    attrs: dict[str, Any] = {}
    if calibration is not None and calibration["original_metadata"]:
        attrs[ORIGINAL_METADATA_ATTR] = metadata_json(calibration["original_metadata"])
    return Dataset(name, array, dims_for(array.shape, calibration, imagej), attrs)


def _contiguous(tif: Any, series: Any) -> RawFileArray | None:
    """An uncompressed series stored as one byte range, read with ``pread``.

    tifffile reports ``dataoffset`` only when every page is stored in final form
    (no compression, predictor or bit packing) back to back and the bytes add up to the
    series' shape; reading that range directly skips per-page decoding and lets the
    block copier reuse its buffers.  The file's byte order is kept in the dtype.
    """
    offset = series.dataoffset
    if offset is None or len(series.levels) > 1:
        return None
    dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
    return RawFileArray(tif.filehandle.path, int(offset), tuple(series.shape), dtype)
