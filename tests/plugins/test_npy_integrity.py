"""Issue 12, NumPy slice: an ``.npz`` member whose bytes fail its CRC-32 never converts,
and members that share a name each keep their own data.

Inputs are written by numpy and :mod:`zipfile` and damaged with plain byte patches; the
expectations come from zipfile's own CRC check (``testzip``), numpy's reader of each
member, and rsciio's reading of what we wrote.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support.rsciio_oracle import rsciio_emd_arrays

import emdconvert
from emdconvert.errors import FormatError
from emdconvert.lazy import block_indices
from emdconvert.testing import leftovers

#: Larger than anything checked when the archive is opened: its CRC is summed while the
#: writer streams it (12 MiB, three 4 MiB chunks).
BIG = np.arange(768 * 4096, dtype=np.float32).reshape(768, 4096)
SMALL = np.arange(1000, dtype=np.int32)


def payload_start(path: Path, name: str) -> tuple[int, int]:
    """(first byte of the member's data in the archive, its length), from the local header."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x5A
    path.write_bytes(bytes(raw))


def member_arrays(path: Path) -> list[np.ndarray]:
    """Every member in directory order, each opened by its own ZipInfo and read by numpy."""
    with zipfile.ZipFile(path) as archive:
        return [np.lib.format.read_array(archive.open(info)) for info in archive.infolist()]


def assert_refused(src: Path, tmp_path: Path, member: str) -> None:
    dst = tmp_path / "out.emd"
    with pytest.raises(FormatError, match=f"{member}.*CRC") as caught:
        emdconvert.convert(src, dst)
    assert (caught.value.exit_code, caught.value.kind) == (3, "corrupt")
    assert not dst.exists() and not leftovers(tmp_path)


@pytest.mark.parametrize(("array", "where"), [(SMALL, 0.5), (BIG, 0.0), (BIG, 0.6), (BIG, 1.0)])
def test_flipped_byte_in_stored_member_is_refused(
    tmp_path: Path, array: np.ndarray, where: float
) -> None:
    src = tmp_path / "s.npz"
    np.savez(src, other=np.ones(3), data=array)
    start, length = payload_start(src, "data.npy")
    flip(src, start + 128 + round(where * (length - 129)))  # 128: past the .npy header
    with zipfile.ZipFile(src) as archive:
        assert archive.testzip() == "data.npy"  # zipfile agrees the member is damaged
    assert_refused(src, tmp_path, "data.npy")


def test_flipped_byte_in_fortran_member_is_refused(tmp_path: Path) -> None:
    """Fortran order is read in strided pieces: the CRC needs its own pass."""
    src = tmp_path / "f.npz"
    np.savez(src, data=np.asfortranarray(BIG))
    start, length = payload_start(src, "data.npy")
    flip(src, start + length - 1)
    assert_refused(src, tmp_path, "data.npy")


def test_damaged_bytes_after_the_array_are_refused(tmp_path: Path) -> None:
    """The CRC covers the whole member, including bytes numpy never reads."""
    buffer = io.BytesIO()
    np.save(buffer, BIG)
    src = tmp_path / "t.npz"
    with zipfile.ZipFile(src, "w") as archive:
        archive.writestr("data.npy", buffer.getvalue() + b"\0" * 1000)
    start, length = payload_start(src, "data.npy")
    flip(src, start + length - 10)
    with np.load(src) as loaded:
        np.testing.assert_array_equal(loaded["data"], BIG)
    assert_refused(src, tmp_path, "data.npy")


def test_good_stored_members_convert_bit_exact(tmp_path: Path) -> None:
    src = tmp_path / "g.npz"
    # (rsciio lists groups by name: these names sort in directory order)
    np.savez(src, a_big=BIG, b_small=SMALL, c_fortran=np.asfortranarray(BIG[:300]))
    emdconvert.convert(src, tmp_path / "g.emd", threads=4)
    for found, expected in zip(
        rsciio_emd_arrays(tmp_path / "g.emd"), member_arrays(src), strict=True
    ):
        np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize("held", [None, 0])
@pytest.mark.parametrize("damaged", [False, True])
def test_blocks_read_out_of_order_and_twice_are_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damaged: bool, held: int | None
) -> None:
    """Reverse order, a block read twice; with ``held=0`` nothing out of order can be held
    back, so the check falls back to a separate pass over the member."""
    from emdconvert.plugins.npy import members

    if held is not None:
        monkeypatch.setattr(members, "_HELD_BYTES", held)
    src = tmp_path / "o.npz"
    np.savez(src, data=BIG)
    if damaged:
        start, _ = payload_start(src, "data.npy")
        flip(src, start + 5000)
    data = emdconvert.read(src).datasets[0].data
    keys = list(block_indices(BIG.shape, (64, 4096)))
    order = [keys[0], keys[0], *reversed(keys), keys[3]]
    if not damaged:
        for key in order:
            np.testing.assert_array_equal(data[key], BIG[key])
        return
    with pytest.raises(FormatError, match=r"data\.npy.*CRC"):
        for key in order:
            data[key]
    with pytest.raises(FormatError, match="CRC"):  # and it stays refused
        data[keys[1]]


