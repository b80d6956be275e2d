"""Plain tag values (rsciio's ``tags_dict``, as kept in JSON) back to typed DM tags.

rsciio reads every DM integer type as ``int``, booleans as ``0``/``1``, floats and
doubles as ``float``, strings (UTF-16 arrays) as ``str``, structs as tuples and other
arrays as lists; JSON then turns tuples into lists.  So the type each value had is
gone, and is chosen here so that the *value* always comes back exactly when rsciio
reads the rewritten file: integers become long (ulong, int64, uint64 only when they do
not fit), floats stay float32 when float32 holds them exactly, else double, short
lists of numbers become structs and long ones arrays.  Unnamed entries, which rsciio
calls ``TagGroupN`` / ``DataN``, are written unnamed again (a TagList).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emdconvert.plugins.dm.tagfile import Array, Group, Scalar, Struct, Tag, Text

#: rsciio's names for unnamed entries.
_UNNAMED = re.compile(r"(TagGroup|Data)\d+")
#: A list of numbers at most this long is a struct (GMS's are 2 to 8 fields).
_STRUCT_FIELDS = 16
_NUMBER = (bool, int, float, np.integer, np.floating)


def typed(value: Any) -> Tag | None:
    """The DM tag for a plain *value*; None for what DM cannot hold (JSON null)."""
    if isinstance(value, Mapping):
        return group(value)
    if isinstance(value, str):
        return Text(value)
    if isinstance(value, _NUMBER):
        return Scalar(number_code([value]), _plain(value))
    if isinstance(value, (list, tuple, np.ndarray)):
        return _sequence(list(value))
    return None


def group(tree: Mapping[str, Any]) -> Group:
    """A group of typed entries, in order; unnamed when every key is rsciio's ``TagGroupN``
    or ``DataN``."""
    entries = tuple((str(k), t) for k, v in tree.items() if (t := typed(v)) is not None)
    named = not entries or not all(_UNNAMED.fullmatch(name) for name, _ in entries)
    return Group(entries, named)


def number_code(values: Sequence[Any]) -> int:
    """The narrowest DM type holding every one of *values* exactly (see module doc)."""
    if all(isinstance(v, (bool, int, np.integer)) for v in values):
        ints = [int(v) for v in values]
        low, high = min(ints, default=0), max(ints, default=0)
        for code, (lo, hi) in _INT_RANGES.items():
            if lo <= low and high <= hi:
                return code
        return 12
    floats = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        exact = np.array_equal(floats.astype(np.float32), floats, equal_nan=True)
    return 6 if exact else 7


_INT_RANGES = {3: (-(2**31), 2**31 - 1), 5: (0, 2**32 - 1), 11: (-(2**63), 2**63 - 1)}


def _sequence(items: list[Any]) -> Tag:
    if not items:
        return Text("")  # rsciio reads an empty string (GMS's usual empty array) as []
    if all(isinstance(v, _NUMBER) for v in items):
        if len(items) <= _STRUCT_FIELDS:
            codes = tuple(number_code([v]) for v in items)
            return Struct(codes, tuple(_plain(v) for v in items))
        code = number_code(items)
        code = 10 if code == 3 and all(0 <= int(v) <= 255 for v in items) else code
        return Array(code, np.asarray(items))
    rows = [r for r in items if isinstance(r, (list, tuple)) and r]
    if len(rows) == len(items) and len({len(r) for r in rows}) == 1:
        if all(isinstance(v, _NUMBER) for r in rows for v in r):
            fields = tuple(number_code([r[i] for r in rows]) for i in range(len(rows[0])))
            return Array(fields[0], np.asarray(rows), fields)
    entries = tuple(("", t) for v in items if (t := typed(v)) is not None)
    return Group(entries, named=False)


def _plain(value: Any) -> int | float | bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)
