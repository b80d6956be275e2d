"""Streaming writer for Berkeley EMD v0.2 files, laid out as README's EMD layout says.

The model holds arrays in numpy orientation ``(..., y, x)``; the spec stores them
transposed (``dim1`` is x).  Writing ``array.T`` through h5py is what makes rsciio's
writer take 41 s for 2 GiB, so this writer instead stores the data chunked, each chunk
the transpose of one contiguous run of source rows, copied chunk by chunk by
:mod:`emdconvert.emd.blockcopy` with a few 4 MiB chunks in flight whatever the input size.

``axis_order="c"`` stores numpy C order instead (ncempy's and EMD 1.0's convention); the
layout used is recorded on every data group as ``emdconvert_axis_order`` so our reader
round-trips either.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emdconvert.emd.blockcopy import copy_into, default_threads, raw_bytes, source_chunk
from emdconvert.emd.compression import parse as parse_compression
from emdconvert.emd.extras import copy_extras
from emdconvert.errors import UnsupportedError, UsageError
from emdconvert.model import (
    METADATA_GROUPS,
    AttrValue,
    Comment,
    Dataset,
    Dim,
    EMDFile,
    MetadataValue,
    Passthrough,
)
from emdconvert.units import to_emd

if TYPE_CHECKING:
    import h5py

X_FIRST = "x-first"
C_ORDER = "c"
AXIS_ORDERS = (X_FIRST, C_ORDER)
AXIS_ORDER_ATTR = "emdconvert_axis_order"
#: Longest data-group name written (before a uniqueness suffix).
MAX_NAME = 120

ProgressCallback = Callable[[int], None]


def group_names(names: Sequence[str]) -> list[str]:
    """HDF5-safe, unique data-group names of which none is a prefix of another.

    rsciio silently stacks groups whose paths are substrings of each other
    (``img`` / ``img_2``) and fails when their shapes differ (README, EMD layout L11), so
    every name that is repeated or is a prefix of another gets a ``~k`` suffix.  The numbers
    of one name have a fixed width (``~01`` ... ``~10``), so suffixed names are never
    prefixes of each other either, and "~" never survives sanitising, so no other name
    can start with one.  Sorting finds every prefix: the names that start with ``p``
    follow ``p`` directly in sorted order.  O(n log n) for any number of datasets.
    """
    # Names come from file names and metadata: "..", "a/b" and "x\0y" (which HDF5 cuts
    # to "x") must not become paths or collide (README, Safety rules R12).
    clean = [re.sub(r"[^A-Za-z0-9_.-]", "_", n).strip(".")[:MAX_NAME] or "dataset" for n in names]
    counts = Counter(clean)
    ordered = sorted(counts)
    suffixed = {
        name
        for name, following in zip(ordered, [*ordered[1:], ""], strict=True)
        if counts[name] > 1 or following.startswith(name)
    }
    seen: Counter[str] = Counter()
    out: list[str] = []
    for name in clean:
        if name not in suffixed:
            out.append(name)
            continue
        seen[name] += 1
        out.append(f"{name}~{seen[name]:0{len(str(counts[name]))}d}")
    return out


def _attr(value: AttrValue) -> Any:
    """An attribute value every reader can take (rsciio crashes on 1-element arrays)."""
    import h5py

    if isinstance(value, np.ndarray):
        if value.size == 1:
            return value.reshape(()).item()
        if value.dtype.kind in "UO":
            return np.array([str(v) for v in value.ravel()], dtype=h5py.string_dtype()).reshape(
                value.shape
            )
    if isinstance(value, bytes):
        return np.bytes_(value)
    return value


def write_attrs(target: h5py.Group, attrs: Mapping[str, AttrValue]) -> None:
    for key, value in attrs.items():
        # HDF5 ends a name at NUL: "a\0b" would silently overwrite "a".
        target.attrs[key.replace("\0", "\\0")] = _attr(value)


def write_metadata(target: h5py.Group, metadata: Mapping[str, MetadataValue]) -> None:
    """One metadata group: values as attributes, a nested mapping as a sub-group holding
    its own (README, EMD layout L15).  Groups rather than a repr or JSON string: h5py,
    HDFView and our reader see the structure, and the readers of the data ignore it."""
    for key, value in metadata.items():
        if isinstance(value, Mapping):
            write_metadata(target.create_group(key.replace("\0", "\\0")), value)
        else:
            write_attrs(target, {key: value})


def _bytes(text: str) -> np.bytes_:
    return np.bytes_(text.encode("utf-8"))


#: Coordinates of a dim vector computed and written at a time (8 MiB of float64).
DIM_BLOCK = 1 << 20
#: A uniform axis longer than this is stored as ``[offset, offset + scale]``: its full
#: vector would be 8 bytes per sample, 8x the data of a long 1-D uint8 signal.
LONG_AXIS = 1 << 22


def write_dim(group: h5py.Group, k: int, dim: Dim, *, resizable: bool = False) -> h5py.Dataset:
    """``dimK``: a full-length 1-D vector; the spec's 2-element form on length-1 axes
    and on uniform axes over :data:`LONG_AXIS` values (README L5).

    *resizable*: chunked with no maximum length, for an axis that grows (a stream's).
    """
    growth: dict[str, Any] = {"maxshape": (None,), "chunks": (4096,)} if resizable else {}
    if dim.size == 1 or (dim.is_uniform and dim.size > LONG_AXIS):
        ds = group.create_dataset(f"dim{k}", data=[dim.offset, dim.offset + dim.scale], **growth)
    else:
        ds = group.create_dataset(
            f"dim{k}", (dim.size,), dim.values_at(slice(0, 1)).dtype, **growth
        )
        for start in range(0, dim.size, DIM_BLOCK):  # a long uniform axis is computed in parts
            part = slice(start, min(start + DIM_BLOCK, dim.size))
            ds[part] = dim.values_at(part)
    ds.attrs["name"] = _bytes(dim.name)
    ds.attrs["units"] = _bytes(to_emd(dim.units))
    write_attrs(
        ds, {key: value for key, value in dim.attrs.items() if key not in ("name", "units")}
    )
    return ds


def start_file(h5: h5py.File) -> h5py.Group:
    """The file-level skeleton: version attributes (L1) and ``/data``, in model order."""
    h5.attrs["version_major"] = 0
    h5.attrs["version_minor"] = 2
    return h5.create_group("data", track_order=True)


def start_data_group(
    parent: h5py.Group, name: str, dataset: Dataset, axis_order: str
) -> h5py.Group:
    """The data group ``/data/<name>`` with its attributes; its ``data`` comes next."""
    group = parent.create_group(name)
    group.attrs["emd_group_type"] = 1
    group.attrs[AXIS_ORDER_ATTR] = axis_order
    if name != dataset.name and "title" not in dataset.attrs:
        group.attrs["title"] = dataset.name.replace("\0", "\\0")  # the unsanitised name
    if dataset.units:
        group.attrs["units"] = _bytes(to_emd(dataset.units))
    write_attrs(group, dataset.attrs)
    return group


def write_dims(
    group: h5py.Group, dims: Sequence[Dim], axis_order: str, *, growing: bool = False
) -> h5py.Dataset:
    """``dim1``...``dimN`` in stored order (x first for x-first); returns the vector of
    numpy axis 0, which *growing* makes resizable (a stream's growing axis)."""
    transpose = axis_order == X_FIRST
    first = len(dims) if transpose else 1
    vectors = {}
    for k, dim in enumerate(dims[::-1] if transpose else dims, start=1):
        vectors[k] = write_dim(group, k, dim, resizable=growing and k == first)
    return vectors[first]


def finish_file(h5: h5py.File, model: EMDFile) -> None:
    """The file-level rest: metadata groups, the comments log (L10), extras."""
    for group in METADATA_GROUPS:
        write_metadata(h5.create_group(group), model.metadata(group))
    append_comments(h5, model.comments)
    copy_extras(h5, model.extras)


def append_comments(h5: h5py.File, comments: Iterable[Comment]) -> None:
    """Add comments as new attributes; never rewrite an existing key (README, L10)."""
    group = h5.require_group("comments")
    for comment in comments:
        key = unique_key(comment, group.attrs)
        value = comment.original_value
        group.attrs[key] = (
            _bytes(comment.message) if value is None or _text(value) != comment.message else value
        )


def unique_key(comment: Comment, taken: Container[str]) -> str:
    """*comment*'s key, a microsecond later until no entry of *taken* has it (L10)."""
    key, timestamp = comment.key, comment.timestamp
    while key in taken:
        timestamp += _dt.timedelta(microseconds=1)
        key = Comment(timestamp, comment.message).key
        if comment.original_key:
            key = f"{comment.original_key} ({key})"
    return key


def _text(value: Any) -> str | None:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def write_dataset(
    parent: h5py.Group,
    name: str,
    dataset: Dataset,
    *,
    axis_order: str = X_FIRST,
    compression: str | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> None:
    """One complete EMD data group ``/data/<name>`` streamed block by block.

    *threads* read, transpose and compress chunks in parallel (default: the CPU count,
    at most 8).
    """
    if axis_order not in AXIS_ORDERS:
        msg = f"axis order must be one of {AXIS_ORDERS}, got {axis_order!r}"
        raise UsageError(msg)
    group = start_data_group(parent, name, dataset, axis_order)
    write_data(
        group,
        dataset,
        transpose=axis_order == X_FIRST,
        compression=compression,
        threads=threads,
        progress=progress,
    )
    write_dims(group, dataset.dims, axis_order)
    copy_extras(group, dataset.extras)


def write_data(
    group: h5py.Group,
    dataset: Dataset,
    *,
    transpose: bool,
    compression: str | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> h5py.Dataset:
    """``group/data``: *dataset*'s values streamed chunk by chunk, stored transposed
    when *transpose*; the one data path of every HDF5 layout we write (v0.2, EMD 1.0)."""
    choice = parse_compression(compression)
    shape, dtype = dataset.shape, dataset.dtype
    if dtype.fields is not None or dtype.kind not in "biufc":
        msg = f"dataset {dataset.name!r}: dtype {dtype} cannot be stored as EMD data"
        raise UnsupportedError(msg)
    block = source_chunk(shape, dtype.itemsize, transpose)
    # C order without compression is stored contiguous (fastest, ncempy's layout);
    # everything else is chunked, one chunk per source block.
    chunked = 0 not in shape and (transpose or choice is not None)
    chunks = (block[::-1] if transpose else block) if chunked else None
    stored_shape = shape[::-1] if transpose else shape
    filters = choice.dataset_kwargs() if chunked and choice is not None else {}
    data = group.create_dataset("data", shape=stored_shape, dtype=dtype, chunks=chunks, **filters)
    if 0 not in shape:
        encode = raw_bytes if choice is None else choice.chunk_encoder()
        copy_into(
            dataset.data,
            data,
            block,
            transpose=transpose,
            encode=encode,
            threads=threads or default_threads(),
            progress=progress,
        )
    return data


def write_emd(
    model: EMDFile,
    path: Path,
    *,
    axis_order: str = X_FIRST,
    compression: str | None = None,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> None:
    """Write *model* to *path* as Berkeley EMD v0.2 (a new file; *path* is a temp name)."""
    import h5py

    refuse_empty(model)
    with h5py.File(path, "w") as h5:
        data = start_file(h5)
        names = _free_names(group_names([d.name for d in model.datasets]), model.extras)
        for name, dataset in zip(names, model.datasets, strict=True):
            write_dataset(
                data,
                name,
                dataset,
                axis_order=axis_order,
                compression=compression,
                threads=threads,
                progress=progress,
            )
        finish_file(h5, model)


def refuse_empty(model: EMDFile) -> None:
    """Refuse a dataset with no elements (an axis of length 0): HDF5 can store it, but
    rsciio and HyperSpy fail to open such a file (``IndexError``), and a file the
    field's readers cannot open is no conversion."""
    for dataset in model.datasets:
        if 0 in dataset.shape:
            raise UnsupportedError(
                f"dataset {dataset.name!r} has no elements (shape "
                f"{dataset.shape}); EMD readers (rsciio, HyperSpy) "
                "cannot open an empty dataset"
            )


def _free_names(names: list[str], extras: Sequence[Passthrough]) -> list[str]:
    """*names* with a ``~`` suffix where an extra copied into ``/data`` has the name."""
    taken = {
        extra.path[len("/data/") :]
        for extra in extras
        if extra.path.startswith("/data/") and extra.path.count("/") == 2
    }
    if not taken & set(names):
        return names
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate in taken:
            n += 1
            candidate = f"{name}~x{n}"
        out.append(candidate)
    return out
