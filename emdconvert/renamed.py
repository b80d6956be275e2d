"""Keywords renamed for one vocabulary across the API, still accepted under the old name.

``read(plugin=)``, ``convert(source_plugin=, target_plugin=)`` and ``preview(plugin=)``
named the same thing three ways; they are now ``reader=`` and ``writer=`` everywhere
(issue 17).  Code written against the old names keeps working, with a
``DeprecationWarning`` that says what to write instead.
"""

from __future__ import annotations

import warnings

from emdconvert.errors import UsageError
from emdconvert.registry import PluginSpec


def renamed(
    where: str, new: str, value: PluginSpec | None, old: str, old_value: PluginSpec | None
) -> PluginSpec | None:
    """*value* of keyword *new*, or *old_value* of its former name *old* with a warning."""
    if old_value is None:
        return value
    if value is not None:
        raise UsageError(f"{where}(): give {new}= only ({old}= is its former name)")
    warnings.warn(
        f"{where}(): {old}= is deprecated; write {new}=", DeprecationWarning, stacklevel=3
    )
    return old_value
