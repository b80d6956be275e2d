"""The DM writer: the conformance suite, DM -> EMD -> DM round trips of real GMS files
(checked with rsciio's tag parser), metadata written back where the reader maps it
from, clean refusals, and streaming.  The per-dtype reads by three independent readers
are in ``test_dm_writer_matrix.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import emdconvert
from emdconvert import Dataset, Dim, EMDFile
from emdconvert.errors import UnsupportedError
from emdconvert.plugins.dm.metadata import lookup
from emdconvert.signals import metadata_json
from emdconvert.testing import WriterContract, leftovers


class TestDMWriterContract(WriterContract):
    plugin_name = "dm"
    suffix = ".dm4"


def rsciio_signal(path: Path) -> dict[str, Any]:
    from rsciio.digitalmicrograph import file_reader

    return file_reader(str(path))[0]  # type: ignore[no-any-return]


def tag_tree(signal: dict[str, Any]) -> Any:
    """rsciio's tag tree as plain JSON values, without the Data tag's file offset."""
    tree = json.loads(metadata_json(signal["original_metadata"]))
    del tree["ImageList"]["TagGroup0"]["ImageData"]["Data"]["offset"]
    return tree


CORPUS_FILES = (
    "1D_test-2.dm3",
    "1D_test-12.dm4",
    "2D_test-1.dm4",
    "2D_test-10.dm3",
    "3D_test-6.dm4",
    "EELS_SI.dm4",
    "test_STEM_image.dm3",
    "dmTest_3D_int16_64,65,66.dm4",
)


@pytest.mark.corpus
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_dm_emd_dm_keeps_data_and_tags(corpus: Path, tmp_path: Path, name: str) -> None:
    source = corpus / "dm" / name
    first = emdconvert.convert(source, tmp_path / "first.emd")
    again = emdconvert.convert(first, tmp_path / f"again{source.suffix}")
    last = emdconvert.convert(again, tmp_path / "last.emd")
    original, rewritten = rsciio_signal(source), rsciio_signal(again)
    assert rewritten["data"].dtype == original["data"].dtype
    np.testing.assert_array_equal(rewritten["data"], original["data"])
    assert rewritten["axes"] == original["axes"]
    assert tag_tree(rewritten) == tag_tree(original)
    with emdconvert.read(first) as one, emdconvert.read(last) as two:
        a, b = one.datasets[0], two.datasets[0]
        np.testing.assert_array_equal(np.asarray(b.data[...]), np.asarray(a.data[...]))
        assert (b.dims, b.name, b.attrs.keys()) == (a.dims, a.name, a.attrs.keys())
        assert _kept_tree(b.attrs) == _kept_tree(a.attrs)
        assert (two.microscope.keys(), two.sample, two.user) == (
            one.microscope.keys(),
            one.sample,
            one.user,
        )


def _kept_tree(attrs: Any) -> Any:
    """The tag tree an EMD dataset keeps, without the Data tag's file offset."""
    tree = json.loads(attrs["original_metadata_json"])
    del tree["ImageList"]["TagGroup0"]["ImageData"]["Data"]["offset"]
    return tree


def test_metadata_lands_where_the_reader_maps_it_from(tmp_path: Path) -> None:
    model = EMDFile.from_array(
        np.zeros((4, 6), np.float32),
        microscope={
            "voltage_V": 300000.0,
            "microscope_name": "Titan",
            "binning": np.array([2, 2]),
            "acquisition_datetime_utc": "2021-03-04T05:06:07.250000Z",
        },
        sample={"sample_name": "grid 7"},
        user={"operator_name": "A. User"},
    )
    path = emdconvert.write(model, tmp_path / "meta.dm4")
    tags = rsciio_signal(path)["original_metadata"]["ImageList"]["TagGroup0"]["ImageTags"]
    assert lookup(tags, "Microscope Info.Voltage") == 300000.0
    assert lookup(tags, "Session Info.Microscope") == "Titan"
    assert lookup(tags, "Session Info.Specimen") == "grid 7"
    assert lookup(tags, "Session Info.Operator") == "A. User"
    assert tuple(lookup(tags, "Acquisition.Parameters.High Level.Binning")) == (2, 2)
    # FILETIME: 100 ns ticks since 1601-01-01 (here computed with numpy, not our code).
    ticks = np.datetime64("2021-03-04T05:06:07.25", "us") - np.datetime64("1601-01-01", "us")
    assert lookup(tags, "DataBar.Acquisition Time (OS)") == ticks.astype(int) * 10
    with emdconvert.read(path) as back:
        assert back.microscope["microscope_name"] == "Titan"
        assert back.microscope["acquisition_datetime_utc"] == "2021-03-04T05:06:07.250000Z"
        assert back.user == {"operator_name": "A. User"}


