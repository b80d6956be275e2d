"""Units compared as units, by pint: EMD spells ``um`` as ``µm`` and ``1/nm`` as ``1 / nm``
(rsciio's reading), so spellings differ where the quantities agree."""

from __future__ import annotations

import functools
from typing import Any

#: What readers write for "no unit".
UNDEFINED = ("", "None", "<undefined>", "Undefined")


@functools.cache
def registry() -> Any:
    """One pint registry per test session (building one takes a few hundred ms)."""
    import pint

    return pint.UnitRegistry()


def same_units(mine: Any, theirs: Any) -> bool:
    """True when both name the same unit (or both none)."""
    a, b = ("" if u is None or str(u) in UNDEFINED else str(u) for u in (mine, theirs))
    if a == b:
        return True
    try:
        return bool(registry().Unit(a) == registry().Unit(b))
    except Exception:  # not a unit pint knows: only equal spellings match
        return False
