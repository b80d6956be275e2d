"""Writing CSV, and reading the written file back to prove every value survived.

Text loses what a cell cannot say, so the writer refuses such dtypes before anything is
written, writes each float with the shortest text of its own precision, and ``verify``
re-parses the file with the strict reader and compares value by value.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from emdconvert.errors import UnsupportedError, ValidationError
from emdconvert.lazy import iter_blocks
from emdconvert.model import Dataset, EMDFile
from emdconvert.plugins.csv_.grammar import INT64, parse_options
from emdconvert.plugins.csv_.parse import parse_table


def _dialect(options: Mapping[str, Any] | None) -> tuple[str, str]:
    """(delimiter, decimal) to write: a tab for a ``.tsv`` target unless one is given."""
    delimiter, decimal, _ = parse_options(options)
    delimiter = delimiter or ("\t" if (options or {}).get("target_suffix") == ".tsv" else ",")
    return delimiter, decimal


def write_csv(model: EMDFile, path: Path, options: Mapping[str, Any] | None) -> None:
    """1-D spectra of one length (axis column first) or a single 2-D table, to *path*."""
    delimiter, decimal = _dialect(options)
    shapes = {d.shape for d in model.datasets}
    ndim = {len(s) for s in shapes}
    spectra = ndim == {1} and len(shapes) == 1
    if not spectra and not (ndim == {2} and len(model.datasets) == 1):
        described = ", ".join(f"{d.name} {d.shape}" for d in model.datasets)
        raise UnsupportedError(
            f"CSV holds 1-D spectra of one length or a single 2-D table; the input has {described}"
        )
    for dataset in model.datasets:
        _check_writable(dataset.name, dataset.dtype)
    if spectra:
        axis = model.datasets[0].dims[0]
        _check_writable(f"{model.datasets[0].name} axis {axis.name}", axis.values.dtype)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if spectra:
            _write_spectra(model.datasets, handle, delimiter, decimal)
        else:
            _write_table(model.datasets[0], handle, delimiter, decimal)


def verify_csv(model: EMDFile, path: Path, options: Mapping[str, Any] | None) -> None:
    """Read the file back with the strict parser and compare every value exactly.

    The parser gives int64 and float64 columns whatever was written, so values are
    compared in the written dtype (a float32 cell read as float64 must round back to
    the same float32), not dtypes.
    """
    delimiter, decimal = _dialect(options)
    _, values = parse_table(
        path,
        {
            "delimiter": delimiter,
            "decimal": decimal,
            "header": "yes" if len(model.datasets[0].shape) == 1 else "no",
        },
    )
    if isinstance(values, np.ndarray):
        pairs = [(model.datasets[0].name, values, model.datasets[0].data[...])]
    elif len(values) != len(model.datasets) + 1:
        raise ValidationError(
            f"written file failed verification: {len(values)} "
            f"columns, expected {len(model.datasets) + 1}"
        )
    else:
        axis = model.datasets[0].dims[0]
        pairs = [(f"axis {axis.name}", values[0], axis.values)]
        pairs += [
            (d.name, column, d.data[...])
            for d, column in zip(model.datasets, values[1:], strict=True)
        ]
    for name, found, wanted in pairs:
        if not _same_values(np.asarray(found), np.asarray(wanted)):
            raise ValidationError(
                f"written file failed verification: {name}: the "
                "values read back differ from those written"
            )


def _check_writable(name: str, dtype: np.dtype[Any]) -> None:
    """Refuse, before anything is written, a dtype whose values CSV cannot give back.

    The reader makes int64 and float64 columns: every integer and float16/32/64 value
    survives that exactly, but complex numbers have no cell syntax, booleans would come
    back as integers, and extended-precision floats would be rounded to float64.
    """
    if dtype.kind in "iu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        return
    hint = {
        "c": "; write its real and imaginary parts as two datasets, or use .npy/.emd",
        "b": "; convert it to integers (0/1) first, or use .npy/.emd",
    }.get(dtype.kind, "")
    raise UnsupportedError(f"{name}: {dtype} data cannot be written as CSV{hint}")


def _same_values(found: np.ndarray, wanted: np.ndarray) -> bool:
    """*found* (int64 or float64, as parsed) equals *wanted* exactly, in *wanted*'s dtype."""
    if found.shape != wanted.shape:
        return False
    if wanted.dtype.kind in "iu":
        # Compared as Python-exact int64: numpy compares int64 with uint64 as float64.
        return found.dtype.kind == "i" and bool(np.all(found == wanted.astype(np.int64)))
    back = found.astype(wanted.dtype)
    return bool(np.array_equal(back, wanted, equal_nan=True)) and bool(
        np.all(np.signbit(back) == np.signbit(wanted))
    )


def _cells(values: np.ndarray, decimal: str) -> list[str]:
    """Cells for a 1-D run of *values*: the shortest text giving each value back exactly.

    Integers are written in full; floats with the shortest representation *of their own
    precision* (``0.1`` for float32 0.1, not float64's ``0.10000000149011612``), which
    numpy's ``str`` gives.  uint64 values above int64's range are refused, because the
    reader (and pandas' default) read integer columns as int64.
    """
    if (
        values.dtype.kind == "u"
        and values.dtype.itemsize == 8
        and values.size
        and values.max() > INT64.max
    ):
        raise UnsupportedError(
            f"the value {int(values.max())} does not fit a 64-bit signed "
            "integer, which CSV readers parse integers as; use .npy/.emd"
        )
    if values.dtype.kind in "iu":
        return [str(v) for v in values.tolist()]
    texts = (
        [repr(v) for v in values.tolist()]
        if values.dtype.itemsize == 8
        else [str(v) for v in values]
    )
    return [t.replace(".", ",") for t in texts] if decimal == "," else texts


def _label(name: str, units: str) -> str:
    return f"{name} [{units}]" if units else name


def _write_spectra(
    datasets: Sequence[Dataset], handle: IO[str], delimiter: str, decimal: str
) -> None:
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    axis = datasets[0].dims[0]
    writer.writerow([_label(axis.name, axis.units)] + [_label(d.name, d.units) for d in datasets])
    columns = [_cells(axis.values, decimal)]
    columns += [_cells(np.asarray(d.data[...]), decimal) for d in datasets]
    writer.writerows(zip(*columns, strict=True))


def _write_table(dataset: Dataset, handle: IO[str], delimiter: str, decimal: str) -> None:
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    for _, block in iter_blocks(dataset.data):
        writer.writerows(_cells(row, decimal) for row in block)