def test_spectrum_image_goes_back_channel_first(corpus: Path, tmp_path: Path) -> None:
    """A model (y, x, E) carrying a DM spectrum image's tags is written as DM's
    (E, y, x), as rsciio reads it, and our reader gives the model back."""
    first = emdconvert.convert(corpus / "dm" / "EELS_SI.dm4", tmp_path / "si.emd")
    with emdconvert.read(first) as source:
        attrs = dict(source.datasets[0].attrs)
    cube = np.random.default_rng(1).random((3, 5, 7)).astype(np.float32)
    dims = (
        Dim.uniform("y", size=3, scale=2.0, units="nm"),
        Dim.uniform("x", size=5, scale=1.0, units="nm"),
        Dim.uniform("Energy loss", size=7, scale=0.5, offset=100.0, units="eV"),
    )
    path = emdconvert.write(EMDFile((Dataset("si", cube, dims, attrs),)), tmp_path / "si.dm4")
    signal = rsciio_signal(path)
    np.testing.assert_array_equal(signal["data"], np.moveaxis(cube, -1, 0))
    assert [(a["scale"], a["offset"]) for a in signal["axes"]] == [(0.5, 100.0), (2.0, 0), (1.0, 0)]
    with emdconvert.read(path) as back:
        np.testing.assert_array_equal(np.asarray(back.datasets[0].data[...]), cube)
        assert back.datasets[0].dims == dims


@pytest.mark.parametrize(("units", "spectral"), [("eV", True), ("keV", True), ("nm", False)])
def test_an_energy_last_cube_from_elsewhere_becomes_a_spectrum_image(
    tmp_path: Path, units: str, spectral: bool
) -> None:
    """An EELS/EDS map from a non-DM source (y, x, E) is written as DM's spectrum image,
    channel first, so HyperSpy reads a Signal1D with the energy axis as its signal and
    ncempy sees DM's own (E, y, x); a stack whose last axis is a length stays a stack."""
    import hyperspy.api as hs
    from ncempy.io import dm

    cube = np.random.default_rng(2).random((3, 4, 6)).astype(np.float32)
    dims = (
        Dim.uniform("y", size=3, scale=2.0, units="nm"),
        Dim.uniform("x", size=4, scale=1.0, units="nm"),
        Dim.uniform("e", size=6, scale=0.5, offset=100.0, units=units),
    )
    path = emdconvert.write(EMDFile((Dataset("map", cube, dims),)), tmp_path / "map.dm4")
    signal = hs.load(path)
    assert (signal.axes_manager.signal_dimension == 1) is spectral
    if spectral:
        np.testing.assert_array_equal(signal.data, cube)
        assert signal.axes_manager.signal_axes[0].units == units
        assert signal.axes_manager.signal_axes[0].scale == 0.5
    with dm.fileDM(path) as handle:
        stored = handle.getDataset(0)["data"]
    np.testing.assert_array_equal(stored, np.moveaxis(cube, -1, 0) if spectral else cube)
    with emdconvert.read(path) as back:
        np.testing.assert_array_equal(np.asarray(back.datasets[0].data[...]), cube)


