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

REAL_DTYPES = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
)


def _extremes(dtype: str, count: int) -> np.ndarray:
    """*count* values of *dtype* with its limits, and for floats awkward decimals."""
    kind = np.dtype(dtype)
    if kind.kind == "f":
        info = np.finfo(kind)
        special = [
            info.max,
            info.min,
            info.tiny,
            info.smallest_subnormal,
            0.1,
            -0.0,
            1 / 3,
            1e4 + 0.5,
            np.inf,
            -np.inf,
            np.nan,
            3.0,
        ]
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


@pytest.mark.parametrize(
    ("suffix", "spec"),
    [(".tif", "zstd"), (".tif", "bitshuffle-lz4"), (".npy", "gzip:9"), (".csv", "gzip:9")],
)
def test_compression_refused_where_not_stored(tmp_path: Path, suffix: str, spec: str) -> None:
    """Exit 2 before the source is read: a corrupt source would otherwise exit 3."""
    (tmp_path / "invalid").mkdir()
    source = tmp_path / "invalid" / "bad.emd"
    source.write_bytes(b"not an EMD file at all")
    target = tmp_path / f"out{suffix}"
    assert _run([str(source), str(target), "--compression", spec]) == 2
    assert not target.exists()
    words = "takes only gzip" if suffix == ".tif" else "cannot be compressed"
    # The library's words (the keyword, the normalised value), not the CLI's flag.
    refused = rf"^compression {spec}(:\d+)?: the \w+ format {words}"
    with pytest.raises(UsageError, match=refused):
        emdconvert.write(EMDFile.from_array(np.zeros((2, 2))), target, compression=spec)
    assert not target.exists()


def test_tiff_gzip_writes_deflate_pages(tmp_path: Path) -> None:
    import tifffile

    values = np.arange(3 * 40 * 50, dtype=np.uint16).reshape(3, 40, 50) % 5
    target = tmp_path / "c.tif"
    emdconvert.write(EMDFile.from_array(values), target, compression="gzip:9")
    with tifffile.TiffFile(target) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert np.array_equal(tif.asarray(), values)
    assert target.stat().st_size < values.nbytes / 4


def test_compression_none_and_emd_still_accepted(tmp_path: Path) -> None:
    model = EMDFile.from_array(np.arange(6.0).reshape(2, 3))
    emdconvert.write(model, tmp_path / "a.npy", compression="none")
    emdconvert.write(model, tmp_path / "a.emd", compression="gzip:9")
    assert np.array_equal(np.load(tmp_path / "a.npy"), model.datasets[0].data)


# --- item 9: CSV for every real numeric dtype ---------------------------------------------


@pytest.mark.parametrize("dtype", REAL_DTYPES)
def test_csv_spectrum_round_trips_every_dtype(tmp_path: Path, dtype: str) -> None:
    values = _extremes(dtype, 12)
    axis = Dim.uniform("energy", size=12, scale=0.1, offset=-1.5, units="eV")
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
    emdconvert.write(
        EMDFile((Dataset("t", values),)), target, options={"delimiter": ";", "decimal": ","}
    )
    assert target.read_text() == "0,1;-2,5e-30\nnan;7,0\n"


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (np.array([1 + 2j, 3j]), "complex128 data cannot be written as CSV; write its real"),
        (np.array([[True, False]]), "bool data cannot be written as CSV; convert it"),
        (np.array([2**63, 1], dtype=np.uint64), "does not fit a 64-bit signed integer"),
    ],
)
def test_csv_refuses_what_it_cannot_give_back(
    tmp_path: Path, values: np.ndarray, words: str
) -> None:
    target = tmp_path / "x.csv"
    with pytest.raises(UnsupportedError, match=words):
        emdconvert.write(EMDFile((Dataset("x", values),)), target)
    assert not target.exists()
    assert UnsupportedError("").exit_code == 3


# --- item 10: TIFF calibration ------------------------------------------------------------


def _tiff(dataset: Dataset, target: Path) -> tuple[dict[str, object], object, object]:
    """(ImageJ metadata, X and Y resolution as floats) by tifffile, after writing."""
    import tifffile

    emdconvert.write(EMDFile((dataset,)), target)
    with tifffile.TiffFile(target) as tif:
        tags = tif.pages[0].tags
        x, y = (tags[name].value for name in ("XResolution", "YResolution"))
        return tif.imagej_metadata or {}, x[0] / x[1], y[0] / y[1]


def _rsciio_axes(target: Path) -> list[tuple[object, float, object, int]]:
    import warnings

    from rsciio.tiff import file_reader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signal = file_reader(str(target))[0]
    return [(a["name"], pytest.approx(a["scale"]), a["units"], a["size"]) for a in signal["axes"]]


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("dtype", REAL_DTYPES)
def test_tiff_every_dtype_keeps_values_and_calibration(
    tmp_path: Path, dtype: str, ndim: int
) -> None:
    """Not only ImageJ's uint8/uint16/float32: every dtype carries the pixel size."""
    import tifffile

    shape = (3, 4, 5)[-ndim:]
    values = _extremes(dtype, 60)[: np.prod(shape)].reshape(shape)
    dims = (
        Dim.uniform("z", size=3, scale=2.0, units="nm"),
        Dim.uniform("y", size=4, scale=0.5, units="nm"),
        Dim.uniform("x", size=5, scale=0.25, units="nm"),
    )[-ndim:]
    target = tmp_path / "t.tif"
    imagej, x, y = _tiff(Dataset("t", values, dims), target)
    back = tifffile.imread(target)
    assert back.dtype == values.dtype
    assert np.array_equal(back, values, equal_nan=values.dtype.kind == "f")
    assert (imagej["unit"], x, y) == ("nm", pytest.approx(4.0), pytest.approx(2.0))
    assert imagej.get("spacing") == (2.0 if ndim == 3 else None)
    axes = _rsciio_axes(target)
    assert [a[1:3] for a in axes[-2:]] == [(0.5, "nm"), (0.25, "nm")]
    if ndim == 3:
        assert axes[0][:3] == ("depth", 2.0, "nm")


