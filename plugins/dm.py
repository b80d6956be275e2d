"""Gatan DigitalMicrograph DM3/DM4 import via RosettaSciIO (read-only).

Format notes: rsciio's ``digitalmicrograph`` tag-tree parser (the one HyperSpy uses)
finds the images, axes, metadata and byte offsets; plain image data are then streamed
with ``pread`` (:class:`~emdconvert.lazy.RawFileArray`), so a large DM4 converts in
bounded memory at the speed of a ``.npy``.  RGB(A) images, which rsciio cannot read
lazily, are read whole; packed-complex ones go through rsciio's lazy path.  Length-1
axes are dropped as rsciio's own ``squeeze`` post-process drops them, so a spectrum
stored as N x 1 is 1-D in the output too (:func:`kept_axes`).  Spectrum images, which
DigitalMicrograph stores channel-first, get their channel axis last, as rsciio's
``to_signal1D`` post-process gives them to HyperSpy (:func:`hyperspy_axes`); plain ones
are then read through :class:`SignalLastArray`, a blockwise transpose of long reads.

Metadata (README, Formats, ``dm``): the common Microscope Info / Acquisition / DataBar /
Session Info / EELS tags become readable attributes of the ``microscope``, ``sample`` and
``user`` groups, and the whole original tag tree is kept as JSON on the dataset group.
RGB(A) images become a trailing ``channel`` axis (``signals.signal_to_dataset``).
rsciio's own ``metadata`` is nearly empty for DM files (HyperSpy applies the mapping), so
the tag paths are read directly here.
"""

from __future__ import annotations

import copy
import datetime as _dt
import importlib
import math
import os
import struct
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from emdconvert.errors import FormatError, IncompleteError, UnsupportedError
from emdconvert.lazy import ArrayLike, Index, RawFileArray, expand_index, flat_run, pread_fully
from emdconvert.model import AttrValue, EMDFile
from emdconvert.plugin import BasePlugin, package_version
from emdconvert.signals import signal_to_dataset

IMAGE_TAGS = ("ImageList", "TagGroup0", "ImageTags")
# DM data types whose bytes are not the decoded array: RGB(A) and packed complex.
_RGB_TYPES = frozenset({8, 23})
_PACKED_COMPLEX_TYPES = frozenset({5, 27, 28})
# Windows FILETIME (DataBar "Acquisition Time (OS)") counts 100 ns ticks from 1601.
_FILETIME_EPOCH = _dt.datetime(1601, 1, 1, tzinfo=_dt.timezone.utc)

Rule = tuple[str, tuple[str, ...], Callable[[Any], AttrValue | None]]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _string(value: Any) -> AttrValue | None:
    # rsciio gives an empty DM string as an empty list.
    if isinstance(value, (list, tuple)) and not value:
        return None
    text = str(value).strip()
    return text or None


def _vector(value: Any) -> AttrValue | None:
    array = np.asarray(value)
    return array if array.dtype.kind in "biuf" and array.size else None


def _filetime(value: Any) -> AttrValue | None:
    ticks = _number(value)
    if ticks is None or ticks <= 0:
        return None
    stamp = _FILETIME_EPOCH + _dt.timedelta(microseconds=ticks / 10)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


