"""emdfile's ``Metadata`` on disk, written without emdfile (which is not a dependency).

emdfile stores a ``Metadata`` as a group (``emd_group_type = "metadata"``, its
``python_class``) inside a node's ``metadatabundle`` group, one HDF5 *dataset* per
item tagged with a ``type`` attribute (``string``, ``number``, ``bool``, ``array``,
``list_of_strings``, ``dict`` sub-groups).  We write exactly what emdfile 0.0.16's
``Metadata.to_h5`` writes for each value type our model holds, so ``emdfile.read``
(and py4DSTEM, built on it) gives the dictionaries back; the tags' own types follow
emdfile too (byte strings for ``type``, a plain string on ``dict`` groups).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from emdconvert.metadata_values import MetadataValue

if TYPE_CHECKING:
    import h5py

BUNDLE = "metadatabundle"


def bundle(node: h5py.Group) -> h5py.Group:
    """The node's ``metadatabundle`` group, created (tagged as emdfile tags it) if absent."""
    group = node.get(BUNDLE)
    if group is None:
        group = node.create_group(BUNDLE)
        group.attrs.create("emd_group_type", "metadatabundle")
    return group


def start_metadata(node: h5py.Group, name: str, python_class: str = "Metadata") -> h5py.Group:
    """An empty emdfile ``Metadata`` group *name* in *node*'s bundle."""
    group = bundle(node).create_group(name)
    group.attrs.create("emd_group_type", "metadata")
    group.attrs.create("python_class", python_class)
    return group


def write_metadata(
    node: h5py.Group,
    name: str,
    items: Mapping[str, MetadataValue],
    python_class: str = "Metadata",
) -> None:
    """A whole ``Metadata`` dictionary (nested mappings become ``dict`` sub-groups)."""
    group = start_metadata(node, name, python_class)
    for key, value in items.items():
        write_item(group, key, value)


#: Dataset names rsciio's EMD reader takes for signals wherever their parent group has
#: an ``emd_group_type`` (``find_dataset_paths``), as the top-level items of a Metadata
#: group have; a scalar item so named makes rsciio fail ("Illegal slicing argument").
RSCIIO_SIGNAL_PREFIXES = ("data", "counted_datacube", "diffractionslice", "realslice", "pointlist")


def item_name(group: h5py.Group, key: str) -> str:
    """*key* as a new link name in *group*.

    An item is a dataset, so "/" would make a path and "." / ".." are not names: "/"
    becomes U+2215 (DIVISION SLASH), NUL ``\\0`` as in the v0.2 writer.  A top-level item whose name
    rsciio would take for a signal, and any name already taken, gets a leading "_".
    """
    name = key.replace("\0", "\\0").replace("/", "\u2215")
    if name in (".", "..") or (
        group.attrs.get("emd_group_type") is not None and name.startswith(RSCIIO_SIGNAL_PREFIXES)
    ):
        name = f"_{name}"
    while name in group:
        name = f"_{name}"
    return name


def _tag(target: h5py.HLObject, kind: str) -> None:
    target.attrs["type"] = kind.encode("utf-8")


def write_item(group: h5py.Group, key: str, value: MetadataValue) -> None:
    """One item, typed as emdfile's ``Metadata._save_item`` types it."""
    name = item_name(group, key)
    if isinstance(value, Mapping):
        sub = group.create_group(name)
        sub.attrs["type"] = "dict"
        for sub_key, sub_value in value.items():
            write_item(sub, sub_key, sub_value)
    elif isinstance(value, (str, bytes)):
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        _tag(group.create_dataset(name, data=text.encode("utf-8")), "string")
    elif isinstance(value, (bool, np.bool_)):
        _tag(group.create_dataset(name, data=bool(value), dtype=bool), "bool")
    elif isinstance(value, np.ndarray) and value.dtype.kind in "USO":
        _strings(group, name, [str(v) for v in value.ravel()])
    elif isinstance(value, np.ndarray):
        _tag(group.create_dataset(name, data=value, dtype=value.dtype), "array")
    else:  # int, float, complex, numpy scalars: what freeze_metadata lets through
        _tag(group.create_dataset(name, data=value, dtype=_scalar_dtype(value)), "number")


def _scalar_dtype(value: Any) -> np.dtype[Any]:
    return value.dtype if isinstance(value, np.generic) else np.dtype(type(value))


def _strings(group: h5py.Group, name: str, values: list[str]) -> None:
    """A list of strings: a group of datasets ``0``, ``1``, ... (``list_of_strings``)."""
    if not values:
        _tag(group.create_dataset(name, data=[]), "list")
        return
    sub = group.create_group(name)
    _tag(sub, "list_of_strings")
    sub.attrs["length"] = len(values)
    for i, text in enumerate(values):
        sub.create_dataset(str(i), data=text.encode("utf-8"))
