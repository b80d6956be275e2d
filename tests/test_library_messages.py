"""Errors speak the caller's language (issue 17, item 7).

The same refusal reads ``overwrite=True replaces it`` to a library caller and
``--overwrite replaces it`` on the command line (emdconvert.remedies).  Each case
triggers a real refusal both ways, with inputs written by numpy, h5py or os.symlink,
and checks that no library message sends a Python caller to a flag.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.malformed_corpus import all_cases, build

import emdconvert
from emdconvert import EmdConvertError, EMDFile

CASES = {case.name: case for case in all_cases()}


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(EmdConvertError) as raised:
        call()
    text = str(raised.value)
    assert " --" not in text and "(--" not in text, f"a flag in a library message: {text}"
    return text


def _cli(*args: str | Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "emdconvert", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "EMDCONVERT_MESSAGES"},
    )
    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.fixture
def npy(tmp_path: Path) -> Path:
    source = tmp_path / "in.npy"
    np.save(source, np.zeros((64, 64), np.float64))
    return source


def test_output_exists(npy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.emd"
    emdconvert.convert(npy, out, preview=True)  # out.emd and out.png exist now
    model = EMDFile.from_array(np.zeros((2, 2)))
    for call in (
        lambda: emdconvert.write(model, out),
        lambda: emdconvert.convert(npy, out),
        lambda: emdconvert.StreamWriter(out, (2, 2), np.uint8),
        lambda: emdconvert.preview(npy, out.with_suffix(".png")),
    ):
        assert "output exists (overwrite=True replaces it)" in _message(call)
    assert "output exists (--overwrite replaces it)" in _cli(npy, out)


def test_unknown_formats(npy: Path, tmp_path: Path) -> None:
    mystery = tmp_path / "mystery.xyz"
    mystery.write_bytes(b"\x01\x02\x03\x04" * 100)
    assert _message(lambda: emdconvert.read(mystery)).endswith("reader=NAME forces one")
    assert "--from NAME forces one" in _cli(mystery, tmp_path / "m.emd")
    model = EMDFile.from_array(np.zeros((2, 2)))
    assert _message(lambda: emdconvert.write(model, tmp_path / "o.xyz")).endswith(
        "writer=NAME chooses one"
    )
    assert "--to NAME chooses one" in _cli(npy, tmp_path / "o.xyz")


def test_symlink(npy: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.npy"
    os.symlink(npy, link)
    assert "or follow_symlinks=True)" in _message(lambda: emdconvert.read(link))
    assert "or --follow-symlinks)" in _cli(link, tmp_path / "l.emd")


def test_size_budgets(npy: Path, tmp_path: Path, corpus: Path) -> None:
    over = _message(lambda: emdconvert.convert(npy, tmp_path / "a.emd", max_bytes=16 << 10))
    assert over.endswith("(raise it with max_bytes=)")
    assert "(raise it with --max-bytes)" in _cli(npy, tmp_path / "a.emd", "--max-bytes", "16K")
    bomb = build(CASES["sparse_bomb.emd"], tmp_path / "invalid", corpus)
    ratio = _message(lambda: emdconvert.read(bomb))
    assert ratio.endswith("(max_ratio=None converts it anyway)")
    assert "(--max-ratio none converts it anyway)" in _cli(bomb, tmp_path / "b.emd")