class CountingArray:
    """A 40 MiB lazy source (values: the index along axis 0) that records the largest
    block the writer asks for."""

    shape = (40, 512, 512)
    dtype = np.dtype(np.float32)

    def __init__(self) -> None:
        self.largest = 0

    def __getitem__(self, key: Any) -> np.ndarray:
        planes = np.arange(self.shape[0], dtype=self.dtype)[:, None, None]
        block = np.array(np.broadcast_to(planes, self.shape)[key])
        self.largest = max(self.largest, block.nbytes)
        return block


@pytest.mark.parametrize("si", [False, True])
def test_streams_blocks(tmp_path: Path, si: bool) -> None:
    source = CountingArray()
    attrs = {"original_metadata_json": _si_tree()} if si else {}
    path = emdconvert.write(EMDFile((Dataset("big", source, attrs=attrs),)), tmp_path / "s.dm4")
    assert 0 < source.largest <= 8 * 2**20 < 40 * 2**20
    data = rsciio_signal(path)["data"]
    planes = np.arange(40, dtype=np.float32)
    if si:  # the last axis (x) went first
        assert data.shape == (512, 40, 512)
        np.testing.assert_array_equal(data[3, :, 7], planes)
    else:
        np.testing.assert_array_equal(data[:, 5, 9], planes)
        assert (data[17] == 17).all()


def _si_tree() -> str:
    image = {"ImageData": {}, "ImageTags": {"Meta Data": {"Format": "Spectrum image"}}}
    return json.dumps({"ImageList": {"TagGroup0": image}})


class HugeArray:
    """A lazy array far larger than DM3 allows; any read would be a bug."""

    shape = (3, 40000, 40000)
    dtype = np.dtype(np.float32)

    def __getitem__(self, key: Any) -> np.ndarray:
        raise AssertionError("a refused write must not read data")


@pytest.mark.parametrize(
    ("data", "suffix", "words"),
    [
        (np.zeros((2, 3), np.int64), ".dm4", "no image type for int64"),
        (np.zeros((2, 3), np.float16), ".dm4", "no image type for float16"),
        (np.zeros((2, 2, 2, 2, 2), np.uint8), ".dm4", "at most 4 dimensions"),
        (HugeArray(), ".dm3", "write .dm4 instead"),
    ],
)
def test_refusals_are_clean(tmp_path: Path, data: Any, suffix: str, words: str) -> None:
    target = tmp_path / f"bad{suffix}"
    with pytest.raises(UnsupportedError, match=words) as caught:
        emdconvert.write(EMDFile((Dataset("bad", data),)), target)
    assert "\n" not in str(caught.value)
    assert not target.exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("data", [np.zeros((2, 3), np.uint64), np.zeros((1, 2, 1, 2, 2))])
def test_cli_refusal_exits_3(tmp_path: Path, data: np.ndarray) -> None:
    """Unsupported input is exit 3 (``UnsupportedError``, README Command line), one line."""
    source, target = tmp_path / "in.npy", tmp_path / "out.dm4"
    np.save(source, data)
    result = subprocess.run(
        [sys.executable, "-m", "emdconvert", str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not target.exists() and not leftovers(tmp_path)


def test_a_batch_to_dm_writes_dm4(tmp_path: Path) -> None:
    """``--out-dir`` with ``--to dm`` names outputs ``.dm4``: the version without DM3's
    4 GB limit, as GMS saves by default; rsciio reads each back."""
    sources = []
    for index in range(2):
        sources.append(tmp_path / f"scan{index}.npy")
        np.save(sources[-1], np.full((3, 4), index, np.uint16))
    out = tmp_path / "out"
    options = ["--out-dir", str(out), "--to", "dm", "--quiet"]
    result = subprocess.run(
        [sys.executable, "-m", "emdconvert", *map(str, sources), *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["scan0.dm4", "scan1.dm4"]
    for index in range(2):
        with open(out / f"scan{index}.dm4", "rb") as handle:
            assert int.from_bytes(handle.read(4), "big") == 4  # the DM version word
        np.testing.assert_array_equal(
            rsciio_signal(out / f"scan{index}.dm4")["data"], np.full((3, 4), index)
        )
