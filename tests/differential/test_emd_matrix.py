"""Differential matrix for the EMD reader: h5py writes the variants, rsciio and ncempy judge.

Berkeley EMD files come from many writers (rsciio/HyperSpy, ncempy, NCEM acquisition,
hand-written h5py scripts) with their own habits: string versions, ``(n, 1)`` or
2-element dim vectors, C order named by the dim names, big-endian dtypes, chunked and
filtered storage, nested groups.  Each case here is written with plain h5py, converted,
and the output (read by rsciio) must hold exactly what the *writer's own convention*
says the file holds: rsciio's eager reading for spec (x-first) files, ncempy's for its
C-order files.  Exit 0 with anything else is a failure.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from support.rsciio_oracle import rsciio_emd_arrays

import emdconvert

SHAPES = [(7,), (5, 7), (3, 5, 7), (2, 3, 5, 7)]
DTYPES = ["u1", "i2", "<u2", ">u2", "i4", ">f4", "f8", "c8", ">c16", "?"]
STORAGE: list[dict[str, Any]] = [
    {},
    {"chunks": True},
    {"chunks": True, "compression": "gzip", "shuffle": True},
    {"chunks": True, "compression": "lzf"},
    {"chunks": True, "fletcher32": True},
]
DIM_FORMS = ["full", "two", "column"]
VERSIONS = [(0, 2), ("0", "2")]  # integers (spec), strings (rsciio's own writer)


def _values(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    count = int(np.prod(shape))
    kind = np.dtype(dtype).kind
    if kind == "b":
        return (np.arange(count) % 3 == 0).reshape(shape)
    raw = np.arange(count, dtype=np.float64) * 7.25 - 11
    if kind == "c":
        raw = raw + 1j * raw[::-1]
    return raw.astype(dtype).reshape(shape)


def _dim(group: h5py.Group, k: int, size: int, form: str, name: str, units: str) -> None:
    values = np.arange(size, dtype=np.float64) * 0.5 + k
    if form == "two" and size > 1:
        values = values[:2]
    elif form == "column":
        values = values[:, None]
    dim = group.create_dataset(f"dim{k}", data=values)
    dim.attrs["name"] = np.bytes_(name)
    dim.attrs["units"] = np.bytes_(units)


def write_variant(
    path: Path,
    data: np.ndarray,
    *,
    c_order: bool,
    dims: str,
    version: tuple[Any, Any],
    storage: dict[str, Any],
    nested: bool,
) -> None:
    """A Berkeley EMD file as a third-party h5py script would write it."""
    stored = data if c_order else data.T
    with h5py.File(path, "w") as h5:
        h5.attrs["version_major"], h5.attrs["version_minor"] = version
        parent = h5.create_group("data")
        if nested:
            parent = parent.create_group("session")
        group = parent.create_group("image")
        group.attrs["emd_group_type"] = 1
        group.create_dataset("data", data=stored, **storage)
        names = [f"a{k}" for k in range(stored.ndim)]
        if c_order and stored.ndim >= 2:  # ncempy's convention: the last two are Y, X
            names[-2:] = ["Y", "X"]
        for k, size in enumerate(stored.shape, start=1):
            _dim(group, k, size, dims, names[k - 1], "[n_m]")


def _cases() -> list[tuple[Any, ...]]:
    """A covering set, not the product: every dtype at every rank, and every storage,
    dim form, version style, order and nesting turning up against each of them."""
    rows = []
    options = itertools.cycle(
        itertools.product(STORAGE, DIM_FORMS, VERSIONS, [False, True], [False, True])
    )
    for shape, dtype in itertools.product(SHAPES, DTYPES):
        storage, dims, version, c_order, nested = next(options)
        if storage.get("compression") and dtype == "?" and "shuffle" in storage:
            storage = {"chunks": True}
        rows.append((shape, dtype, storage, dims, version, c_order, nested))
    return rows


def _expected(path: Path, c_order: bool, dims: str) -> np.ndarray:
    """What the file's own convention says it holds, from an independent reader.

    rsciio reads spec files, except ``(n, 1)`` dim vectors (it fails on them with
    numpy 2); ncempy reads those, and its own C-order files, returning the stored array.
    """
    if c_order or dims == "column":
        stored, _ = ncempy_group(path)
        return stored if c_order else stored.T
    from rsciio.emd import file_reader

    return np.asarray(file_reader(str(path), lazy=False)[0]["data"])


def ncempy_group(path: Path) -> tuple[np.ndarray, list[tuple[np.ndarray, str, str]]]:
    """ncempy's reading of the first data group: the stored array and its dims."""
    from ncempy.io import emd

    with emd.fileEMD(str(path), readonly=True) as handle:
        data, dims = handle.get_emdgroup(handle.list_emds[0])
        return np.asarray(data), [(np.asarray(d[0]), d[1], d[2]) for d in dims]


@pytest.mark.parametrize(
    ("shape", "dtype", "storage", "dims", "version", "c_order", "nested"),
    _cases(),
    ids=lambda v: str(v).replace(" ", ""),
)
def test_emd_variants_convert_to_the_data_their_writer_meant(
    tmp_path: Path,
    shape: tuple[int, ...],
    dtype: str,
    storage: dict[str, Any],
    dims: str,
    version: tuple[Any, Any],
    c_order: bool,
    nested: bool,
) -> None:
    if c_order and len(shape) < 2:
        c_order = False  # a 1-D array has one order
    data = _values(shape, dtype)
    source = tmp_path / "source.h5"  # third-party files: not all obey every MUST rule
    write_variant(
        source, data, c_order=c_order, dims=dims, version=version, storage=storage, nested=nested
    )
    expected = _expected(source, c_order, dims)
    np.testing.assert_array_equal(expected, data)  # the independent reader agrees
    out = emdconvert.convert(source, tmp_path / "out.emd")
    (written,) = rsciio_emd_arrays(out)
    assert written.shape == data.shape
    assert written.dtype.newbyteorder("=") == data.dtype.newbyteorder("=")
    np.testing.assert_array_equal(written, data)


def test_axes_survive_for_every_dim_form(tmp_path: Path) -> None:
    """Scale, offset, units and names per axis: rsciio's reading of source and output
    for the forms it reads; for ``(n, 1)`` vectors, ncempy's dim vectors of the source
    against rsciio's axes of the output."""
    from rsciio.emd import file_reader

    keys = ("name", "size", "scale", "offset", "units")
    for form in DIM_FORMS:
        source = tmp_path / f"{form}.h5"
        write_variant(
            source,
            _values((3, 5, 7), "f4"),
            c_order=False,
            dims=form,
            version=(0, 2),
            storage={},
            nested=False,
        )
        out = emdconvert.convert(source, tmp_path / f"{form}_out.emd")
        found = [{k: a.get(k) for k in keys} for a in file_reader(str(out))[0]["axes"]]
        if form == "column":
            _, vectors = ncempy_group(source)
            flat = [(v.ravel(), name) for v, name, _ in reversed(vectors)]
            wanted = [
                {
                    "name": name,
                    "size": len(v),
                    "scale": float(v[1] - v[0]),
                    "offset": float(v[0]),
                    "units": "nm",
                }
                for v, name in flat
            ]
        else:
            wanted = [{k: a.get(k) for k in keys} for a in file_reader(str(source))[0]["axes"]]
        assert found == wanted, form
