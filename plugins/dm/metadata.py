"""DM image tags mapped to the readable attributes of the ``microscope``, ``sample`` and
``user`` groups.

rsciio's own ``metadata`` is nearly empty for DM files (HyperSpy applies the mapping), so
the tag paths are read directly here: each attribute names the tag paths that may hold
it, the first with a value wins, and a converter turns DM's value into the attribute's.
The writer uses the same rules backwards (:func:`unmap_tags`): each converter has its
inverse in :data:`INVERSES`, so the rule table stays the one place a tag path is named.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from emdconvert.model import AttrValue

IMAGE_TAGS = ("ImageList", "TagGroup0", "ImageTags")
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


def _ticks(value: Any) -> int:
    """An ISO-8601 UTC time as DM's FILETIME ticks (the inverse of :func:`_filetime`)."""
    stamp = _dt.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ")
    delta = stamp.replace(tzinfo=_dt.timezone.utc) - _FILETIME_EPOCH
    return (delta // _dt.timedelta(microseconds=1)) * 10


def _list(value: Any) -> list[Any]:
    return np.asarray(value).tolist()  # type: ignore[no-any-return]


#: Each converter's inverse: an attribute's value as the plain tag value it came from.
INVERSES: dict[Callable[[Any], AttrValue | None], Callable[[Any], Any]] = {
    _number: float,
    _string: str,
    _vector: _list,
    _filetime: _ticks,
}

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
    (
        "exposure_s",
        (
            "Acquisition.Parameters.High Level.Exposure (s)",
            "DataBar.Exposure Time (s)",
            "EELS.Acquisition.Exposure (s)",
        ),
        _number,
    ),
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


def lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    """The value at the dotted tag path *dotted* of *tree*; None where a key is missing."""
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
            value = lookup(image_tags, path)
            converted = None if value is None else convert(value)
            if converted is not None:
                out[attr] = converted
                break
    return out


def unmap_tags(
    image_tags: dict[str, Any], values: Mapping[str, Any], rules: Sequence[Rule]
) -> None:
    """Put readable attribute *values* back into *image_tags*, in place.

    An attribute the tags already give (:func:`map_tags` reads the same value) leaves
    them untouched, so a DM source's tags keep their own types and spellings; any other
    goes to the first tag path of its rule, where :func:`map_tags` looks first.
    """
    present = map_tags(image_tags, rules)
    for attr, paths, convert in rules:
        if attr not in values or _same(present.get(attr), values[attr]):
            continue
        try:
            value = INVERSES[convert](values[attr])
        except (TypeError, ValueError):
            continue  # not a value this tag can hold (a malformed time, say)
        *parents, leaf = paths[0].split(".")
        node = image_tags
        for key in parents:
            child = node.get(key)
            node[key] = child = child if isinstance(child, dict) else {}
            node = child
        node[leaf] = value


def _same(mapped: Any, wanted: Any) -> bool:
    if mapped is None:
        return False
    return bool(np.array_equal(np.asarray(mapped), np.asarray(wanted)))
