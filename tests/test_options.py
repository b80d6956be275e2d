"""ConvertOptions: one parser for the CLI, the watch config and the library (issue 14, item 2).

Bad values are usage errors (exit 2) naming the option, raised before any input is
opened; an option the chosen writer (or reader) does not declare is refused, never
ignored.  Inputs are written by numpy and tifffile; outputs are checked with h5py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

import emdconvert
from emdconvert import ConvertOptions, UsageError
from emdconvert.watch.config import load_config


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emdconvert", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--compression", "gzp", "compression 'gzp'"),
        ("--compression", "gzip:11", "compression 'gzip:11'"),
        ("--compression", "none:3", "compression 'none:3'"),
        ("--axis-order", "fortran", "axis_order 'fortran'"),
        ("--max-bytes", "12 parsecs", "max_bytes '12 parsecs'"),
        ("--option", "delimiter", "option 'delimiter'"),
    ],
)
def test_a_bad_value_is_exit_2_naming_the_option_before_the_input_is_opened(
    tmp_path: Path, flag: str, value: str, named: str
) -> None:
    """The input does not even exist: the option is checked first, and blamed."""
    missing = tmp_path / "never-written.npy"
    result = _cli(missing, tmp_path / "out.emd", flag, value)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"emdconvert: error: {named}: "), line
    assert str(missing) not in line
    assert list(tmp_path.iterdir()) == []


def test_the_library_and_the_cli_share_the_parser(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^compression 'gzp': unknown compression"):
        emdconvert.convert(tmp_path / "never-written.npy", tmp_path / "o.emd", compression="gzp")
    with pytest.raises(UsageError, match=r"^threads 0: must be a whole number"):
        emdconvert.convert(tmp_path / "never-written.npy", tmp_path / "o.emd", threads=0)
    options = ConvertOptions.parse(
        compression="gzip", max_bytes="2K", format_options=["delimiter=;"]
    )
    assert (options.compression, options.max_bytes, options.format) == (
        "gzip:4",
        2048,
        {"delimiter": ";"},
    )
    assert ConvertOptions.parse(format_options={"delimiter": ";"}) == ConvertOptions.parse(
        format_options=["delimiter=;"]
    )


def test_the_watch_config_uses_the_same_parser(tmp_path: Path) -> None:
    config = tmp_path / "watch.toml"
    config.write_text('compression = "gzp"\n')
    with pytest.raises(UsageError, match=r"^compression 'gzp': unknown compression"):
        load_config(config, {"in_dir": tmp_path, "out_dir": tmp_path / "out"})
    config.write_text('compression = "gzip:2"\nmax_bytes = "1M"\n')
    request = load_config(config, {"in_dir": tmp_path, "out_dir": tmp_path}).request()
    assert (request.options.compression, request.options.max_bytes) == ("gzip:2", 2**20)


def test_watch_refuses_a_bad_compression_at_start(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    result = _cli(
        "watch",
        tmp_path / "in",
        "--out",
        tmp_path / "out",
        "--state-dir",
        tmp_path / "state",
        "--compression",
        "gzp",
    )
    assert result.returncode == 2
    assert "compression 'gzp'" in result.stderr


@pytest.mark.parametrize(
    ("suffix", "flags", "refused"),
    [
        (".tif", ["--axis-order", "c"], "axis_order c: the tiff format"),
        (".npy", ["--threads", "2"], "threads 2: the npy format"),
        (".npy", ["-o", "delimiter=;"], "option delimiter: the tiff reader and the npy writer"),
    ],
)
def test_an_option_the_writer_cannot_honour_is_refused(
    tmp_path: Path, suffix: str, flags: list[str], refused: str
) -> None:
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, np.arange(12, dtype=np.uint16).reshape(3, 4))
    target = tmp_path / f"out{suffix}"
    result = _cli(source, target, *flags)
    assert result.returncode == 2, result.stderr
    assert refused in result.stderr
    assert not target.exists()


def test_a_format_option_the_reader_takes_is_accepted(tmp_path: Path) -> None:
    """CSV's reader takes ``decimal``; the EMD writer does not, and need not."""
    source = tmp_path / "s.csv"
    source.write_text("x;y\n0,5;1\n1,5;2\n")
    target = tmp_path / "s.emd"
    result = _cli(source, target, "-o", "delimiter=;", "-o", "decimal=,")
    assert result.returncode == 0, result.stderr
    with h5py.File(target) as h5:
        assert "data" in h5


def test_honoured_options_reach_the_file(tmp_path: Path) -> None:
    """gzip:2 and C order, asked for by the library, are what h5py finds."""
    source = tmp_path / "a.npy"
    values = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    np.save(source, values)
    out = emdconvert.convert(
        source, tmp_path / "a.emd", compression="gzip:2", axis_order="c", threads=1
    )
    with h5py.File(out) as h5:
        (group,) = h5["data"].values()
        data = group["data"]
        assert (data.compression, data.compression_opts) == ("gzip", 2)
        assert np.array_equal(data[()], values)
