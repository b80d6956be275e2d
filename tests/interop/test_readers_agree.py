"""Interop, the truth test: what we write, ncempy and rsciio/HyperSpy read correctly.

README, EMD layout L9 and Axis order: rsciio/HyperSpy must return the source array in numpy
orientation with its scales, offsets and units; ncempy must return the stored array
(the transpose, for the default x-first layout) with dims in stored order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import emdconvert
from emdconvert import Dataset, Dim, EMDFile
from emdconvert.units import to_emd

SHAPES = [(7,), (5, 6), (3, 4, 5), (2, 3, 4, 5)]
DTYPES = ["uint8", "int16", "uint16", "int32", "float32", "float64", "complex64"]
# name, units, offset, scale for the last four axes (x last)
AXES = [
    ("frame", "s", 0.0, 0.5),
    ("z", "nm", -1.0, 2.0),
    ("y", "nm", 1.0, 0.25),
    ("x", "1/nm", -3.0, 0.125),
]


def make(shape: tuple[int, ...], dtype: str) -> tuple[np.ndarray, tuple[Dim, ...]]:
    data = (np.arange(np.prod(shape)) % 113).astype(dtype).reshape(shape)
    dims = tuple(
        Dim.uniform(name, size=n, scale=scale, offset=offset, units=units)
        for (name, units, offset, scale), n in zip(AXES[-len(shape) :], shape, strict=True)
    )
    return data, dims


def written(
    path: Path, shape: tuple[int, ...], dtype: str, **options: str
) -> tuple[np.ndarray, tuple[Dim, ...], Path]:
    """A test array and its dims, written by emdconvert to *path*."""
    data, dims = make(shape, dtype)
    return data, dims, emdconvert.write(EMDFile((Dataset("signal", data, dims),)), path, **options)


def rsciio_units(units: str) -> str:
    """What rsciio reports for a unit: it normalises through pint (``1/nm`` -> ``1 / nm``)."""
    from rsciio.utils._units import _UREG

    return f"{_UREG.parse_units(units):~}" if units else units


def ncempy_read(path: Path) -> tuple[np.ndarray, list[tuple[np.ndarray, str, str]]]:
    from ncempy.io import emd

    with emd.fileEMD(str(path)) as handle:
        data, dims = handle.get_emdgroup(handle.list_emds[0])
        return np.asarray(data), [(np.asarray(d[0]), d[1], d[2]) for d in dims]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}D")
def test_rsciio_and_hyperspy_read_numpy_orientation(
    tmp_path: Path, shape: tuple[int, ...], dtype: str
) -> None:
    from rsciio.emd import file_reader

    data, dims, path = written(tmp_path / "a.emd", shape, dtype)
    signal = file_reader(str(path))[0]
    np.testing.assert_array_equal(signal["data"], data)
    assert signal["data"].dtype == data.dtype
    for axis, dim in zip(signal["axes"], dims, strict=True):
        assert axis["name"] == dim.name
        assert axis["size"] == dim.size
        assert axis["offset"] == pytest.approx(dim.offset)
        assert axis["scale"] == pytest.approx(dim.scale)
        assert axis["units"] == rsciio_units(dim.units)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}D")
def test_hyperspy_load(tmp_path: Path, shape: tuple[int, ...]) -> None:
    import hyperspy.api as hs

    data, dims, path = written(tmp_path / "h.emd", shape, "float32")
    signal = hs.load(path)
    np.testing.assert_array_equal(signal.data, data)
    # HyperSpy lists axes x-first; compare by name.
    by_name = {axis.name: axis for axis in signal.axes_manager._axes}
    for dim in dims:
        axis = by_name[dim.name]
        assert (axis.size, axis.offset, axis.scale) == pytest.approx(
            (dim.size, dim.offset, dim.scale)
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}D")
def test_ncempy_reads_the_stored_x_first_array(
    tmp_path: Path, shape: tuple[int, ...], dtype: str
) -> None:
    data, dims, path = written(tmp_path / "n.emd", shape, dtype)
    stored, ndims = ncempy_read(path)
    np.testing.assert_array_equal(stored, data.T)
    for (values, name, units), dim in zip(ndims, dims[::-1], strict=True):
        assert name == dim.name
        assert units == to_emd(dim.units)
        np.testing.assert_allclose(values, dim.values)


def test_c_order_is_numpy_orientation_for_ncempy_and_transposed_for_rsciio(tmp_path: Path) -> None:
    from rsciio.emd import file_reader

    data, dims, path = written(tmp_path / "c.emd", (3, 4, 5), "int16", axis_order="c")
    stored, ndims = ncempy_read(path)
    np.testing.assert_array_equal(stored, data)
    assert [name for _, name, _ in ndims] == [d.name for d in dims]
    np.testing.assert_array_equal(file_reader(str(path))[0]["data"], data.T)


def test_length_one_axes_keep_their_scale_in_rsciio_and_ncempy(tmp_path: Path) -> None:
    """A 1-element coordinate vector has no spacing (rsciio reads NaN from it): the
    2-element ``[offset, offset + step]`` form carries the source's step."""
    from rsciio.emd import file_reader

    data, dims, path = written(tmp_path / "one.emd", (1, 4, 5), "uint16")
    assert dims[0].scale == 2.0
    signal = file_reader(str(path))[0]
    np.testing.assert_array_equal(signal["data"], data)
    first = signal["axes"][0]
    assert (first["offset"], first["scale"]) == pytest.approx((dims[0].offset, 2.0))
    z_vector = ncempy_read(path)[1][-1][0]
    np.testing.assert_allclose(z_vector, [dims[0].offset, dims[0].offset + 2.0])
    assert emdconvert.read(path).datasets[0].dims[0].scale == 2.0


