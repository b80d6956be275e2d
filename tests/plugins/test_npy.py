"""The npy plugin: conformance suite plus .npy/.npz specifics."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import emdconvert
from emdconvert.errors import FormatError, PolicyError, UnsupportedError
from emdconvert.lazy import RawFileArray
from emdconvert.model import Dataset, EMDFile
from emdconvert.testing import ReaderContract, WriterContract


class TestNPYContract(ReaderContract, WriterContract):
    plugin_name = "npy"
    suffix = ".npy"

    @pytest.fixture
    def roundtrip_model(self) -> EMDFile:
        return EMDFile.from_array(np.arange(24, dtype=np.int32).reshape(2, 3, 4))

    @pytest.fixture
    def sample_paths(self, tmp_path: Path) -> list[Path]:
        a = tmp_path / "stack.npy"
        np.save(a, np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6))
        z = tmp_path / "pair.npz"
        np.savez(z, first=np.ones((3, 3)), second=np.arange(5, dtype=np.int8))
        return [a, z]


@pytest.mark.parametrize("dtype", ["u1", "i2", "<u4", ">i4", "f4", ">f8", "c8", "c16", "?"])
def test_npy_emd_npy_is_bit_exact(tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(1)
    data = (rng.random((3, 7, 5)) * 100).astype(dtype)
    np.save(tmp_path / "a.npy", data)
    emdconvert.convert(tmp_path / "a.npy", tmp_path / "a.emd")
    emdconvert.convert(tmp_path / "a.emd", tmp_path / "b.npy")
    back = np.load(tmp_path / "b.npy")
    np.testing.assert_array_equal(back, data)
    assert back.dtype == data.dtype.newbyteorder("=") or back.dtype == data.dtype


def test_fortran_order_is_read_in_numpy_orientation(tmp_path: Path) -> None:
    data = np.asfortranarray(np.arange(60, dtype=np.float32).reshape(3, 4, 5))
    np.save(tmp_path / "f.npy", data)
    model = emdconvert.read(tmp_path / "f.npy")
    np.testing.assert_array_equal(np.asarray(model.datasets[0].data[...]), data)
    np.testing.assert_array_equal(model.datasets[0].data[1, 2:4], data[1, 2:4])


def test_read_is_lazy_and_uses_pread(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((10, 8, 8), np.uint8))
    data = emdconvert.read(tmp_path / "a.npy").datasets[0].data
    assert isinstance(data, RawFileArray)
    assert data[3:5].shape == (2, 8, 8)
    assert data[-1].shape == (8, 8)


def test_npz_members_become_datasets_and_back(tmp_path: Path) -> None:
    first, second = np.arange(12).reshape(3, 4), np.linspace(0, 1, 7)
    np.savez(tmp_path / "a.npz", first=first, second=second)
    emdconvert.convert(tmp_path / "a.npz", tmp_path / "a.emd")
    emdconvert.convert(tmp_path / "a.emd", tmp_path / "b.npz")
    with np.load(tmp_path / "b.npz") as back:
        assert sorted(back.files) == ["first", "second"]
        np.testing.assert_array_equal(back["first"], first)
        np.testing.assert_array_equal(back["second"], second)


def test_compressed_npz_is_read(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "c.npz", img=np.eye(4))
    model = emdconvert.read(tmp_path / "c.npz")
    np.testing.assert_array_equal(np.asarray(model.datasets[0].data), np.eye(4))


def test_pickled_object_array_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(PolicyError, match="pickle"):
        emdconvert.read(tmp_path / "o.npy")


def test_truncated_payload_is_refused_before_reading(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.zeros((100, 100), np.float64))
    raw = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[:-8])
    with pytest.raises(FormatError, match="truncated"):
        emdconvert.read(tmp_path / "t.npy")


def test_several_datasets_to_npy_is_a_clear_error(tmp_path: Path) -> None:
    model = EMDFile((Dataset("a", np.zeros(3)), Dataset("b", np.ones(2))))
    with pytest.raises(UnsupportedError, match="npz"):
        emdconvert.write(model, tmp_path / "x.npy")
    assert not (tmp_path / "x.npy").exists()


def test_npz_written_uncompressed_is_read_in_place(tmp_path: Path) -> None:
    model = EMDFile((Dataset("a", np.arange(10)), Dataset("b", np.ones((2, 2)))))
    emdconvert.write(model, tmp_path / "x.npz")
    with zipfile.ZipFile(tmp_path / "x.npz") as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    back = emdconvert.read(tmp_path / "x.npz")
    assert all(isinstance(d.data, RawFileArray) for d in back.datasets)
