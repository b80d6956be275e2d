"""``watch`` never creates a missing OUT_DIR (issue 17 item 1): unlike ``convert
--out-dir``, a missing output folder may be an unmounted share, and creating it would
fill the local disk under the mount point.  One line naming the folder, exit 4."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.mark.parametrize("missing", ["out", "share/out"])
def test_missing_out_dir_is_one_error_and_not_created(tmp_path: Path, missing: str) -> None:
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "a.npy", np.zeros((2, 2)))
    out = tmp_path / missing
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emdconvert",
            "watch",
            str(tmp_path / "in"),
            "--out",
            str(out),
            "--state-dir",
            str(tmp_path / "state"),
            "--allow-root",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    assert result.stderr.splitlines() == [f"emdconvert: error: {out}: output folder does not exist"]
    assert not out.exists() and not (tmp_path / "share").exists()
