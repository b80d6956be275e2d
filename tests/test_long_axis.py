"""A long 1-D array converts in bounded memory, and other readers read its axis.

The pixel axis of an uncalibrated 1-D ``.npy`` used to be built as a full float64
vector (8 bytes per sample) in the model and again in the file: a 400 MB uint8 signal
took 3.2 GB of RAM and made a 3.6 GB file.  Now uniform axes stay offset/scale/size,
and axes over ``LONG_AXIS`` values are stored in the spec's 2-element form (README L5).
The input is written by numpy; the output is read by h5py, rsciio and ncempy.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

import emdconvert
from emdconvert.emd.writer import LONG_AXIS

SAMPLES = LONG_AXIS * 2  # 8 Mi values: a full coordinate vector would be 64 MiB


def _signal(tmp_path: Path) -> tuple[np.ndarray, Path]:
    data = (np.arange(SAMPLES) % 251).astype(np.uint8)
    np.save(tmp_path / "line.npy", data)
    return data, tmp_path / "line.npy"


def test_long_1d_npy_converts_without_building_its_axis(tmp_path: Path) -> None:
    data, source = _signal(tmp_path)
    tracemalloc.start()
    try:
        emdconvert.convert(source, tmp_path / "line.emd")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB: the axis was materialised"
    with h5py.File(tmp_path / "line.emd", "r") as h5:
        np.testing.assert_array_equal(h5["data/line/data"][()], data)
        np.testing.assert_array_equal(h5["data/line/dim1"][()], [0.0, 1.0])
    assert (tmp_path / "line.emd").stat().st_size < 1.01 * data.nbytes + 2**20


def test_other_readers_read_a_long_calibrated_axis(tmp_path: Path) -> None:
    from ncempy.io import emd
    from rsciio.emd import file_reader

    data = np.zeros(SAMPLES + 3, np.uint8)
    axis = emdconvert.Dim.uniform("time", size=data.size, scale=0.5e-6, offset=2.0, units="s")
    emdconvert.write(emdconvert.EMDFile.from_array(data, dims=[axis]), tmp_path / "t.emd")
    signal = file_reader(str(tmp_path / "t.emd"))[0]
    (got,) = signal["axes"]
    assert (got["size"], got["units"]) == (data.size, "s")
    # [2.0, 2.0 + 0.5e-6] in float64 gives the scale back to 1e-9 relative
    assert (got["offset"], got["scale"]) == pytest.approx((2.0, 0.5e-6), rel=1e-8)
    with emd.fileEMD(str(tmp_path / "t.emd")) as handle:
        values, dims = handle.get_emdgroup(handle.list_emds[0])
        assert values.shape == data.shape
        np.testing.assert_allclose(dims[0][0], [2.0, 2.0 + 0.5e-6])
    back = emdconvert.read(tmp_path / "t.emd").datasets[0].dims[0]
    assert back.is_uniform and back.size == axis.size
    assert back.scale == pytest.approx(axis.scale, rel=1e-8)


def test_axes_up_to_the_limit_stay_full_length(tmp_path: Path) -> None:
    """ncempy users index dim vectors: every ordinary axis keeps all its values."""
    data = np.zeros((3, 1000), np.uint8)
    emdconvert.write(emdconvert.EMDFile.from_array(data), tmp_path / "a.emd")
    with h5py.File(tmp_path / "a.emd", "r") as h5:
        np.testing.assert_array_equal(h5["data/data/dim1"][()], np.arange(1000.0))
        np.testing.assert_array_equal(h5["data/data/dim2"][()], np.arange(3.0))
