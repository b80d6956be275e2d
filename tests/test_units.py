"""Unit notation: everyday units <-> EMD brackets, agreeing with rsciio's reading rule."""

from __future__ import annotations

import pytest

from emdconvert.units import from_emd, to_emd

CASES = [
    ("nm", "[n_m]"),
    ("1/nm", "[1/n_m]"),
    ("eV", "[eV]"),
    ("keV", "[k_eV]"),
    ("µm", "[µ_m]"),
    ("mrad", "[m_rad]"),
    ("rad", "[rad]"),
    ("s", "[s]"),
    ("px", "[px]"),
    ("Å", "[Å]"),
    ("1/Å", "[1/Å]"),
    ("kV", "[k_V]"),
    ("", ""),
    # A "_" of the unit's own cannot be bracketed (readers strip it): stored as it is.
    ("test_units", "test_units"),
    ("e_per_A2", "e_per_A2"),
]


@pytest.mark.parametrize(("plain", "bracketed"), CASES)
def test_to_emd_and_back(plain: str, bracketed: str) -> None:
    assert to_emd(plain) == bracketed
    assert from_emd(bracketed) == plain


def test_already_bracketed_is_kept_and_unbracketed_is_read_verbatim() -> None:
    assert to_emd("[n_m]") == "[n_m]"
    assert from_emd("nm") == "nm"
