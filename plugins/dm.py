"""Gatan DigitalMicrograph DM3/DM4 import via RosettaSciIO (read-only).

Format notes: rsciio's ``digitalmicrograph`` reader (the tag-tree parser used by
HyperSpy).  Data are read lazily (rsciio memory-maps the file per block), so a large
DM4 streams in bounded memory; RGB(A) images, which rsciio cannot read lazily, are read
whole.

Metadata (emd-spec.md §6 and §8): the common Microscope Info / Acquisition / DataBar /
Session Info / EELS tags become readable attributes of the ``microscope``, ``sample`` and
``user`` groups, and the whole original tag tree is kept as JSON on the dataset group.
RGB(A) images become a trailing ``channel`` axis (``signals.signal_to_dataset``).
rsciio's own ``metadata`` is nearly empty for DM files (HyperSpy applies the mapping), so
the tag paths are read directly here.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from emdconvert.errors import FormatError
from emdconvert.lazy import RawFileArray
from emdconvert.model import AttrValue, EMDFile
from emdconvert.plugin import BasePlugin, package_version
from emdconvert.signals import signal_to_dataset

IMAGE_TAGS = ("ImageList", "TagGroup0", "ImageTags")
# DM data types whose bytes are not the decoded array: packed complex (5, 27, 28), RGB(A).
_ENCODED_TYPES = frozenset({5, 8, 23, 27, 28})
# Windows FILETIME (DataBar "Acquisition Time (OS)") counts 100 ns ticks from 1601.
_FILETIME_EPOCH = _dt.datetime(1601, 1, 1, tzinfo=_dt.timezone.utc)

Rule = tuple[str, tuple[str, ...], Callable[[Any], AttrValue | None]]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _string(value: Any) -> AttrValue | None:
    # DM stores an empty string as an empty list (emd-spec.md §8).
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


def _raw_arrays(path: Path) -> list[RawFileArray | None]:
    """Each image's plain uncompressed data as a :class:`RawFileArray`, where possible.

    rsciio's lazy DM data is a dask array over per-block memmaps: correct, but each
    block read costs a dask graph and a fresh mapping (a 2 GiB DM4 converted 3x slower
    than a ``.npy`` of the same size).  The image's byte offset comes from rsciio's own
    tag parser, so the layout stays rsciio's; packed complex and RGB images (stored
    differently from their decoded form) and anything rsciio's internals no longer
    expose keep rsciio's array (``None``).
    """
    try:
        from rsciio.digitalmicrograph._api import DigitalMicrographReader, ImageObject

        with open(path, "rb") as handle:
            parser = DigitalMicrographReader(handle)
            parser.parse_file()
            images = [ImageObject(imdict, handle)
                      for imdict in parser.get_image_dictionaries()]
            out: list[RawFileArray | None] = []
            for image in images:
                image_data = image.imdict.ImageData
                plain = (image_data.DataType not in _ENCODED_TYPES and image.order == "C"
                         and not isinstance(image_data.Data, np.ndarray))
                out.append(RawFileArray(path, int(image_data.Data.offset),
                                        tuple(image.shape), np.dtype(image.dtype))
                           if plain else None)
            return out
    except Exception:  # rsciio internals changed: keep its dask arrays
        return []


class DMPlugin(BasePlugin):
    """Gatan DigitalMicrograph ``.dm3`` / ``.dm4`` (read-only, through rsciio)."""

    name: ClassVar[str] = "dm"
    description: ClassVar[str] = "Gatan DigitalMicrograph DM3/DM4 (read, via rsciio)"
    extensions: ClassVar[tuple[str, ...]] = (".dm3", ".dm4")
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, b"\0\0\0\x03"), (0, b"\0\0\0\x04"))
    priority: ClassVar[int] = 70
    can_read: ClassVar[bool] = True

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        from rsciio import exceptions as rsciio_errors
        from rsciio.digitalmicrograph import file_reader

        dm_errors = (rsciio_errors.ByteOrderError, rsciio_errors.DM3FileVersionError,
                     rsciio_errors.DM3TagError, rsciio_errors.DM3DataTypeError,
                     rsciio_errors.DM3TagTypeError, rsciio_errors.DM3TagIDError)
        try:
            try:
                signals = file_reader(str(path), lazy=True)
            except ValueError as exc:
                if "RGBA" not in str(exc):
                    raise
                signals = file_reader(str(path), lazy=False)  # RGB is never lazy in rsciio
        except dm_errors as exc:
            raise FormatError(f"corrupt DM tag structure ({type(exc).__name__}: {exc})",
                              path=path) from exc
        if not signals:
            raise FormatError("the file holds no images", path=path)
        for signal, raw in zip(signals, _raw_arrays(path), strict=False):
            data = signal["data"]
            if raw is not None and raw.shape == tuple(data.shape) and raw.dtype == data.dtype:
                signal["data"] = raw
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
