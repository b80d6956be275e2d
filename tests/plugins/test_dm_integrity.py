"""DM3/DM4 files whose header or tags disagree with their data never convert "successfully".

Inputs come from nionswift-io's writer and from real corpus files, patched at byte
offsets found by an independent tag walker (:func:`support.dm_files.dm_tag_values`);
what the data should be comes from rsciio's eager reader, never from our own reader.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.dm_files import dm_big_endian, dm_patch, write_dm
from support.rsciio_oracle import rsciio_emd_arrays

import emdconvert
from emdconvert.completeness import check_complete
from emdconvert.errors import FormatError, IncompleteError, UnsupportedError

Maker = Callable[[Path], Path]


def nion(shape: tuple[int, ...], dtype: str, version: int) -> Maker:
    def make(folder: Path) -> Path:
        path = folder / f"nion_{'x'.join(map(str, shape))}_{dtype}.dm{version}"
        write_dm(path, (np.arange(np.prod(shape)) % 251).astype(dtype).reshape(shape), version)
        return path

    return make


def corpus_file(name: str) -> Maker:
    def make(folder: Path) -> Path:
        from support.corpus import corpus_dir

        source = corpus_dir() / "dm" / name
        if not source.is_file():
            pytest.skip(f"corpus file {name} not found")
        return Path(shutil.copyfile(source, folder / name))

    return make


def crafted(base: Maker, changes: dict[str, int]) -> Maker:
    """A nionswift-io file with tag values patched: RGB and packed-complex images, which
    nionswift-io cannot write, are a uint32 or float image with another DataType."""

    def make(folder: Path) -> Path:
        source = base(folder)
        path = folder / f"crafted_{source.name}"
        dm_patch(source, path, changes)
        return path

    return make


def rsciio_eager(path: Path) -> list[np.ndarray]:
    from rsciio.digitalmicrograph import file_reader

    return [signal["data"] for signal in file_reader(str(path), lazy=False)]


def assert_corrupt(path: Path, *fragments: str) -> None:
    """Conversion fails as "corrupt" (exit 3), names *fragments*, and writes nothing."""
    out = path.with_suffix(".emd")
    with pytest.raises(FormatError) as caught:
        emdconvert.convert(path, out)
    assert not isinstance(caught.value, IncompleteError), str(caught.value)
    assert (caught.value.kind, caught.value.exit_code) == ("corrupt", 3)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert not out.exists()


# (case, file maker, Dimensions entry to patch, new value, elements Dimensions then declare,
# elements the Data tag holds).  Dimensions are x first: entry 0 is the fastest axis.  The
# larger cases still fit in the file, so only the Data tag's count can tell.
PACKED64 = crafted(
    nion((4, 8), "float32", 4), {"ImageData/DataType": 27, "ImageData/Dimensions/0": 6}
)
DIMENSION_CASES = [
    ("nion-dm3-larger", nion((48, 64), "int16", 3), 1, 50, 3200, 3072),
    ("nion-dm3-smaller", nion((48, 64), "int16", 3), 1, 47, 3008, 3072),
    ("nion-dm4-larger", nion((48, 64), "float32", 4), 0, 66, 3168, 3072),
    ("nion-dm4-smaller", nion((48, 64), "float32", 4), 0, 63, 3024, 3072),
    ("corpus-dm3-larger", corpus_file("2D_test-1.dm3"), 0, 8, 16, 4),
    ("corpus-dm3-smaller", corpus_file("2D_test-1.dm3"), 1, 1, 2, 4),
    ("corpus-dm4-larger", corpus_file("2D_test-1.dm4"), 1, 8, 16, 4),
    ("corpus-dm4-smaller", corpus_file("2D_test-1.dm4"), 0, 1, 2, 4),
    ("nion-3d-larger", nion((3, 5, 7), "float64", 4), 2, 4, 140, 105),
    ("nion-4d-smaller", nion((2, 3, 5, 7), "uint16", 3), 3, 1, 105, 210),
    ("nion-complex-larger", nion((5, 7), "complex64", 3), 0, 9, 45, 35),
    ("rgb-smaller", crafted(nion((5, 7), "uint32", 4), {"ImageData/DataType": 23}), 1, 4, 28, 35),
    # Packed complex holds ny * (nx / 2 + 1) complex values as 2 floats each.
    ("packed-complex-larger", PACKED64, 0, 10, 48, 32),
    ("packed-complex-smaller", PACKED64, 1, 3, 24, 32),
]


@pytest.mark.parametrize(
    ("make", "entry", "value", "declared", "held"),
    [case[1:] for case in DIMENSION_CASES],
    ids=[case[0] for case in DIMENSION_CASES],
)
def test_dimensions_disagreeing_with_the_data_tag_are_corrupt(
    tmp_path: Path, make: Maker, entry: int, value: int, declared: int, held: int
) -> None:
    """Issue 12: larger Dimensions read the next tags as pixels, smaller ones drop data."""
    source = make(tmp_path)
    rsciio_eager(source)  # the unpatched file is fine
    bad = tmp_path / "invalid" / f"patched{source.suffix}"
    bad.parent.mkdir()
    dm_patch(source, bad, {f"ImageData/Dimensions/{entry}": value})
    with pytest.raises((ValueError, OSError)):  # rsciio's eager reader refuses it too
        rsciio_eager(bad)
    assert_corrupt(bad, f"Dimensions declare {declared} elements", f"the Data tag holds {held}")


def test_dimension_mismatch_is_exit_3_on_the_command_line(tmp_path: Path) -> None:
    source = nion((48, 64), "int16", 4)(tmp_path)
    bad = tmp_path / "invalid" / "bad.dm4"
    bad.parent.mkdir()
    dm_patch(source, bad, {"ImageData/Dimensions/1": 50})
    run = subprocess.run(
        [sys.executable, "-m", "emdconvert", str(bad), str(bad.with_suffix(".emd"))],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 3, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "Dimensions declare 3200 elements but the Data tag holds 3072" in run.stderr
    assert not bad.with_suffix(".emd").exists()


@pytest.mark.parametrize(("data_type", "name"), [(2, "float32"), (9, "int8"), (12, "float64")])
def test_data_tag_element_width_disagreeing_with_data_type_is_corrupt(
    tmp_path: Path, data_type: int, name: str
) -> None:
    """An int16 Data tag under a float32 DataType: rsciio reads 140 bytes where 70 belong
    (the following tags become pixels); we refuse it."""
    source = nion((5, 7), "int16", 3)(tmp_path)
    bad = tmp_path / "invalid" / "retyped.dm3"
    bad.parent.mkdir()
    dm_patch(source, bad, {"ImageData/DataType": data_type})
    width = np.dtype(name).itemsize
    assert_corrupt(bad, "the Data tag holds 70 bytes", f"35 {name} elements need {35 * width}")


def test_big_endian_pixels_are_read_in_the_file_byte_order(tmp_path: Path) -> None:
    """The header's byte-order word governs the pixels too: rsciio's eager reader ignores
    it for the data (it returns them byte-swapped), so the expectation is rsciio's
    reading of the little-endian original."""
    source = nion((5, 7), "int16", 3)(tmp_path)
    twin = tmp_path / "twin.dm3"
    dm_big_endian(source, twin)
    expected = rsciio_eager(source)[0]
    out = emdconvert.convert(twin, tmp_path / "twin.emd")
    (got,) = rsciio_emd_arrays(out)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "make",
    [crafted(nion((5, 7), "uint32", 4), {"ImageData/DataType": 23}), PACKED64],
    ids=["rgb", "packed-complex"],
)
def test_big_endian_rgb_and_packed_complex_are_refused(tmp_path: Path, make: Maker) -> None:
    """No independent reader knows their big-endian layout: refused, never swapped."""
    twin = tmp_path / "invalid" / "twin.dm4"
    twin.parent.mkdir()
    dm_big_endian(make(tmp_path), twin)
    with pytest.raises(UnsupportedError, match="big-endian"):
        emdconvert.convert(twin, twin.with_suffix(".emd"))
    assert not twin.with_suffix(".emd").exists()


def test_old_packed_complex_converts_like_rsciio(tmp_path: Path) -> None:
    """DataType 5 (2N x 2N FFT, half stored): rsciio unpacks it with numpy, which its
    lazy dask path cannot feed, so it is read whole."""
    source = crafted(nion((4, 4), "float32", 3), {"ImageData/DataType": 5})(tmp_path)
    (expected,) = rsciio_eager(source)
    (got,) = rsciio_emd_arrays(emdconvert.convert(source, tmp_path / "fft.emd"))
    assert got.dtype == expected.dtype == np.complex64
    np.testing.assert_array_equal(got, expected)


def _header_damaged(
    source: Path, target: Path, version: int | None = None, byte_order: int | None = None
) -> Path:
    raw = bytearray(source.read_bytes())
    word = 8 if raw[3] == 4 else 4
    if byte_order is not None:
        raw[4 + word : 8 + word] = byte_order.to_bytes(4, "big")
    if version is not None:
        raw[:4] = version.to_bytes(4, "big")
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(raw)
    return target


@pytest.mark.parametrize(
    ("version", "wrong", "byte_order", "fragment"),
    [
        (3, 4, None, "DM3"),  # a DM3 body under a DM4 version word: "declares" ~2^32 x more
        (4, 3, None, "DM4"),  # a DM4 body under a DM3 version word
        (3, None, 2, "byte-order word 2"),
        (4, None, 0x01000000, "byte-order word 16777216"),
    ],
    ids=["dm3-body-v4", "dm4-body-v3", "dm3-order-2", "dm4-order-swapped"],
)
def test_header_damage_is_corrupt_not_incomplete(
    tmp_path: Path, version: int, wrong: int | None, byte_order: int | None, fragment: str
) -> None:
    """Issue 12: "incomplete" means only "shorter than the header declares"."""
    source = nion((5, 7), "int16", version)(tmp_path)
    bad = _header_damaged(source, tmp_path / "invalid" / f"bad.dm{version}", wrong, byte_order)
    for attempt in (
        lambda: check_complete(bad, plugin="dm"),
        lambda: emdconvert.convert(bad, bad.with_suffix(".emd"), reader="dm"),
    ):
        with pytest.raises(FormatError) as caught:
            attempt()
        assert not isinstance(caught.value, IncompleteError), str(caught.value)
        assert caught.value.kind == "corrupt"
        assert fragment in str(caught.value)

    # What stays "incomplete": the undamaged file, cut short.
    cut = tmp_path / "invalid" / f"cut.dm{version}"
    cut.write_bytes(source.read_bytes()[:-30])
    with pytest.raises(IncompleteError):
        check_complete(cut, plugin="dm")
