"""Write side of the calibration: a model's dims as ImageJ and DigitalMicrograph tags.

An ImageJ hyperstack states pixel size and unit (x and y converted to one length unit,
or a warning and ImageJ's ``yunit``), z ``spacing`` or time ``frames`` + ``finterval``
and origins, in ImageJ's own spellings.  The same calibration also goes into
DigitalMicrograph's unit/origin/scale tags, the only place rsciio (HyperSpy) reads
units other than ``micron`` from, so the two descriptions cannot disagree.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any

from emdconvert.model import Dataset, Dim

log = logging.getLogger(__name__)

#: Lengths ImageJ calibrates in, in metres; x and y are converted to one of them.
_LENGTHS = {
    "pm": 1e-12,
    "Å": 1e-10,
    "nm": 1e-9,
    "µm": 1e-6,
    "um": 1e-6,
    "micron": 1e-6,
    "mm": 1e-3,
    "cm": 1e-2,
    "m": 1.0,
}
#: Times in seconds: such an axis is an ImageJ time axis (``finterval`` is in seconds).
_SECONDS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
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
    base = "nm" if metres == 1e-10 else ("µm" if metres == 1e-6 else x.units.removeprefix("1/"))
    unit = base if power == 1 else f"1/{base}"
    return (
        unit,
        x.scale * (_factor(x.units, unit) or 1.0),
        y.scale * (_factor(y.units, unit) or 1.0),
    )


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


def imagej_calibration(
    dataset: Dataset, rgb: bool = False
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
        log.warning(
            "%s: x is in %r and y in %r, which cannot be converted to one unit; "
            "the TIFF gives y's as ImageJ yunit, which most readers ignore",
            dataset.name,
            x.units,
            y.units,
        )
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


def dm_tags(dataset: Dataset, rgb: bool) -> list[tuple[int, str, int, Any, bool]]:
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
        tags += [
            (65003 + k, "s", 0, units.encode("latin-1", "replace"), False),
            (65006 + k, "d", 1, origin, False),
            (65009 + k, "d", 1, scale, False),
        ]
    return tags


def _z_spacing(z: Dim, unit: str) -> float:
    """The z step in the x/y unit, which ImageJ's ``spacing`` shares."""
    factor = _factor(z.units, unit)
    return z.scale * factor if factor is not None else z.scale


def _z_unit(z: Dim, unit: str) -> str:
    """The unit of :func:`_z_spacing`: the x/y unit when z converts to it, else z's."""
    return unit if _factor(z.units, unit) is not None else z.units
