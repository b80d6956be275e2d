"""--compression: gzip readable by every HDF5 reader, zstd / bitshuffle-lz4 opt-in."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import emdconvert
from emdconvert import EMDFile
from emdconvert.emd.compression import Compression, parse
from emdconvert.errors import UsageError

# Reads a dataset in a process that never imported hdf5plugin: what a plain reader sees.
PLAIN_READ = (
    "import sys, h5py, numpy; f = h5py.File(sys.argv[1]); "
    "print(int(numpy.asarray(f['data/data/data'][()]).sum()))"
)


def data() -> np.ndarray:
    return np.random.default_rng(2).integers(0, 200, (5, 256, 320), dtype=np.uint16)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, None),
        ("none", None),
        ("gzip", Compression("gzip", 4)),
        ("gzip:0", Compression("gzip", 0)),
        ("zstd", Compression("zstd", 3)),
        ("zstd:19", Compression("zstd", 19)),
        ("bitshuffle-lz4", Compression("bitshuffle-lz4")),
    ],
)
def test_parse_accepts(spec: str | None, expected: Compression | None) -> None:
    assert parse(spec) == expected


@pytest.mark.parametrize(
    "spec", ["lzma", "gzip:10", "gzip:x", "zstd:0", "zstd:23", "bitshuffle-lz4:3", "gzip:"]
)
def test_parse_refuses(spec: str) -> None:
    with pytest.raises(UsageError):
        parse(spec)


@pytest.mark.parametrize("spec", ["zstd:5", "bitshuffle-lz4"])
def test_plugin_codecs_round_trip_and_are_recorded(
    tmp_path: Path, spec: str, caplog: pytest.LogCaptureFixture
) -> None:
    array = data()
    with caplog.at_level(logging.WARNING, logger="emdconvert"):
        emdconvert.write(EMDFile.from_array(array), tmp_path / "p.emd", compression=spec)
    assert "need hdf5plugin on the reading side" in caplog.text
    back = emdconvert.read(tmp_path / "p.emd")
    np.testing.assert_array_equal(back.datasets[0].data[...], array)
    entry = json.loads(back.comments[-1].message)
    assert entry["options"]["compression"] == spec
    assert entry["writer"]["hdf5plugin"] != "unknown"
    with h5py.File(tmp_path / "p.emd") as h5:
        stored = h5["data/data/data"]
        assert stored.id.get_storage_size() < 0.6 * array.nbytes  # high bytes are 0
    plain = subprocess.run(
        [sys.executable, "-c", PLAIN_READ, str(tmp_path / "p.emd")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert plain.returncode != 0  # why the warning exists: plain h5py cannot decode it


def test_gzip_needs_no_plugin_and_threads_do_not_change_the_bytes(tmp_path: Path) -> None:
    array = data()
    for threads in (1, 3):
        emdconvert.write(
            EMDFile.from_array(array),
            tmp_path / f"g{threads}.emd",
            compression="gzip:1",
            threads=threads,
        )
    plain = subprocess.run(
        [sys.executable, "-c", PLAIN_READ, str(tmp_path / "g1.emd")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(plain.stdout) == int(array.sum())
    with h5py.File(tmp_path / "g1.emd") as one, h5py.File(tmp_path / "g3.emd") as three:
        a, b = one["data/data/data"], three["data/data/data"]
        assert a.chunks == b.chunks
        for k in range(a.id.get_num_chunks()):
            offset = a.id.get_chunk_info(k).chunk_offset
            assert a.id.read_direct_chunk(offset) == b.id.read_direct_chunk(offset)


def test_cli_warns_once_for_plugin_codecs(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", data())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emdconvert",
            tmp_path / "s.npy",
            tmp_path / "s.emd",
            "--compression",
            "zstd",
            "--threads",
            "2",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("emdconvert: warning: zstd-compressed")
