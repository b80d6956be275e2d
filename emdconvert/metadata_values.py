"""What the ``microscope``/``sample``/``user`` metadata of the model may hold, checked once.

The metadata groups become HDF5 groups, so their values must be something HDF5 and the
field's readers can store and give back: numbers, strings, bytes, arrays of numbers or
strings, and nested mappings (sub-groups, README, EMD layout L15).  Checking here, when
the model is built, means a bad value fails in the caller's own ``EMDFile(...)`` with the
key named, instead of becoming a Python ``repr`` in the file (which no reader can parse
back) or an h5py error deep in a write.

Kept apart from :mod:`emdconvert.model` so the EMD writer and reader share the rules
without the model knowing about HDF5.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from emdconvert.errors import UnsupportedError

#: What one HDF5 attribute can hold; importers convert anything else to ``str``.
AttrValue = str | bytes | int | float | bool | np.generic | np.ndarray
#: A metadata value: an attribute, or a mapping that becomes a sub-group.
MetadataValue = AttrValue | Mapping[str, "MetadataValue"]

_SCALARS = (str, bytes, int, float, bool, np.generic, np.ndarray)


def _array(value: list[Any] | tuple[Any, ...], path: str) -> np.ndarray:
    """A list or tuple of numbers (any nesting of equal lengths) or of strings, as an array.

    numpy would quietly turn ``[1, "a"]`` into strings and ``[1, None]`` into objects;
    neither is a value anyone meant, so both are refused.
    """
    try:
        array = np.asarray(value)
    except ValueError:  # ragged
        array = np.asarray(value, dtype=object)
    if array.dtype.kind in "biuf" or (
        array.dtype.kind == "U" and all(isinstance(item, str) for item in value)
    ):
        return array
    msg = (
        f"{path}: a list must hold only numbers or only strings (equal lengths when "
        f"nested), got {value!r:.80}"
    )
    raise TypeError(msg)


def _key(key: object, path: str, *, group: bool) -> str:
    """A key that can name an attribute (and, for a mapping, a sub-group) in HDF5."""
    if not isinstance(key, str) or not key:
        msg = f"{path}: metadata keys must be non-empty strings, got {key!r}"
        raise UnsupportedError(msg)
    if group and ("/" in key or key in (".", "..")):
        msg = f"{path}.{key}: a nested mapping's key cannot contain '/' or be '.' or '..'"
        raise UnsupportedError(msg)
    return key


def freeze_metadata(mapping: Mapping[str, Any] | None, path: str) -> dict[str, MetadataValue]:
    """A checked copy of one metadata group's mapping; *path* names it in messages.

    - a nested mapping becomes a nested dict (a sub-group when written);
    - a list or tuple of numbers or of strings becomes a numpy array (an array attribute);
    - ``None`` is dropped with a :class:`UserWarning` naming the key path
      (``microscope.stage.tilt_b is None: not written``): HDF5 has no null attribute,
      and writing ``"None"`` would be a string no reader takes for "unknown";
    - anything else (an object, a set, a datetime) is a :class:`TypeError` naming the key,
      rather than its ``repr`` in the file.
    """
    out: dict[str, MetadataValue] = {}
    for key, value in (mapping or {}).items():
        key = _key(key, path, group=isinstance(value, Mapping))
        where = f"{path}.{key}"
        if value is None:
            warnings.warn(f"{where} is None: not written", UserWarning, stacklevel=2)
        elif isinstance(value, Mapping):
            out[key] = freeze_metadata(value, where)
        elif isinstance(value, (list, tuple)):
            out[key] = _array(value, where)
        elif isinstance(value, _SCALARS):
            out[key] = value
        else:
            msg = (
                f"{where}: a {type(value).__name__} cannot be stored as an HDF5 attribute; "
                "give a number, a string, a list of numbers or strings, or a dict"
            )
            raise TypeError(msg)
    return out


def freeze_attrs(mapping: Mapping[str, AttrValue] | None) -> dict[str, AttrValue]:
    """A data group's or dim vector's attributes as a plain dict, ``None`` values left out.

    Importers hand over whatever a file's tags hold; a value HDF5 cannot store as an
    attribute becomes its ``str`` here, so one odd tag never fails a whole conversion
    (metadata groups are stricter, see :func:`freeze_metadata`: those are typed by
    people, not files).
    """
    out: dict[str, AttrValue] = {}
    for key, value in (mapping or {}).items():
        if not isinstance(key, str) or not key:
            msg = f"attribute keys must be non-empty strings, got {key!r}"
            raise UnsupportedError(msg)
        if value is None:
            continue
        out[key] = value if isinstance(value, _SCALARS) else str(value)
    return out
