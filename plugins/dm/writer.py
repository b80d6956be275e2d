"""The DM writer: one dataset as a GMS image document, its data streamed.

The output suffix picks the version (``options["target_suffix"]``, since the core
writes to a temporary name): ``.dm3`` gives DM3, whose 32-bit lengths cap a file at
4 GB, anything else DM4.  DM stores dimensions x first, so a C-order numpy array is
written as its bytes are; a spectrum image (the reader moved DM's first numpy axis,
the spectrum, last) gets that axis moved back first, written plane by plane.  The tag
tree is built whole (it is small) and the Data array streamed into its place, block by
block from the lazy array.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from emdconvert.errors import UnsupportedError
from emdconvert.lazy import block_shape, iter_blocks
from emdconvert.model import Dataset, EMDFile
from emdconvert.plugins.dm.layout import (
    IMAGE_TYPES,
    RGB_TYPE,
    Image,
    calibration,
    document,
    mark_spectrum_image,
    spectrum_image,
)
from emdconvert.plugins.dm.metadata import (
    IMAGE_TAGS,
    MICROSCOPE_RULES,
    SAMPLE_RULES,
    USER_RULES,
    lookup,
    unmap_tags,
)
from emdconvert.plugins.dm.tagfile import Encoder, Stream, encoded_size, split
from emdconvert.plugins.dm.thumbnail import thumbnail
from emdconvert.signals import ORIGINAL_METADATA_ATTR, has_rgb_channels

#: DM3 lengths and counts are 32-bit (rsciio reads the element count signed).
DM3_MAX_BYTES = 2**32 - 1
DM3_MAX_COUNT = 2**31 - 1
#: DM's images have at most four dimensions.
MAX_NDIM = 4


def check_dataset(dataset: Dataset) -> None:
    """Refuse what no DM image type holds, with the reason in one line."""
    ndim = len(dataset.shape) - has_rgb_channels(dataset)
    if not has_rgb_channels(dataset) and dataset.dtype.name not in IMAGE_TYPES:
        raise UnsupportedError(
            f"{dataset.name}: DM has no image type for {dataset.dtype} "
            f"(DM images are {', '.join(IMAGE_TYPES)} or RGB(A) uint8)"
        )
    if ndim > MAX_NDIM:
        raise UnsupportedError(
            f"{dataset.name}: DM images have at most {MAX_NDIM} dimensions, got shape "
            f"{dataset.shape}"
        )
    for dim in dataset.dims[:ndim]:
        if not dim.is_uniform and dim.size > 2:
            steps = np.diff(dim.values)
            if not np.allclose(steps, steps[0], rtol=1e-9, atol=0):
                raise UnsupportedError(
                    f"{dataset.name}: DM axes are uniformly spaced, but dim {dim.name!r} is not"
                )


def original_tree(dataset: Dataset) -> dict[str, Any] | None:
    """The DM tag tree a DM source left on the dataset (rsciio's ``tags_dict``), if any."""
    text = dataset.attrs.get(ORIGINAL_METADATA_ATTR)
    if not isinstance(text, str):
        return None
    try:
        tree = json.loads(text)
    except ValueError:
        return None
    if not isinstance(tree, dict) or not isinstance(lookup(tree, "ImageList.TagGroup0"), dict):
        return None  # not a DM tree (another reader's original metadata)
    return tree


def image_tags(model: EMDFile, tree: Mapping[str, Any] | None) -> dict[str, Any]:
    """The data image's ImageTags: the source's, with the model's readable metadata
    put back where the reader maps it from."""
    tags = copy.deepcopy(lookup(tree or {}, ".".join(IMAGE_TAGS)) or {})
    for values, rules in (
        (model.microscope, MICROSCOPE_RULES),
        (model.sample, SAMPLE_RULES),
        (model.user, USER_RULES),
    ):
        unmap_tags(tags, values, rules)
    return tags


def _describe(dataset: Dataset, order: tuple[int, ...], tree: Mapping[str, Any] | None) -> Image:
    rgb = has_rgb_channels(dataset)
    dims = [dataset.dims[i] for i in order]
    cals = tuple(calibration(d.size, d.offset, d.scale, d.units) for d in reversed(dims))
    kind = RGB_TYPE if rgb else IMAGE_TYPES[dataset.dtype.name]
    depth = 4 if rgb else dataset.dtype.itemsize
    title = dataset.attrs.get("title")
    old_name = lookup(tree, "ImageList.TagGroup0.Name") if tree else None
    if isinstance(title, str):
        name = title
    elif tree is not None:
        name = old_name if isinstance(old_name, str) else ""
    else:
        name = dataset.name
    return Image(cals, kind, depth, name)


def read_back_shape(dataset: Dataset) -> tuple[int, ...]:
    """The shape the DM reader gives the written dataset: length-1 axes dropped (as
    rsciio's squeeze drops them), RGB as four channels."""
    rgb = has_rgb_channels(dataset)
    image = dataset.shape[: len(dataset.shape) - rgb]
    kept = tuple(n for n in image if n != 1) or image[-1:]
    return (*kept, 4) if rgb else kept


def write_dm(model: EMDFile, path: Path, options: Mapping[str, Any] | None = None) -> None:
    """Write the one dataset of *model* to *path* (options: ``target_suffix``,
    ``progress``)."""
    options = options or {}
    if len(model.datasets) != 1:
        raise UnsupportedError(
            f"a DM document holds one image here, but the input has {len(model.datasets)} datasets"
        )
    dataset = model.datasets[0]
    check_dataset(dataset)
    version = 3 if options.get("target_suffix", path.suffix.lower()) == ".dm3" else 4
    rgb = has_rgb_channels(dataset)
    ndim = len(dataset.shape) - rgb
    tree = original_tree(dataset)
    tags = image_tags(model, tree)
    if tree is None and not rgb:
        mark_spectrum_image(tags, dataset.dims[ndim - 1].units, ndim)
    si = not rgb and spectrum_image(tags, ndim)
    order = (ndim - 1, *range(ndim - 1)) if si else tuple(range(ndim))
    image = _describe(dataset, order, tree)
    count = math.prod(dataset.shape[:ndim])
    kind = image.data_type
    stream = Stream(kind[1], count, count * image.pixel_depth, kind[2])
    if version == 3:  # before any data are read (the thumbnail)
        _check_dm3(dataset, stream.nbytes, count)
    root = document(image, ndim, stream, thumbnail(dataset.data, rgb), version, tree, tags)
    pieces = Encoder(version).document(root)
    if version == 3:
        _check_dm3(dataset, encoded_size(pieces), count)
    head, _, tail = split(pieces)
    progress = options.get("progress")
    with open(path, "wb") as out:
        out.write(head)
        if si:
            _write_spectrum_image(out, dataset, progress)
        else:
            _write_plain(out, dataset, rgb, progress)
        out.write(tail)


def _check_dm3(dataset: Dataset, nbytes: int, count: int) -> None:
    if nbytes > DM3_MAX_BYTES or count > DM3_MAX_COUNT:
        raise UnsupportedError(
            f"{dataset.name}: {nbytes} bytes of data do not fit a DM3 file (4 GB and "
            f"{DM3_MAX_COUNT} values at most); write .dm4 instead"
        )


def _little(block: np.ndarray) -> np.ndarray:
    """*block* as the little-endian C-order bytes DM stores."""
    return np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("<"))


