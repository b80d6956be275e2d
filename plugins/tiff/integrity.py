"""The structural checks a TIFF passes before any pixel is read.

tifffile trusts a file's page list and tags: it follows a looping page list until it
gives up, reads a strip with offset 0 as zeros, divides by a zero tile size and
allocates whatever a forged header declares.  These checks walk the page list and the
strip and tile tables from the headers alone (a few bytes per page) and tell damage
apart as the watch daemon needs it: incomplete (truncated, or still being written:
wait for the rest) or corrupt (fail now).
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from emdconvert.errors import FormatError, IncompleteError


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
            raise FormatError(
                f"circular TIFF page list: the pointer after page {page - 1} "
                f"leads back to page {seen[offset]} (byte {offset})"
            )
        seen[offset] = page
        if offset + count_size > size:
            raise IncompleteError(
                f"incomplete: page {page} starts at byte {offset} of a "
                f"{size}-byte file (truncated, or still being written)"
            )
        handle.seek(offset)
        (tags,) = struct.unpack(byteorder + count_code, handle.read(count_size))
        after = offset + count_size + tags * entry
        if after + pointer_size > size:
            raise IncompleteError(
                f"incomplete: the tags of page {page} end at byte "
                f"{after + pointer_size} of a {size}-byte file "
                "(truncated, or still being written)"
            )
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
    zero = [
        name
        for code, name in ((322, "TileWidth"), (323, "TileLength"))
        if page.tags.valueof(code) == 0
    ]
    zero += [name for attribute, name in sizes.items() if getattr(page, attribute) < 1]
    if zero:
        raise FormatError(
            f"page {page.index}: {zero[0]} 0 (missing or zero; an image and "
            "its strips or tiles cannot be empty)"
        )
    if page.dtype is None:
        raise FormatError(
            f"page {page.index}: unsupported sample type (SampleFormat "
            f"{int(page.sampleformat)}, BitsPerSample {page.bitspersample})"
        )


def _segment_axes(page: Any) -> tuple[tuple[int, int], ...]:
    """(image extent, strip or tile extent) along depth, length and width."""
    if page.is_tiled:
        return (
            (page.imagedepth, page.tiledepth),
            (page.imagelength, page.tilelength),
            (page.imagewidth, page.tilewidth),
        )
    return (
        (page.imagedepth, 1),
        (page.imagelength, page.rowsperstrip),
        (page.imagewidth, page.imagewidth),
    )


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
    depth, length, width = (
        np.minimum(step, total - i * step).astype(np.float64)
        for i, (total, step) in zip(index, axes, strict=True)
    )
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
        raise FormatError(
            "a page differs from the first page of its series in ImageWidth "
            "or in its number of strips or tiles"
        ) from error
    for index, series in enumerate(found):
        keyframe = series.keyframe
        check_geometry(keyframe)
        page_shape = tuple(keyframe.shape)
        lead = series.shape[: len(series.shape) - len(page_shape)]
        if len(series.shape) > len(page_shape) and math.prod(lead) != len(series.pages):
            raise IncompleteError(
                f"incomplete: series {index} expects "
                f"{math.prod(lead)} pages but holds {len(series.pages)}"
            )
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
                    raise FormatError(
                        f"page {page.index} has no data: {kind}{tag} 0 "
                        f"({kind.lower()} {int(np.argmin(values))})"
                    )
            ends = offsets + counts
            if ends.size and ends.max() > size:
                raise IncompleteError(
                    f"incomplete: page {page.index} ends at byte "
                    f"{int(ends.max())} of a {size}-byte file (truncated)"
                )
            if needed is not None:
                _check_segments(page.index, kind, counts, needed)


def _check_listed(page: Any, kind: str, declared: int) -> None:
    """The page lists one offset and one byte count per strip or tile its size declares.

    tifffile only logs a wrong count, and a forged size would otherwise make the
    per-segment checks allocate arrays as long as the size declares.
    """
    offsets, counts = len(page.dataoffsets), len(page.databytecounts)
    if offsets != counts or counts != declared:
        raise FormatError(
            f"page {page.index}: its size needs {declared} {kind.lower()}s but "
            f"it lists {offsets} {kind}Offsets and {counts} {kind}ByteCounts"
        )


def _check_segments(page: Any, kind: str, counts: np.ndarray, needed: np.ndarray) -> None:
    """Each uncompressed strip or tile holds at least what the page geometry declares."""
    short = np.flatnonzero(counts < needed)
    if short.size:
        first = int(short[0])
        raise FormatError(
            f"page {page}: declared size {int(needed[first])} bytes for "
            f"{kind.lower()} {first} (from the image size and bit depth) but "
            f"it holds {int(counts[first])}"
        )