def test_prefix_trap_names_stay_separate_signals(tmp_path: Path) -> None:
    from rsciio.emd import file_reader

    arrays = {
        "img": np.zeros((2, 3)),
        "img_2": np.ones((4, 5)),
        "dataset_1": np.full((3, 3), 2.0),
        "dataset_10": np.full((6,), 3.0),
    }
    model = EMDFile(tuple(Dataset(name, a) for name, a in arrays.items()))
    path = emdconvert.write(model, tmp_path / "many.emd")
    signals = file_reader(str(path))
    assert sorted(s["data"].shape for s in signals) == sorted(a.shape for a in arrays.values())
    from ncempy.io import emd

    with emd.fileEMD(str(path)) as handle:
        assert len(handle.list_emds) == 4


def test_metadata_and_provenance_are_visible_to_both(tmp_path: Path) -> None:
    from ncempy.io import emd
    from rsciio.emd import file_reader

    data, dims = make((4, 5), "float32")
    model = EMDFile(
        (Dataset("img", data, dims),),
        microscope={"voltage_V": 300000.0, "microscope_name": "Titan"},
        sample={"sample_name": "Si"},
        user={"operator_name": "A. User"},
    )
    path = emdconvert.write(model, tmp_path / "meta.emd")
    original = file_reader(str(path))[0]["original_metadata"]
    assert original["microscope"]["voltage_V"] == 300000.0
    assert original["sample"]["sample_name"] == "Si"
    assert original["user"]["operator_name"] == "A. User"
    (entry,) = original["comments"].values()
    assert json.loads(entry)["tool"].startswith("emdconvert ")
    with emd.fileEMD(str(path)) as handle:
        merged = handle.getMetadata(handle.list_emds[0])
    assert merged["voltage_V"] == 300000.0 and merged["operator_name"] == "A. User"


def test_converted_npy_is_read_by_both(tmp_path: Path) -> None:
    from rsciio.emd import file_reader

    data = np.random.default_rng(2).integers(0, 4000, (3, 16, 24), dtype=np.uint16)
    np.save(tmp_path / "s.npy", data)
    path = emdconvert.convert(tmp_path / "s.npy", tmp_path / "s.emd")
    np.testing.assert_array_equal(file_reader(str(path))[0]["data"], data)
    np.testing.assert_array_equal(ncempy_read(path)[0], data.T)
