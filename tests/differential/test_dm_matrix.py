"""The DM differential matrix: nionswift-io writes, rsciio's eager reader is the judge.

Every DM dtype nionswift-io writes (uint8, bool and 64-bit integers it refuses), 1-D to
4-D with no two axes alike, DM3 and DM4, little-endian and the big-endian twin; RGB and
packed-complex images, which nionswift-io cannot write, are patched from images it can.
A file converts only if the data of our output, as rsciio reads it, are bit for bit and
dtype for dtype rsciio's eager reading of the source; a file rsciio refuses is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.dm_files import dm_big_endian, dm_patch, dm_tag_values, write_dm
from support.rsciio_oracle import rsciio_emd_arrays

import emdconvert
from emdconvert.errors import EmdConvertError
from emdconvert.lazy import RawFileArray

DTYPES = [
    "int8",
    "int16",
    "int32",
    "uint16",
    "uint32",
    "float32",
    "float64",
    "complex64",
    "complex128",
]
SHAPES = [(7,), (5, 7), (3, 5, 7), (2, 3, 5, 7)]


def sample(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Values over the dtype's whole range, so a byte swap or a shifted offset shows."""
    rng = np.random.default_rng(sum(shape) + len(dtype))
    kind = np.dtype(dtype)
    if kind.kind in "iu":
        info = np.iinfo(kind)
        return rng.integers(info.min, info.max, shape, dtype=kind, endpoint=True)
    values = rng.standard_normal(shape) * 1e3
    if kind.kind == "c":
        values = values + 1j * rng.standard_normal(shape)
    return values.astype(kind)


def rsciio_eager(path: Path) -> list[np.ndarray] | None:
    """rsciio's eager reading of a DM file (RGB as a trailing channel axis), None if it
    refuses the file."""
    from rsciio.digitalmicrograph import file_reader

    try:
        signals = file_reader(str(path), lazy=False)
    except Exception:  # any refusal: the judge says "not readable"
        return None
    return [channels_last(np.asarray(signal["data"])) for signal in signals]


def rsciio_data_only(path: Path) -> list[np.ndarray]:
    """rsciio's eager data path alone: its parser and ``ImageObject.get_data(lazy=False)``
    per image, which is what ``file_reader`` returns as data, without the HyperSpy
    metadata mapping it builds afterwards (which needs ``ImageTags`` and more)."""
    from rsciio.digitalmicrograph._api import DigitalMicrographReader, ImageObject

    with open(path, "rb") as handle:
        reader = DigitalMicrographReader(handle)
        reader.parse_file()
        images = [ImageObject(imdict, handle) for imdict in reader.get_image_dictionaries()]
        arrays = []
        for image in images:
            image.filename = str(path)
            arrays.append(channels_last(np.asarray(image.get_data(lazy=False))))
    return arrays


def channels_last(array: np.ndarray) -> np.ndarray:
    """rsciio's structured RGB(A) as the trailing channel axis we store (README, EMD layout L13)."""
    if array.dtype.names is None:
        return array
    return np.stack([array[name] for name in array.dtype.names], axis=-1)


