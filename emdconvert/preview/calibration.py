"""What an axis's units mean to a preview; :mod:`emdconvert.unit_parse` reads the spellings.

A preview needs to know whether two axes share a unit (else no scale bar), whether a
length may be shown with another SI prefix (a bar of 0.002 µm reads better as 2 nm),
whether an image lives in reciprocal space (diffraction patterns and FFTs: log scale,
bar in nm⁻¹) and whether a spectrum image's last axis is its spectrum (energy).
"""

from __future__ import annotations

import math

from emdconvert.model import Dim
from emdconvert.unit_parse import ENERGIES, PIXELS, Unit, parse


def is_calibrated(dim: Dim) -> bool:
    """An axis with a real unit and a usable, non-zero step."""
    return parse(dim.units).text not in PIXELS and math.isfinite(dim.scale) and dim.scale != 0


def is_energy(dim: Dim) -> bool:
    """The spectral axis of a spectrum image: an energy unit, or a name that says so."""
    name = dim.name.lower()
    return parse(dim.units).text in ENERGIES or any(
        word in name for word in ("energy", "spectr", "wavelength")
    )


def shared_unit(first: Dim, second: Dim) -> Unit | None:
    """The unit two image axes share when both are calibrated in it, else None.

    A scale bar is drawn only then: an axis in nm beside one in eV (a line of spectra)
    or in pixels has no length to show.
    """
    if not (is_calibrated(first) and is_calibrated(second)):
        return None
    unit = parse(first.units)
    return unit if unit == parse(second.units) else None