MICROSCOPE_RULES: tuple[Rule, ...] = (
    ("voltage_V", ("Microscope Info.Voltage",), _number),
    ("indicated_magnification", ("Microscope Info.Indicated Magnification",), _number),
    ("actual_magnification", ("Microscope Info.Actual Magnification",), _number),
    ("stem_camera_length_mm", ("Microscope Info.STEM Camera Length",), _number),
    ("cs_mm", ("Microscope Info.Cs(mm)",), _number),
    ("illumination_mode", ("Microscope Info.Illumination Mode",), _string),
    ("imaging_mode", ("Microscope Info.Imaging Mode",), _string),
    ("operation_mode", ("Microscope Info.Operation Mode",), _string),
    ("microscope_name", ("Session Info.Microscope", "Microscope Info.Name"), _string),
    ("probe_current_nA", ("Microscope Info.Probe Current (nA)",), _number),
    ("probe_size_nm", ("Microscope Info.Probe Size (nm)",), _number),
    ("emission_current_uA", ("Microscope Info.Emission Current (µA)",), _number),
    ("field_of_view_um", ("Microscope Info.Field of View (µm)",), _number),
    ("stage_x_um", ("Microscope Info.Stage Position.Stage X",), _number),
    ("stage_y_um", ("Microscope Info.Stage Position.Stage Y",), _number),
    ("stage_z_um", ("Microscope Info.Stage Position.Stage Z",), _number),
    ("stage_alpha_deg", ("Microscope Info.Stage Position.Stage Alpha",), _number),
    ("stage_beta_deg", ("Microscope Info.Stage Position.Stage Beta",), _number),
    ("exposure_s", ("Acquisition.Parameters.High Level.Exposure (s)",
                    "DataBar.Exposure Time (s)", "EELS.Acquisition.Exposure (s)"), _number),
    ("eels_exposure_s", ("EELS.Acquisition.Exposure (s)",), _number),
    ("dwell_time_us", ("DigiScan.Sample Time",), _number),
    ("camera_name", ("Acquisition.Device.Name", "DataBar.Device Name"), _string),
    ("binning", ("Acquisition.Parameters.High Level.Binning",), _vector),
    ("spectrometer_name", ("EELS Spectrometer.Instrument name",), _string),
    ("signal_type", ("Meta Data.Signal",), _string),
    ("acquisition_date", ("DataBar.Acquisition Date", "SI.Acquisition.Date"), _string),
    ("acquisition_time", ("DataBar.Acquisition Time", "SI.Acquisition.Start time"), _string),
    ("acquisition_datetime_utc", ("DataBar.Acquisition Time (OS)",), _filetime),
)
SAMPLE_RULES: tuple[Rule, ...] = (
    ("sample_name", ("Session Info.Specimen", "Microscope Info.Specimen"), _string),
)
USER_RULES: tuple[Rule, ...] = (
    ("operator_name", ("Session Info.Operator", "Microscope Info.Operator"), _string),
)


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def map_tags(image_tags: Mapping[str, Any], rules: Sequence[Rule]) -> dict[str, AttrValue]:
    """Readable attributes from DM image tags: the first path that has a value wins."""
    out: dict[str, AttrValue] = {}
    for attr, paths, convert in rules:
        for path in paths:
            value = _lookup(image_tags, path)
            converted = None if value is None else convert(value)
            if converted is not None:
                out[attr] = converted
                break
    return out


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


def _read_signals(path: Path) -> list[dict[str, Any]]:
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
            axes = _kept_axes_dicts(image.get_axes_dict(), order,
                                    spectrum_image=image.to_spectrum)
            signals.append({"data": data, "axes": axes,
                            "metadata": copy.deepcopy(metadata),
                            "original_metadata": copy.deepcopy(parser.tags_dict)})
    return signals


def kept_axes(shape: Sequence[int]) -> tuple[int, ...]:
    """The array axes of a DM image that survive rsciio's reading: all but length-1 ones.

    rsciio's DM reader hands every image to HyperSpy with a ``squeeze`` post-process
    (``hs.load`` applies it), so a spectrum DigitalMicrograph stores as N x 1, or a
    single-spectrum "spectrum image" of 1 x 1 x N, is read as 1-D of length N; keeping
    the dummy axes would make our output a 2-D (or 3-D) image in HyperSpy.  Each kept
    axis keeps its own calibration.  When every axis has length 1, one stays (HyperSpy
    never makes a 0-d signal): the last, x, which is what it keeps of a 1-pixel
    spectrum or image.
    """
    keep = tuple(i for i, size in enumerate(shape) if size != 1)
    return keep or tuple(range(len(shape)))[-1:]


def hyperspy_axes(shape: Sequence[int], *, spectrum_image: bool) -> tuple[int, ...]:
    """The array axes of a DM image as ``hs.load`` gives them, in that order.

    rsciio's reader marks an image as a spectrum image (``ImageObject.to_spectrum``:
    ``Meta Data.Format`` is ``"Spectrum image"`` or an ``spim`` tag group exists, and
    it has more than two calibrated dimensions) and then hands it to HyperSpy with
    ``to_signal1D`` before ``squeeze``.  DigitalMicrograph stores the channel axis
    last in its own x, y, z order, so first in numpy order: ``to_signal1D``
    (``as_signal1D(0 + 3j)``, array axis 0 as the signal axis) moves that axis last
    and keeps the others in order, ``(E, y, x) -> (y, x, E)`` and
    ``(E, a, b, c) -> (a, b, c, E)``; the squeeze then drops length-1 axes
    (:func:`kept_axes`), the channel axis too when it has length 1.
    """
    keep = kept_axes(shape)
    if not spectrum_image:
        return keep
    return tuple(i for i in (*range(1, len(shape)), 0) if i in keep)