def assert_converts_as(source: Path, expected: list[np.ndarray] | None, out: Path) -> None:
    """Exit 0 with rsciio's data, or refused (one line, no output) when *expected* is None."""
    if expected is None:
        with pytest.raises(EmdConvertError) as refused:
            emdconvert.convert(source, out)
        assert "\n" not in str(refused.value) and not out.exists()
        return
    got = rsciio_emd_arrays(emdconvert.convert(source, out))
    assert len(got) == len(expected), source.name
    for mine, theirs in zip(got, expected, strict=True):
        assert (mine.dtype, mine.shape) == (theirs.dtype, theirs.shape), source.name
        assert mine.tobytes() == theirs.tobytes(), source.name
    out.unlink()


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_nionswift_dm_matrix_matches_rsciio(tmp_path: Path, dtype: str, version: int) -> None:
    """Every numeric DM type nionswift-io writes, 1-D to 4-D, both byte orders.

    rsciio reads a big-endian file's tags big-endian but its pixels little-endian, so a
    twin's expectation is rsciio's reading of the little-endian original.
    """
    for shape in SHAPES:
        data = sample(shape, dtype)
        source = tmp_path / f"scan {len(shape)}D, µ ({dtype}).dm{version}"
        write_dm(source, data, version)
        # Plain DM data stream through pread, not rsciio's per-block memmaps.
        assert isinstance(emdconvert.read(source).datasets[0].data, RawFileArray)
        expected = rsciio_eager(source)
        assert expected is not None, source.name
        assert_converts_as(source, expected, tmp_path / f"{len(shape)}.emd")
        # Our own reading of the output agrees too (the round trip of emdconvert.read).
        out = emdconvert.convert(source, tmp_path / f"{len(shape)}.emd")
        mine = emdconvert.read(out).datasets[0]
        np.testing.assert_array_equal(np.asarray(mine.data[...]), expected[0])
        assert mine.dtype == expected[0].dtype
        out.unlink()
        twin = tmp_path / f"big-endian {len(shape)}D.dm{version}"
        dm_big_endian(source, twin)
        assert_converts_as(twin, expected, tmp_path / f"{len(shape)}-be.emd")


CRAFTED = {  # name: (nionswift-io image, DataType, new x Dimension or None)
    "rgba-2d": ((5, 7), "uint32", 23, None),
    "rgb-3d": ((3, 5, 7), "uint32", 8, None),
    "packed-complex64": ((4, 8), "float32", 27, 6),
    "packed-complex128": ((6, 10), "float64", 28, 8),
    "old-packed-complex": ((4, 4), "float32", 5, None),
}


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_rgb_and_packed_complex_match_rsciio(tmp_path: Path, name: str, version: int) -> None:
    """RGB(A) (whose data elements are pixels of 4 bytes) and packed complex (whose Data
    tag holds ny * (nx / 2 + 1) complex values as float pairs)."""
    shape, dtype, data_type, width = CRAFTED[name]
    base = tmp_path / f"base.dm{version}"
    write_dm(base, sample(shape, dtype), version)
    source = tmp_path / f"{name}.dm{version}"
    changes = {"ImageData/DataType": data_type}
    if width is not None:
        changes["ImageData/Dimensions/0"] = width
    dm_patch(base, source, changes)
    expected = rsciio_eager(source)
    assert expected is not None
    assert_converts_as(source, expected, tmp_path / f"{name}.emd")


@pytest.mark.parametrize("version", [3, 4])
def test_nionswift_rgb_is_refused_like_rsciio(tmp_path: Path, version: int) -> None:
    """nionswift-io writes RGB without calibrations, which rsciio refuses: so do we."""
    from nion.data import DataAndMetadata
    from nionswift_plugin.DM_IO import dm3_image_utils

    source = tmp_path / "invalid" / f"rgb.dm{version}"
    source.parent.mkdir()
    rgb = (np.arange(5 * 7 * 3) % 251).astype(np.uint8).reshape(5, 7, 3)
    xdata = DataAndMetadata.new_data_and_metadata(
        rgb, data_descriptor=DataAndMetadata.DataDescriptor(False, 0, 2)
    )
    with open(source, "wb") as handle:
        dm3_image_utils.save_image(xdata, handle, version)
    assert rsciio_eager(source) is None
    assert_converts_as(source, None, source.with_suffix(".emd"))


