"""Lazy arrays and block iteration: bounded blocks, exact coverage, lazy transposes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from emdconvert.errors import FormatError
from emdconvert.lazy import (
    RawFileArray,
    TransposedArray,
    block_indices,
    block_shape,
    even_split,
    iter_blocks,
)


@pytest.mark.parametrize(
    ("shape", "limit"),
    [((7,), 16), ((5, 6, 7), 100), ((3, 4, 5, 6), 8), ((2, 1000), 64), ((4, 0, 3), 16)],
)
def test_blocks_tile_exactly_and_stay_under_the_limit(shape: tuple[int, ...], limit: int) -> None:
    block = block_shape(shape, 1, limit)
    assert math.prod(block) <= max(limit, 1)
    seen = np.zeros(shape, np.int32)
    for index in block_indices(shape, block):
        seen[index] += 1
    assert (seen == 1).all()


def test_blocks_are_contiguous_runs_of_whole_frames() -> None:
    assert block_shape((100, 256, 256), 2, 4 * 2**20) == (25, 256, 256)  # 4 x 25, not 4 x 32
    assert block_shape((10, 4096, 4096), 4, 4 * 2**20) == (1, 256, 4096)


@pytest.mark.parametrize("most", [1, 2, 7, 121, 128, 512])
def test_even_split_uses_the_fewest_parts_and_pads_less_than_one_per_part(most: int) -> None:
    for length in range(1, 1500):
        block = even_split(length, most)
        parts = math.ceil(length / block)
        assert block <= most
        assert parts == math.ceil(length / most)  # no more chunks than the plain cut
        assert parts * block - length < parts  # the edge chunk is (almost) full


def test_iter_blocks_reassembles(tmp_path: Path) -> None:
    data = np.arange(3 * 5 * 7, dtype=np.int64).reshape(3, 5, 7)
    out = np.empty_like(data)
    for index, block in iter_blocks(data, max_bytes=100):
        out[index] = block
    np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize("fortran", [False, True])
def test_raw_file_array_indexing_matches_numpy(tmp_path: Path, fortran: bool) -> None:
    data = np.arange(4 * 5 * 6, dtype=">u2").reshape(4, 5, 6)
    data = np.asfortranarray(data) if fortran else data
    path = tmp_path / "raw.bin"
    path.write_bytes(b"HEAD" + data.tobytes(order="F" if fortran else "C"))
    raw = RawFileArray(path, 4, data.shape, data.dtype, fortran_order=fortran)
    for key in [
        np.s_[...],
        np.s_[1],
        np.s_[-1],
        np.s_[1:3],
        np.s_[:, 2],
        np.s_[1:3, 1:4, ::2],
        np.s_[0, 0, 0],
        np.s_[2, 1:4],
        np.s_[2:3, 1:4, :],
        np.s_[1, 2, 3:],
        np.s_[3, 5:],
        np.s_[1:3, 0:1],
        np.s_[0, :, 1:2],
    ]:
        np.testing.assert_array_equal(raw[key], data[key])
    with pytest.raises(IndexError):
        raw[4]


def test_read_into_fills_reused_buffers_for_byte_ranges_only(tmp_path: Path) -> None:
    data = np.arange(4 * 5 * 6, dtype=np.int32).reshape(4, 5, 6)
    (tmp_path / "raw.bin").write_bytes(data.tobytes())
    raw = RawFileArray(tmp_path / "raw.bin", 0, data.shape, data.dtype)
    buffer = np.empty((1, 3, 6), np.int32)
    for frame in range(4):
        key = (slice(frame, frame + 1), slice(2, 5), slice(0, 6))
        assert raw.read_into(key, buffer)
        np.testing.assert_array_equal(buffer, data[key])
    strided = (slice(0, 1), slice(0, 3), slice(0, 6, 1))
    assert raw.read_into(strided, buffer)
    assert not raw.read_into((slice(0, 2), slice(0, 3), slice(0, 6)), np.empty((2, 3, 6)))
    assert not raw.read_into((slice(0, 1), slice(0, 3), slice(1, 7)), buffer)  # not a range


def test_raw_file_array_refuses_a_declared_size_the_file_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"\0" * 10)
    with pytest.raises(FormatError, match="declared size 16 bytes"):
        RawFileArray(path, 0, (4, 4), np.uint8)
    with pytest.raises(FormatError, match="declared size"):
        RawFileArray(path, 0, (10**6, 10**6), np.float64)  # no allocation attempted


def test_raw_file_array_reports_a_file_that_shrank(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"\0" * 16)
    array = RawFileArray(path, 0, (4, 4), np.uint8)
    path.write_bytes(b"\0" * 10)
    with pytest.raises(EOFError):
        array[...]


def test_transposed_array_is_a_lazy_transpose() -> None:
    data = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    view = TransposedArray(data)
    assert view.shape == (4, 3, 2)
    for key in [np.s_[...], np.s_[1], np.s_[1:3, :, 0], np.s_[:, 2]]:
        np.testing.assert_array_equal(view[key], data.T[key])
