"""Reading a DM file's images through rsciio's tag-tree parser, with plain data streamed.

rsciio's lazy DM data are dask arrays over per-block memmaps, three times slower than a
``.npy`` of the same size, and its eager reader checks neither the Data tag's element
width nor (lazily) its size; so rsciio parses the tags, axes and metadata, and each
image's data are checked against ImageData and read here.
"""

from __future__ import annotations

import copy
import importlib
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from emdconvert.errors import FormatError, UnsupportedError
from emdconvert.lazy import RawFileArray
from emdconvert.plugins.dm.arrays import NativeOrderArray, SignalLastArray
from emdconvert.plugins.dm.axes import hyperspy_axes, kept_axes_dicts

# DM data types whose bytes are not the decoded array: RGB(A) and packed complex.
_RGB_TYPES = frozenset({8, 23})
_PACKED_COMPLEX_TYPES = frozenset({5, 27, 28})


def _dm_api() -> ModuleType:
    """rsciio's DM module, imported without importing dask.array (~0.25 s).

    ``rsciio.digitalmicrograph._api`` binds ``memmap_distributed`` at import time, which
    imports dask.array, yet only its lazy path for packed-complex images ever calls it.
    A ~1 MB DM3 must convert in under half a second, so during that one import the name
    resolves to a forwarder that imports the real function on first call.  If rsciio
    ever needs more of that module at import, the forwarder steps aside and the module
    is imported normally.
    """
    name, real = "rsciio.utils._distributed", "rsciio.digitalmicrograph._api"
    if real in sys.modules or name in sys.modules:
        return importlib.import_module(real)

    def memmap_distributed(*args: Any, **kwargs: Any) -> Any:
        return importlib.import_module(name).memmap_distributed(*args, **kwargs)

    forwarder = ModuleType(name)
    forwarder.memmap_distributed = memmap_distributed  # type: ignore[attr-defined]
    sys.modules[name] = forwarder
    try:
        return importlib.import_module(real)
    except (ImportError, AttributeError):
        sys.modules.pop(name, None)
        sys.modules.pop(real, None)
        return importlib.import_module(real)
    finally:
        if sys.modules.get(name) is forwarder:
            del sys.modules[name]


def read_signals(path: Path) -> list[dict[str, Any]]:
    """What rsciio's DM ``file_reader(lazy=True)`` returns, with plain data streamed.

    The same parser, axes, metadata and tag tree as rsciio's reader, image by image;
    only the data differ: plain uncompressed images become a :class:`RawFileArray` at
    the byte offset rsciio's parser found (rsciio's lazy data are dask arrays over
    per-block memmaps: a dask graph per block read, and three times the conversion time
    of a ``.npy`` of the same size); :func:`_image_data` says how the others are read.
    """
    api = _dm_api()
    with open(path, "rb") as handle:
        parser = api.DigitalMicrographReader(handle)
        parser.parse_file()
        images = [api.ImageObject(imdict, handle) for imdict in parser.get_image_dictionaries()]
        del parser.tags_dict["ImageList"]
        parser.tags_dict["ImageList"] = {}
        signals = []
        for image in images:
            image.filename = str(path)
            parser.tags_dict["ImageList"]["TagGroup0"] = image.imdict.to_dict()
            metadata = image.get_metadata()
            metadata["General"]["original_filename"] = path.name
            order = hyperspy_axes(image.shape, spectrum_image=image.to_spectrum)
            data = _image_data(image, path, parser.endian, order)
            axes = kept_axes_dicts(image.get_axes_dict(), order, spectrum_image=image.to_spectrum)
            signals.append(
                {
                    "data": data,
                    "axes": axes,
                    "metadata": copy.deepcopy(metadata),
                    "original_metadata": copy.deepcopy(parser.tags_dict),
                }
            )
    return signals


