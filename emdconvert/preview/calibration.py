"""What an axis's units mean to a preview: a length, an inverse length, an energy.

Readers spell one unit many ways: ``1 / nm`` (Velox), ``1/nm`` (DM), ``nm^-1`` (MRC),
``1 / Å`` (py4DSTEM), ``um`` for ``µm``, the Greek ``μ`` for the micro sign, and EMD's
bracket notation (``[n_m]``, decoded by :func:`emdconvert.units.from_emd`).  A preview
needs to know whether two axes share a unit (else no scale bar), whether a length may be
shown with another SI prefix (a bar of 0.002 µm reads better as 2 nm), whether an image
lives in reciprocal space (diffraction patterns and FFTs: log scale, bar in nm⁻¹) and
whether a spectrum image's last axis is its spectrum (energy).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from emdconvert.model import Dim
from emdconvert.units import from_emd

#: Metres per unit of each length symbol a reader may give.
_LENGTHS = {
    "pm": 1e-12,
    "Å": 1e-10,
    "nm": 1e-9,
    "µm": 1e-6,
    "mm": 1e-3,
    "cm": 1e-2,
    "m": 1.0,
    "km": 1e3,
}
_SPELLINGS = {"um": "µm", "A": "Å", "Ang": "Å", "Angstrom": "Å", "angstrom": "Å"}
_INVERSE = re.compile(r"^(?:1/(?P<a>.+)|(?P<b>.+?)(?:\^-1|\^\(-1\)|⁻¹|-1))$")
_ENERGIES = frozenset({"meV", "eV", "keV", "MeV"})
#: Units that say "not calibrated" ("1": dimensionless, as rsciio gives pixel axes).
_PIXELS = frozenset(
    {"", "1", "px", "pix", "pixel", "pixels", "point", "points", "<undefined>", "undefined"}
)


@dataclass(frozen=True)
class Unit:
    """A parsed unit: *text* as a preview prints it (``nm``, ``nm⁻¹``, ``mrad``);
    *metres* per unit of its length (None for anything else); *reciprocal* for 1/length."""

    text: str
    metres: float | None = None
    reciprocal: bool = False


def parse(units: str) -> Unit:
    """Parse *units*; anything that is not a (1/)length keeps its own text."""
    text = from_emd(units).strip().replace("μ", "µ")
    compact = text.replace(" ", "")
    inverse = _INVERSE.match(compact)
    base = (inverse["a"] or inverse["b"]) if inverse else compact
    base = _SPELLINGS.get(base, base)
    if base in _LENGTHS:
        if inverse:
            return Unit(f"{base}⁻¹", _LENGTHS[base], reciprocal=True)
        return Unit(base, _LENGTHS[base])
    return Unit(text)


def is_calibrated(dim: Dim) -> bool:
    """An axis with a real unit and a usable, non-zero step."""
    return parse(dim.units).text not in _PIXELS and math.isfinite(dim.scale) and dim.scale != 0


def is_energy(dim: Dim) -> bool:
    """The spectral axis of a spectrum image: an energy unit, or a name that says so."""
    name = dim.name.lower()
    return parse(dim.units).text in _ENERGIES or any(
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
