"""rsciio's standard ``metadata`` tree as readable ``microscope``/``sample``/``user`` attributes.

Every rsciio reader fills the same HyperSpy metadata tree (``Acquisition_instrument.TEM``
or ``.SEM``, ``General``, ``Sample``, ``Signal``), in HyperSpy's documented units (beam
energy in keV, camera length in mm, stage position in mm, times in s).  The DM plugin
maps DigitalMicrograph's tags into attributes named with their units (``voltage_V``,
``exposure_s``); the same quantities from any other format get the same names here, so
a facility's scripts read ``microscope.attrs["voltage_V"]`` whatever the source was.
Everything else in the tree is kept too, flattened (``eds_live_time_s``,
``laser_wavelength``), with the unit in the name when the tree or HyperSpy's
conventions give one.  The whole original tree stays in the dataset's attributes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from emdconvert.model import AttrValue


class Groups(TypedDict):
    """The three readable metadata groups, as keyword arguments of ``EMDFile``."""

    microscope: dict[str, AttrValue]
    sample: dict[str, AttrValue]
    user: dict[str, AttrValue]


#: HyperSpy's documented units for keys that carry none (metadata conventions).
_DEFAULT_UNITS = {
    "beam_energy": "keV",
    "beam_current": "nA",
    "camera_length": "mm",
    "convergence_angle": "mrad",
    "collection_angle": "mrad",
    "dwell_time": "s",
    "exposure": "s",
    "live_time": "s",
    "real_time": "s",
    "azimuth_angle": "deg",
    "elevation_angle": "deg",
    "energy_resolution_MnKa": "eV",
    "tilt_alpha": "deg",
    "tilt_beta": "deg",
    "rotation": "deg",
    "x": "mm",
    "y": "mm",
    "z": "mm",
    "thickness": "nm",
    "aperture_size": "mm",
    "probe_area": "nm^2",
}

#: Quantities the DM plugin also maps: (tree key below TEM/SEM, our name, factor from
#: HyperSpy's unit to the unit in our name), so both formats give the same attribute.
_SHARED = {
    "beam_energy": ("voltage_V", 1000.0),  # keV of the electrons = kV
    "magnification": ("indicated_magnification", 1.0),
    "beam_current": ("probe_current_nA", 1.0),
    "microscope": ("microscope_name", None),
    "Stage.x": ("stage_x_um", 1000.0),
    "Stage.y": ("stage_y_um", 1000.0),
    "Stage.z": ("stage_z_um", 1000.0),
    "Stage.tilt_alpha": ("stage_alpha_deg", 1.0),
    "Stage.tilt_beta": ("stage_beta_deg", 1.0),
    "Stage.rotation": ("stage_rotation_deg", 1.0),
    "dwell_time": ("dwell_time_us", 1e6),
    "exposure": ("exposure_s", 1.0),
}

#: ``General`` and ``Sample`` keys: (group, name) as the DM plugin names them.
_GENERAL = {
    "date": ("microscope", "acquisition_date"),
    "time": ("microscope", "acquisition_time"),
    "time_zone": ("microscope", "acquisition_time_zone"),
    "authors": ("user", "operator_name"),
    "notes": ("user", "notes"),
}
_SKIPPED_GENERAL = {"title", "original_filename", "FileIO", "doi", "timestamp"}


def readable_metadata(signals: Sequence[Mapping[str, Any]]) -> Groups:
    """``{"microscope": {...}, "sample": {...}, "user": {...}}`` from rsciio signals
    (dicts with a ``metadata`` tree), as keyword arguments of :class:`EMDFile`.

    Signals of one file share an instrument; where they disagree, the first wins.
    """
    groups = Groups(microscope={}, sample={}, user={})
    for signal in signals:
        metadata = signal.get("metadata") or {}
        found: list[tuple[str, str, AttrValue]] = []
        instrument = metadata.get("Acquisition_instrument")
        if isinstance(instrument, Mapping):
            found += _instrument(instrument)
        general = metadata.get("General")
        if isinstance(general, Mapping):
            found += [
                (group, name, value)
                for key, (group, name) in _GENERAL.items()
                if (value := _value(general.get(key))) is not None
            ]
        sample = metadata.get("Sample")
        if isinstance(sample, Mapping):
            found += [
                ("sample", "sample_name" if name == "name" else name, value)
                for name, value in _flatten(sample, "", sample)
            ]
        kind = _value((metadata.get("Signal") or {}).get("signal_type"))
        if kind is not None:
            found.append(("microscope", "signal_type", kind))  # as DM's "Meta Data.Signal"
        for group, name, value in found:
            groups[group].setdefault(name, value)  # type: ignore[literal-required]
    return groups


def _instrument(tree: Mapping[str, Any]) -> list[tuple[str, str, AttrValue]]:
    out: list[tuple[str, str, AttrValue]] = []
    for family in ("TEM", "SEM"):
        branch = tree.get(family)
        if isinstance(branch, Mapping):
            out.append(("microscope", "instrument_type", family))
            out += [
                ("microscope", name, value)
                for name, value in _flatten(branch, "", branch, shared=True)
            ]
    rest = {k: v for k, v in tree.items() if k not in ("TEM", "SEM")}
    out += [("microscope", name, value) for name, value in _flatten(rest, "", rest)]
    return out


def _flatten(
    tree: Mapping[str, Any], prefix: str, parent: Mapping[str, Any], *, shared: bool = False
) -> list[tuple[str, AttrValue]]:
    """(name, value) for every leaf: units from ``<key>_units`` or HyperSpy's defaults."""
    out: list[tuple[str, AttrValue]] = []
    for key, item in tree.items():
        if key.endswith("_units"):
            continue
        path = f"{prefix}{key}"
        if isinstance(item, Mapping):
            out += _flatten(item, f"{path}.", item, shared=shared)
            continue
        value = _value(item)
        if value is None:
            continue
        value, given = _in_default_units(key, value, _text(tree.get(f"{key}_units")))
        if shared and path in _SHARED:
            name, factor = _SHARED[path]
            number = _number(value)
            if factor is None:
                out.append((name, value))
                continue
            if number is not None and given in (None, _DEFAULT_UNITS.get(key)):
                out.append((name, number * factor))
                continue
            # not a number, or a unit not convertible to HyperSpy's: under its own name
        units = given or _DEFAULT_UNITS.get(key, "")
        out.append((_name(path, units), value))
    return out


