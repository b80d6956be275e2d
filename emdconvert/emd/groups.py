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
