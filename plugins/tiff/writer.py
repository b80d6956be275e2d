"""The TIFF writer: one dataset as an ImageJ hyperstack or a calibrated (Big)TIFF stack.

uint8, uint16 and float32 are written as an ImageJ hyperstack (``axes`` TZCYX as
needed); other real dtypes as a (Big)TIFF stack with the same ImageJ description, which
tifffile and rsciio read.  A trailing ``channel`` axis of 3 or 4 uint8 samples is
written as RGB(A) pages; ``--compression gzip[:LEVEL]`` stores deflate pages.  Pages
are streamed from the model, one at a time.  Complex and boolean data are refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.errors import UnsupportedError
from emdconvert.lazy import iter_blocks
from emdconvert.model import Dataset, EMDFile
from emdconvert.plugins.tiff.calibration_write import dm_tags, imagej_calibration
from emdconvert.signals import has_rgb_channels

#: The dtypes ImageJ opens; others get the ImageJ description on a plain TIFF.
IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def write_tiff(model: EMDFile, path: Path, options: Mapping[str, Any] | None = None) -> None:
    """Write the one dataset of *model* to *path* (options: ``compression``, ``progress``)."""
    import tifffile

    from emdconvert.emd.compression import parse as parse_compression

    if len(model.datasets) != 1:
        raise UnsupportedError(
            f"a TIFF holds one image stack but the input has {len(model.datasets)} datasets"
        )
    dataset = model.datasets[0]
    if dataset.dtype.kind == "c":
        raise UnsupportedError(f"{dataset.name}: complex data cannot be stored in TIFF")
    if dataset.dtype.kind == "b":
        raise UnsupportedError(f"{dataset.name}: boolean data cannot be stored in TIFF")
    if len(dataset.shape) < 2:
        raise UnsupportedError(
            f"{dataset.name}: TIFF needs at least 2-D images, got shape {dataset.shape}"
        )
    rgb = len(dataset.shape) >= 3 and has_rgb_channels(dataset)  # colour pages, not grey
    progress = (options or {}).get("progress")
    # ImageJ hyperstacks have at most TZC before YX(S); beyond that, no calibration.
    calibrated = len(dataset.shape) - rgb <= 5
    imagej = dataset.dtype in IMAGEJ_DTYPES and calibrated
    metadata, resolution = imagej_calibration(dataset, rgb) if calibrated else ({}, None)
    # Pixel size in the ImageJ unit, not per inch (tifffile's default elsewhere).
    kwargs: dict[str, Any] = {
        "metadata": metadata,
        "resolution": resolution,
        "resolutionunit": tifffile.RESUNIT.NONE,
        "extratags": dm_tags(dataset, rgb) if calibrated else (),
    }
    if calibrated and not imagej:
        # ImageJ itself cannot open these dtypes, but tifffile, rsciio and Fiji's
        # Bio-Formats read the calibration from an ImageJ description all the same.
        kwargs.update(
            metadata=None,
            description=tifffile.imagej_description(dataset.shape, rgb=rgb, **metadata),
        )
    choice = parse_compression((options or {}).get("compression"))
    if choice is not None:
        kwargs.update(compression="zlib", compressionargs={"level": choice.level})
    big = dataset.shape and math.prod(dataset.shape) * dataset.dtype.itemsize > 2**31
    with tifffile.TiffWriter(path, imagej=imagej, bigtiff=bool(big and not imagej)) as tif:
        tif.write(
            _pages(dataset, progress, rgb),
            shape=dataset.shape,
            dtype=dataset.dtype,
            photometric="rgb" if rgb else "minisblack",
            **kwargs,
        )


def _pages(dataset: Dataset, progress: Any, rgb: bool = False) -> Iterator[np.ndarray]:
    """The images of *dataset* in order, one 2-D (RGB: 2-D by samples) page at a time."""
    image = dataset.shape[-3:] if rgb else dataset.shape[-2:]
    page = (1,) * (len(dataset.shape) - len(image)) + image
    for _, block in iter_blocks(dataset.data, block=page):
        if progress is not None:
            progress(block.nbytes)
        yield block.reshape(image)