def test_tiff_mixed_length_units_share_one(tmp_path: Path) -> None:
    """y in Å and x in nm: y is converted, never relabelled as nm."""
    dims = (
        Dim.uniform("y", size=4, scale=5.0, units="Å"),
        Dim.uniform("x", size=5, scale=0.25, units="nm"),
    )
    target = tmp_path / "t.tif"
    imagej, x, y = _tiff(Dataset("t", np.zeros((4, 5), np.float32), dims), target)
    assert (imagej["unit"], x, y) == ("nm", pytest.approx(4.0), pytest.approx(2.0))
    assert "yunit" not in imagej
    assert [a[1:3] for a in _rsciio_axes(target)] == [(0.5, "nm"), (0.25, "nm")]
    back = emdconvert.read(target).datasets[0].dims
    assert [(d.units, d.scale) for d in back] == [
        ("nm", pytest.approx(0.5)),
        ("nm", pytest.approx(0.25)),
    ]


def test_tiff_angstrom_and_micrometre_units(tmp_path: Path) -> None:
    """ImageJ's description is ASCII: Å becomes nm; µm is ImageJ's ``micron``."""
    dims = (
        Dim.uniform("y", size=4, scale=2.0, units="Å"),
        Dim.uniform("x", size=5, scale=2.0, units="Å"),
    )
    imagej, x, _ = _tiff(Dataset("a", np.zeros((4, 5), np.uint16), dims), tmp_path / "a.tif")
    assert (imagej["unit"], x) == ("nm", pytest.approx(5.0))
    dims = (
        Dim.uniform("y", size=4, scale=500.0, units="nm"),
        Dim.uniform("x", size=5, scale=0.5, units="µm"),
    )
    target = tmp_path / "u.tif"
    imagej, x, y = _tiff(Dataset("u", np.zeros((4, 5), np.uint16), dims), target)
    assert (imagej["unit"], x, y) == ("micron", pytest.approx(2.0), pytest.approx(2.0))
    assert [a[1:3] for a in _rsciio_axes(target)] == [(0.5, "µm"), (0.5, "µm")]


def test_tiff_unconvertible_units_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dims = (
        Dim.uniform("ky", size=4, scale=0.1, units="1/nm"),
        Dim.uniform("x", size=5, scale=0.25, units="nm"),
    )
    imagej, _, _ = _tiff(Dataset("t", np.zeros((4, 5), np.uint8), dims), tmp_path / "t.tif")
    assert (imagej["unit"], imagej["yunit"]) == ("nm", "1/nm")
    assert "cannot be converted to one unit" in caplog.text


def test_tiff_time_axis_is_imagej_frames(tmp_path: Path) -> None:
    dims = (
        Dim.uniform("time", size=3, scale=40.0, units="ms"),
        Dim.uniform("y", size=4, scale=1.0, units="nm"),
        Dim.uniform("x", size=5, scale=1.0, units="nm"),
    )
    target = tmp_path / "t.tif"
    imagej, _, _ = _tiff(Dataset("t", np.zeros((3, 4, 5), np.int32), dims), target)
    assert imagej["frames"] == 3
    assert imagej["finterval"] == pytest.approx(0.04)
    assert "slices" not in imagej
    assert _rsciio_axes(target)[0] == ("time", pytest.approx(0.04), "s", 3)


def test_tiff_rgb_channel_axis_is_photometric_rgb(tmp_path: Path) -> None:
    import tifffile

    values = np.random.default_rng(0).integers(0, 255, (2, 4, 5, 3), dtype=np.uint8)
    dims = (
        Dim.uniform("z", size=2, scale=3.0, units="nm"),
        Dim.uniform("y", size=4, scale=0.5, units="nm"),
        Dim.uniform("x", size=5, scale=0.5, units="nm"),
        Dim("channel", "", np.arange(3.0)),
    )
    target = tmp_path / "rgb.tif"
    imagej, x, _ = _tiff(Dataset("rgb", values, dims), target)
    with tifffile.TiffFile(target) as tif:
        assert len(tif.pages) == 2
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
        assert np.array_equal(tif.asarray(), values)
    assert (imagej["slices"], imagej["spacing"], x) == (2, 3.0, pytest.approx(2.0))
    back = emdconvert.read(target).datasets[0]
    assert back.shape == values.shape and back.dims[-1].name == "channel"


# --- item 12: .npy for every dtype and dimensionality -------------------------------------


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("dtype", [*REAL_DTYPES, "complex64", "complex128", "bool", ">f8"])
def test_npy_round_trips_every_dtype(tmp_path: Path, dtype: str, ndim: int) -> None:
    shape = {1: (24,), 2: (4, 6), 3: (2, 3, 4)}[ndim]
    values = (np.arange(24).reshape(shape) % 7).astype(dtype)
    emdconvert.write(EMDFile((Dataset("v", values),)), tmp_path / "v.npy")
    back = np.load(tmp_path / "v.npy")
    assert back.dtype == values.dtype and np.array_equal(back, values)
