"""Importing emdconvert and asking for help stay cheap: no rsciio, dask or readers loaded."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("rsciio", "dask", "hyperspy", "ncempy", "tifffile", "h5py")


def loaded_after(code: str) -> set[str]:
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    return set(json.loads(out))


def test_import_emdconvert_is_light() -> None:
    assert loaded_after("import emdconvert") == set()


def test_help_is_light() -> None:
    code = ("from emdconvert.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert loaded_after(code) == set()


def test_loading_every_plugin_class_is_light() -> None:
    code = ("from emdconvert.registry import default_registry\n"
            "print(default_registry().names())")
    assert loaded_after(code) == set()
