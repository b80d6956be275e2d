"""Reading Berkeley EMD v0.2 files into the model; spotting the other EMD flavours.

Layout and reader behaviour: README, EMD layout (L14 for other writers).  Reading is
lazy: data come back as h5py datasets (wrapped in a lazy transpose for x-first files),
so nothing is read until a writer pulls blocks.  We tolerate what other writers produce:
string version attributes and ``/signals/`` groups (rsciio/HyperSpy), 2-element
``[offset, offset+step]`` and ``(n, 1)`` dim vectors, and C-order files (ncempy, NCEM
acquisition).  HDF5 features that read other files (external links, external storage,
virtual datasets) are refused before h5py opens the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emdconvert.budget import reserve
from emdconvert.emd.compression import missing_filter_plugin, plugin_filter
from emdconvert.emd.extras import file_extras, group_extras
from emdconvert.emd.groups import as_int, data_groups, metadata_members, text
from emdconvert.emd.hdf5probe import probe
from emdconvert.emd.provenance import read_comments
from emdconvert.emd.writer import AXIS_ORDER_ATTR, C_ORDER, X_FIRST
from emdconvert.errors import FormatError, IncompleteError, PolicyError, UnsupportedError
from emdconvert.lazy import LazyArray, TransposedArray
from emdconvert.model import METADATA_GROUPS, Dataset, Dim, EMDFile, MetadataValue
from emdconvert.plugin import DatasetInfo
from emdconvert.units import from_emd

if TYPE_CHECKING:
    import h5py

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_RESERVED_GROUP_ATTRS = frozenset({"emd_group_type", AXIS_ORDER_ATTR, "units"})
_DIM_ATTRS = frozenset({"name", "units"})
BERKELEY, VELOX, EMD1, PRISMATIC = "berkeley-0.2", "velox", "emd-1.0", "prismatic"
#: Flavours read through rsciio rather than our own Berkeley reader.
VIA_RSCIIO = (VELOX, EMD1, PRISMATIC)


def flavour(h5: h5py.File) -> str | None:
    """Which EMD flavour an open HDF5 file is (README, EMD layout L14), or None."""
    group_type = h5.attrs.get("emd_group_type")
    if text(group_type) == "file" or as_int(h5.attrs.get("version_major")) == 1:
        return EMD1
    if "4DSTEM_simulation" in h5 or "4DSTEM_experiment" in h5:
        return PRISMATIC
    # Both version attributes, as the spec, rsciio and ncempy require: a file with one
    # of them damaged is not one we can vouch for.
    if "version_major" in h5.attrs and "version_minor" in h5.attrs:
        return BERKELEY
    if "Data" in h5 and ("Version" in h5 or "Operations" in h5):
        return VELOX
    return None


def stored_order(group: h5py.Group, ndim: int) -> str:
    """x-first (the spec) unless the file says C order or its dim names show it.

    Our own files record the layout.  Files from ncempy and NCEM acquisition software
    are C order and name the last stored axis x (``dim1 = 'Y'``, ``dimN = 'X'``); a
    file is only treated as C order on that evidence, otherwise the spec's rule holds.
    """
    recorded = text(group.attrs.get(AXIS_ORDER_ATTR))
    if recorded in (X_FIRST, C_ORDER):
        return recorded
    if ndim >= 2:
        last = group.get(f"dim{ndim}")
        before = group.get(f"dim{ndim - 1}")
        if last is not None and before is not None:
            names = (text(before.attrs.get("name")).lower(), text(last.attrs.get("name")).lower())
            if names == ("y", "x"):
                return C_ORDER
    return X_FIRST


def _read_dim(group: h5py.Group, k: int, length: int) -> Dim:
    dim = group.get(f"dim{k}")
    if dim is None:
        raise FormatError(f"{group.name}: dim{k} is missing")
    if not hasattr(dim, "shape") or tuple(dim.shape) not in ((length,), (2,), (length, 1), (2, 1)):
        shape = getattr(dim, "shape", "no")
        raise FormatError(f"{group.name}/dim{k}: shape {shape} for an axis of length {length}")
    # Read whole, then widened to float64: counted before a byte is allocated.
    reserve(math.prod(dim.shape) * (dim.dtype.itemsize + 8), f"{group.name}/dim{k}")
    values = np.asarray(dim[()])
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.number):
        raise FormatError(f"{group.name}/dim{k}: not a 1-D numeric vector")
    name = text(dim.attrs.get("name")) or f"dim{k}"
    units = from_emd(text(dim.attrs.get("units")))
    attrs = {key: value for key, value in dim.attrs.items() if key not in _DIM_ATTRS}
    if values.shape[0] == length:
        return Dim(name, units, values.astype(np.float64, copy=False), attrs=attrs)
    if values.shape[0] == 2:
        step = float(values[1] - values[0])
        return Dim.uniform(
            name, size=length, scale=step, offset=float(values[0]), units=units, attrs=attrs
        )
    raise FormatError(
        f"{group.name}/dim{k}: {values.shape[0]} values for an axis of length {length}"
    )


def read_group(group: h5py.Group) -> Dataset:
    data = group["data"]
    if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_):
        raise UnsupportedError(f"{group.name}/data: dtype {data.dtype} is not EMD data")
    order = stored_order(group, data.ndim)
    stored_dims = [_read_dim(group, k, data.shape[k - 1]) for k in range(1, data.ndim + 1)]
    array: LazyArray = data
    dims = stored_dims
    if order == X_FIRST:
        array, dims = TransposedArray(data), stored_dims[::-1]
    attrs = {k: v for k, v in group.attrs.items() if k not in _RESERVED_GROUP_ATTRS}
    name = group.name.rsplit("/", 1)[-1] or "data"
    return Dataset(
        name,
        array,
        tuple(dims),
        attrs,
        units=from_emd(text(group.attrs.get("units"))),
        extras=group_extras(group, data.ndim),
    )


def velox_stream_bytes(h5: h5py.File) -> int | None:
    """At most how many bytes a Velox file's spectrum streams decode to (each stream's
    ``bincount`` channels of its ``encoding`` over the largest image's pixels), or None
    when it has no streams or their settings cannot be read."""
    streams = h5.get("Data/SpectrumStream")
    images = h5.get("Data/Image")
    if not hasattr(streams, "values") or not hasattr(images, "values"):
        return None
    try:
        pixels = max(math.prod(image["Data"].shape[:2]) for image in images.values())
        total = 0
        for stream in streams.values():
            settings = json.loads(bytes(stream["AcquisitionSettings"][0]).rstrip(b"\0"))
            itemsize = np.dtype(settings.get("encoding", "uint64")).itemsize
            total += pixels * int(settings["bincount"]) * itemsize
    except (KeyError, TypeError, ValueError, OSError):
        return None
    return total


def check_complete(path: Path) -> None:
    """HDF5 opens read-only with locking: not cut short, not held by a writer.

    libhdf5 compares the superblock's end-of-file address with the file size
    ("truncated file: eof = ..."), and a writer's lock makes a reader's open fail
    with EAGAIN while the file is still being written (README, Safety rules R5).
    """
    import h5py

    probe(path)
    try:
        h5py.File(path, "r").close()
    except OSError as exc:
        message = " ".join(str(exc).split())
        if "truncated file" in message:
            raise IncompleteError(
                f"incomplete: HDF5 file is shorter than its superblock declares ({message})"
            ) from None
        # Not the word "lock" alone: it is also in "bad superblock version number".
        if (
            isinstance(exc, BlockingIOError)
            or "unable to lock file" in message
            or "already open for write" in message
        ):
            raise IncompleteError(
                f"incomplete: another program is still writing it ({message})"
            ) from None
        raise FormatError(f"not a readable HDF5 file ({message})") from None


def open_checked(path: Path) -> h5py.File:
    """The file opened read-only, after its structure and filters were checked.

    ``refused_features`` loads hdf5plugin's filters when a dataset uses one
    (``--compression zstd`` / ``bitshuffle-lz4``) and refuses any other filter: one
    hdf5plugin provides but cannot load is a missing dependency (exit 4), one no one
    registers is hostile (exit 5).
    """
    import h5py

    from emdconvert.emd.spec import refused_features

    probe(path)
    h5 = h5py.File(path, "r")
    problems = refused_features(h5)
    if problems:
        h5.close()
        hostile = [problem for problem in problems if plugin_filter(problem) is None]
        if hostile:
            raise PolicyError(f"refused: {hostile[0]}", path=path, kind="hostile-hdf5")
        raise missing_filter_plugin(problems[0], path)
    return h5


def read_berkeley(h5: h5py.File, path: Path) -> EMDFile:
    """The model of an open Berkeley file; its h5py datasets keep *h5* open until the
    model is closed."""
    groups = data_groups(h5)
    if not groups:
        h5.close()
        raise FormatError("no EMD data groups (emd_group_type = 1) found", path=path)
    datasets = tuple(read_group(g) for g in groups)
    metadata = {g: read_metadata(h5[g]) if g in h5 else {} for g in METADATA_GROUPS}
    return EMDFile(datasets, comments=read_comments(h5), extras=file_extras(h5), **metadata)


def read_metadata(group: h5py.Group) -> dict[str, MetadataValue]:
    """A metadata group as a dict: attributes, and nested metadata sub-groups as nested
    dicts (README, EMD layout L15).  An attribute the model cannot hold (``h5py.Empty``,
    an object reference) is kept as its text, as before nested metadata existed."""
    out: dict[str, MetadataValue] = {
        key: value if isinstance(value, (str, bytes, np.generic, np.ndarray)) else str(value)
        for key, value in group.attrs.items()
    }
    for key in metadata_members(group):
        out[key] = read_metadata(group[key])
    return out


def dataset_infos(h5: h5py.File) -> tuple[DatasetInfo, ...]:
    """Name, shape (numpy order) and dtype of each data group, without reading dims."""
    infos = []
    for group in data_groups(h5):
        data = group["data"]
        shape = tuple(data.shape)
        if stored_order(group, data.ndim) == X_FIRST:
            shape = shape[::-1]
        infos.append(DatasetInfo(group.name.rsplit("/", 1)[-1], shape, np.dtype(data.dtype)))
    return tuple(infos)
