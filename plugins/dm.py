"""Gatan DigitalMicrograph DM3/DM4 import via RosettaSciIO (read-only).

Format notes: rsciio's ``digitalmicrograph`` tag-tree parser (the one HyperSpy uses)
finds the images, axes, metadata and byte offsets; plain image data are then streamed
with ``pread`` (:class:`~emdconvert.lazy.RawFileArray`), so a large DM4 converts in
bounded memory at the speed of a ``.npy``.  RGB(A) images, which rsciio cannot read
lazily, are read whole; packed-complex ones go through rsciio's lazy path.

Metadata (emd-spec.md §6 and §8): the common Microscope Info / Acquisition / DataBar /
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
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from emdconvert.errors import FormatError, IncompleteError
from emdconvert.lazy import RawFileArray
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
    of a ``.npy`` of the same size).  RGB(A) images are read whole (rsciio cannot read
    them lazily) and packed-complex ones through rsciio's lazy path.
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
            signals.append({"data": _image_data(image, path), "axes": image.get_axes_dict(),
                            "metadata": copy.deepcopy(metadata),
                            "original_metadata": copy.deepcopy(parser.tags_dict)})
    return signals


def _image_data(image: Any, path: Path) -> Any:
    image_data = image.imdict.ImageData
    if isinstance(image_data.Data, np.ndarray):  # tiny images held in the tags
        return image.get_data(lazy=False)
    if image_data.DataType in _RGB_TYPES:
        return image.get_data(lazy=False)
    if image_data.DataType in _PACKED_COMPLEX_TYPES or image.order != "C":
        return image.get_data(lazy=True)
    return RawFileArray(path, int(image_data.Data.offset), tuple(image.shape),
                        np.dtype(image.dtype))


def declared_size(head: bytes) -> tuple[int, tuple[int, ...]]:
    """(length the DM header declares, allowed excess of the file size over it).

    Measured over 144 DM files (reliability.md F11): a DM4 from DigitalMicrograph is
    its declared length + 24 bytes, a DM3 + 16 or + 20; nionswift-io writes DM4 files
    of + 20, which rsciio and ncempy read, so that is accepted too.  rsciio reads the
    field but only logs it, which is why a DM4 missing its last 8 bytes reads as if it
    were whole.
    """
    if len(head) < 12:
        raise IncompleteError(f"incomplete: only {len(head)} bytes, shorter than a DM header")
    version = int.from_bytes(head[:4], "big")
    if version == 4:
        return int.from_bytes(head[4:12], "big"), (20, 24)
    if version == 3:
        return int.from_bytes(head[4:8], "big"), (16, 20)
    raise FormatError(f"not a DM3/DM4 file (header version {version})")


class DMPlugin(BasePlugin):
    """Gatan DigitalMicrograph ``.dm3`` / ``.dm4`` (read-only, through rsciio)."""

    name: ClassVar[str] = "dm"
    description: ClassVar[str] = "Gatan DigitalMicrograph DM3/DM4 (read, via rsciio)"
    extensions: ClassVar[tuple[str, ...]] = (".dm3", ".dm4")
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, b"\0\0\0\x03"), (0, b"\0\0\0\x04"))
    priority: ClassVar[int] = 70
    can_read: ClassVar[bool] = True

    def check_complete(self, path: Path) -> None:
        """The file is at least as long as its header declares (no rsciio import)."""
        with open(path, "rb") as handle:
            head = handle.read(12)
        declared, allowed = declared_size(head)
        size = path.stat().st_size
        # Longer is tolerated (trailing bytes lose nothing); shorter than the largest
        # layout and not exactly another is a cut file.
        if size - declared not in allowed and size < declared + max(allowed):
            raise IncompleteError(
                f"incomplete: {size} bytes, but the DM header declares "
                f"{declared + max(allowed)} ({declared + max(allowed) - size} missing: "
                "truncated, or still being written)")

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        from rsciio import exceptions as rsciio_errors

        # What rsciio's tag parser raises on damaged tags (reliability.md E2): a
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
