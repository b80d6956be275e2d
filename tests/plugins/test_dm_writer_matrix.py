"""Every DM file the writer makes, read back by three independent DM readers.

rsciio (HyperSpy's reader), ncempy (NCEM's) and nionswift-io (Nion Swift's) each parse
the tag tree their own way; over dtype x rank (.dm4, and a smaller set of .dm3) each
must give the same values, per-axis calibration (scale, offset, units) and, where it
reports one, the image name.  A reader that cannot read a case says so precisely
(``xfail(strict=True)``), so a reader that learns the case is noticed too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import emdconvert
from emdconvert import Dataset, Dim, EMDFile

SHAPES = {1: (5,), 2: (3, 5), 3: (2, 3, 5), 4: (2, 2, 3, 5)}
DTYPES = (
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "bool",
)
NAME = "matrix image"


def make_model(dtype: str, ndim: int, channels: int = 0) -> EMDFile:
    """A tiny dataset of distinct values with a different calibration on every axis."""
    shape = SHAPES[ndim] + ((channels,) if channels else ())
    rng = np.random.default_rng(ndim)
    raw = rng.integers(0, 250, size=shape)
    if dtype == "bool":
        data = raw % 2 == 0
    elif dtype.startswith("complex"):
        data = (raw + 1j * raw[..., ::-1] / 3).astype(dtype)
    else:
        data = (raw - (100 if dtype.startswith("int") else 0)).astype(dtype)
    dims = [
        Dim.uniform(f"a{i}", size=n, scale=0.25 * (i + 1), offset=-1.5 * i, units=f"u{i}")
        for i, n in enumerate(SHAPES[ndim])
    ]
    if channels:
        dims.append(Dim.uniform("channel", size=channels, scale=1.0))
    return EMDFile((Dataset(NAME, data, tuple(dims)),))


def expected_axes(ndim: int) -> list[tuple[float, float, str]]:
    return [(0.25 * (i + 1), -1.5 * i, f"u{i}") for i in range(ndim)]


def read_rsciio(path: Path) -> tuple[np.ndarray, list[tuple[float, float, str]], str]:
    from rsciio.digitalmicrograph import file_reader

    signal = file_reader(str(path))[0]
    data = signal["data"]
    if data.dtype.names:  # RGB(A): rsciio gives R, G, B, A fields
        data = np.stack([data[name] for name in data.dtype.names], axis=-1)
    axes = [(a["scale"], a["offset"], a["units"]) for a in signal["axes"]]
    return data, axes, signal["metadata"]["General"]["title"]


def read_ncempy(path: Path) -> tuple[np.ndarray, list[tuple[float, float, str]], str]:
    from ncempy.io.dm import fileDM

    with fileDM(str(path)) as dm:
        image = dm.getDataset(0)
    sizes, origins = image["pixelSize"], image["pixelOrigin"]
    axes = [
        (float(s), -float(o) * float(s), u)
        for s, o, u in zip(sizes, origins, image["pixelUnit"], strict=True)
    ]
    return image["data"], axes, NAME  # ncempy reports no image name


def read_nionswift(path: Path) -> tuple[np.ndarray, list[tuple[float, float, str]], str]:
    from nionswift_plugin.DM_IO import dm3_image_utils

    with open(path, "rb") as handle:
        xdata = dm3_image_utils.load_image(handle)
    axes = [(c.scale, c.offset, c.units) for c in xdata.dimensional_calibrations]
    return xdata.data, axes, NAME  # nionswift-io keeps no image name either


READERS = {"rsciio": read_rsciio, "ncempy": read_ncempy, "nionswift": read_nionswift}


def nionswift_view(data: np.ndarray) -> np.ndarray:
    """What nionswift-io gives for *data*: DM's uint8 and bool images as int8 (its
    table maps DataType 6 and 14 to int8), RGB as its B, G, R bytes without alpha."""
    if data.dtype == np.uint8 and data.ndim > 1 and data.shape[-1] in (3, 4):
        return data[..., 2::-1]
    if data.dtype in (np.uint8, np.bool_):
        return data.view(np.int8)
    return data


#: (reader, dtype or "rgb", rank or None for all) -> (exception it raises, why).
LIMITS: dict[tuple[str, str, int | None], tuple[type[Exception], str]] = {
    ("ncempy", "bool", None): (OSError, "ncempy has no DataType 14 (binary) in its type table"),
    ("ncempy", "rgb", None): (OSError, "ncempy has no DataType 23 (RGB) in its type table"),
    ("nionswift", "rgb", 3): (
        AssertionError,
        "nionswift-io makes a 3-D RGB stack a 3-D datum, which nion.data refuses",
    ),
}


def marks(reader: str, dtype: str, ndim: int) -> list[Any]:
    """The strict xfail for a case *reader* cannot read, with the error it raises."""
    limit = LIMITS.get((reader, dtype, None)) or LIMITS.get((reader, dtype, ndim))
    if limit is None:
        return []
    return [pytest.mark.xfail(raises=limit[0], reason=limit[1], strict=True)]


def check(path: Path, model: EMDFile, reader: str) -> None:
    want = model.datasets[0]
    data, axes, name = READERS[reader](path)
    expected = np.asarray(want.data)
    rgb = want.dims[-1].name == "channel"
    if rgb and reader == "rsciio" and expected.shape[-1] == 3:
        assert (data[..., 3] == 255).all()  # written opaque
        data = data[..., :3]
    if reader == "nionswift":
        expected = nionswift_view(expected)
    assert data.dtype == expected.dtype
    np.testing.assert_array_equal(data, expected)
    assert name == NAME
    ndim = len(want.shape) - rgb
    assert len(axes) == ndim
    for (scale, offset, units), (s, o, u) in zip(axes, expected_axes(ndim), strict=True):
        assert units == u
        assert scale == pytest.approx(s, rel=1e-12)
        assert offset == pytest.approx(o, rel=1e-12, abs=1e-12)


def cases(suffix: str, dtypes: tuple[str, ...], ranks: tuple[int, ...]) -> list[Any]:
    out = []
    for reader in READERS:
        for dtype in dtypes:
            for ndim in ranks:
                out.append(
                    pytest.param(suffix, reader, dtype, ndim, marks=marks(reader, dtype, ndim))
                )
    return out


MATRIX = cases(".dm4", DTYPES, (1, 2, 3, 4)) + cases(
    ".dm3", ("uint8", "int16", "float32", "complex64", "bool"), (1, 2, 3)
)


@pytest.mark.parametrize(("suffix", "reader", "dtype", "ndim"), MATRIX)
def test_readers_agree(tmp_path: Path, suffix: str, reader: str, dtype: str, ndim: int) -> None:
    model = make_model(dtype, ndim)
    path = emdconvert.write(model, tmp_path / f"out{suffix}")
    check(path, model, reader)


RGB = [
    pytest.param(suffix, reader, ndim, channels, marks=marks(reader, "rgb", ndim))
    for suffix in (".dm4", ".dm3")
    for reader in READERS
    for ndim in (2, 3)
    for channels in (3, 4)
]


@pytest.mark.parametrize(("suffix", "reader", "ndim", "channels"), RGB)
def test_rgb_readers_agree(
    tmp_path: Path, suffix: str, reader: str, ndim: int, channels: int
) -> None:
    model = make_model("uint8", ndim, channels)
    path = emdconvert.write(model, tmp_path / f"rgb{suffix}")
    check(path, model, reader)
