"""One dataset as a DigitalMicrograph image document: the tag tree GMS writes.

The root groups are those of a GMS-saved DM4 (2D_test-1.dm4 and EELS_SI.dm4 of
rsciio's test data), in GMS's order: one ImageDisplay in DocumentObjectList, an
ImageList holding a small RGB thumbnail first and then the data image, the
``Thumbnails`` group naming the thumbnail (which is how rsciio skips it; ncempy skips a
first 2-D RGB image, nionswift-io reads the last), one ImageSource.  A tree read from a
DM file (the dataset's ``original_metadata_json``, rsciio's ``tags_dict``) is restored
instead of the defaults, group for group; only what describes the data (ImageData, the
thumbnail) is always rebuilt from the model.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emdconvert.plugins.dm.metadata import lookup
from emdconvert.plugins.dm.tagfile import Array, Group, Scalar, Stream, Struct, Tag, Text
from emdconvert.plugins.dm.tagvalues import group, number_code, typed
from emdconvert.unit_parse import ENERGIES, parse

#: numpy dtype -> (DM DataType, element type of the Data array, its struct fields).
IMAGE_TYPES: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "int8": (9, 9, ()),
    "uint8": (6, 10, ()),
    "int16": (1, 2, ()),
    "uint16": (10, 4, ()),
    "int32": (7, 3, ()),
    "uint32": (11, 5, ()),
    "float32": (2, 6, ()),
    "float64": (12, 7, ()),
    "complex64": (3, 15, (6, 6)),
    "complex128": (13, 15, (7, 7)),
    "bool": (14, 8, ()),
}
#: RGB(A): DataType 23, one little-endian 32-bit B, G, R, A word per pixel.
RGB_TYPE = (23, 3, ())


@dataclass(frozen=True)
class Image:
    """What the tree needs of the data image: DM-order sizes and calibrations."""

    dims: tuple[tuple[int, float, float, str], ...]  # (size, origin, scale, units), x first
    data_type: tuple[int, int, tuple[int, ...]]
    pixel_depth: int
    name: str


def mark_spectrum_image(image_tags: dict[str, Any], channel_units: str, ndim: int) -> None:
    """Tag a 3-D or larger image whose last axis is in an energy unit as a DM spectrum
    image, for a source that brought no DM tags of its own: GMS then opens an EELS or EDS
    map as a spectrum image, and rsciio (:func:`spectrum_image`) reads it as a
    ``Signal1D``, energy last, as the source had it.  A DM source's own tags decide for
    themselves, so DM -> EMD -> DM keeps its layout."""
    if ndim > 2 and parse(channel_units).text in ENERGIES:
        image_tags.setdefault("Meta Data", {})["Format"] = "Spectrum image"


def spectrum_image(image_tags: Mapping[str, Any], ndim: int) -> bool:
    """rsciio's test (``ImageObject.to_spectrum``) for an image whose first numpy axis
    is the spectrum: the reader moves it last, so the writer moves it back."""
    fmt = lookup(image_tags, "Meta Data.Format")
    return (fmt == "Spectrum image" or "spim" in image_tags) and ndim > 2


def calibration(size: int, offset: float, scale: float, units: str) -> tuple[Any, ...]:
    """One axis as DM stores it: Origin is in pixels, ``value = (i - origin) * scale``."""
    origin = -offset / scale if scale else 0.0
    return (size, origin, scale, units)


def _number(value: float) -> Scalar:
    return Scalar(number_code([value]), float(value))


def _calibrations(image: Image, brightness: Mapping[str, Any] | None) -> Group:
    dims = tuple(
        ("", Group((("Origin", _number(o)), ("Scale", _number(s)), ("Units", Text(u)))))
        for _, o, s, u in image.dims
    )
    bright = group(brightness) if brightness else None
    if bright is None:
        bright = Group((("Origin", Scalar(6, 0.0)), ("Scale", Scalar(6, 1.0)), ("Units", Text(""))))
    return Group(
        (
            ("Brightness", bright),
            ("Dimension", Group(dims, named=False)),
            ("DisplayCalibratedUnits", Scalar(8, True)),
        )
    )


def image_data(image: Image, data: Tag, brightness: Mapping[str, Any] | None = None) -> Group:
    """An ImageData group: calibrations, the Data array, type, sizes, pixel depth."""
    sizes = tuple(("", Scalar(5, n)) for n, *_ in image.dims)
    return Group(
        (
            ("Calibrations", _calibrations(image, brightness)),
            ("Data", data),
            ("DataType", Scalar(5, image.data_type[0])),
            ("Dimensions", Group(sizes, named=False)),
            ("PixelDepth", Scalar(5, image.pixel_depth)),
        )
    )


def _unique_id() -> Group:
    return Group(tuple(("", Scalar(5, random.getrandbits(32))) for _ in range(4)), named=False)


def image_entry(
    image: Image, data: Tag, original: Mapping[str, Any] | None, image_tags: Mapping[str, Any]
) -> Group:
    """An ImageList entry; a DM source's entry keeps everything but its ImageData's
    description of the data, which the model gives, as it gives *image_tags*."""
    original = original or {}
    old_data = original.get("ImageData") or {}
    fresh = image_data(image, data, lookup(old_data, "Calibrations.Brightness"))
    old_data_rest = {k: v for k, v in old_data.items() if k not in dict(fresh.entries)}
    new_data = Group(fresh.entries + group(old_data_rest).entries)
    entries: dict[str, Tag] = {"ImageData": new_data}
    entries["ImageTags"] = group(image_tags)
    entries["Name"] = Text(image.name)
    entries["UniqueID"] = group(original["UniqueID"]) if "UniqueID" in original else _unique_id()
    for key, value in original.items():
        if key not in entries and (tag := typed(value)) is not None:
            entries[key] = tag
    return Group(tuple(entries.items()))


def thumbnail_entry(pixels: np.ndarray) -> Group:
    """The thumbnail image: a small 2-D RGB (DataType 23) view of the data."""
    height, width = pixels.shape[:2]
    image = Image(((width, 0.0, 1.0, ""), (height, 0.0, 1.0, "")), RGB_TYPE, 4, "")
    words = np.ascontiguousarray(pixels, dtype=np.uint8).view("<i4").reshape(-1)
    return Group(
        (
            ("ImageData", image_data(image, Array(3, words))),
            ("ImageTags", Group(())),
            ("Name", Text("Thumbnail")),
            ("UniqueID", _unique_id()),
        )
    )


def _rect(image: Image) -> Struct:
    """The display's bounds (top, left, bottom, right) in image pixels."""
    return Struct((6, 6, 6, 6), (0.0, 0.0, float(_height(image.dims)), float(image.dims[0][0])))


