"""TIFF integrity: a damaged page list or data index never converts into wrong data.

Inputs are written by tifffile and then damaged by patching tag values with ``struct``
at the file offsets tifffile reports; expectations come from tifffile and rsciio, never
from our own reader.  Files deliberately broken live under ``tmp_path / "invalid"``.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile
from support.rsciio_oracle import rsciio_emd_arrays

import emdconvert
from emdconvert.errors import EmdConvertError, FormatError, IncompleteError
from emdconvert.testing import leftovers

#: struct codes of the TIFF integer types an offset, count or size tag may use.
_TAG_FORMATS = {3: "H", 4: "I", 16: "Q"}


def frames(n: int = 5, shape: tuple[int, int] = (16, 24), dtype: str = "u2") -> np.ndarray:
    """Distinct nonzero frames, so a frame read as zeros cannot pass for data."""
    size = n * shape[0] * shape[1]
    return (np.arange(size) % 250 + 1).astype(dtype).reshape(n, *shape)


def invalid(tmp_path: Path) -> Path:
    folder = tmp_path / "invalid"
    folder.mkdir(exist_ok=True)
    return folder


def patch_tag(path: Path, page: int, tag: str, value: int) -> None:
    """Overwrite the first item of *tag*'s value on *page*, in place, in the file's byte
    order (``valueoffset`` is where tifffile found it: in the entry or in an array)."""
    with tifffile.TiffFile(path) as tif:
        found = tif.pages[page].tags[tag]
        code = f"{tif.byteorder}{_TAG_FORMATS[int(found.dtype)]}"
        where = found.valueoffset
    with open(path, "r+b") as handle:
        handle.seek(where)
        handle.write(struct.pack(code, value))


def next_ifd_pointer(path: Path, page: int) -> tuple[int, str]:
    """File offset of *page*'s next-IFD pointer, and its struct code (parsed by hand)."""
    with tifffile.TiffFile(path) as tif:
        offset, order, big = tif.pages[page].offset, tif.byteorder, tif.is_bigtiff
    count_code, entry, pointer = ("Q", 20, "Q") if big else ("H", 12, "I")
    with open(path, "rb") as handle:
        handle.seek(offset)
        raw = handle.read(struct.calcsize(count_code))
    (tags,) = struct.unpack(order + count_code, raw)
    return offset + struct.calcsize(count_code) + tags * entry, order + pointer


def refused(src: Path, tmp_path: Path) -> EmdConvertError:
    """Convert *src*, expect a clean exit-3 refusal, and check nothing was published."""
    out = tmp_path / "invalid" / f"{src.stem}.emd"
    with pytest.raises(EmdConvertError) as caught:
        emdconvert.convert(src, out)
    assert caught.value.exit_code == 3, caught.value
    assert "\n" not in str(caught.value)
    assert not out.exists() and not leftovers(out.parent)
    return caught.value


# -- pages with no data ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("compression", "tile", "tag"),
    [
        ("zlib", None, "StripByteCounts"),
        ("lzw", None, "StripByteCounts"),
        ("zlib", None, "StripOffsets"),
        (None, None, "StripOffsets"),
        ("zlib", (16, 16), "TileByteCounts"),
        ("zlib", (16, 16), "TileOffsets"),
    ],
)
def test_a_page_without_data_is_corrupt(
    tmp_path: Path, compression: str | None, tile: tuple[int, int] | None, tag: str
) -> None:
    # tifffile reads a missing strip or tile as zeros (its "empty segment"), so the
    # stack converted with a block of zeros in frame 3 and exit 0; an uncompressed strip
    # at offset 0 was read from the file header.
    src = invalid(tmp_path) / "stack.tif"
    tifffile.imwrite(
        src,
        frames(shape=(32, 48)),
        compression=compression,
        tile=tile,
        rowsperstrip=None if tile else 8,
        photometric="minisblack",
    )
    patch_tag(src, 3, tag, 0)
    error = refused(src, tmp_path)
    assert isinstance(error, FormatError) and not isinstance(error, IncompleteError)
    assert error.kind == "corrupt"
    assert f"page 3 has no data: {tag} 0" in str(error)


# -- the page list -------------------------------------------------------------------


@pytest.mark.parametrize("bigtiff", [False, True])
def test_a_circular_page_list_is_corrupt_not_incomplete(tmp_path: Path, bigtiff: bool) -> None:
    # "incomplete" tells the watch daemon to wait for the rest of the file; a loop
    # in the page list never resolves, and is a different failure.
    src = invalid(tmp_path) / "circular.tif"
    tifffile.imwrite(src, frames(), bigtiff=bigtiff, photometric="minisblack", metadata=None)
    with tifffile.TiffFile(src) as tif:
        target = tif.pages[1].offset
    where, code = next_ifd_pointer(src, 3)
    with open(src, "r+b") as handle:
        handle.seek(where)
        handle.write(struct.pack(code, target))
    error = refused(src, tmp_path)
    assert not isinstance(error, IncompleteError)
    assert error.kind == "corrupt"
    assert "circular" in str(error)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_cut_stack_is_still_incomplete(tmp_path: Path, cut: float) -> None:
    src = invalid(tmp_path) / "cut.tif"
    tifffile.imwrite(src, frames(20, (64, 64)), compression="zlib", photometric="minisblack")
    content = src.read_bytes()
    src.write_bytes(content[: int(len(content) * cut)])
    assert isinstance(refused(src, tmp_path), IncompleteError)