#: Words a damaged or hostile tag directory is likely to hold.
EXTREMES = (0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
MUTANTS_PER_FILE = 50


def mutants(source: Path, folder: Path) -> list[tuple[str, Path]]:
    """~50 deterministic copies of *source*, one little-endian 4-byte word overwritten
    with an extreme value: the header words, every value of the image's ImageData tags
    (DataType, Dimensions, calibrations ...), the Data tag's own header (delimiter,
    info array, sizes) and words sampled over the rest of the tag directory."""
    values = dm_tag_values(source)
    image = max(path[1] for path, *_ in values if path[0] == "ImageList")
    data = next(
        o
        for path, o, *_ in values
        if path[:1] == ("ImageList",) and path[1:] == (image, "ImageData", "Data")
    )
    data_end = next(
        o + s * n
        for path, o, s, n in values
        if path[:1] == ("ImageList",) and path[1:] == (image, "ImageData", "Data")
    )
    raw = source.read_bytes()
    near = [
        o for path, o, s, _ in values if path[:3] == ("ImageList", image, "ImageData") and s == 4
    ]
    sites = sorted({4, 8, 12, *near, *range(max(0, data - 48), data, 4)})
    rng = np.random.default_rng(len(raw))
    spread = rng.choice(
        [o for o in range(16, len(raw) - 4, 4) if not data <= o < data_end],
        size=MUTANTS_PER_FILE,
        replace=False,
    )
    chosen = [(int(site), EXTREMES[k % len(EXTREMES)]) for k, site in enumerate(sites)]
    chosen += [(int(site), EXTREMES[int(rng.integers(len(EXTREMES)))]) for site in spread]
    picks = rng.choice(len(chosen), size=min(MUTANTS_PER_FILE, len(chosen)), replace=False)
    out = []
    for k in sorted(int(p) for p in picks):
        offset, value = chosen[k]
        mutant = bytearray(raw)
        mutant[offset : offset + 4] = value.to_bytes(4, "little")
        path = folder / f"m{k}{source.suffix}"
        path.write_bytes(mutant)
        out.append((f"{source.name} @{offset}={value:#x}", path))
    return out


@pytest.mark.slow
def test_dm_mutants_convert_only_with_rsciio_s_data(tmp_path: Path, corpus: Path) -> None:
    """Exit 0 on a mutant implies rsciio's eager reader reads it, with the same data.

    Refusing what rsciio reads is allowed: we are stricter about Data tags whose element
    width disagrees with DataType (rsciio reads them at the wrong width) and header
    words.  rsciio's ``file_reader`` refuses some mutants for no data reason: building
    HyperSpy's metadata mapping after reading the data, it needs tags such as
    ``ImageTags`` that a mutated tag count drops.  For those the judge is rsciio's data
    path alone (:func:`rsciio_data_only`).
    """
    folder = tmp_path / "invalid"
    folder.mkdir()
    sources = [
        folder / "corpus.dm4",
        folder / "int16.dm3",
        folder / "float32.dm4",
        folder / "complex64.dm4",
    ]
    sources[0].write_bytes((corpus / "dm" / "2D_test-1.dm4").read_bytes())
    write_dm(sources[1], sample((5, 7), "int16"), 3)
    write_dm(sources[2], sample((3, 5, 7), "float32"), 4)
    write_dm(sources[3], sample((5, 7), "complex64"), 4)
    converted, metadata_only = 0, []
    for source in sources:
        for name, mutant in mutants(source, folder):
            out = mutant.with_suffix(".emd")
            try:
                emdconvert.convert(mutant, out)
            except EmdConvertError as exc:
                assert "\n" not in str(exc) and not out.exists(), name
                continue
            converted += 1
            expected = rsciio_eager(mutant)
            if expected is None:  # refused, but maybe only by the metadata mapping
                try:
                    expected = rsciio_data_only(mutant)
                except Exception as exc:
                    pytest.fail(f"{name}: converted, but rsciio refuses it ({exc!r})")
                metadata_only.append(name)
            got = rsciio_emd_arrays(out)
            assert len(got) == len(expected), name
            for mine, theirs in zip(got, expected, strict=True):
                assert (mine.dtype, mine.shape) == (theirs.dtype, theirs.shape), name
                assert mine.tobytes() == theirs.tobytes(), name
            out.unlink()
    assert converted > 20  # the oracle saw successes, not only refusals
    assert len(metadata_only) < converted // 2, metadata_only