#: Spellings pint reads otherwise: ``mR`` is milliradian in rsciio's MSA/HSPY trees (not
#: milliroentgen), and an electron energy in eV is the accelerating potential in V.
_UNIT_ALIASES = {"mR": "mrad", "eV": "V", "keV": "kV", "MeV": "MV"}


def _in_default_units(
    key: str, value: AttrValue, units: str | None
) -> tuple[AttrValue, str | None]:
    """*value* in HyperSpy's unit for *key* when the tree gives another one it converts
    to (120 ``kV`` -> 120 keV, 4996 ``V`` -> 4.996 keV, 1.5 ``mR`` -> 1.5 mrad), so every
    format's beam energy lands in ``voltage_V``; otherwise unchanged, with its unit."""
    default = _DEFAULT_UNITS.get(key)
    number = _number(value)
    if units is None or default is None or units == default or number is None:
        return value, units
    factor = _conversion(_UNIT_ALIASES.get(units, units), _UNIT_ALIASES.get(default, default))
    return (number * factor, default) if factor is not None else (value, units)


@functools.lru_cache(maxsize=64)
def _conversion(source: str, target: str) -> float | None:
    """The factor from *source* to *target* units, or None when pint cannot tell."""
    try:
        registry = _registry()
        return float(registry.Quantity(1.0, source).to(target).magnitude)
    except Exception:  # unknown unit, other dimension, pint missing: keep as given
        return None


@functools.lru_cache(maxsize=1)
def _registry() -> Any:
    import pint

    return pint.UnitRegistry()


def _name(path: str, units: str) -> str:
    """``Detector.EDS.live_time`` + ``s`` -> ``detector_eds_live_time_s``."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_").lower()
    suffix = re.sub(r"[^A-Za-z0-9]+", "", units.replace("µ", "u"))
    return f"{base}_{suffix}" if suffix else base


def _number(value: AttrValue) -> float | None:
    """Numbers, and text that is one (some readers give ``"1000"``), as float."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _value(item: Any) -> AttrValue | None:
    """Numbers as float (ints stay ints), text as text, lists as one string; else None."""
    if isinstance(item, bool) or isinstance(item, np.bool_):
        return bool(item)
    if isinstance(item, (int, np.integer)):
        return int(item)
    if isinstance(item, (float, np.floating)):
        return float(item)
    if isinstance(item, (bytes, np.bytes_)):
        item = bytes(item).decode("utf-8", "replace")
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, (list, tuple, np.ndarray)):
        items = [_value(x) for x in np.asarray(item, dtype=object).ravel().tolist()]
        kept = [str(x) for x in items if x is not None]
        return ", ".join(kept) or None
    return None