def _kept_axes_dicts(axes: Sequence[Mapping[str, Any]], order: tuple[int, ...], *,
                     spectrum_image: bool = False) -> list[dict[str, Any]]:
    """rsciio's axis dicts of the kept axes in *order* (one per array axis), renumbered;
    after ``to_signal1D`` only the channel axis (axis 0 in the file) is a signal axis."""
    out = []
    for index, i in enumerate(order):
        axis = {**axes[i], "index_in_array": index}
        if spectrum_image:
            axis["navigate"] = i != 0
        out.append(axis)
    return out


def _image_data(image: Any, path: Path, endian: str, order: tuple[int, ...]) -> Any:
    """The image's data, once the Data tag is known to hold exactly what ImageData declares,
    with only the array axes :func:`kept_axes` keeps (the others have length 1, so the
    bytes, in the same order, are those of rsciio's array), in *order*
    (:func:`hyperspy_axes`): a spectrum image's channel axis moves last
    (:func:`signal_last`).

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
        raise UnsupportedError(f"big-endian DM images of DataType {data_type} (RGB or "
                               "packed complex) are not supported")
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
        raise FormatError(f"Dimensions declare {elements} elements but the Data tag "
                          f"holds {int(data['size'])}")
    if int(data["size_bytes"]) != values * itemsize:
        raise FormatError(f"the Data tag holds {int(data['size_bytes'])} bytes, but "
                          f"{values} {np.dtype(image.dtype).name} elements need "
                          f"{values * itemsize} (DataType {image_data.DataType})")


class NativeOrderArray(ArrayLike):
    """A :class:`RawFileArray` of the other byte order, seen in native byte order.

    The model and the EMD file hold native-order data (what every reader expects of
    the dtype); blocks are read as stored and swapped in place, into the block
    copier's reused buffers when it offers them.
    """

    concurrent_reads = True

    def __init__(self, raw: RawFileArray) -> None:
        self.raw = raw
        self.shape = raw.shape
        self.dtype = raw.dtype.newbyteorder("=")

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.raw[key]).astype(self.dtype)

    def read_into(self, key: Any, out: np.ndarray) -> bool:
        if out.dtype != self.dtype or not self.raw.read_into(key, out.view(self.raw.dtype)):
            return False
        out.byteswap(inplace=True)
        return True


#: Bytes of the source a :class:`SignalLastArray` reads at once: every channel of a run
#: of pixels, one ``pread`` per channel, so each read is SLAB_BYTES / channels long
#: (16 KiB for 2048 channels).
SLAB_BYTES = 32 * 1024 * 1024
#: Slabs a :class:`SignalLastArray` keeps for the next blocks (the writer's threads
#: still want blocks of the previous slab while the next one is read).
SLABS_KEPT = 2


class SignalLastArray(ArrayLike):
    """A DM spectrum image, stored channel-first, seen with its channel axis last.

    The file holds ``(E, *nav)`` in C order; HyperSpy's ``to_signal1D`` gives
    ``(*nav, E)`` (:func:`hyperspy_axes`), the 2-D transpose of the file seen as ``E``
    rows of ``prod(nav)`` pixels.  A block of whole spectra (what the EMD writer asks
    for) is a band of columns of that matrix: read element-strided it would cost a
    ``pread`` per channel per block, so it is read with the pixels around it as a
    *slab* (all channels of a run of pixels filling :data:`SLAB_BYTES`, one long
    ``pread`` per channel), which serves the next blocks too; blocks are transposed
    out of it in memory (OpenCV's SIMD transpose once the writer has loaded it).
    Small or irregular selections are read directly.  Memory stays bounded: at most
    :data:`SLABS_KEPT` slabs plus one being read per reading thread, their buffers
    reused.
    """

    concurrent_reads = True

    def __init__(self, base: RawFileArray | NativeOrderArray,
                 slab_bytes: int | None = None) -> None:
        self.base = base
        self._raw = base.raw if isinstance(base, NativeOrderArray) else base
        self.shape = (*base.shape[1:], base.shape[0])
        self.dtype = np.dtype(base.dtype)
        self.channels = int(base.shape[0])
        self.pixels = math.prod(int(n) for n in base.shape[1:])
        row = max(self.channels * self.dtype.itemsize, 1)
        budget = max(1, (SLAB_BYTES if slab_bytes is None else slab_bytes) // row)
        # Whole rows of the trailing pixel axes where they fit, so that blocks of whole
        # rows (the writer's) never straddle two slabs.
        unit = 1
        for n in reversed(base.shape[1:]):
            if unit * int(n) > budget:
                break
            unit *= int(n)
        self.slab_pixels = max(1, min(self.pixels, budget // unit * unit))
        self._lock = threading.Lock()
        self._slabs: OrderedDict[int, _Slab] = OrderedDict()
        self._spare: list[np.ndarray] = []  # a buffer of an evicted slab, for the next

    def __repr__(self) -> str:
        return f"SignalLastArray({self.base!r})"

    def close(self) -> None:
        """Drop the slabs kept in memory (the file is never held open)."""
        with self._lock:
            self._slabs.clear()
            self._spare.clear()

    def __getitem__(self, key: Any) -> np.ndarray:
        key_list, _ = expand_index(key, self.shape)
        run = None if self._raw.fortran_order else self._run(key_list)
        if run is None:
            values = np.asarray(self.base[(key_list[-1], *key_list[:-1])])
            keeps_channels = not isinstance(key_list[-1], (int, np.integer))
            return np.moveaxis(values, 0, -1) if keeps_channels else values
        out = np.empty(run[-1], dtype=self.dtype)
        self._fill(*run[:-1], out)
        return out

    def read_into(self, key: Index, out: np.ndarray) -> bool:
        """Fill *out* with ``self[key]`` (the block copier's reused buffers); False when
        *key* is not a run of pixels."""
        run = None if self._raw.fortran_order else self._run(list(key))
        if (run is None or run[-1] != out.shape or out.dtype != self.dtype
                or not out.flags.c_contiguous):
            return False
        self._fill(*run[:-1], out)
        return True

    def _run(self, key: list[Any]) -> tuple[int, int, int, int, tuple[int, ...]] | None:
        """``(first pixel, pixels, first channel, channels, result shape)`` of a key that
        selects a C-order run of pixels and a step-1 range of channels, else None."""
        if len(key) != len(self.shape):
            return None
        pixels = flat_run(key[:-1], self.shape[:-1])
        channels = flat_run(key[-1:], (self.channels,))
        if pixels is None or channels is None:
            return None
        return pixels[0], pixels[1], channels[0], channels[1], (*pixels[2], *channels[2])

    def _fill(self, first: int, count: int, c0: int, channels: int,
              out: np.ndarray) -> None:
        """*out* (C-contiguous) = pixels ``first:first+count`` x channels
        ``c0:c0+channels`` of the ``(pixels, E)`` view."""
        from emdconvert.emd.blockcopy import transpose_2d

        if not count or not channels:
            return
        flat = out.reshape(count, channels)
        if count * channels * 64 < self.slab_pixels * self.channels and \
                not self._cached(first, count):
            # Small (a verification sample, a few spectra): read just that.
            band = np.empty((channels, count), dtype=self._raw.dtype)
            self._read(c0, first, band)
            transpose_2d(self._native(band), flat)
            return
        done = 0
        while done < count:
            index, start = divmod(first + done, self.slab_pixels)
            slab = self._take(index)
            try:
                assert slab.array is not None
                take = min(count - done, slab.width - start)
                transpose_2d(slab.array[c0:c0 + channels, start:start + take],
                             flat[done:done + take])
            finally:
                self._give(slab)
            done += take

    def _cached(self, first: int, count: int) -> bool:
        """Whether slabs already read hold pixels ``first:first+count``."""
        slabs = range(first // self.slab_pixels, (first + count - 1) // self.slab_pixels + 1)
        with self._lock:
            return all(k in self._slabs and self._slabs[k].error is None for k in slabs)

    def _take(self, index: int) -> _Slab:
        """Slab *index* (all channels of pixels ``index * slab_pixels`` on), read once by
        the first thread that wants it, outside the lock (other threads go on with
        other slabs meanwhile); :meth:`_give` it back."""
        with self._lock:
            slab = self._slabs.get(index)
            load = slab is None
            if slab is None:
                width = min(self.slab_pixels, self.pixels - index * self.slab_pixels)
                slab = self._slabs[index] = _Slab(width)
                buffer = self._spare.pop() if self._spare else None
                self._evict()
            else:
                self._slabs.move_to_end(index)
            slab.users += 1
        if load:
            try:
                # Rows padded by a cache line: with a row stride that is a multiple of
                # 4 KiB, a column of the slab falls on one cache set.
                stride = self.slab_pixels + max(1, 64 // self._raw.dtype.itemsize)
                if buffer is None:
                    buffer = np.empty((self.channels, stride), dtype=self._raw.dtype)
                slab.buffer = buffer
                array = buffer[:, :slab.width]
                self._read(0, index * self.slab_pixels, array)
                slab.array = self._native(array)
            except BaseException as exc:
                slab.error = exc
                with self._lock:
                    if self._slabs.get(index) is slab:
                        del self._slabs[index]
                raise
            finally:
                slab.ready.set()
        else:
            slab.ready.wait()
        if slab.error is not None:
            self._give(slab)
            raise slab.error
        return slab

    def _give(self, slab: _Slab) -> None:
        with self._lock:
            slab.users -= 1
            self._evict()

    def _evict(self) -> None:
        """Under the lock: drop the least recently used slabs no thread is using beyond
        :data:`SLABS_KEPT`, keeping one buffer to read the next slab into (no page
        faults on fresh memory for every slab)."""
        idle = [k for k, slab in self._slabs.items() if not slab.users]
        for k in idle[:max(0, len(self._slabs) - SLABS_KEPT)]:
            buffer = self._slabs.pop(k).buffer
            if buffer is not None and not self._spare:
                self._spare.append(buffer)

    def _native(self, band: np.ndarray) -> np.ndarray:
        """*band*, read in the file's byte order, swapped in place to native order."""
        if self._raw.dtype.isnative:
            return band
        return band.byteswap(inplace=True).view(self.dtype)

    def _read(self, c0: int, first: int, band: np.ndarray) -> None:
        """Fill *band* (channels x pixels, rows contiguous and evenly spaced in one
        buffer, the file's byte order) with channels ``c0:`` of pixels ``first:``: one
        ``pread`` per channel (one in all for whole rows of a C-contiguous band)."""
        raw = self._raw
        channels, count = band.shape
        if not channels or not count:
            return
        itemsize = raw.dtype.itemsize
        length = count * itemsize
        step = band.strides[0] if channels > 1 else length
        # One flat byte view of the whole band, sliced per row: no array per row.
        buffer = np.lib.stride_tricks.as_strided(
            band, shape=((channels - 1) * step // itemsize + count,), strides=(itemsize,))
        flat = memoryview(buffer.view(np.uint8))  # type: ignore[arg-type]  # ndarray is a buffer
        if count == self.pixels and step == length:
            channels, length = 1, channels * length
        fd = os.open(raw.path, os.O_RDONLY)
        try:
            for k in range(channels):
                pread_fully(fd, flat[k * step:k * step + length],
                            raw.offset + ((c0 + k) * self.pixels + first) * itemsize)
        finally:
            os.close(fd)


class _Slab:
    """One slab of a :class:`SignalLastArray`: its pixels, memory, users, load state."""

    __slots__ = ("array", "buffer", "error", "ready", "users", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.buffer: np.ndarray | None = None  # padded rows, the file's byte order
        self.array: np.ndarray | None = None  # the slab's pixels of it, native order
        self.error: BaseException | None = None
        self.users = 0
        self.ready = threading.Event()


#: (bytes of the length field, allowed excess of the file size over the declared length),
#: by DM version.  Measured over 144 DM files (README, Safety rules R5): a DM4 from
#: DigitalMicrograph is its declared length + 24 bytes, a DM3 + 16 or + 20; nionswift-io
#: writes DM4 files of + 20, which rsciio and ncempy read, so that is accepted too.
_LAYOUTS = {3: (4, (16, 20)), 4: (8, (20, 24))}


def _header(head: bytes, version: int) -> tuple[int, int] | None:
    """(declared length, byte-order word) of *head* read as a DM *version* header."""
    width = _LAYOUTS[version][0]
    if len(head) < 8 + width:
        return None
    return (int.from_bytes(head[4:4 + width], "big"),
            int.from_bytes(head[4 + width:8 + width], "big"))


def _fits(head: bytes, version: int, size: int) -> bool:
    """Whether *head*, read as a DM *version* header, describes a whole file of *size*."""
    fields = _header(head, version)
    return (fields is not None and fields[0] > 0 and fields[1] in (0, 1)
            and size - fields[0] in _LAYOUTS[version][1])


def declared_size(head: bytes, size: int) -> tuple[int, tuple[int, ...]]:
    """(length the DM header declares, allowed excess of the file size over it).

    rsciio reads the length field but only logs it, which is why a DM4 missing its last
    8 bytes reads as if it were whole.  Only a file shorter than its header (or than a
    header) is incomplete; a header that is wrong in itself is corrupt, however long the
    file: a version word DM never wrote, a byte-order word other than 0 (big-endian) or
    1 (little-endian), or a version word that contradicts the layout, such as a DM3
    read with a DM4 version word, whose length field then "declares" terabytes.
    """
    version = int.from_bytes(head[:4], "big") if len(head) >= 4 else None
    if version is not None and version not in _LAYOUTS:
        raise FormatError(f"not a DM3/DM4 file (header version {version})")
    fields = None if version is None else _header(head, version)
    if version is None or fields is None:
        raise IncompleteError(f"incomplete: only {len(head)} bytes, shorter than a DM header")
    other = 3 if version == 4 else 4
    if not _fits(head, version, size) and _fits(head, other, size):
        raise FormatError(f"the header version word says DM{version}, but the header is a "
                          f"whole DM{other} one")
    declared, byte_order = fields
    if byte_order not in (0, 1):
        raise FormatError(f"the header's byte-order word {byte_order} is neither 0 "
                          "(big-endian) nor 1 (little-endian)")
    return declared, _LAYOUTS[version][1]


class DMPlugin(BasePlugin):
    """Gatan DigitalMicrograph ``.dm3`` / ``.dm4`` (read-only, through rsciio)."""

    name: ClassVar[str] = "dm"
    description: ClassVar[str] = "Gatan DigitalMicrograph DM3/DM4 (read, via rsciio)"
    extensions: ClassVar[tuple[str, ...]] = (".dm3", ".dm4")
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, b"\0\0\0\x03"), (0, b"\0\0\0\x04"))
    priority: ClassVar[int] = 70
    can_read: ClassVar[bool] = True

    def check_complete(self, path: Path) -> None:
        """The file is at least as long as its header declares, and the header is
        sound (no rsciio import)."""
        with open(path, "rb") as handle:
            head = handle.read(16)
        size = path.stat().st_size
        declared, allowed = declared_size(head, size)
        # Longer is tolerated (trailing bytes lose nothing); shorter than the largest
        # layout and not exactly another is a cut file.
        if size - declared not in allowed and size < declared + max(allowed):
            raise IncompleteError(
                f"incomplete: {size} bytes, but the DM header declares "
                f"{declared + max(allowed)} ({declared + max(allowed) - size} missing: "
                "truncated, or still being written)")

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        from rsciio import exceptions as rsciio_errors

        # What rsciio's tag parser raises on damaged tags (README, Safety rules R7): a
        # zero-filled tail gives KeyError('0'), a cut one struct.error.
        dm_errors = (rsciio_errors.ByteOrderError, rsciio_errors.DM3FileVersionError,
                     rsciio_errors.DM3TagError, rsciio_errors.DM3DataTypeError,
                     rsciio_errors.DM3TagTypeError, rsciio_errors.DM3TagIDError,
                     KeyError, IndexError, struct.error, UnicodeDecodeError)
        try:
            signals = _read_signals(path)
        except dm_errors as exc:
            raise FormatError(f"corrupt DM tag structure ({type(exc).__name__}: {exc})",
                              path=path) from exc
        if not signals:
            raise FormatError("the file holds no images", path=path)
        datasets = []
        microscope: dict[str, AttrValue] = {}
        sample: dict[str, AttrValue] = {}
        user: dict[str, AttrValue] = {}
        for index, signal in enumerate(signals):
            datasets.append(signal_to_dataset(signal, f"image_{index}"))
            tags = _lookup(signal.get("original_metadata", {}), ".".join(IMAGE_TAGS)) or {}
            # The first image's values win; later images only add what is missing.
            for target, rules in ((microscope, MICROSCOPE_RULES), (sample, SAMPLE_RULES),
                                  (user, USER_RULES)):
                for key, value in map_tags(tags, rules).items():
                    target.setdefault(key, value)
        return EMDFile(tuple(datasets), microscope, sample, user)

    def library_versions(self) -> dict[str, str]:
        return {"rosettasciio": package_version("rosettasciio")}