def _image_data(image: Any, path: Path, endian: str, order: tuple[int, ...]) -> Any:
    """The image's data, once the Data tag is known to hold exactly what ImageData declares,
    with only the array axes :func:`~emdconvert.plugins.dm.axes.kept_axes` keeps (the
    others have length 1, so the bytes, in the same order, are those of rsciio's array),
    in *order* (:func:`~emdconvert.plugins.dm.axes.hyperspy_axes`): a spectrum image's
    channel axis moves last (:func:`signal_last`).

    Plain images stream through :class:`RawFileArray` in the file's byte order (rsciio
    reads every tag of a big-endian file big-endian, but its pixels little-endian).
    RGB(A) and old-style packed complex (type 5) are read whole: rsciio cannot read
    RGB lazily and unpacks type 5 with numpy item assignment; new-style packed complex
    goes through rsciio's lazy path.  No independent reader knows the big-endian layout
    of those, so big-endian ones are refused rather than guessed.
    """
    data_type = image.imdict.ImageData.DataType
    _check_data_tag(image)
    special = data_type in _RGB_TYPES or data_type in _PACKED_COMPLEX_TYPES
    if endian == "big" and special:
        raise UnsupportedError(
            f"big-endian DM images of DataType {data_type} (RGB or "
            "packed complex) are not supported"
        )
    full = tuple(int(n) for n in image.shape)
    shape = tuple(full[i] for i in sorted(order))
    if data_type in _PACKED_COMPLEX_TYPES - {5}:
        data = image.get_data(lazy=True)
        data = data if shape == full else data.reshape(shape)
    elif special:
        data = image.get_data(lazy=False)
        data = data if shape == full else data.reshape(shape)
    else:
        dtype = np.dtype(image.dtype).newbyteorder(">" if endian == "big" else "<")
        raw = RawFileArray(path, int(image.imdict.ImageData.Data.offset), shape, dtype)
        data = raw if dtype.isnative else NativeOrderArray(raw)
    return data if tuple(order) == tuple(sorted(order)) else signal_last(data)


def signal_last(data: Any) -> Any:
    """*data* with its first axis moved last, lazily: ``np.moveaxis(data, 0, -1)``.

    Streamed data become a :class:`SignalLastArray`; arrays already in memory (RGB,
    old-style packed complex) a numpy view; dask arrays (new-style packed complex) a
    dask transpose.
    """
    if isinstance(data, (RawFileArray, NativeOrderArray)):
        return SignalLastArray(data)
    if isinstance(data, np.ndarray):
        return np.moveaxis(data, 0, -1)
    return data.transpose((*range(1, len(data.shape)), 0))


def _check_data_tag(image: Any) -> None:
    """Refuse a Data tag that does not hold exactly the elements and bytes ImageData
    declares.

    Dimensions larger than the Data tag would read the following tags as pixels,
    smaller ones would drop data (rsciio's eager reader refuses both); a Data tag whose
    element width disagrees with DataType (int16 elements under a float32 DataType)
    would be read at the wrong width, which rsciio does not notice.  Element counts are
    in the Data tag's own units: a packed-complex image of ny x nx holds
    ny * (nx / 2 + 1) complex values as two floats each.
    """
    image_data = image.imdict.ImageData
    data = image_data.Data
    if not isinstance(data, Mapping) or not {"size", "size_bytes", "offset"} <= set(data):
        raise FormatError("the ImageData Data tag is not an array")
    shape = tuple(int(n) for n in image.shape)
    if any(n < 0 for n in shape):
        raise FormatError(f"ImageData Dimensions {shape[::-1]} are negative")
    itemsize = np.dtype(image.dtype).itemsize
    values = math.prod(shape)  # values of image.dtype that the Data tag must hold
    elements = values
    if image_data.DataType in _PACKED_COMPLEX_TYPES - {5}:
        values = math.prod(shape[:-1]) * (shape[-1] // 2 + 1) if shape else 0
        elements = 2 * values
    if int(data["size"]) != elements:
        raise FormatError(
            f"Dimensions declare {elements} elements but the Data tag holds {int(data['size'])}"
        )
    if int(data["size_bytes"]) != values * itemsize:
        raise FormatError(
            f"the Data tag holds {int(data['size_bytes'])} bytes, but "
            f"{values} {np.dtype(image.dtype).name} elements need "
            f"{values * itemsize} (DataType {image_data.DataType})"
        )