def _display(ndim: int, image: Image) -> Group:
    """One ImageDisplay: a raster image, or a line plot for a 1-D spectrum."""
    info = Group(
        (
            ("CaptionOn", Scalar(8, False)),
            ("CLUTName", Text("Greyscale")),
            ("ComplexMode", Scalar(5, 4)),
            ("DoAutoSurvey", Scalar(8, True)),
            ("IsInverted", Scalar(8, False)),
            ("MainSliceId", Group((("", Scalar(5, 0)),), named=False)),
        )
    )
    return Group(
        (
            ("AnnotationGroupList", Group((), named=False)),
            ("AnnotationType", Scalar(3, 20)),
            ("ImageDisplayInfo", info),
            ("ImageDisplayType", Scalar(3, 1 if ndim > 1 else 3)),
            ("ImageSource", Scalar(12, 0)),
            ("IsMoveable", Scalar(8, True)),
            ("IsResizable", Scalar(8, True)),
            ("IsSelectable", Scalar(8, True)),
            ("IsTranslatable", Scalar(8, True)),
            ("IsVisible", Scalar(8, True)),
            ("ObjectTags", Group(())),
            ("Rectangle", _rect(image)),
            ("UniqueID", Scalar(5, 8)),
        )
    )


def _defaults(ndim: int, image: Image, version: int) -> dict[str, Tag]:
    """The document groups GMS writes around an image, for a source that has none."""
    word = 11 if version == 4 else 3
    rect = _rect(image)
    return {
        "ApplicationBounds": Struct((word,) * 4, (0, 0, 1024, 1280)),
        "DocumentObjectList": Group((("", _display(ndim, image)),), named=False),
        "DocumentTags": Group(()),
        "HasWindowPosition": Scalar(8, False),
        "Image Behavior": Group(
            (
                ("DoIntegralZoom", Scalar(8, False)),
                ("ImageDisplayBounds", rect),
                ("IsZoomedToWindow", Scalar(8, True)),
                ("ViewDisplayID", Scalar(5, 8)),
            )
        ),
        "ImageSourceList": Group(
            (
                (
                    "",
                    Group(
                        (
                            ("ClassName", Text("ImageSource:Simple")),
                            ("Id", Group((("", Scalar(5, 0)),), named=False)),
                            ("ImageRef", Scalar(5, 1)),
                        )
                    ),
                ),
            ),
            named=False,
        ),
        "InImageMode": Scalar(8, True),
        "MinVersionList": Group(
            (("", Group((("RequiredVersion", Scalar(5, 50659328)),))),), named=False
        ),
        "NextDocumentObjectID": Scalar(5, 9),
        "Page Behavior": Group(
            (
                ("DoIntegralZoom", Scalar(8, False)),
                ("IsZoomedToWindow", Scalar(8, True)),
                ("RestoreImageDisplayBounds", rect),
                ("RestoreImageDisplayID", Scalar(5, 8)),
                ("TargetDisplayID", Scalar(5, 4294967295)),
            )
        ),
        "SentinelList": Group((), named=False),
        "WindowPosition": Struct((word,) * 4, (0, 0, 0, 0)),
    }


def document(
    image: Image,
    ndim: int,
    data: Stream,
    thumbnail: np.ndarray,
    version: int,
    original: Mapping[str, Any] | None,
    image_tags: Mapping[str, Any],
) -> Group:
    """The whole tag tree of the file (root entries sorted, as GMS sorts them)."""
    root: dict[str, Tag] = {} if original else _defaults(ndim, image, version)
    for key, value in (original or {}).items():
        if key not in ("root", "ImageList", "Thumbnails") and (tag := typed(value)) is not None:
            root[key] = tag
    old_image = lookup(original or {}, "ImageList.TagGroup0")
    images = (thumbnail_entry(thumbnail), image_entry(image, data, old_image, image_tags))
    root["ImageList"] = Group(tuple(("", g) for g in images), named=False)
    size = Struct((11, 11) if version == 4 else (3, 3), (image.dims[0][0], _height(image.dims)))
    thumbs = {"ImageIndex": Scalar(5, 0), "SourceSize_Pixels": size}
    old_thumbs = lookup(original or {}, "Thumbnails.TagGroup0")
    if isinstance(old_thumbs, Mapping):  # GMS's window size; the index is ours
        thumbs = {**dict(group(old_thumbs).entries), "ImageIndex": Scalar(5, 0)}
    root["Thumbnails"] = Group((("", Group(tuple(thumbs.items()))),), named=False)
    return Group(tuple(sorted(root.items(), key=lambda item: item[0].lower())))


def _height(dims: Sequence[tuple[Any, ...]]) -> int:
    return int(dims[1][0]) if len(dims) > 1 else 1
