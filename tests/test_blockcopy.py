"""The chunk copier: layout choice, tiled transpose, direct chunk writes, gzip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import emdconvert
from emdconvert.emd.blockcopy import copy_into, raw_bytes, source_chunk
from emdconvert.emd.compression import parse as parse_compression
from emdconvert.emd.transpose import transpose_2d, transposed, use_simd_transpose
from emdconvert.lazy import RawFileArray


@pytest.mark.parametrize("shape", [(1, 1), (3, 200), (130, 70), (64, 64), (65, 129)])
def test_tiled_transpose_equals_numpy(shape: tuple[int, int]) -> None:
    frame = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    out = np.empty(shape[::-1], np.int32)
    np.testing.assert_array_equal(transpose_2d(frame, out), frame.T)


def test_transposed_handles_frames_and_frame_groups() -> None:
    single = np.arange(2 * 3 * 4).reshape(1, 1, 3, 4 * 2)
    np.testing.assert_array_equal(transposed(single), single.T)
    group = np.arange(4 * 3 * 5).reshape(4, 3, 5)
    result = transposed(group)
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, group.T)


def test_large_frames_get_a_chunk_each_small_frames_are_grouped() -> None:
    assert source_chunk((100, 1024, 2048), 2, True) == (1, 1024, 2048)
    assert source_chunk((10, 4096, 4096), 4, True) == (1, 256, 4096)
    assert source_chunk((256, 256, 64, 64), 2, True) == (2, 256, 64, 64)
    assert source_chunk((100, 1024, 2048), 2, False) == (1, 1024, 2048)


def test_a_scan_that_is_not_a_multiple_of_the_chunk_is_stored_without_padding(
    tmp_path: Path,
) -> None:
    """362 scan rows of 32 KiB frames: cut in 128s the last chunk stores 22 empty rows (6 %)."""
    data = np.random.default_rng(5).integers(0, 2**16, (2, 362, 128, 128), dtype=np.uint16)
    np.save(tmp_path / "scan.npy", data)  # written by numpy, read back by h5py
    out = emdconvert.convert(tmp_path / "scan.npy", tmp_path / "scan.emd")
    with h5py.File(out, "r") as h5:
        (stored,) = (g["data"] for g in h5["data"].values())
        np.testing.assert_array_equal(stored[()], data.T)
        assert stored.id.get_storage_size() <= 1.005 * data.nbytes


@pytest.mark.parametrize("compression", [None, "gzip:1", "zstd", "bitshuffle-lz4"])
@pytest.mark.parametrize("transpose", [True, False])
def test_copy_into_is_exact_including_edge_chunks(
    tmp_path: Path, transpose: bool, compression: str | None
) -> None:
    choice = parse_compression(compression)
    data = np.random.default_rng(3).integers(0, 2**15, (5, 300, 700), dtype=np.int16)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(data.tobytes())
    source = RawFileArray(raw, 0, data.shape, data.dtype)
    block = (1, 150, 700)  # two chunks per frame, none at the edge; plus a ragged case
    for blk in (block, (2, 300, 700)):
        stored = data.T.shape if transpose else data.shape
        with h5py.File(tmp_path / "out.h5", "w") as h5:
            target = h5.create_dataset(
                "d",
                shape=stored,
                dtype=data.dtype,
                chunks=blk[::-1] if transpose else blk,
                **(choice.dataset_kwargs() if choice else {}),
            )
            seen: list[int] = []
            copy_into(
                source,
                target,
                blk,
                transpose=transpose,
                encode=choice.chunk_encoder() if choice else raw_bytes,
                progress=seen.append,
            )
        with h5py.File(tmp_path / "out.h5") as h5:
            np.testing.assert_array_equal(h5["d"][()], data.T if transpose else data)
        assert sum(seen) == data.nbytes


@pytest.mark.parametrize(
    "dtype",
    [
        np.uint8,
        np.int16,
        np.uint16,
        np.int32,
        np.float32,
        np.float64,
        np.int64,
        np.complex64,
        np.complex128,
        np.bool_,
    ],
)
def test_transpose_is_bit_identical_for_every_dtype(dtype: Any) -> None:
    """OpenCV moves bytes through a same-size view (NaN payloads, int64 bits kept)."""
    use_simd_transpose()
    rng = np.random.default_rng(3)
    size = np.dtype(dtype).itemsize
    block = rng.integers(0, 256, 40 * 60 * size, dtype=np.uint8).view(dtype).reshape(40, 60)
    rows = block[3:31, :]  # a run of rows, as the copier hands them over
    out = np.empty((60, 28), dtype)
    assert transpose_2d(rows, out).tobytes() == np.ascontiguousarray(rows.T).tobytes()


@pytest.mark.parametrize(
    "shape",
    [
        (1, 128, 16, 16),
        (16, 32, 48),
        (3, 1, 5, 7),
        (2, 3, 4, 5, 6),
        (1, 1, 9),
        (7, 1, 1),
        (1, 1, 1),
    ],
)
@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "complex64", "complex128", "bool"])
def test_many_frame_blocks_transpose_like_numpy(shape: tuple[int, ...], dtype: str) -> None:
    """4D-STEM chunks (many patterns) and stacks of small frames: numpy's ``.T`` exactly."""
    rng = np.random.default_rng(1)
    block = (rng.random(shape) * 250).astype(dtype)
    if np.dtype(dtype).kind == "c":
        block = block + 1j * block[..., ::-1]
    use_simd_transpose()
    out = np.full(shape[::-1], 0, dtype)
    assert transposed(block, out) is out
    assert out.tobytes() == np.ascontiguousarray(block.T).tobytes()
    strided = np.repeat(block, 2, axis=-1)[..., ::2]  # not C-contiguous: the numpy path
    assert transposed(strided).tobytes() == np.ascontiguousarray(strided.T).tobytes()
