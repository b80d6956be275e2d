"""What an EMD file holds beyond the model's fields: collected on reading, copied verbatim
on writing (EMD -> EMD lossless).

README, EMD layout: other writers add groups, attributes and links the model has no
field for; they are collected here as :class:`~emdconvert.model.Passthrough` items the
writer copies unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from emdconvert.emd.groups import address, is_data_group, metadata_members
from emdconvert.errors import UnsupportedError
from emdconvert.model import METADATA_GROUPS, Passthrough

if TYPE_CHECKING:
    import h5py

#: Top-level groups the writer makes itself; their members are copied, not they.
_WRITTEN_GROUPS = frozenset({"data", "comments", *METADATA_GROUPS})
_DIM_NAME = re.compile(r"dim[0-9]+")


def _passthrough(path: str, link: Any, obj: Any, *, whole: bool = True) -> Passthrough:
    """*obj* to copy to *path*; a soft link is copied as the link itself."""
    import h5py

    return Passthrough(path, link if isinstance(link, h5py.SoftLink) else obj, whole)


def group_extras(group: h5py.Group, ndim: int) -> tuple[Passthrough, ...]:
    """What a data group holds besides ``data`` and ``dim1 ... dimN``, to copy verbatim.

    The ``data`` dataset's own attributes are added to the written one.  Other ``dimK``
    (``dim0``, ``dimK`` beyond N) are left out: the validator refuses them (rule L4) and
    rsciio reads a group with a ``dim0`` as EMD 1.0, transposed differently.
    """
    extras = []
    if len(group["data"].attrs):
        extras.append(Passthrough("data", group["data"], whole=False))
    modelled = {"data", *(f"dim{k}" for k in range(1, ndim + 1))}
    for key in group:
        if key in modelled or _DIM_NAME.fullmatch(key):
            continue
        extras.append(_passthrough(key, group.get(key, getlink=True), group.get(key)))
    return tuple(extras)


def file_extras(h5: h5py.File) -> tuple[Passthrough, ...]:
    """Everything outside the data groups the model has no field for, in file order.

    Root attributes other than the version (the writer writes integers) are added to the
    output's root.  A group with no data group below it is copied whole; one with data
    groups below (``/data``, rsciio's ``/signals``) is recreated with its attributes, and
    its other members are copied one by one, while the data groups themselves move to
    ``/data``.  ``microscope``, ``sample``, ``user`` and ``comments`` attributes are in
    the model, and so are their nested metadata sub-groups (``metadata_members``); what
    else those groups hold is copied.
    """
    import h5py

    from emdconvert.emd.spec import walk_links

    links = list(walk_links(h5, descend=lambda group: not is_data_group(group)))
    holding: set[str] = set()  # groups with a data group somewhere below
    for path, _, obj in links:
        if isinstance(obj, h5py.Group) and is_data_group(obj):
            parts = path.split("/")
            holding.update("/".join(parts[:n]) for n in range(2, len(parts)))
    # A second hard link to a data group or to a group holding one (``/data/loop`` ->
    # ``/data``) is not copied: the copy would bring the data groups in twice.
    represented = {
        address(obj)
        for path, _, obj in links
        if path in holding or (isinstance(obj, h5py.Group) and is_data_group(obj))
    }
    extras = (
        [Passthrough("/", h5, whole=False)]
        if set(h5.attrs) - {"version_major", "version_minor"}
        else []
    )
    copied: set[str] = {  # whole copies (what lies below them is in them), and the model's
        f"/{name}/{member}"
        for name in METADATA_GROUPS
        if isinstance(group := h5.get(name), h5py.Group)
        for member in metadata_members(group)
    }
    for path, link, obj in links:
        if path in copied or path.rsplit("/", 1)[0] in copied:
            copied.add(path)
            continue
        if isinstance(obj, h5py.Group) and (
            is_data_group(obj) or (path not in holding and address(obj) in represented)
        ):
            continue
        if path in holding or (path.count("/") == 1 and path[1:] in _WRITTEN_GROUPS):
            if path[1:] not in _WRITTEN_GROUPS - {"data"}:
                extras.append(Passthrough(path, obj, whole=False))
            continue
        extras.append(_passthrough(path, link, obj))
        copied.add(path)
    return tuple(extras)


def copy_attrs(source: h5py.HLObject, target: h5py.HLObject) -> None:
    """*source*'s attributes onto *target*, type and shape as they were; attributes
    *target* already has (the writer's) are kept."""
    import h5py

    for key in source.attrs:
        if key in target.attrs:
            continue
        value = source.attrs[key]
        if isinstance(value, h5py.Empty):
            target.attrs.create(key, value)
        else:
            target.attrs.create(key, value, dtype=source.attrs.get_id(key).dtype)


def _tracks_order(group: h5py.Group) -> bool:
    return bool(group.id.get_create_plist().get_link_creation_order())


def copy_extras(target: h5py.Group, extras: Iterable[Passthrough]) -> None:
    """Copy what the model holds only as source HDF5 objects (:class:`Passthrough`).

    Whole objects go through ``H5Ocopy`` (``Group.copy``), which copies chunk by chunk
    inside libhdf5, keeping dtype, shape, layout, filters and attributes: nothing is
    loaded whole.  Relative paths are below *target*, absolute ones from its file root.
    """
    import h5py

    for extra in extras:
        source, path = extra.source, extra.path
        if isinstance(source, h5py.SoftLink):
            if target.get(path, getlink=True) is None:
                target[path] = h5py.SoftLink(source.path)
            continue
        if not extra.whole:
            existing = target.get(path)
            if existing is None:
                existing = target.create_group(
                    path, track_order=isinstance(source, h5py.Group) and _tracks_order(source)
                )
            copy_attrs(source, existing)
            if isinstance(existing, h5py.Group) and "data" not in existing:
                # rsciio marks its /signals container a data group; with the data
                # groups moved to /data it would break rule L2 (a data group holds data).
                existing.attrs.pop("emd_group_type", None)
            continue
        if target.get(path, getlink=True) is not None:
            msg = f"cannot copy {source.name} to {path}: the output already has it"
            raise UnsupportedError(msg)
        parent_path, _, name = path.rstrip("/").rpartition("/")
        parent = (
            target.require_group(parent_path)
            if parent_path
            else (target.file["/"] if path.startswith("/") else target)
        )
        source.parent.copy(source, parent, name=name)