def _patch_crc(path: Path, name: str) -> None:
    """Change the member's recorded CRC-32 (local header and directory), not its data."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    raw = path.read_bytes()
    good, bad = struct.pack("<I", info.CRC), struct.pack("<I", info.CRC ^ 0x00010000)
    assert raw.count(good) == 2
    path.write_bytes(raw.replace(good, bad))


def test_bad_crc_in_deflated_member_is_a_format_error(tmp_path: Path) -> None:
    src = tmp_path / "c.npz"
    np.savez_compressed(src, other=np.zeros(4), data=SMALL)
    _patch_crc(src, "data.npy")
    with zipfile.ZipFile(src) as archive:
        assert archive.testzip() == "data.npy"
    assert_refused(src, tmp_path, "data.npy")


def test_damaged_deflate_stream_is_a_format_error(tmp_path: Path) -> None:
    src = tmp_path / "d.npz"
    np.savez_compressed(src, data=np.random.default_rng(3).random(5000))
    start, length = payload_start(src, "data.npy")
    flip(src, start + length // 2)
    with pytest.raises(FormatError, match=r"data\.npy: (cannot inflate|CRC)") as caught:
        emdconvert.convert(src, tmp_path / "d.emd")
    assert caught.value.exit_code == 3 and not (tmp_path / "d.emd").exists()


def test_cli_exit_code_and_one_line_message(tmp_path: Path) -> None:
    src = tmp_path / "c.npz"
    np.savez(src, data=BIG)
    start, length = payload_start(src, "data.npy")
    flip(src, start + length // 2)
    done = subprocess.run(
        [sys.executable, "-m", "emdconvert", str(src), str(tmp_path / "c.emd")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "data.npy" in done.stderr


def _duplicate_archive(
    path: Path, compressions: tuple[int, int], arrays: tuple[np.ndarray, np.ndarray]
) -> None:
    with zipfile.ZipFile(path, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile: "Duplicate name: 'a.npy'"
        for compression, array in zip(compressions, arrays, strict=True):
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr("a.npy", buffer.getvalue(), compress_type=compression)


@pytest.mark.parametrize(
    "compressions",
    [
        (zipfile.ZIP_STORED, zipfile.ZIP_STORED),
        (zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED),
        (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED),
    ],
)
def test_members_with_the_same_name_keep_their_own_data(
    tmp_path: Path, compressions: tuple[int, int]
) -> None:
    src = tmp_path / "dup.npz"
    arrays = (np.arange(12, dtype=np.int16).reshape(3, 4), np.linspace(0, 1, 7))
    _duplicate_archive(src, compressions, arrays)
    expected = member_arrays(src)
    assert [e.shape for e in expected] == [(3, 4), (7,)]  # the archive really holds both
    emdconvert.convert(src, tmp_path / "dup.emd")
    found = rsciio_emd_arrays(tmp_path / "dup.emd")
    assert len(found) == 2
    for got, want in zip(found, expected, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
