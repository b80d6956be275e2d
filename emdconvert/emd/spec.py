"""The Berkeley EMD v0.2 rules (README, EMD layout L1-L8) as a validator.

Used three ways: ``emdconvert validate FILE``, by the publisher on every file we write
before it is moved into place, and by the test suite on every file it writes.  What
rsciio and ncempy read back is an interop test (``tests/interop/``), not a check on one
file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import h5py

MUST = "MUST"
SHOULD = "SHOULD"
_DIM = re.compile(r"^dim(\d+)$")


@dataclass(frozen=True)
class Violation:
    """One broken rule: its number (README, EMD layout L1-L8), MUST or SHOULD, where, why."""

    rule: int
    level: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"rule {self.rule} ({self.level}) {self.where}: {self.message}"


def _int_attr(value: Any) -> int | None:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return None


def emd_groups(h5: h5py.Group) -> list[h5py.Group]:
    """Every group below *h5* whose ``emd_group_type`` attribute is the integer 1."""
    import h5py

    found: list[h5py.Group] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and _int_attr(obj.attrs.get("emd_group_type")) == 1:
            found.append(obj)

    h5.visititems(visit)
    return found


def walk_links(
    h5: h5py.Group, descend: Callable[[h5py.Group], bool] | None = None
) -> Iterator[tuple[str, Any, Any]]:
    """``(path, link, object)`` for every link, depth first in the file's order, without
    following external or soft links; groups for which *descend* is False are not
    entered.

    *object* is None for external and soft links, which are reported, never opened.
    Each group is entered once, by its address: hard links can make a cycle (a group
    linked into its own child), so an explicit stack stands in for recursion, which a
    cycle or very deep nesting would exhaust.
    """
    import h5py

    entered = {h5py.h5o.get_info(h5.id).addr}
    stack: list[tuple[h5py.Group, str, Iterator[str]]] = [(h5, "", iter(h5))]
    while stack:
        group, prefix, keys = stack[-1]
        key = next(keys, None)
        if key is None:
            stack.pop()
            continue
        path = f"{prefix}/{key}"
        link = group.get(key, getlink=True)
        if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
            yield path, link, None
            continue
        obj = group.get(key)
        yield path, link, obj
        if isinstance(obj, h5py.Group) and (descend is None or descend(obj)):
            address = h5py.h5o.get_info(obj.id).addr
            if address not in entered:
                entered.add(address)
                stack.append((obj, path, iter(obj)))


def foreign_storage(h5: h5py.File) -> list[str]:
    """Paths of external links, externally stored and virtual datasets (rule L8)."""
    import h5py

    problems: list[str] = []
    for path, link, obj in walk_links(h5):
        if isinstance(link, h5py.ExternalLink):
            problems.append(f"{path}: external link to {link.filename}:{link.path}")
        elif isinstance(obj, h5py.Dataset):
            if obj.is_virtual:
                problems.append(f"{path}: virtual dataset")
            elif obj.external:
                problems.append(f"{path}: external storage")
    return problems


#: HDF5's built-in filters (deflate, shuffle, fletcher32, szip, nbit, scale-offset).
BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6})


def refused_features(h5: h5py.File) -> list[str]:
    """What an untrusted input must not use (README, Safety rules R9).

    :func:`foreign_storage` (reads other files), soft links that lead nowhere, and
    filters other than HDF5's own and hdf5plugin's: libhdf5 would otherwise load any
    shared library named in ``HDF5_PLUGIN_PATH`` to decode them.
    """
    import h5py

    from emdconvert.emd.compression import known_plugin_filters

    problems = foreign_storage(h5)
    for path, link, obj in walk_links(h5):
        # getlink=True: look the target up without following it (it may be external)
        if isinstance(link, h5py.SoftLink) and h5.get(link.path, getlink=True) is None:
            problems.append(f"{path}: soft link to {link.path}, which does not exist")
        elif isinstance(obj, h5py.Dataset):
            plist = obj.id.get_create_plist()
            for index in range(plist.get_nfilters()):
                code = plist.get_filter(index)[0]
                # hdf5plugin (~30 ms to import) only for files that use a plugin filter
                if code not in BUILTIN_FILTERS and code not in known_plugin_filters():
                    problems.append(f"{path}: unknown filter {code}")
    return problems


def _check_dims(group: h5py.Group, where: str, out: list[Violation]) -> None:
    import h5py

    data = group.get("data")
    shape = data.shape
    numbers = sorted(
        int(m.group(1))
        for key in group
        if (m := _DIM.match(key)) and isinstance(group.get(key), h5py.Dataset)
    )
    if 0 in numbers:
        out.append(Violation(4, MUST, where, "has dim0 (EMD v0.2 numbers dims from 1)"))
    extra = [n for n in numbers if n > len(shape)]
    if extra:
        out.append(Violation(4, MUST, where, f"extra dims {extra} for a {len(shape)}-D array"))
    for k in range(1, len(shape) + 1):
        name = f"dim{k}"
        dim = group.get(name)
        if not isinstance(dim, h5py.Dataset):
            out.append(Violation(4, MUST, where, f"{name} is missing"))
            continue
        dwhere = f"{where}/{name}"
        length = shape[k - 1]
        if dim.ndim == 2 and dim.shape[1] == 1:
            out.append(Violation(5, SHOULD, dwhere, f"shape {dim.shape}; write 1-D (n,)"))
            dim_len = dim.shape[0]
        elif dim.ndim != 1:
            out.append(Violation(5, MUST, dwhere, f"is {dim.ndim}-D; must be 1-D"))
            dim_len = None
        else:
            dim_len = dim.shape[0]
        if not np.issubdtype(dim.dtype, np.number):
            out.append(Violation(5, MUST, dwhere, f"dtype {dim.dtype} is not numeric"))
        if dim_len is not None and dim_len != length and not (dim_len == 2 and length != 2):
            out.append(
                Violation(
                    5,
                    MUST,
                    dwhere,
                    f"length {dim_len} does not match axis {k - 1} of data (length {length})",
                )
            )
        for attr in ("name", "units"):
            if attr not in dim.attrs:
                out.append(Violation(6, MUST, dwhere, f"no {attr!r} attribute"))
            elif _text(dim.attrs[attr]) is None:
                out.append(Violation(6, MUST, dwhere, f"{attr!r} is not a string"))
        units = _text(dim.attrs.get("units"))
        # A literal "_" cannot be bracketed: readers strip it (units.to_emd).
        if units and "_" not in units and not (units.startswith("[") and units.endswith("]")):
            out.append(
                Violation(6, SHOULD, dwhere, f"units {units!r} are not bracketed (e.g. '[n_m]')")
            )


def check_file(h5: h5py.File) -> list[Violation]:
    """All rule violations of an open file (MUST and SHOULD)."""
    import h5py

    out: list[Violation] = []
    major = _int_attr(h5.attrs.get("version_major"))
    minor = _int_attr(h5.attrs.get("version_minor"))
    if (major, minor) != (0, 2):
        out.append(
            Violation(
                1,
                MUST,
                "/",
                "root needs integer version_major=0 and "
                f"version_minor=2 (found {h5.attrs.get('version_major')!r}, "
                f"{h5.attrs.get('version_minor')!r})",
            )
        )
    groups = emd_groups(h5)
    if _int_attr(h5.attrs.get("emd_group_type")) == 1:
        out.append(Violation(2, MUST, "/", "the root group must not be a data group"))
    if not groups:
        out.append(Violation(2, MUST, "/", "no group with emd_group_type == 1"))
    for group in groups:
        where = group.name
        data = group.get("data")
        if not isinstance(data, h5py.Dataset):
            out.append(Violation(2, MUST, where, "has no 'data' dataset"))
            continue
        if data.ndim < 1:
            out.append(Violation(3, MUST, f"{where}/data", "is a scalar; needs N >= 1 dims"))
            continue
        dtype = data.dtype
        if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
            out.append(Violation(3, MUST, f"{where}/data", f"dtype {dtype} is not numeric"))
        _check_dims(group, where, out)
    for group_name in ("microscope", "sample", "user", "comments"):
        if not isinstance(h5.get(group_name), h5py.Group):
            out.append(Violation(7, SHOULD, "/", f"no {group_name!r} group"))
    comments = h5.get("comments")
    if isinstance(comments, h5py.Group) and not len(comments.attrs):
        out.append(Violation(7, SHOULD, "/comments", "no provenance entry"))
    for problem in foreign_storage(h5):
        out.append(Violation(8, MUST, problem.split(":")[0], problem.split(": ", 1)[1]))
    return out


def validate(path: str | Path) -> list[Violation]:
    """Violations of the file at *path*; a file that is not HDF5 is one rule-1 violation."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return check_file(h5)
    except OSError as exc:
        return [Violation(1, MUST, "/", f"not a readable HDF5 file ({exc})")]


def errors(violations: list[Violation]) -> list[Violation]:
    """Only the MUST violations: the ones that make a file non-compliant."""
    return [v for v in violations if v.level == MUST]
