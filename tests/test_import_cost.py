"""Importing emdconvert and asking for help stay cheap: no rsciio, dask or readers loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HEAVY = ("rsciio", "dask", "hyperspy", "ncempy", "tifffile", "h5py", "matplotlib")


def loaded_after(code: str) -> set[str]:
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    return set(json.loads(out))


def test_import_emdconvert_is_light() -> None:
    assert loaded_after("import emdconvert") == set()


def test_help_is_light() -> None:
    code = (
        "from emdconvert.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert loaded_after(code) == set()


def test_loading_every_plugin_class_is_light() -> None:
    code = "from emdconvert.registry import default_registry\nprint(default_registry().names())"
    assert loaded_after(code) == set()


def test_a_dm_conversion_does_not_import_dask(tmp_path: Path) -> None:
    """rsciio's DM module imports dask.array (~0.25 s) at import; our reader avoids it."""
    from support.dm_files import write_dm

    write_dm(tmp_path / "s.dm3", np.ones((64, 64), np.float32), 3)
    code = (
        f"import emdconvert\nemdconvert.convert({str(tmp_path / 's.dm3')!r}, "
        f"{str(tmp_path / 's.emd')!r})"
    )
    assert loaded_after(code) == {"rsciio", "h5py"}
