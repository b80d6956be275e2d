"""Exporters keep what they can and refuse what they cannot (issue 13, items 9-12).

Expectations come from independent readers: the csv module and numpy for CSV, numpy for
.npy, tifffile and rsciio for TIFF.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import emdconvert
from emdconvert.cli import app
from emdconvert.errors import UnsupportedError, UsageError
from emdconvert.model import Dataset, Dim, EMDFile

REAL_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64")


def _extremes(dtype: str, count: int) -> np.ndarray:
    """*count* values of *dtype* with its limits, and for floats awkward decimals."""
    kind = np.dtype(dtype)
    if kind.kind == "f":
        info = np.finfo(kind)
        special = [info.max, info.min, info.tiny, info.smallest_subnormal, 0.1, -0.0,
                   1 / 3, 1e4 + 0.5, np.inf, -np.inf, np.nan, 3.0]
    else:
        info = np.iinfo(kind)
        high = min(int(info.max), np.iinfo(np.int64).max)
        special = [info.min, high, 0, 1, high - 1]
    values = np.resize(np.array(special, dtype=kind), count)
    return values


def _run(args: list[str]) -> int:
    from typer.testing import CliRunner

    return CliRunner().invoke(app, args).exit_code


# --- item 11: options a format cannot honour ---------------------------------------------

@pytest.mark.parametrize("suffix", [".tif", ".npy", ".csv"])
def test_compression_refused_for_uncompressed_formats(tmp_path: Path, suffix: str) -> None:
    """Exit 2 before the source is read: a corrupt source would otherwise exit 3."""
    (tmp_path / "invalid").mkdir()
    source = tmp_path / "invalid" / "bad.emd"
    source.write_bytes(b"not an EMD file at all")
    target = tmp_path / f"out{suffix}"
    assert _run([str(source), str(target), "--compression", "gzip:9"]) == 2
    assert not target.exists()
    with pytest.raises(UsageError, match=r"--compression gzip:9.*cannot be compressed"):
        emdconvert.write(EMDFile.from_array(np.zeros((2, 2))), target, compression="gzip:9")
    assert not target.exists()


def test_compression_none_and_emd_still_accepted(tmp_path: Path) -> None:
    model = EMDFile.from_array(np.arange(6.0).reshape(2, 3))
    emdconvert.write(model, tmp_path / "a.npy", compression="none")
    emdconvert.write(model, tmp_path / "a.emd", compression="gzip:9")
    assert np.array_equal(np.load(tmp_path / "a.npy"), model.datasets[0].data)


# --- item 9: CSV for every real numeric dtype ---------------------------------------------

@pytest.mark.parametrize("dtype", REAL_DTYPES)
def test_csv_spectrum_round_trips_every_dtype(tmp_path: Path, dtype: str) -> None:
    values = _extremes(dtype, 12)
    axis = Dim.uniform("energy", "eV", 12, offset=-1.5, scale=0.1)
    target = tmp_path / "s.csv"
    emdconvert.write(EMDFile((Dataset("counts", values, (axis,)),)), target)
    with open(target, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["energy [eV]", "counts"]
    if values.dtype.kind == "f":
        back = np.array([float(r[1]) for r in rows[1:]]).astype(dtype)
        assert np.array_equal(back, values, equal_nan=True)
        assert np.array_equal(np.signbit(back), np.signbit(values))
        # shortest text of the value's own precision, not float64's
        assert "0.1" in [r[1] for r in rows[1:]]
    else:
        assert [int(r[1]) for r in rows[1:]] == values.tolist()
    assert np.array_equal(np.array([float(r[0]) for r in rows[1:]]), axis.values)


@pytest.mark.parametrize("dtype", REAL_DTYPES)
def test_csv_table_round_trips_every_dtype(tmp_path: Path, dtype: str) -> None:
    """numpy parses each cell straight into the source dtype and gets the same values."""
    values = _extremes(dtype, 15).reshape(3, 5)
    target = tmp_path / "t.csv"
    emdconvert.write(EMDFile((Dataset("t", values),)), target)
    back = np.loadtxt(target, delimiter=",", dtype=dtype)
    assert np.array_equal(back, values, equal_nan=values.dtype.kind == "f")
    assert emdconvert.convert(target, tmp_path / "t.emd")


def test_csv_decimal_comma_float32(tmp_path: Path) -> None:
    values = np.array([[0.1, -2.5e-30], [np.nan, 7.0]], dtype=np.float32)
    target = tmp_path / "t.csv"
    emdconvert.write(EMDFile((Dataset("t", values),)), target,
                     options={"delimiter": ";", "decimal": ","})
    assert target.read_text() == "0,1;-2,5e-30\nnan;7,0\n"


@pytest.mark.parametrize(("values", "words"), [
    (np.array([1 + 2j, 3j]), "complex128 data cannot be written as CSV; write its real"),
    (np.array([[True, False]]), "bool data cannot be written as CSV; convert it"),
    (np.array([2**63, 1], dtype=np.uint64), "does not fit a 64-bit signed integer"),
])
def test_csv_refuses_what_it_cannot_give_back(tmp_path: Path, values: np.ndarray,
                                              words: str) -> None:
    target = tmp_path / "x.csv"
    with pytest.raises(UnsupportedError, match=words):
        emdconvert.write(EMDFile((Dataset("x", values),)), target)
    assert not target.exists()
    assert UnsupportedError("").exit_code == 3
