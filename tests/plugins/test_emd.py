"""The emd plugin: conformance suite, corpus files, and other writers' quirks."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import emdconvert
from emdconvert.errors import PolicyError
from emdconvert.lazy import TransposedArray
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.testing import ReaderContract, WriterContract

CORPUS_EMD = [
    "example_image.emd",
    "example_signal.emd",
    "example_spectrum.emd",
    "example_metadata.emd",
    "Si100_3D.emd",
    "velox_tem_stack.emd",
    "py4DSTEM_emd1_size2x3x4x5.h5",
]


class TestEMDContract(ReaderContract, WriterContract):
    plugin_name = "emd"
    suffix = ".emd"

    @pytest.fixture
    def sample_paths(self, tmp_path: Path) -> list[Path]:
        src = tmp_path / "src"
        src.mkdir()
        path = src / "sample.emd"
        emdconvert.write(EMDFile.from_array(np.arange(60, dtype=np.uint16).reshape(3, 4, 5)), path)
        return [path]


def test_reading_is_lazy_and_in_numpy_orientation(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    emdconvert.write(EMDFile.from_array(data), tmp_path / "a.emd")
    with h5py.File(tmp_path / "a.emd") as h5:
        assert h5["data/data/data"].shape == (4, 3, 2)  # x-first on disk
        assert h5["data/data/dim1"].attrs["name"] == b"x"
    dataset = emdconvert.read(tmp_path / "a.emd").datasets[0]
    assert isinstance(dataset.data, TransposedArray)
    np.testing.assert_array_equal(dataset.data[...], data)
    assert [d.name for d in dataset.dims] == ["z", "y", "x"]


@pytest.mark.parametrize("order", ["x-first", "c"])
def test_both_axis_orders_round_trip(tmp_path: Path, order: str) -> None:
    data = np.arange(30, dtype=np.int16).reshape(5, 6)
    dims = (
        Dim.uniform("y", size=5, scale=0.1, units="nm"),
        Dim.uniform("x", size=6, scale=0.2, units="nm"),
    )
    emdconvert.write(EMDFile((Dataset("img", data, dims),)), tmp_path / "a.emd", axis_order=order)
    back = emdconvert.read(tmp_path / "a.emd").datasets[0]
    np.testing.assert_array_equal(back.data[...], data)
    assert back.dims == dims


def test_emd_to_emd_keeps_metadata_and_appends_one_entry(tmp_path: Path) -> None:
    model = EMDFile.from_array(
        np.ones((2, 2)),
        microscope={"voltage_V": 2e5},
        sample={"sample_name": "Au"},
        user={"operator_name": "X"},
    )
    emdconvert.write(model, tmp_path / "a.emd")
    emdconvert.convert(tmp_path / "a.emd", tmp_path / "b.emd")
    with h5py.File(tmp_path / "a.emd") as a, h5py.File(tmp_path / "b.emd") as b:
        for group in ("microscope", "sample", "user"):
            assert dict(a[group].attrs) == dict(b[group].attrs)
        old, new = list(a["comments"].attrs), list(b["comments"].attrs)
        assert new[: len(old)] == old and len(new) == len(old) + 1
        entry = json.loads(b["comments"].attrs[new[-1]])
        assert entry["source"]["name"] == "a.emd" and entry["reader"]["plugin"] == "emd"


def test_rsciio_written_quirks_are_tolerated(corpus: Path, tmp_path: Path) -> None:
    """String versions, /signals/, 2-element dims and '[]' units (HyperSpy's writer)."""
    model = emdconvert.read(corpus / "emd" / "example_signal.emd")
    dataset = model.datasets[0]
    assert dataset.shape == (3, 3, 3)
    assert all(d.units == "" for d in dataset.dims)


def test_ncempy_c_order_file_is_recognised(tmp_path: Path) -> None:
    from ncempy.io import emd

    data = np.arange(12, dtype=np.uint8).reshape(3, 4)
    with emd.fileEMD(str(tmp_path / "nc.emd"), readonly=False) as handle:
        dims = emd.defaultDims(data)
        dims = ((dims[0][0], "Y", "[n_m]"), (dims[1][0], "X", "[n_m]"))
        handle.put_emdgroup("img", data, dims)
    back = emdconvert.read(tmp_path / "nc.emd").datasets[0]
    np.testing.assert_array_equal(back.data[...], data)
    assert [d.name for d in back.dims] == ["Y", "X"]


def test_external_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "invalid").mkdir()
    other = tmp_path / "invalid" / "secret.h5"
    with h5py.File(other, "w") as h5:
        h5["x"] = np.arange(3)
    path = tmp_path / "invalid" / "linked.emd"
    with h5py.File(path, "w") as h5:
        h5.attrs["version_major"], h5.attrs["version_minor"] = 0, 2
        group = h5.create_group("data/a")
        group.attrs["emd_group_type"] = 1
        group["data"] = h5py.ExternalLink(str(other), "/x")
    with pytest.raises(PolicyError, match="external link"):
        emdconvert.read(path)


@pytest.mark.corpus
@pytest.mark.parametrize("name", CORPUS_EMD)
def test_corpus_emd_converts_and_matches_rsciio(corpus: Path, tmp_path: Path, name: str) -> None:
    from rsciio.emd import file_reader

    source = corpus / "emd" / name
    out = emdconvert.convert(source, tmp_path / "out.emd")
    ours = emdconvert.read(out).datasets
    theirs = file_reader(str(source))
    assert len(ours) == len(theirs)
    for mine, signal in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(np.asarray(mine.data[...]), np.asarray(signal["data"]))
        axes = sorted(signal["axes"], key=lambda a: a.get("index_in_array", 0))
        for dim, axis in zip(mine.dims, axes, strict=True):
            assert dim.size == axis["size"]
            assert dim.offset == pytest.approx(axis.get("offset", 0.0))
            if axis["size"] > 1:
                assert dim.scale == pytest.approx(axis.get("scale", 1.0), rel=1e-6)