def _raw(array: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous *array*, without a copy."""
    return array.reshape(-1).view(np.uint8).data


def _bgra(block: np.ndarray) -> np.ndarray:
    """R, G, B(, A) samples as DM's B, G, R, A bytes (opaque when there is no alpha)."""
    out = np.full((*block.shape[:-1], 4), 255, np.uint8)
    out[..., :3] = block[..., 2::-1]
    if block.shape[-1] == 4:
        out[..., 3] = block[..., 3]
    return out


def _write_plain(
    out: BinaryIO, dataset: Dataset, rgb: bool, progress: Callable[[int], Any] | None
) -> None:
    """The array's C-order bytes, block by block: DM's x-first order."""
    for _, block in iter_blocks(dataset.data):
        out.write(_raw(_bgra(block) if rgb else _little(block)))
        if progress is not None:
            progress(block.nbytes)


def _write_spectrum_image(
    out: BinaryIO, dataset: Dataset, progress: Callable[[int], Any] | None
) -> None:
    """``(..., E)`` written as DM's ``(E, ...)``: each block of whole spectra is
    transposed and its planes land at their place in each energy plane."""
    shape = dataset.shape
    spatial, channels = shape[:-1], shape[-1]
    itemsize = dataset.dtype.itemsize
    plane = math.prod(spatial) * itemsize
    start = out.tell()
    block = (*block_shape(spatial, itemsize * channels), channels)
    for index, data in iter_blocks(dataset.data, block=block):
        first = int(np.ravel_multi_index([s.start for s in index[:-1]], spatial))
        planes = _little(np.moveaxis(data, -1, 0))
        for channel in range(channels):
            out.seek(start + channel * plane + first * itemsize)
            out.write(_raw(planes[channel]))
        if progress is not None:
            progress(data.nbytes)
    out.seek(start + channels * plane)