def test_a_next_page_pointer_past_the_end_is_incomplete(tmp_path: Path) -> None:
    # The header declares a page the file does not (yet) hold.
    src = invalid(tmp_path) / "pointer.tif"
    tifffile.imwrite(src, frames(), photometric="minisblack", metadata=None)
    where, code = next_ifd_pointer(src, 4)
    with open(src, "r+b") as handle:
        handle.seek(where)
        handle.write(struct.pack(code, src.stat().st_size + 4096))
    assert isinstance(refused(src, tmp_path), IncompleteError)


# -- impossible geometry ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tile", "tag"), [((16, 16), "TileWidth"), ((16, 16), "TileLength"), (None, "RowsPerStrip")]
)
def test_a_zero_tile_or_strip_size_is_corrupt(
    tmp_path: Path, tile: tuple[int, int] | None, tag: str
) -> None:
    # TileWidth 0 used to end in ZeroDivisionError inside tifffile (exit 70).
    src = invalid(tmp_path) / "zero.tif"
    tifffile.imwrite(
        src,
        frames(3, (32, 48)),
        compression="zlib",
        tile=tile,
        rowsperstrip=None if tile else 8,
        photometric="minisblack",
    )
    patch_tag(src, 0, tag, 0)
    error = refused(src, tmp_path)
    assert error.kind == "corrupt"
    assert f"{tag} 0" in str(error)


@pytest.mark.parametrize(
    ("tag", "value", "words"),
    [
        ("ImageLength", 2**32 - 1, "its size needs 715827883 strips but it lists 4 StripOffsets"),
        ("BitsPerSample", 0, "unsupported sample type (SampleFormat 1, BitsPerSample 0)"),
        ("TileLength", None, "TileLength 0"),
    ],
)
def test_forged_page_headers_fail_early_and_clearly(
    tmp_path: Path, tag: str, value: int | None, words: str
) -> None:
    # Found by the mutants below: a forged ImageLength made the per-strip check allocate
    # arrays for 700 million strips (MemoryError); BitsPerSample 0 ended as "cannot
    # reshape array of size 0"; a TileLength tag renamed away, in ZeroDivisionError.
    src = invalid(tmp_path) / "forged.tif"
    tile = (16, 16) if tag == "TileLength" else None
    tifffile.imwrite(
        src,
        frames(3, (24, 40)),
        tile=tile,
        rowsperstrip=None if tile else 6,
        photometric="minisblack",
        metadata=None,
    )
    if value is None:  # give the tag an unknown code: as if it were missing
        with tifffile.TiffFile(src) as tif:
            entry = tif.pages[0].tags[tag].offset
        with open(src, "r+b") as handle:
            handle.seek(entry)
            handle.write(struct.pack("<H", 65000))
    else:
        patch_tag(src, 0, tag, value)
    assert words in str(refused(src, tmp_path))


# -- packed bit depths -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "samples", "planar"),
    [
        (1, 1, None),
        (2, 1, None),
        (4, 1, None),
        (10, 1, None),
        (12, 1, None),
        (14, 1, None),
        (24, 1, None),
        (12, 3, "contig"),
        (4, 3, "separate"),
    ],
)
def test_packed_bit_depths_convert_exactly(
    tmp_path: Path, bits: int, samples: int, planar: str | None
) -> None:
    # Rows of packed samples are padded to a whole byte: an odd width (45) makes the
    # padding matter.  These files were refused as "declared size ... but its strips
    # hold ..." because the check counted 8 or 16 bits per sample.
    rng = np.random.default_rng(bits)
    shape = {None: (3, 31, 45), "contig": (3, 31, 45, samples), "separate": (3, samples, 31, 45)}[
        planar
    ]
    dtype = bool if bits == 1 else np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32
    data = rng.integers(0, 2**bits, shape).astype(dtype)
    src = tmp_path / "packed.tif"
    options = {} if bits == 1 else {"bitspersample": bits}
    tifffile.imwrite(
        src,
        data,
        photometric="rgb" if samples == 3 else "minisblack",
        planarconfig=planar,
        rowsperstrip=7,
        **options,
    )
    expected = tifffile.imread(src)
    np.testing.assert_array_equal(expected, data)  # the writer did what we asked
    out = emdconvert.convert(src, tmp_path / "packed.emd")
    (ours,) = rsciio_emd_arrays(out)
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours, expected)


# -- mutants -------------------------------------------------------------------------

MUTANTS_PER_SEED = 50


def _seed_zlib_stack(path: Path) -> None:
    tifffile.imwrite(
        path, frames(4, (24, 40)), compression="zlib", rowsperstrip=8, photometric="minisblack"
    )


