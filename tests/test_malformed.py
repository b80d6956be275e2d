"""Every case of the malformed-input corpus is a clean failure (README, Bad input, crashes
and hostile files).

"Clean" as README's Safety rules R1, R4 and R8 define it: the specific exit code; exactly
one stderr line, ``emdconvert: error: <file>: <reason>``; no traceback; nothing at the
output path and no temp file anywhere; the source's bytes, size and mtime unchanged.  The
same input through the library raises an :class:`~emdconvert.EmdConvertError` with that exit code.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support.malformed_corpus import CANARY_NAME, Case, all_cases, build, canary_path

import emdconvert
from emdconvert.testing import leftovers

CASES = all_cases()


def state(path: Path) -> tuple[object, ...]:
    """What must not change: bytes, size, mtime and mode (links and FIFOs not followed)."""
    info = os.lstat(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else None
    return digest, info.st_size, info.st_mtime_ns, info.st_mode


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    suffixes = {Path(c.name).suffix for c in CASES}
    assert {".dm3", ".dm4", ".tif", ".npy", ".npz", ".csv", ".emd", ".ser", ".mrc"} <= suffixes
    assert {c.exit_code for c in CASES} == {3, 5}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_fails_cleanly(case: Case, corpus: Path, tmp_path: Path) -> None:
    source = build(case, tmp_path / "invalid", corpus)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "result.emd"
    before = state(source)

    result = subprocess.run(
        [sys.executable, "-m", "emdconvert", str(source), str(output)],
        capture_output=True,
        text=True,
        timeout=50,
    )

    lines = result.stderr.strip().splitlines()
    assert result.returncode == case.exit_code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"emdconvert: error: {source}: "), lines[0]
    assert case.says.lower() in lines[0].lower()
    assert "Traceback" not in result.stdout + result.stderr
    assert not output.exists()
    assert not leftovers(out_dir) and not leftovers(source.parent)
    assert state(source) == before
    assert not canary_path(source).exists()  # no pickled payload ever ran
    canary = source.parent / CANARY_NAME
    if canary.exists():  # an external-storage target: its secret is never echoed
        assert canary.read_text().split()[1] not in result.stdout + result.stderr

    with pytest.raises(emdconvert.EmdConvertError) as raised:
        emdconvert.convert(source, output)
    assert raised.value.exit_code == case.exit_code
    if case.exit_code == 3:
        assert isinstance(raised.value, ValueError)
    assert not output.exists() and not leftovers(out_dir)
    assert state(source) == before
