"""The tiff plugin: conformance suite, stacks, folders of frames, calibration, writer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

import emdconvert
from emdconvert.errors import FormatError, UnsupportedError
from emdconvert.lazy import RawFileArray
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.testing import ReaderContract, WriterContract


def stack(n: int = 3, dtype: str = "u2") -> np.ndarray:
    return (np.arange(n * 5 * 7) % 251).astype(dtype).reshape(n, 5, 7)


class TestTIFFContract(ReaderContract, WriterContract):
    plugin_name = "tiff"
    suffix = ".tif"

    @pytest.fixture
    def roundtrip_model(self) -> EMDFile:
        dims = (
            Dim.uniform("z", size=2, scale=1.0),
            Dim.uniform("y", size=3, scale=0.5, units="µm"),
            Dim.uniform("x", size=4, scale=0.5, units="µm"),
        )
        data = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
        return EMDFile((Dataset("sample", data, dims),))

    @pytest.fixture
    def sample_paths(self, tmp_path: Path) -> list[Path]:
        (tmp_path / "src").mkdir()
        plain = tmp_path / "src" / "plain.tif"
        tifffile.imwrite(plain, stack(), photometric="minisblack")
        big = tmp_path / "src" / "big.tif"
        tifffile.imwrite(big, stack(4, "f4"), bigtiff=True, photometric="minisblack")
        packed = tmp_path / "src" / "packed.tif"
        tifffile.imwrite(packed, stack(2, "u1"), compression="zlib", photometric="minisblack")
        return [plain, big, packed]


@pytest.mark.parametrize("dtype", ["u1", "u2", "f4", "i2", "u4", "f8"])
def test_tiff_emd_tiff_is_bit_exact(tmp_path: Path, dtype: str) -> None:
    data = stack(4, dtype)
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="minisblack")
    emdconvert.convert(tmp_path / "a.tif", tmp_path / "a.emd")
    emdconvert.convert(tmp_path / "a.emd", tmp_path / "b.tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "b.tif"), data)


def test_written_tiff_is_imagej_with_calibration(tmp_path: Path) -> None:
    dims = (
        Dim.uniform("frame", size=2, scale=3.0),
        Dim.uniform("y", size=5, scale=0.25, units="µm"),
        Dim.uniform("x", size=7, scale=0.25, units="µm"),
    )
    emdconvert.write(EMDFile((Dataset("s", stack(2), dims),)), tmp_path / "c.tif")
    with tifffile.TiffFile(tmp_path / "c.tif") as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["unit"] == "micron"
        assert tif.imagej_metadata["spacing"] == pytest.approx(3.0)
    back = emdconvert.read(tmp_path / "c.tif").datasets[0]
    assert back.dims[-1].scale == pytest.approx(0.25)
    assert back.dims[-1].units == "µm"


def test_folder_of_frames_is_one_naturally_sorted_stack(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in (1, 2, 10):
        tifffile.imwrite(frames / f"frame{i}.tif", np.full((4, 6), i, np.uint16))
    out = emdconvert.convert(frames, tmp_path / "frames.emd")
    data = emdconvert.read(out).datasets[0].data
    assert data.shape == (3, 4, 6)
    assert [int(data[i][0, 0]) for i in range(3)] == [1, 2, 10]
    globbed = emdconvert.convert(str(frames / "frame*.tif"), tmp_path / "glob.emd")
    assert emdconvert.read(globbed).datasets[0].shape == (3, 4, 6)


def test_frames_of_different_shape_are_a_clear_error(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    tifffile.imwrite(frames / "a1.tif", np.zeros((4, 6), np.uint16))
    tifffile.imwrite(frames / "a2.tif", np.zeros((4, 5), np.uint16))
    with pytest.raises(FormatError, match="all frames of a stack must match"):
        emdconvert.convert(frames, tmp_path / "bad.emd")
    assert not (tmp_path / "bad.emd").exists()


def test_imagej_hyperstack_reads_all_axes(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": "TZYX"})
    model = emdconvert.read(tmp_path / "h.tif")
    np.testing.assert_array_equal(np.asarray(model.datasets[0].data[...]), data)
    np.testing.assert_array_equal(model.datasets[0].data[1, 2], data[1, 2])


def test_complex_and_1d_are_refused_by_the_writer(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError, match="complex"):
        emdconvert.write(EMDFile.from_array(np.zeros((3, 3), np.complex64)), tmp_path / "c.tif")
    with pytest.raises(UnsupportedError, match="2-D"):
        emdconvert.write(EMDFile.from_array(np.zeros(5, np.uint8)), tmp_path / "d.tif")
    assert not list(tmp_path.iterdir())


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["imagej_stack.tif", "dm_stack.tif", "olympus_SIS.tif"])
def test_corpus_tiff_matches_rsciio(corpus: Path, tmp_path: Path, name: str) -> None:
    from rsciio.tiff import file_reader

    source = tmp_path / name
    shutil.copyfile(corpus / "tiff" / name, source)
    out = emdconvert.convert(source, tmp_path / "out.emd")
    ours = emdconvert.read(out).datasets
    theirs = file_reader(str(source))
    assert len(ours) == len(theirs)
    for mine, signal in zip(ours, theirs, strict=True):
        expected = signal["data"]
        if expected.dtype.names:  # rsciio's structured RGB vs our channel axis
            expected = np.stack([expected[n] for n in expected.dtype.names], axis=-1)
        np.testing.assert_array_equal(np.asarray(mine.data[...]), expected)
        for dim, axis in zip(mine.dims, signal["axes"], strict=False):
            assert dim.size == axis["size"]
            assert dim.scale == pytest.approx(axis["scale"])
            if axis["name"] == "depth" and not axis["units"]:
                continue  # rsciio drops ImageJ's z unit: see test_tiff_calibration_read.py
            assert dim.units == (axis["units"] or "")


@pytest.mark.parametrize(
    ("byteorder", "compression", "streamed"),
    [("<", None, True), (">", None, True), ("<", "zlib", False)],
)
def test_uncompressed_stacks_stream_through_pread(
    tmp_path: Path, byteorder: str, compression: str | None, streamed: bool
) -> None:
    data = stack(4, "u2")
    tifffile.imwrite(
        tmp_path / "s.tif",
        data,
        byteorder=byteorder,
        compression=compression,
        photometric="minisblack",
        bigtiff=True,
    )
    array = emdconvert.read(tmp_path / "s.tif").datasets[0].data
    assert isinstance(array, RawFileArray) is streamed
    np.testing.assert_array_equal(np.asarray(array[...]), data)
    out = emdconvert.convert(tmp_path / "s.tif", tmp_path / "s.emd")
    np.testing.assert_array_equal(np.asarray(emdconvert.read(out).datasets[0].data[...]), data)