def _seed_tiled(path: Path) -> None:
    tifffile.imwrite(
        path, frames(2, (24, 40), "u1"), tile=(16, 16), photometric="minisblack", byteorder=">"
    )


def _seed_plain(path: Path) -> None:
    tifffile.imwrite(
        path, frames(3, (24, 40), "f4"), rowsperstrip=6, photometric="minisblack", metadata=None
    )


def structure(path: Path) -> list[tuple[int, int]]:
    """Byte ranges holding the header, the IFDs and their out-of-line tag values."""
    ranges = [(0, 16)]
    with tifffile.TiffFile(path) as tif:
        entry = 20 if tif.is_bigtiff else 12
        for page in tif.pages:
            ranges.append((page.offset, page.offset + 16 + len(page.tags) * entry))
            for tag in page.tags:
                size = tag.count * struct.calcsize(tif.byteorder + tag.dataformat[-1])
                if size <= 4096:
                    ranges.append((tag.valueoffset, tag.valueoffset + size))
    return ranges


def mutate(content: bytes, ranges: list[tuple[int, int]], seed: int) -> tuple[bytes, str]:
    """One deterministic mutation, mostly in the TIFF structure; and what it did."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.8:
        start, stop = ranges[int(rng.integers(len(ranges)))]
        where = int(rng.integers(start, max(start + 1, min(stop, len(content)))))
    else:
        where = int(rng.integers(len(content)))
    kind = ("byte", "bit", "zero", "ones", "int")[int(rng.integers(5))]
    patch = {
        "byte": bytes([int(rng.integers(256))]),
        "bit": bytes([content[where] ^ (1 << int(rng.integers(8)))]),
        "zero": bytes(4),
        "ones": b"\xff" * 4,
        "int": struct.pack("<I", int(rng.integers(2**32))),
    }[kind]
    mutant = content[:where] + patch + content[where + len(patch) :]
    return mutant[: len(content)], f"{kind} at byte {where}"


@pytest.fixture(params=["zlib_stack", "tiled", "plain", "corpus_imagej_stack"])
def mutant_seed(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"{request.param}.tif"
    if request.param.startswith("corpus_"):
        corpus = request.getfixturevalue("corpus")
        path.write_bytes((corpus / "tiff" / "imagej_stack.tif").read_bytes())
    else:
        globals()[f"_seed_{request.param}"](path)
    return path


def test_a_mutant_we_convert_is_read_identically_by_tifffile(
    mutant_seed: Path, tmp_path: Path
) -> None:
    # Exit 0 is a promise about the data: whatever we accept, tifffile must read too,
    # and to the same values.  Refusals must be clean (exit 3 or 5, never internal).
    content, ranges = mutant_seed.read_bytes(), structure(mutant_seed)
    src, out = invalid(tmp_path) / "mutant.tif", tmp_path / "mutant.emd"
    problems = []
    for seed in range(MUTANTS_PER_SEED):
        mutant, what = mutate(content, ranges, seed)
        src.write_bytes(mutant)
        try:
            emdconvert.convert(src, out, overwrite=True)
        except EmdConvertError as error:
            if error.exit_code not in (3, 5):
                problems.append(f"{what}: exit {error.exit_code}: {error}")
            continue
        try:
            with tifffile.TiffFile(src) as tif:
                expected = [series.asarray() for series in tif.series]
        except Exception as error:  # any failure of the oracle counts
            problems.append(f"{what}: converted, but tifffile fails: {error!r}")
            continue
        ours = rsciio_emd_arrays(out)
        if [(a.shape, a.dtype.newbyteorder("=")) for a in ours] != [
            (e.shape, e.dtype.newbyteorder("=")) for e in expected
        ] or not all(
            np.array_equal(a, e, equal_nan=a.dtype.kind in "fc")
            for a, e in zip(ours, expected, strict=True)
        ):
            problems.append(f"{what}: converted to data tifffile does not read")
        out.unlink()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("silenced", ["disabled", "critical-only"])
def test_silencing_tifffile_logging_hides_no_damage(tmp_path: Path, silenced: str) -> None:
    # Page 0 claims 32 rows, page 1 of the same shaped series 24: tifffile only logs
    # it.  With its logger disabled (what logging.config.dictConfig does to existing
    # loggers by default) this converted to a 32 x 40 image, 320 pixels of zeros.
    src = invalid(tmp_path) / "mismatch.tif"
    tifffile.imwrite(src, frames(2, (24, 40), "u1"), tile=(16, 16), photometric="minisblack")
    patch_tag(src, 0, "ImageLength", 32)
    logger = logging.getLogger("tifffile")
    before = (logger.level, logger.disabled)
    try:
        if silenced == "disabled":
            logger.disabled = True
        else:
            logger.setLevel(logging.CRITICAL)
        assert "does not match" in str(refused(src, tmp_path))
        assert (logger.level, logger.disabled) == (
            (before[0], True) if silenced == "disabled" else (logging.CRITICAL, False)
        )
    finally:
        logger.setLevel(before[0])
        logger.disabled = before[1]
