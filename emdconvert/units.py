"""Unit strings: everyday notation (``nm``, ``1/nm``, ``keV``) <-> EMD bracket notation.

The EMD specification writes units in square brackets with an SI prefix separated from
its symbol by ``_`` (its own example for nanometres is ``[n_m]``).  rsciio strips the
brackets and underscores when reading, ncempy returns the string verbatim.  rsciio's
*writer* splits every character (``eV`` -> ``[e_V]``), which is wrong; this module knows
which leading letter is a prefix and which is part of the symbol.
"""

from __future__ import annotations

import re

_PREFIXES = (
    "Y",
    "Z",
    "E",
    "P",
    "T",
    "G",
    "M",
    "k",
    "h",
    "d",
    "c",
    "m",
    "µ",
    "u",
    "n",
    "p",
    "f",
    "a",
    "z",
    "y",
)
# Base symbols that may carry an SI prefix.  Longest first so "eV" wins over "V".
_BASES = (
    "rad",
    "eV",
    "Hz",
    "sr",
    "mol",
    "cd",
    "m",
    "s",
    "g",
    "V",
    "A",
    "K",
    "W",
    "J",
    "C",
    "T",
    "Pa",
    "N",
    "Ω",
    "F",
    "H",
    "S",
    "L",
    "Å",
)
# Symbols that must never be split although they look prefixed.
_ATOMIC = frozenset({"px", "pixel", "pixels", "deg", "counts", "min", "h", "a.u."})
_TERM = re.compile(r"^(?P<sym>[^\d^]+)(?P<pow>\^?-?\d+)?$")


def _bracket_term(term: str) -> str:
    """Bracket one multiplicative term such as ``nm``, ``eV`` or ``s^-1``."""
    match = _TERM.match(term)
    if not match:
        return term
    sym, power = match["sym"], match["pow"] or ""
    if sym in _ATOMIC or sym in _BASES:
        return sym + power
    for base in _BASES:
        prefix = sym[: -len(base)]
        if sym.endswith(base) and prefix in _PREFIXES:
            return f"{prefix}_{base}{power}"
    return sym + power


def to_emd(units: str) -> str:
    """Return *units* in EMD bracket notation (``"nm"`` -> ``"[n_m]"``).

    An empty unit stays ``""`` (rsciio keeps a literal ``[]`` as the unit string), and a
    string that is already bracketed is returned unchanged.  A unit with a ``_`` of its
    own (``test_units``, ``e_per_A2``) is stored as it is, unbracketed: the bracket
    notation has no escape for ``_`` (rsciio deletes every ``_`` inside brackets and
    drops everything outside them; our :func:`from_emd` does the same), while an
    unbracketed string comes back unchanged from rsciio, ncempy and :func:`from_emd`.
    """
    units = units.strip()
    if not units or "_" in units or (units.startswith("[") and units.endswith("]")):
        return units
    numerator, slash, denominator = units.partition("/")
    if slash and numerator.strip() == "1":
        return f"[1/{_bracket_term(denominator.strip())}]"
    if slash:
        return f"[{_bracket_term(numerator.strip())}/{_bracket_term(denominator.strip())}]"
    return f"[{_bracket_term(units)}]"


def from_emd(units: str) -> str:
    """Return everyday notation for an EMD unit string (``"[n_m]"`` -> ``"nm"``).

    Mirrors rsciio's reading rule (keep only the bracketed terms, without underscores;
    a string with no brackets verbatim) so that our own reader and rsciio agree on what
    a file says.
    """
    units = units.strip()
    terms = re.findall(r"\[(.*?)\]", units)
    if not terms:
        return units
    return " * ".join(term.replace("_", "") for term in terms)
