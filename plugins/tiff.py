"""TIFF read (tifffile, page by page) and ImageJ-compatible TIFF write.

Reading: single images, multi-page and BigTIFF stacks, ImageJ hyperstacks and compressed
TIFF (through imagecodecs) come from tifffile's series, read lazily page by page so a
stack streams in bounded memory.  A folder or glob of single-frame TIFFs is one stack
(natural sort; frames must agree in shape and dtype).  Calibrations come from
RosettaSciIO's TIFF reader, which knows the ImageJ, DigitalMicrograph, FEI/Thermo, Zeiss,
JEOL and Olympus tags; its own lazy path materialises the whole array, so only its axes
and metadata are used.  An ImageJ file's own calibration wins over rsciio's (which keeps
only ``micron`` and ignores ``finterval``): any ``unit``/``yunit``/``zunit``/``tunit`` in
everyday notation, z ``spacing``, time ``finterval``, origins, up to TZCYX.  RGB(A)
samples become a trailing ``channel`` axis.

Writing: an ImageJ hyperstack (uint8, uint16, float32; ``axes`` TZCYX as needed) with
pixel size and unit (x and y converted to one length unit, or a warning and ImageJ's
``yunit``), z ``spacing`` or time ``frames`` + ``finterval``, pages streamed from the
model; other real dtypes are written as a (Big)TIFF stack with the same ImageJ
description, which tifffile and rsciio read.  A trailing ``channel`` axis of 3 or 4 uint8
samples is written as RGB(A) pages; ``--compression gzip[:LEVEL]`` stores deflate pages.
The same calibration also goes into DigitalMicrograph's unit/origin/scale tags, the only
place rsciio (HyperSpy) reads units other than ``micron`` from.  Complex and boolean
data are refused.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import math
import re
import struct
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from emdconvert.budget import check_early
from emdconvert.errors import FormatError, IncompleteError, UnsupportedError
from emdconvert.lazy import ArrayLike, LazyArray, RawFileArray, iter_blocks
from emdconvert.metadata_map import readable_metadata
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.plugin import BasePlugin, DatasetInfo, FileInfo, package_version
from emdconvert.signals import ORIGINAL_METADATA_ATTR, axes_to_dims, metadata_json
from emdconvert.sources import expand

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGEJ_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


class _ErrorRecords(logging.Filter):
    """Takes tifffile's ERROR records logged by one thread, instead of letting them print."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.thread == self.thread:
            # "<tifffile.TiffPages @8> invalid page offset 1350052" -> the words only
            self.messages.append(re.sub(r"<tifffile\.[^>]*>\s*", "", record.getMessage()))
            return False
        return True


