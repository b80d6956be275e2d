"""README's Library and Streaming sections, run exactly as printed (issue 17).

Every ```python block between "## Library" and "## Architecture" is executed in order
in one namespace, in an empty folder holding the inputs the text assumes: ``scan.npy``
written by numpy, ``stack.tif`` by tifffile, and stand-ins for the camera and detector
the acquisition examples read from.  A statement followed by ``# -> VALUE`` must
evaluate to VALUE.  The outputs are then checked with independent readers (h5py,
tifffile), so a snippet that runs but writes the wrong thing fails too.
"""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import tifffile

import emdconvert

README = Path(__file__).resolve().parents[1] / "README.md"
RESULT = re.compile(r"#\s*->\s*(.+?)\s*$")


def snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Library\n") : text.index("\n## Architecture\n")]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


class Camera:
    """Gives *frames* distinct 512 x 512 frames, then stops running."""

    def __init__(self, frames: int) -> None:
        self.left, self.shown = frames, 0

    @property
    def running(self) -> bool:
        return self.left > 0

    def read(self) -> np.ndarray:
        self.left -= 1
        self.shown += 1
        return np.full((512, 512), self.shown, np.uint16)


class Detector:
    """Gives rows of a 64 x 64 scan of 128 x 128 patterns, numbered by row."""

    def __init__(self) -> None:
        self.rows = 0

    def read_row(self) -> np.ndarray:
        self.rows += 1
        return np.full((64, 128, 128), self.rows, np.uint16)


def wait_for_a_frame(live: Path) -> None:
    """Until the writer thread has flushed the first frame where SWMR readers see it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with h5py.File(live, "r", libver="latest", swmr=True) as h5:
            if h5["data/data/data"].shape[-1] >= 1:
                return
        time.sleep(0.05)
    raise AssertionError(f"no frame in {live} after 30 s")


def run(block: str, namespace: dict[str, Any]) -> None:
    """Execute *block* statement by statement, checking every ``# -> VALUE``."""
    lines = block.splitlines()
    for statement in ast.parse(block).body:
        source = ast.get_source_segment(block, statement)
        assert source is not None
        end = statement.end_lineno or statement.lineno
        comment = RESULT.search(lines[end - 1]) or (
            RESULT.match(lines[end].strip()) if end < len(lines) else None
        )
        if isinstance(statement, ast.Expr):
            value = eval(compile(ast.Expression(statement.value), "README", "eval"), namespace)
            if comment:
                expected = eval(comment.group(1), namespace)
                assert value == expected, f"{source}: {value!r}, README says {expected!r}"
        else:
            assert comment is None, f"'# ->' after a statement with no value: {source}"
            exec(compile(ast.Module([statement], []), "README", "exec"), namespace)


def test_readme_library_snippets_run_and_write_what_they_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scan = np.random.default_rng(1).integers(0, 4000, (30, 16, 16), dtype=np.uint16)
    np.save("scan.npy", scan)
    tifffile.imwrite("stack.tif", scan[:4])
    camera, detector = Camera(5), Detector()
    namespace: dict[str, Any] = {"camera": camera, "detector": detector, "Path": Path}
    namespace["np"] = np
    blocks = snippets()
    assert len(blocks) >= 6
    for block in blocks:
        live = ".live" in block
        if live:  # the live reader reads a stream that is being written right now
            stream = emdconvert.StreamWriter(
                "series.emd", (4, 4), np.uint8, live=True, overwrite=True
            )
            stream.append(np.arange(16, dtype=np.uint8).reshape(4, 4))
            wait_for_a_frame(stream.live_path)
        run(block, namespace)
        if live:
            stream.close()
            np.testing.assert_array_equal(namespace["latest"], np.arange(16).reshape(4, 4))
    np.testing.assert_array_equal(namespace["frames"], scan[10:20])
    np.testing.assert_array_equal(namespace["first"], scan[0])
    with h5py.File("stack.emd", "r") as h5:
        data = h5["data/data/data"]
        assert data.shape == (512, 512, 100) and data.compression == "gzip"
        assert h5["data/data/dim3"][1] == pytest.approx(0.05)
        assert h5["microscope"].attrs["voltage_V"] == 300e3
    assert tifffile.imread("frames.tif").shape == (100, 512, 512)
    with h5py.File("stem.emd", "r") as h5:
        stored = h5["data/data/data"]
        assert stored.shape == (128, 128, 64, 64)  # x-first
        assert stored[0, 0, 0, 63] == 64  # the last row came from the detector's 64th read
    assert detector.rows == 64 and camera.shown == 5
