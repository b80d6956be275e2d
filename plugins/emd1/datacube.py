"""Which datasets are 4D-STEM scans, and their py4DSTEM ``Calibration``.

py4DSTEM reads a 4-D ``Array`` node whose ``python_class`` is ``DataCube`` as a
``DataCube`` and rebuilds its four dim vectors from the root's ``calibration``
``Metadata`` (one pixel size and unit for both scan axes, one for both diffraction
axes).  The rule that makes a dataset a datacube, from its dims alone:

- 4-D, the axes in py4DSTEM's order ``(Rx, Ry, Qx, Qy)``: scan axes first;
- every axis evenly spaced (a calibration holds a pixel size, not a vector);
- axes 0 and 1 share one unit and one scale, a real-space length (``m`` ... ``pm``,
  ``Å``) or pixels; axes 2 and 3 share one unit and one scale, a reciprocal length
  (``1/nm``, ``Å^-1`` ...) or an angle (``rad``, ``mrad``, ``µrad``) or pixels;
- not both pairs in pixels, unless the dims are named ``Rx, Ry, Qx, Qy`` (py4DSTEM's own
  names): an uncalibrated 4-D array is not taken for a scan on its shape alone.

py4DSTEM accepts only ``A^-1``, ``mrad`` and ``pixels`` as diffraction units (its
``set_Q_pixel_units`` asserts it when it reads the file), so reciprocal lengths are
converted to ``A^-1`` and angles to ``mrad``, in the calibration and in the dim
vectors alike; scan units are kept, with ``Å`` spelt ``A`` as py4DSTEM spells it (rsciio
reads ``A`` back as ``Å``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emdconvert.dims import Dim
from emdconvert.metadata_values import MetadataValue
from emdconvert.model import Dataset
from emdconvert.unit_parse import PIXELS, Unit, parse

#: Angles as factors to ``mrad`` (lengths and reciprocal lengths: :mod:`emdconvert.unit_parse`).
_ANGLES = {"rad": 1e3, "mrad": 1.0, "µrad": 1e-3, "urad": 1e-3}
#: Metres in py4DSTEM's diffraction length unit, the Ångström of ``A^-1``.
_ANGSTROM = 1e-10
PY4DSTEM_NAMES = ("rx", "ry", "qx", "qy")


@dataclass(frozen=True)
class Calibration:
    """A datacube's pixel sizes and units as py4DSTEM stores them, and how the source's
    diffraction coordinates scale into them (``q_factor``)."""

    r_size: float
    r_units: str
    q_size: float
    q_units: str
    q_factor: float

    def items(self, target: str) -> dict[str, MetadataValue]:
        """The ``calibration`` Metadata, item for item as py4DSTEM's ``Calibration``
        writes a fresh one (its ``__init__`` keys, ``QR_flip``) plus the tree links its
        ``save`` adds: ``_root_treepath`` and the ``_target_paths`` that register the
        datacube *target* (``/<node name>``) for re-calibration on read."""
        return {
            "Q_pixel_size": self.q_size,
            "R_pixel_size": self.r_size,
            "Q_pixel_units": self.q_units,
            "R_pixel_units": self.r_units,
            "QR_flip": False,
            "_root_treepath": "",
            "_target_paths": np.array([target]),  # a list of strings
        }

    def stored_dims(self, dims: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """*dims* as uniform axes in the calibration's units (diffraction converted)."""
        return (
            *(_relabel(dim, self.r_size, self.r_units, 1.0) for dim in dims[:2]),
            *(_relabel(dim, self.q_size, self.q_units, self.q_factor) for dim in dims[2:]),
        )


def _relabel(dim: Dim, size: float, units: str, factor: float) -> Dim:
    return Dim.uniform(
        dim.name,
        size=dim.size,
        scale=size,
        offset=dim.offset * factor,
        units=units,
        attrs=dim.attrs,
    )


def spacing(dim: Dim) -> float | None:
    """The pixel size of an evenly spaced axis (a vector read from a file, too: the mean
    step, as rsciio takes it), else None."""
    if dim.is_uniform or dim.size < 2:
        return dim.scale
    values = dim.values.astype(np.float64)
    step = float(values[-1] - values[0]) / (dim.size - 1)
    if step == 0 or not np.allclose(np.diff(values), step, rtol=1e-6, atol=0):
        return None
    return step


def _pair(a: Dim, b: Dim) -> tuple[Unit, float] | None:
    """The unit and pixel size two evenly spaced axes share, or None."""
    step_a, step_b = spacing(a), spacing(b)
    unit = parse(a.units)
    if step_a is None or step_b is None or unit != parse(b.units):
        return None
    if not math.isclose(step_a, step_b, rel_tol=1e-9):
        return None
    return unit, step_a


def _scan_units(unit: Unit) -> str | None:
    """py4DSTEM's name for a scan unit (``Å`` spelt ``A``), or None if not a length."""
    if unit.text in PIXELS:
        return "pixels"
    if unit.metres is None or unit.reciprocal:
        return None
    return "A" if unit.text == "Å" else unit.text


def _diffraction_units(unit: Unit) -> tuple[str, float] | None:
    """py4DSTEM's diffraction unit for *unit* and the factor into it, or None."""
    if unit.text in PIXELS:
        return "pixels", 1.0
    if unit.reciprocal and unit.metres is not None:
        return "A^-1", _ANGSTROM / unit.metres
    if unit.text in _ANGLES:
        return "mrad", _ANGLES[unit.text]
    return None


def calibration(dataset: Dataset) -> Calibration | None:
    """*dataset*'s calibration if it is a 4D-STEM datacube by the module's rule, else None."""
    dims = dataset.dims
    if len(dims) != 4:
        return None
    real, reciprocal = _pair(*dims[:2]), _pair(*dims[2:])
    if real is None or reciprocal is None:
        return None
    (r_unit, r_size), (q_unit, q_size) = real, reciprocal
    if r_unit.text in PIXELS and q_unit.text in PIXELS:
        if tuple(dim.name.lower() for dim in dims) != PY4DSTEM_NAMES:
            return None
    r_units, q = _scan_units(r_unit), _diffraction_units(q_unit)
    if r_units is None or q is None:
        return None
    q_units, factor = q
    return Calibration(r_size, r_units, q_size * factor, q_units, factor)