class _Audible:
    """Keeps tifffile's logger making ERROR records while any thread listens to it.

    Those records are the only sign of some damage (a shaped series whose pages do not
    match), and an application that silences tifffile would silence them too:
    ``logging.config.dictConfig`` disables every logger that exists when it runs unless
    told otherwise, and ``setLevel(CRITICAL)`` is a common cure for tifffile's warnings.
    The logger's own level and state come back when the last listener leaves.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners = 0
        self._saved = (logging.NOTSET, False)

    @contextlib.contextmanager
    def __call__(self, logger: logging.Logger) -> Iterator[None]:
        with self._lock:
            if not self._listeners:
                self._saved = (logger.level, logger.disabled)
            self._listeners += 1
            logger.disabled = False
            if logger.getEffectiveLevel() > logging.ERROR:
                logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            with self._lock:
                self._listeners -= 1
                if not self._listeners:
                    logger.setLevel(self._saved[0])
                    logger.disabled = self._saved[1]


_audible = _Audible()
log = logging.getLogger(__name__)

#: tifffile's log messages that mean the page list points past the end of the file.
_PAST_THE_END = ("invalid page offset", "invalid offset to page")


@contextlib.contextmanager
def errors_are_fatal() -> Iterator[None]:
    """Raise when tifffile logged an error inside the block.

    tifffile does not raise for a damaged page list: a zlib stack of 20 frames cut in
    half opens as one 256x256 image and the only sign is an ERROR log record
    ("invalid page offset", "shaped series failed to reshape"; README, Safety rules
    R5).  Only a page list pointing past the end of the file means truncated (or
    still being written); every other error, a circular page list included, is corrupt.
    """
    records = _ErrorRecords()
    logger = logging.getLogger("tifffile")
    logger.addFilter(records)
    try:
        with _audible(logger):
            yield
    finally:
        logger.removeFilter(records)
    if records.messages:
        detail = "; ".join(dict.fromkeys(records.messages))
        if any(words in detail for words in _PAST_THE_END):
            raise IncompleteError(f"incomplete: the TIFF page list points past the end of "
                                  f"the file (truncated, or still being written): {detail}")
        raise FormatError(f"corrupt TIFF structure: {detail}")


def check_page_list(handle: Any, size: int, byteorder: str, bigtiff: bool) -> None:
    """Follow the main IFD chain by hand: every page inside the file, and no loops.

    tifffile reports both a page list cut short and one that loops back as log lines,
    and stops early on a loop, which its messages do not tell apart from a cut file.
    The difference matters: incomplete makes the watch daemon wait for the rest of the
    file, which never comes for a loop.  Header reads only: a few bytes per page.
    """
    count_code, entry, pointer = ("Q", 20, "Q") if bigtiff else ("H", 12, "I")
    count_size, pointer_size = struct.calcsize(count_code), struct.calcsize(pointer)
    handle.seek(8 if bigtiff else 4)
    (offset,) = struct.unpack(byteorder + pointer, handle.read(pointer_size))
    seen: dict[int, int] = {}
    while offset:
        page = len(seen)
        if offset in seen:
            raise FormatError(f"circular TIFF page list: the pointer after page {page - 1} "
                              f"leads back to page {seen[offset]} (byte {offset})")
        seen[offset] = page
        if offset + count_size > size:
            raise IncompleteError(f"incomplete: page {page} starts at byte {offset} of a "
                                  f"{size}-byte file (truncated, or still being written)")
        handle.seek(offset)
        (tags,) = struct.unpack(byteorder + count_code, handle.read(count_size))
        after = offset + count_size + tags * entry
        if after + pointer_size > size:
            raise IncompleteError(f"incomplete: the tags of page {page} end at byte "
                                  f"{after + pointer_size} of a {size}-byte file "
                                  "(truncated, or still being written)")
        handle.seek(after)
        (offset,) = struct.unpack(byteorder + pointer, handle.read(pointer_size))


#: Page sizes tifffile divides by or allocates from, for every page and for strips or tiles.
_SIZES = {"imagewidth": "ImageWidth", "imagelength": "ImageLength", "imagedepth": "ImageDepth"}
_STRIPS = {"rowsperstrip": "RowsPerStrip"}
_TILES = {"tilewidth": "TileWidth", "tilelength": "TileLength", "tiledepth": "TileDepth"}


def check_geometry(page: Any) -> None:
    """A page has a nonzero size, nonzero strips or tiles, and a sample type tifffile knows.

    tifffile takes a missing tag for 0 and divides by these sizes while decoding or while
    grouping pages into series (ZeroDivisionError); a TileWidth of 0 even makes it take
    the page for a stripped one.  A sample type it cannot decode (BitsPerSample 0) fails
    later as "cannot reshape array of size 0".
    """
    sizes = {**_SIZES, **(_TILES if page.is_tiled else _STRIPS)}
    zero = [name for code, name in ((322, "TileWidth"), (323, "TileLength"))
            if page.tags.valueof(code) == 0]
    zero += [name for attribute, name in sizes.items() if getattr(page, attribute) < 1]
    if zero:
        raise FormatError(f"page {page.index}: {zero[0]} 0 (missing or zero; an image and "
                          "its strips or tiles cannot be empty)")
    if page.dtype is None:
        raise FormatError(f"page {page.index}: unsupported sample type (SampleFormat "
                          f"{int(page.sampleformat)}, BitsPerSample {page.bitspersample})")


def _segment_axes(page: Any) -> tuple[tuple[int, int], ...]:
    """(image extent, strip or tile extent) along depth, length and width."""
    if page.is_tiled:
        return ((page.imagedepth, page.tiledepth), (page.imagelength, page.tilelength),
                (page.imagewidth, page.tilewidth))
    return ((page.imagedepth, 1), (page.imagelength, page.rowsperstrip),
            (page.imagewidth, page.imagewidth))


def _planes(page: Any) -> int:
    return int(page.samplesperpixel) if page.planarconfig == 2 else 1


def segment_count(page: Any) -> int:
    """How many strips or tiles the page's size declares (one set per sample plane)."""
    return _planes(page) * math.prod(-(-total // step) for total, step in _segment_axes(page))


def segment_sizes(page: Any) -> np.ndarray:
    """The fewest bytes each strip or tile of an uncompressed *page* must hold.

    A row of packed samples (1, 2, 4, 10, 12, 14, 24-bit) is padded to a whole byte, so
    a row holds ceil(width * samples * bits / 8) bytes, with every sample of a pixel in
    the row when PlanarConfiguration is contiguous and one sample per segment when it is
    separate.  A strip holds its rows (the last one fewer); a tile may stop at the
    image edge (tifffile accepts both forms), so only the part inside the image counts.
    Floats: a forged header's sizes overflow int64, and exactness only matters below 2**53.
    Call it once the page lists segment_count(page) segments (the arrays are that long).
    """
    axes = _segment_axes(page)
    index = np.indices([-(-total // step) for total, step in axes]).reshape(3, -1)
    depth, length, width = (np.minimum(step, total - i * step).astype(np.float64)
                            for i, (total, step) in zip(index, axes, strict=True))
    samples = page.samplesperpixel if page.planarconfig == 1 else 1
    rows = np.ceil(width * samples * page.bitspersample / 8)
    return np.tile(depth * length * rows, _planes(page))


def check_pages(tif: Any, size: int) -> None:
    """The page list has no loop, every series has all its pages, and every strip or
    tile a page's size declares is listed, with data inside the file.

    tifffile reads a strip or tile with a byte count or offset of 0 as zeros (its
    "empty segment"), so such a page would convert to a frame of zeros and must fail
    here.  An uncompressed segment must also hold as many bytes as the page's geometry
    declares, so a header claiming 100 000 x 100 000 pixels over a 16-byte strip fails
    here, before anything is allocated.
    """
    check_page_list(tif.filehandle, size, tif.byteorder, tif.is_bigtiff)
    check_geometry(tif.pages.first)  # before tifffile groups pages into series with it
    try:
        found = tif.series
    except RuntimeError as error:  # tifffile's words for a page unlike its series' first
        if "incompatible keyframe" not in str(error):
            raise
        raise FormatError("a page differs from the first page of its series in ImageWidth "
                          "or in its number of strips or tiles") from error
    for index, series in enumerate(found):
        keyframe = series.keyframe
        check_geometry(keyframe)
        page_shape = tuple(keyframe.shape)
        lead = series.shape[: len(series.shape) - len(page_shape)]
        if len(series.shape) > len(page_shape) and math.prod(lead) != len(series.pages):
            raise IncompleteError(f"incomplete: series {index} expects "
                                  f"{math.prod(lead)} pages but holds {len(series.pages)}")
        kind = "Tile" if keyframe.is_tiled else "Strip"
        declared = segment_count(keyframe)
        _check_listed(keyframe, kind, declared)
        needed = segment_sizes(keyframe) if keyframe.compression == 1 else None
        for number, page in enumerate(series.pages):
            if page is None:
                raise IncompleteError(f"incomplete: series {index} page {number} is missing")
            _check_listed(page, kind, declared)
            # float64: exact below 2**53 bytes, and a forged 2**64 - 1 cannot overflow
            offsets = np.asarray(page.dataoffsets, dtype=np.float64)
            counts = np.asarray(page.databytecounts, dtype=np.float64)
            for values, tag in ((counts, "ByteCounts"), (offsets, "Offsets")):
                if (values == 0).any():
                    raise FormatError(f"page {page.index} has no data: {kind}{tag} 0 "
                                      f"({kind.lower()} {int(np.argmin(values))})")
            ends = offsets + counts
            if ends.size and ends.max() > size:
                raise IncompleteError(f"incomplete: page {page.index} ends at byte "
                                      f"{int(ends.max())} of a {size}-byte file (truncated)")
            if needed is not None:
                _check_segments(page.index, kind, counts, needed)


def _check_listed(page: Any, kind: str, declared: int) -> None:
    """The page lists one offset and one byte count per strip or tile its size declares.

    tifffile only logs a wrong count, and a forged size would otherwise make the
    per-segment checks allocate arrays as long as the size declares.
    """
    offsets, counts = len(page.dataoffsets), len(page.databytecounts)
    if offsets != counts or counts != declared:
        raise FormatError(f"page {page.index}: its size needs {declared} {kind.lower()}s but "
                          f"it lists {offsets} {kind}Offsets and {counts} {kind}ByteCounts")


def _check_segments(page: Any, kind: str, counts: np.ndarray, needed: np.ndarray) -> None:
    """Each uncompressed strip or tile holds at least what the page geometry declares."""
    short = np.flatnonzero(counts < needed)
    if short.size:
        first = int(short[0])
        raise FormatError(f"page {page}: declared size {int(needed[first])} bytes for "
                          f"{kind.lower()} {first} (from the image size and bit depth) but "
                          f"it holds {int(counts[first])}")


def _split_key(key: Any, shape: tuple[int, ...], lead: int) -> tuple[list[Any], tuple[Any, ...]]:
    """Normalise *key* and split it into per-axis leading keys and the in-page rest."""
    from emdconvert.lazy import expand_index

    keys, _ = expand_index(key, shape)
    return keys[:lead], tuple(keys[lead:])


def _gather(lead_keys: list[Any], lead_shape: tuple[int, ...]
            ) -> tuple[np.ndarray, tuple[int, ...], list[bool]]:
    """Flat page numbers selected by *lead_keys*, their grid shape, and dropped axes."""
    ranges = [np.arange(n)[k] for k, n in zip(lead_keys, lead_shape, strict=True)]
    dropped = [np.ndim(r) == 0 for r in ranges]
    grids = [np.atleast_1d(r) for r in ranges]
    mesh = np.meshgrid(*grids, indexing="ij") if grids else []
    flat = np.ravel_multi_index([m.ravel() for m in mesh], lead_shape) if grids \
        else np.zeros(1, np.intp)
    return flat, tuple(len(g) for g in grids), dropped


class _PagedArray(ArrayLike):
    """Common lazy indexing: leading axes select pages, the rest index inside a page."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    page_shape: tuple[int, ...]

    def _read_pages(self, flat: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> np.ndarray:
        lead = len(self.shape) - len(self.page_shape)
        lead_keys, inner = _split_key(key, self.shape, lead)
        flat, grid, dropped = _gather(lead_keys, self.shape[:lead])
        pages = self._read_pages(flat).reshape(*grid, *self.page_shape)
        pages = pages[(slice(None),) * lead + inner]
        drop = tuple(0 if d else slice(None) for d in dropped)
        return np.asarray(pages[drop]) if any(dropped) else np.asarray(pages)


class TiffSeriesArray(_PagedArray):
    """One tifffile series, read a page at a time (the file stays open, like h5py)."""

    def __init__(self, path: Path, series: int) -> None:
        import tifffile

        self._tif = tifffile.TiffFile(path)
        self._series = series
        found = self._tif.series[series]
        self.shape = tuple(int(n) for n in found.shape)
        self.dtype = np.dtype(found.dtype)
        self.page_shape = tuple(int(n) for n in found.keyframe.shape)
        if math.prod(self.shape[: len(self.shape) - len(self.page_shape)]) != \
                len(found) and len(self.shape) > len(self.page_shape):
            raise FormatError(f"series {series} declares {self.shape} but "
                              f"holds {len(found)} pages (truncated?)")

    def close(self) -> None:
        """Close the TIFF file (the series cannot be read after)."""
        tif = getattr(self, "_tif", None)
        if tif is not None:
            tif.close()

    def __del__(self) -> None:
        self.close()

    def _read_pages(self, flat: np.ndarray) -> np.ndarray:
        if len(self.shape) == len(self.page_shape):
            return np.asarray(self._tif.series[self._series].asarray())
        return np.asarray(self._tif.asarray(key=[int(i) for i in flat], series=self._series))


class TiffFramesArray(_PagedArray):
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
                raise FormatError(f"frame {file.name} is {shape} {dtype} but "
                                  f"{self.files[0].name} is {self.page_shape} {self.dtype}; "
                                  "all frames of a stack must match")
        self.shape = (len(self.files), *self.page_shape)

    def _read_pages(self, flat: np.ndarray) -> np.ndarray:
        import tifffile

        return np.stack([tifffile.imread(self.files[int(i)]) for i in flat])


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


def _calibration(path: Path) -> list[dict[str, Any]]:
    """rsciio's reading of the file's tags: axes and original metadata per series."""
    from rsciio.tiff import file_reader

    # rsciio's lazy read keeps its TiffFile open inside a reference cycle of dask
    # objects; collect it here so the descriptor closes now (a watch daemon converts for
    # months) and quietly (the unclosed-file warning is rsciio's, not the user's).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        signals = file_reader(str(path), lazy=True)
        found = [{"axes": s.get("axes", []),
                  "original_metadata": s.get("original_metadata", {}),
                  "metadata": s.get("metadata", {}),
                  "title": s.get("metadata", {}).get("General", {}).get("title", "")}
                 for s in signals]
        del signals
        gc.collect()
    return found


def _dims_for(shape: tuple[int, ...], calibration: dict[str, Any] | None,
              imagej: dict[str, Any] | None = None) -> tuple[Dim, ...]:
    """Dims from rsciio's axes, plus a ``channel`` dim for RGB samples tifffile keeps;
    an ImageJ file's own calibration (*imagej*, from :func:`_imagej_info`) wins."""
    if calibration is None:
        return ()
    axes = [{**a, "index_in_array": i} for i, a in enumerate(calibration["axes"])]
    sizes = tuple(int(a["size"]) for a in axes)
    if sizes == shape:
        return _imagej_dims(axes_to_dims(axes, shape), imagej)
    if sizes == shape[:-1] and shape[-1] in (3, 4):
        dims = _imagej_dims(axes_to_dims(axes, shape[:-1]), imagej)
        return (*dims, Dim("channel", "", np.arange(shape[-1], dtype=np.float64)))
    return ()


#: ImageJ's (and other writers') spellings of units -> emdconvert's everyday notation.
#: Words of more than two letters match in any case (``Micron``, ``Angstrom``, ``SEC``).
_SPELLINGS = {"micron": "µm", "microns": "µm", "um": "µm", "micrometer": "µm",
              "micrometre": "µm", "A": "Å", "\u212b": "Å", "angstrom": "Å", "angstroms": "Å",
              "nanometer": "nm", "nanometre": "nm", "pixel": "px", "pixels": "px",
              "sec": "s", "second": "s", "seconds": "s", "msec": "ms", "usec": "µs",
              "us": "µs", "µsec": "µs", "nsec": "ns", "minute": "min", "minutes": "min",
              "hour": "h", "hours": "h", "hr": "h"}
#: ImageJ writes a non-ASCII unit as a Java escape (``\\u00B5m``, ``\\u00C5``).
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _everyday_unit(value: Any) -> str:
    """An ImageJ unit in everyday notation: ``micron``, ``um``, ``\\u00B5m`` -> ``µm``,
    ``A``, ``angstrom`` -> ``Å``, ``sec`` -> ``s``, ``pixel`` -> ``px``, ``1/A`` -> ``1/Å``;
    anything else (``nm``, ``pm``, ``mm``, ``1/nm``, ``eV``) unchanged."""
    text = _ESCAPE.sub(lambda m: chr(int(m[1], 16)), str(value)).strip()
    text = text.replace("\u03bc", "µ")  # Greek mu -> micro sign, as units.py writes it
    if text.startswith("1/") and len(text) > 2:
        return "1/" + _everyday_unit(text[2:])
    if text in _SPELLINGS:
        return _SPELLINGS[text]
    return _SPELLINGS.get(text.lower(), text) if len(text) > 2 else text


def _finite(value: Any) -> float | None:
    """A calibration number from ImageJ's description, or None when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _imagej_info(tif: Any, series: Any) -> dict[str, Any] | None:
    """An ImageJ series' calibration as its file states it, for :func:`_imagej_dims`.

    rsciio reads only ``micron`` from an ImageJ description (``nm``, ``Å``, ``1/nm``
    all came back without a unit), never ``finterval``, and gives a 4-D hyperstack's
    time axis the z ``spacing``; ImageJ's own rules are simple enough to follow here.
    """
    metadata = tif.imagej_metadata if getattr(series, "kind", "") == "imagej" else None
    if not metadata:
        return None
    pixel: dict[str, float] = {}
    for letter, tag_name in (("X", "XResolution"), ("Y", "YResolution")):
        tag = series.keyframe.tags.get(tag_name)
        value = tag.value if tag is not None else None
        if isinstance(value, tuple) and len(value) == 2 and value[0] and value[1]:
            pixel[letter] = float(value[1]) / float(value[0])  # pixels per unit -> size
    return {"metadata": dict(metadata), "axes": str(series.axes).replace("S", ""),
            "pixel": pixel}


def _imagej_dims(dims: tuple[Dim, ...], imagej: dict[str, Any] | None) -> tuple[Dim, ...]:
    """*dims* (rsciio's) with ImageJ's calibration: x/y size from X/YResolution in
    ``unit`` (``yunit``), z ``spacing`` in ``zunit`` (default ``unit``), time
    ``finterval`` in ``tunit`` (default ``sec``), origins in pixels; ``channel`` named.

    What ImageJ does not state is kept from rsciio (DigitalMicrograph tags), except
    where rsciio gives a z tag to both the z and the time axis of a hyperstack.
    """
    if imagej is None or len(imagej["axes"]) != len(dims):
        return dims
    metadata, pixel = imagej["metadata"], imagej["pixel"]
    unit = _everyday_unit(metadata["unit"]) if "unit" in metadata else None
    letters = imagej["axes"]
    both = "T" in letters and any(letter in letters for letter in "ZI")
    out = []
    for letter, dim in zip(letters, dims, strict=True):
        name, units, scale, offset = dim.name, dim.units, dim.scale, dim.offset
        origin = None
        if letter in "XY" and unit is not None:
            key = "yunit" if letter == "Y" and "yunit" in metadata else "unit"
            units = _everyday_unit(metadata[key])
            scale = pixel.get(letter, scale)
            origin = _finite(metadata.get(f"{letter.lower()}origin"))
        elif letter in "ZI":
            spacing = _finite(metadata.get("spacing"))
            if spacing is not None:
                scale = spacing
                zunit = metadata.get("zunit", metadata.get("unit"))
                units = "" if zunit is None else _everyday_unit(zunit)
            origin = _finite(metadata.get("zorigin"))
        elif letter == "T":
            interval = _finite(metadata.get("finterval"))
            if interval is not None and interval > 0:
                scale, units = interval, _everyday_unit(metadata.get("tunit", "sec"))
            elif both:  # rsciio's z values, not the time axis'
                scale, units = 1.0, ""
            if both:
                offset = 0.0
        elif letter == "C":
            name = "channel"
        if origin is not None:
            offset = -origin * scale
        if (name, units, scale, offset) != (dim.name, dim.units, dim.scale, dim.offset):
            dim = Dim.uniform(name, units, dim.size, offset, scale)
        out.append(dim)
    return tuple(out)


class TIFFPlugin(BasePlugin):
    """TIFF / BigTIFF / ImageJ stacks, single files or a folder of frames."""

    name: ClassVar[str] = "tiff"
    description: ClassVar[str] = "TIFF, BigTIFF, ImageJ hyperstacks, folders of frames"
    extensions: ClassVar[tuple[str, ...]] = TIFF_SUFFIXES
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = (
        (0, b"II*\0"), (0, b"MM\0*"), (0, b"II+\0"), (0, b"MM\0+"))
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
            return self._read_frames(path)
        import tifffile

        # check_complete (run by the core before every read) has walked the pages.
        with errors_are_fatal(), tifffile.TiffFile(path) as tif:
            count = len(tif.series)
            contiguous = [_contiguous(tif, series) for series in tif.series]
            imagej = [_imagej_info(tif, series) for series in tif.series]
            declared = sum(math.prod(s.shape) * np.dtype(s.dtype).itemsize
                           for s in tif.series)
        if count == 0:
            raise FormatError("the file holds no images", path=path)
        check_early(declared)  # before rsciio's calibration reader imports dask
        # Vendor metadata tifffile cannot parse is only logged: the pixels, checked
        # above, are what must be whole.
        calibrations = _calibration(path)
        datasets = []
        for index in range(count):
            array: LazyArray = contiguous[index] or TiffSeriesArray(path, index)
            calibration = calibrations[index] if len(calibrations) == count else None
            name = path.stem if count == 1 else f"{path.stem}_{index}"
            datasets.append(self._dataset(name, array, calibration, imagej[index]))
        return EMDFile(tuple(datasets), **readable_metadata(calibrations))

    def inspect(self, path: Path, *,
                options: Mapping[str, Any] | None = None) -> FileInfo:
        """Shapes and dtypes from the TIFF tags only (no pixels, no open handles)."""
        if not path.is_file():
            return super().inspect(path, options=options)
        import tifffile

        with tifffile.TiffFile(path) as tif:
            return FileInfo(tuple(DatasetInfo(f"{path.stem}_{i}", tuple(s.shape),
                                              np.dtype(s.dtype))
                                  for i, s in enumerate(tif.series)))

    def _read_frames(self, path: Path) -> EMDFile:
        files = expand(path, TIFF_SUFFIXES)
        if not files:
            raise FormatError("no .tif/.tiff files here", path=path)
        import tifffile

        array = TiffFramesArray(files)
        first = _calibration(files[0])
        with tifffile.TiffFile(files[0]) as tif:
            imagej = _imagej_info(tif, tif.series[0])
        dims = _dims_for(array.page_shape, first[0] if first else None, imagej)
        if dims:
            dims = (Dim.uniform("frame", "", len(files)), *dims)
        attrs = {"source_files": "\n".join(f.name for f in files)}
        if first and first[0]["original_metadata"]:
            attrs[ORIGINAL_METADATA_ATTR] = metadata_json(first[0]["original_metadata"])
        name = path.name if path.is_dir() else files[0].stem
        return EMDFile((Dataset(name, array, dims, attrs),), **readable_metadata(first))

    @staticmethod
    def _dataset(name: str, array: LazyArray, calibration: dict[str, Any] | None,
                 imagej: dict[str, Any] | None = None) -> Dataset:
        attrs: dict[str, Any] = {}
        if calibration is not None and calibration["original_metadata"]:
            attrs[ORIGINAL_METADATA_ATTR] = metadata_json(calibration["original_metadata"])
        return Dataset(name, array, _dims_for(array.shape, calibration, imagej), attrs)

    def write(self, model: EMDFile, path: Path, *,
              options: Mapping[str, Any] | None = None) -> None:
        import tifffile

        from emdconvert.emd.compression import parse as parse_compression

        if len(model.datasets) != 1:
            raise UnsupportedError(f"a TIFF holds one image stack but the input has "
                                   f"{len(model.datasets)} datasets")
        dataset = model.datasets[0]
        if dataset.dtype.kind == "c":
            raise UnsupportedError(f"{dataset.name}: complex data cannot be stored in TIFF")
        if dataset.dtype.kind == "b":
            raise UnsupportedError(f"{dataset.name}: boolean data cannot be stored in TIFF")
        if len(dataset.shape) < 2:
            raise UnsupportedError(f"{dataset.name}: TIFF needs at least 2-D images, "
                                   f"got shape {dataset.shape}")
        rgb = _is_rgb(dataset)
        progress = (options or {}).get("progress")
        # ImageJ hyperstacks have at most TZC before YX(S); beyond that, no calibration.
        calibrated = len(dataset.shape) - rgb <= 5
        imagej = dataset.dtype in IMAGEJ_DTYPES and calibrated
        metadata, resolution = _imagej_calibration(dataset, rgb) if calibrated else ({}, None)
        # Pixel size in the ImageJ unit, not per inch (tifffile's default elsewhere).
        kwargs: dict[str, Any] = {"metadata": metadata, "resolution": resolution,
                                  "resolutionunit": tifffile.RESUNIT.NONE,
                                  "extratags": _dm_tags(dataset, rgb) if calibrated else ()}
        if calibrated and not imagej:
            # ImageJ itself cannot open these dtypes, but tifffile, rsciio and Fiji's
            # Bio-Formats read the calibration from an ImageJ description all the same.
            kwargs.update(metadata=None, description=tifffile.imagej_description(
                dataset.shape, rgb=rgb, **metadata))
        choice = parse_compression((options or {}).get("compression"))
        if choice is not None:
            kwargs.update(compression="zlib", compressionargs={"level": choice.level})
        big = dataset.shape and math.prod(dataset.shape) * dataset.dtype.itemsize > 2**31
        with tifffile.TiffWriter(path, imagej=imagej, bigtiff=bool(big and not imagej)) as tif:
            tif.write(_pages(dataset, progress, rgb), shape=dataset.shape, dtype=dataset.dtype,
                      photometric="rgb" if rgb else "minisblack", **kwargs)

    def library_versions(self) -> dict[str, str]:
        return {"tifffile": package_version("tifffile"),
                "rosettasciio": package_version("rosettasciio")}


def _is_rgb(dataset: Dataset) -> bool:
    """A trailing ``channel`` axis of 3 or 4 uint8 samples: colour pages, not grey slices."""
    return (len(dataset.shape) >= 3 and dataset.shape[-1] in (3, 4)
            and dataset.dtype == np.uint8 and dataset.dims[-1].name == "channel")


def _pages(dataset: Dataset, progress: Any, rgb: bool = False) -> Iterator[np.ndarray]:
    """The images of *dataset* in order, one 2-D (RGB: 2-D by samples) page at a time."""
    image = dataset.shape[-3:] if rgb else dataset.shape[-2:]
    page = (1,) * (len(dataset.shape) - len(image)) + image
    for _, block in iter_blocks(dataset.data, block=page):
        if progress is not None:
            progress(block.nbytes)
        yield block.reshape(image)


#: Lengths ImageJ calibrates in, in metres; x and y are converted to one of them.
_LENGTHS = {"pm": 1e-12, "Å": 1e-10, "nm": 1e-9, "µm": 1e-6, "um": 1e-6, "micron": 1e-6,
            "mm": 1e-3, "cm": 1e-2, "m": 1.0}
#: Times in seconds: such an axis is an ImageJ time axis (``finterval`` is in seconds).
_SECONDS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0,
            "h": 3600.0}
_TIME_NAMES = ("time", "t")
#: A channel axis: ours, and rsciio's name for ImageJ's C.
_CHANNEL_NAMES = ("channel", "c", "color|em-wavelength|channel")


def _length(units: str) -> tuple[int, float] | None:
    """(power, metres) of a length or a reciprocal length: ``nm`` -> (1, 1e-9),
    ``1/Å`` -> (-1, 1e-10); None for anything else."""
    if units in _LENGTHS:
        return 1, _LENGTHS[units]
    if units.startswith("1/") and units[2:] in _LENGTHS:
        return -1, _LENGTHS[units[2:]]
    return None


def _factor(units: str, unit: str) -> float | None:
    """What a value in *units* is multiplied by to be in *unit*, when both are lengths
    (or both reciprocal lengths); None when they cannot be converted."""
    have, want = _length(units), _length(unit)
    if have is None or want is None or have[0] != want[0]:
        return None
    return float((have[1] / want[1]) ** have[0])


def _imagej_unit(units: str) -> str:
    """ImageJ's spelling (``micron``, ``pixel``); its description tag is ASCII, so Å
    becomes A, µ u, and any other non-ASCII letter a Java escape as ImageJ writes it
    (``\\u00B0``), which the reader turns back."""
    if _LENGTHS.get(units) == 1e-6:
        return "micron"
    if units == "px":
        return "pixel"
    text = units.replace("Å", "A").replace("µ", "u")
    return "".join(c if c.isascii() else f"\\u{ord(c):04X}" for c in text)


def _common_length(x: Dim, y: Dim) -> tuple[str, float, float]:
    """(unit, x scale, y scale) with x and y in one unit: x's, or nm for Å (ASCII);
    reciprocal lengths alike (``1/Å`` -> ``1/nm``).

    An image whose y axis is in Å and x in nm must not be written as nm for both.
    """
    if _factor(x.units, y.units) is None:
        return x.units, x.scale, y.scale
    power, metres = _length(x.units) or (1, 1.0)
    base = "nm" if metres == 1e-10 else ("µm" if metres == 1e-6 else
                                          x.units.removeprefix("1/"))
    unit = base if power == 1 else f"1/{base}"
    return (unit, x.scale * (_factor(x.units, unit) or 1.0),
            y.scale * (_factor(y.units, unit) or 1.0))


def _letter(dim: Dim) -> str:
    """The ImageJ axis a dim would like to be: time by its unit or name, channel by name."""
    if dim.units in _SECONDS or dim.name.lower() in _TIME_NAMES:
        return "T"
    return "C" if dim.name.lower() in _CHANNEL_NAMES else "Z"


def _lead_axes(dims: Sequence[Dim]) -> str:
    """ImageJ letters for the axes before YX, in ImageJ's TZC order.

    Each axis gets the letter its dim asks for (a 3-D stack is time or z by its dim; a
    ``(z, channel, y, x)`` stack is ZC, not TZ); when the order of the dims does not
    allow every wish, the letters that grant most of them (ties: the first of TZ, TC, ZC).
    """
    wishes = [_letter(dim) for dim in dims]
    choices = ["".join(c) for c in itertools.combinations("TZC", len(dims))]
    return max(choices, key=lambda letters: sum(map(str.__eq__, letters, wishes)))


def _origin(dim: Dim) -> float | None:
    """ImageJ's origin of an axis, in pixels (``offset = -origin * scale``)."""
    return -dim.offset / dim.scale if dim.offset and dim.scale else None


def _imagej_calibration(dataset: Dataset, rgb: bool = False
                        ) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """ImageJ metadata (axes, unit, z ``spacing``, time ``finterval``) and resolution.

    x and y share ImageJ's one ``unit``: converted to one length unit when both are
    lengths; otherwise y's goes to ``yunit`` with a warning, since most readers (rsciio
    among them) only look at ``unit``.  A z axis in another unit (a tilt in deg, a
    unitless frame) states it as ``zunit``, a time axis not in a time unit as ``tunit``;
    non-zero offsets are ImageJ's ``xorigin``, ``yorigin``, ``zorigin``.
    """
    dims = dataset.dims[:-1] if rgb else dataset.dims
    y, x = dims[-2], dims[-1]
    lead = _lead_axes(dims[:-2])
    metadata: dict[str, Any] = {"axes": lead + "YX" + ("S" if rgb else "")}
    unit, x_scale, y_scale = _common_length(x, y)
    if unit:
        metadata["unit"] = _imagej_unit(unit)
    if y.units != x.units and _factor(y.units, x.units) is None:
        log.warning("%s: x is in %r and y in %r, which cannot be converted to one unit; "
                    "the TIFF gives y's as ImageJ yunit, which most readers ignore",
                    dataset.name, x.units, y.units)
        metadata["yunit"] = _imagej_unit(y.units)
    for letter, dim in zip(lead, dims[:-2], strict=True):
        if letter == "T":
            metadata["finterval"] = dim.scale * _SECONDS.get(dim.units, 1.0)
            if dim.units not in _SECONDS:
                metadata["tunit"] = _imagej_unit(dim.units)
        elif letter == "Z":
            metadata["spacing"] = _z_spacing(dim, unit)
            if _z_unit(dim, unit) != unit:
                metadata["zunit"] = _imagej_unit(dim.units)
    origins: list[tuple[str, Dim]] = [("xorigin", x), ("yorigin", y)]
    if "Z" in lead:
        origins.append(("zorigin", dims[lead.index("Z")]))
    for key, dim in origins:
        origin = _origin(dim)
        if origin is not None:
            metadata[key] = origin
    resolution = (1.0 / x_scale, 1.0 / y_scale) if x_scale > 0 and y_scale > 0 else None
    return metadata, resolution


def _dm_tags(dataset: Dataset, rgb: bool) -> list[tuple[int, str, int, Any, bool]]:
    """DigitalMicrograph's private unit, origin and scale tags, which rsciio (HyperSpy)
    reads for every unit; from ImageJ's description it only takes ``micron``.

    The values are those of the ImageJ calibration (x and y in the one common unit), so
    the two descriptions cannot disagree; a stack's third axis only when it is alone.
    """
    dims = dataset.dims[:-1] if rgb else dataset.dims
    y, x = dims[-2], dims[-1]
    unit, x_scale, y_scale = _common_length(x, y)
    y_unit = unit if _factor(y.units, x.units) is not None else y.units
    axes = [(unit, x, x_scale), (y_unit, y, y_scale)]
    if len(dims) == 3:
        z = dims[0]
        if _lead_axes(dims[:1]) != "T":
            axes.append((_z_unit(z, unit), z, _z_spacing(z, unit)))
        elif z.units in _SECONDS:
            axes.append(("s", z, z.scale * _SECONDS[z.units]))
        else:
            axes.append((z.units, z, z.scale))
    tags: list[tuple[int, str, int, Any, bool]] = []
    for k, (units, dim, scale) in enumerate(axes):  # tags 65003-5, 65006-8, 65009-11
        origin = dim.offset * scale / dim.scale if dim.scale else dim.offset
        tags += [(65003 + k, "s", 0, units.encode("latin-1", "replace"), False),
                 (65006 + k, "d", 1, origin, False), (65009 + k, "d", 1, scale, False)]
    return tags


def _z_spacing(z: Dim, unit: str) -> float:
    """The z step in the x/y unit, which ImageJ's ``spacing`` shares."""
    factor = _factor(z.units, unit)
    return z.scale * factor if factor is not None else z.scale


def _z_unit(z: Dim, unit: str) -> str:
    """The unit of :func:`_z_spacing`: the x/y unit when z converts to it, else z's."""
    return unit if _factor(z.units, unit) is not None else z.units
