"""What a unit string means: a length (and how many metres), an inverse length, an
energy, or "not calibrated".

Readers spell one unit many ways: ``1 / nm`` (Velox), ``1/nm`` (DM), ``nm^-1`` (MRC),
``1 / Å`` (py4DSTEM), ``um`` for ``µm``, the Greek ``μ`` for the micro sign, and EMD's
bracket notation (``[n_m]``, decoded by :func:`emdconvert.units.from_emd`).  Previews
(scale bars, reciprocal-space images), the DM writer (is the last axis a spectrum?) and
the EMD 1.0 writer (py4DSTEM's pixel sizes in its units) all ask these questions, so the
spellings are known here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emdconvert.units import from_emd

#: Metres per unit of each length symbol (in its canonical spelling).
LENGTHS = {
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
ENERGIES = frozenset({"meV", "eV", "keV", "MeV"})
#: Units that say "not calibrated" ("1": dimensionless, as rsciio gives pixel axes).
PIXELS = frozenset(
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
    if base in LENGTHS:
        if inverse:
            return Unit(f"{base}⁻¹", LENGTHS[base], reciprocal=True)
        return Unit(base, LENGTHS[base])
    return Unit(text)
