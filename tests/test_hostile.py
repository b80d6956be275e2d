"""Budgets, hostile names and links, and sources that change (README, Safety rules R6, R11-R13).

The malformed corpus (test_malformed.py) proves each bad file fails cleanly; this module
checks the promises around that: a header declaring 10^12 elements fails fast in little
memory and never creates an output, the budget options work both ways, names taken from
metadata cannot escape or collide, and a source rewritten mid-conversion is not
published.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from support.malformed_corpus import all_cases, build

import emdconvert
from emdconvert.errors import InputError, PolicyError
from emdconvert.testing import leftovers

HUGE = [
    "huge_dims_1e6.dm4",
    "huge_dims_max.dm4",
    "huge_header.npy",
    "huge_raw_page.tif",
    "zlib_bomb.tif",
    "sparse_bomb.emd",
]
CASES = {case.name: case for case in all_cases()}


#: Runs the CLI under an address-space cap and, on exit, writes the process's own peak
#: RSS (VmHWM) to a file: wait4's ru_maxrss would count this large pytest process, whose
#: memory a forked child starts with.
_CAPPED = """
import atexit, pathlib, resource, runpy, sys
cap, report = int(sys.argv[1]), pathlib.Path(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            report.write_text(line.split()[1])
atexit.register(peak)
sys.argv = ["emdconvert", *sys.argv[3:]]
runpy.run_module("emdconvert", run_name="__main__")
"""


def run_capped(args: list[str], report: Path, cap: int = 2 << 30) -> tuple[int, str, float, int]:
    """Run the CLI under RLIMIT_AS=*cap*: (exit code, stderr, seconds, peak RSS in MB)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _CAPPED, str(cap), str(report), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return (
        result.returncode,
        result.stderr,
        time.monotonic() - started,
        int(report.read_text()) // 1024,
    )


@pytest.mark.parametrize("name", HUGE)
def test_huge_declared_sizes_fail_fast_in_little_memory(
    name: str, corpus: Path, tmp_path: Path
) -> None:
    case = CASES[name]
    source = build(case, tmp_path / "invalid", corpus)
    out = tmp_path / "out.emd"
    code, stderr, seconds, peak_mb = run_capped([str(source), str(out)], tmp_path / "peak.txt")
    assert code == case.exit_code, stderr
    assert case.says in stderr
    # Measured 0.4-0.9 s and 50-90 MB, nearly all of it interpreter start-up and imports;
    # the bound on time leaves room for a loaded CI machine.
    assert seconds < 5 and peak_mb < 100, (seconds, peak_mb)
    assert not out.exists() and not leftovers(tmp_path)
    # The library refuses at open time, not when data are first read.
    with pytest.raises(emdconvert.EmdConvertError) as raised:
        emdconvert.read(source)
    assert raised.value.exit_code == case.exit_code


def test_max_bytes_refuses_and_allow_high_ratio_lifts_the_ratio_gate(
    corpus: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.npy"
    np.save(source, np.zeros((64, 64), np.float64))  # 32 KiB of data
    with pytest.raises(PolicyError, match="exceeds the limit"):
        emdconvert.convert(source, tmp_path / "a.emd", max_bytes=16 << 10)
    assert emdconvert.convert(source, tmp_path / "b.emd", max_bytes=64 << 10).exists()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emdconvert",
            str(source),
            str(tmp_path / "c.emd"),
            "--max-bytes",
            "16K",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 5 and "exceeds the limit 16.0 KiB" in result.stderr
    bomb = build(CASES["sparse_bomb.emd"], tmp_path / "invalid", corpus)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emdconvert",
            str(bomb),
            str(tmp_path / "d.emd"),
            "--allow-high-ratio",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # With the ratio gate lifted, 7.3 TiB still cannot fit on this disk: exit 4, no file.
    assert result.returncode == 4 and "not enough space" in result.stderr
    assert not (tmp_path / "d.emd").exists() and not leftovers(tmp_path)


def test_symlinks_convert_only_when_asked(tmp_path: Path) -> None:
    real = tmp_path / "real.npy"
    np.save(real, np.arange(6, dtype=np.int16))
    link = tmp_path / "link.npy"
    link.symlink_to(real)
    with pytest.raises(PolicyError, match="symbolic link"):
        emdconvert.convert(link, tmp_path / "a.emd")
    out = emdconvert.convert(link, tmp_path / "b.emd", follow_symlinks=True)
    np.testing.assert_array_equal(emdconvert.read(out).datasets[0].data[...], np.arange(6))


def test_folder_stacks_skip_nothing_silently_and_follow_no_links(tmp_path: Path) -> None:
    import tifffile

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        tifffile.imwrite(frames / f"f{i}.tif", np.full((4, 5), i, np.uint8))
    outside = tmp_path / "outside.tif"
    tifffile.imwrite(outside, np.full((4, 5), 9, np.uint8))
    (frames / "f3.tif").symlink_to(outside)
    model = emdconvert.read(frames)
    assert model.datasets[0].shape == (3, 4, 5)  # the link is not a frame


def test_names_from_metadata_cannot_escape_or_collide(tmp_path: Path) -> None:
    names = ["../../x", "a/b", "x\x00y", "x\x00z", "..", "/abs", "n" * 300]
    model = emdconvert.EMDFile(
        tuple(
            emdconvert.Dataset(name, np.full((2, 2), i, np.uint8)) for i, name in enumerate(names)
        ),
        microscope={"key\x00hidden": 1, "key": 2},
    )
    out = emdconvert.write(model, tmp_path / "names.emd")
    with h5py.File(out, "r") as h5:
        written = list(h5["data"])
        assert len(written) == len(names)
        for name in written:
            assert all(c.isalnum() or c in "._-~" for c in name) and len(name) <= 128
        values = sorted(int(h5["data"][n]["data"][0, 0]) for n in written)
        assert values == list(range(len(names)))  # nothing overwrote anything
        assert set(h5["microscope"].attrs) == {"key\\0hidden", "key"}


def test_a_long_input_name_gets_a_short_temp_name(tmp_path: Path) -> None:
    source = tmp_path / ("s" * 245 + ".npy")  # 249 characters: NAME_MAX is 255
    np.save(source, np.arange(4, dtype=np.uint8))
    seen: list[str] = []
    out = emdconvert.convert(
        source,
        tmp_path / ("o" * 245 + ".emd"),
        progress=lambda done, total: seen.extend(p.name for p in leftovers(tmp_path)),
    )
    assert out.exists() and seen and max(len(n) for n in seen) <= 40


def test_a_source_that_changes_while_read_is_not_published(tmp_path: Path) -> None:
    source = tmp_path / "growing.npy"
    np.save(source, np.zeros((16, 256, 256), np.uint16))

    def append(done: int, total: int) -> None:
        with open(source, "ab") as handle:  # the acquisition software writes on
            handle.write(b"\0" * 16)

    with pytest.raises(InputError, match="changed while it was being converted") as raised:
        emdconvert.convert(source, tmp_path / "out.emd", progress=append)
    assert raised.value.kind == "changed"
    assert not (tmp_path / "out.emd").exists() and not leftovers(tmp_path)


class _Declared:
    """A lazy array that only declares its size (as a header does)."""

    shape = (1 << 16, 1 << 15)
    dtype = np.dtype(np.uint8)

    def __getitem__(self, key: object) -> np.ndarray:
        raise AssertionError("the budget check must not read data")


def test_ratio_limit_judges_declared_data_not_data_already_decoded() -> None:
    """A 2 GiB lazy declaration from a 1 MiB file is a bomb; 2 GiB a reader already
    decoded into memory (a JEOL event list) is real data, bounded by the memory limit of
    the eager read and still by ``max_bytes``."""
    from emdconvert.budget import check_budget

    source_bytes = 1 << 20
    with pytest.raises(PolicyError, match="compression ratio"):
        check_budget(emdconvert.EMDFile.from_array(_Declared()), source_bytes)
    decoded = np.zeros((1 << 16, 1 << 15), np.uint8)
    model = emdconvert.EMDFile.from_array(decoded)
    assert check_budget(model, source_bytes) == decoded.nbytes
    with pytest.raises(PolicyError, match="exceeds the limit"):
        check_budget(model, source_bytes, max_bytes=1 << 30)
