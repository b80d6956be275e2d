"""Finding EMD data groups in an HDF5 file, as the spec, rsciio and ncempy do.

Shared by the reader (which turns groups into datasets), the extras copier (which copies
everything else) and the provenance log reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import h5py


def text(value: Any) -> str:
    """An attribute as text: bytes decoded, one-element arrays unwrapped."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return text(value.reshape(()).item())
    return "" if value is None else str(value)


def as_int(value: Any) -> int | None:
    """An integer attribute, tolerating rsciio's string versions (``'0'``, ``'2'``)."""
    try:
        return int(text(value)) if isinstance(value, (str, bytes, np.bytes_)) else int(value)
    except (TypeError, ValueError):
        return None


def is_data_group(group: h5py.Group) -> bool:
    """``emd_group_type`` 1 (integer, or rsciio's string) with a ``data`` dataset."""
    import h5py

    return as_int(group.attrs.get("emd_group_type")) == 1 and isinstance(
        group.get("data"), h5py.Dataset
    )


def data_groups(h5: h5py.File) -> list[h5py.Group]:
    """Berkeley data groups in the file's order, each once, however often it is linked."""
    import h5py

    from emdconvert.emd.spec import walk_links

    found: dict[int, h5py.Group] = {}
    for _, _, obj in walk_links(h5, descend=lambda group: not is_data_group(group)):
        if isinstance(obj, h5py.Group) and is_data_group(obj):
            found.setdefault(address(obj), obj)
    return list(found.values())


def address(obj: Any) -> int:
    import h5py

    return int(h5py.h5o.get_info(obj.id).addr)


def metadata_members(group: h5py.Group) -> list[str]:
    """The members of a metadata group (``/microscope``, ...) that are nested metadata.

    A nested mapping is written as a sub-group holding only attributes and sub-groups of
    the same kind (README, EMD layout L15), and read back as a dict.  Anything else a
    metadata group holds (a dataset, a link, a group with a dataset below it, a name
    that is also an attribute's) is not ours to interpret: it is copied verbatim as an
    extra, as before.
    """
    return _attribute_members(group, frozenset({address(group)}))


def _attribute_members(group: h5py.Group, ancestors: frozenset[int]) -> list[str]:
    import h5py

    found = []
    for key in group:
        member = group.get(key)
        if (
            isinstance(group.get(key, getlink=True), h5py.HardLink)
            and isinstance(member, h5py.Group)
            and key not in group.attrs
            and _attribute_tree(member, ancestors)
        ):
            found.append(key)
    return found


def _attribute_tree(group: h5py.Group, ancestors: frozenset[int]) -> bool:
    """Only attributes and sub-groups of the same kind below *group*; a hard link back
    to an ancestor (a cycle) is not a tree."""
    here = address(group)
    if here in ancestors:
        return False
    return len(_attribute_members(group, ancestors | {here})) == len(group)
