"""``--max-ratio`` is the command line's ``max_ratio=`` (issue 17, item 9).

The bomb is the malformed corpus's 22 KB HDF5 declaring 7.3 TiB, built with h5py: at
the default limit it is refused (exit 5); with the limit raised or lifted it passes the
ratio gate and is stopped by the next check, the free space (exit 4), so no 7 TiB are
ever written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.malformed_corpus import all_cases, build

from emdconvert.errors import UsageError
from emdconvert.options import ConvertOptions, ratio_limit
from emdconvert.watch.config import load_config


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emdconvert", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def bomb(tmp_path: Path, corpus: Path) -> Path:
    (case,) = [c for c in all_cases() if c.name == "sparse_bomb.emd"]
    return build(case, tmp_path / "invalid", corpus)


@pytest.mark.parametrize(
    ("flags", "code", "says"),
    [
        ((), 5, "exceeds limit 1000:1 (--max-ratio none converts it anyway)"),
        (("--max-ratio", "5000"), 5, "exceeds limit 5000:1"),
        (("--max-ratio", "1e12"), 4, "not enough space"),
        (("--max-ratio", "none"), 4, "not enough space"),
        (("--allow-high-ratio",), 4, "not enough space"),
        (("--allow-high-ratio", "--max-ratio", "none"), 4, "not enough space"),
        (("--allow-high-ratio", "--max-ratio", "50"), 2, "contradicts --max-ratio 50"),
        (("--max-ratio", "lots"), 2, "max_ratio 'lots': must be a number > 0"),
        (("--max-ratio", "0"), 2, "must be a number > 0"),
    ],
)
def test_max_ratio_flag(
    bomb: Path, tmp_path: Path, flags: tuple[str, ...], code: int, says: str
) -> None:
    result = run(bomb, tmp_path / "out.emd", *flags)
    assert result.returncode == code, result.stderr
    assert says in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out.emd").exists()


def test_library_and_cli_parse_the_same() -> None:
    assert ConvertOptions.parse(max_ratio="none").max_ratio is None
    assert ConvertOptions.parse(max_ratio="2e3").max_ratio == 2000.0
    assert ConvertOptions.parse(max_ratio=50).max_ratio == 50
    assert ratio_limit(None, False) == 1000
    with pytest.raises(UsageError, match="contradicts"):
        ratio_limit("10", True)


@pytest.mark.parametrize(
    ("toml", "expected"), [("max_ratio = 50", 50), ('max_ratio = "none"', None), ("", 1000)]
)
def test_watch_config_key(tmp_path: Path, toml: str, expected: float | None) -> None:
    (tmp_path / "in").mkdir()
    config = tmp_path / "watch.toml"
    config.write_text(f'in_dir = "{tmp_path / "in"}"\nout_dir = "{tmp_path / "out"}"\n{toml}\n')
    assert load_config(config, {}).request().options.max_ratio == expected


def test_watch_config_rejects_a_bool(tmp_path: Path) -> None:
    config = tmp_path / "watch.toml"
    config.write_text(f'in_dir = "{tmp_path}"\nout_dir = "{tmp_path / "out"}"\nmax_ratio = true\n')
    with pytest.raises(UsageError, match='max_ratio must be a number, or "none"'):
        load_config(config, {})
