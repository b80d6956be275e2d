"""Our EMD 1.0 output as emdfile, the reference implementation (py4DSTEM's I/O), reads it.

py4DSTEM cannot be installed beside numpy 2, and emdfile alone refuses a node or
Metadata whose ``python_class`` it does not know ("Unknown classname DataCube"), so
:func:`read_tree` registers stand-ins for py4DSTEM's two classes through emdfile's own
hook for dependent packages (a module with ``_emd_hook = True``): plain subclasses of
emdfile's ``Array`` and ``Metadata``, which read exactly what those read.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import pytest

from emdconvert.testing import assert_valid_emd


def _register_py4dstem_stand_ins() -> None:
    if "emd1_py4dstem_stand_ins" in sys.modules:
        return
    import emdfile

    module = types.ModuleType("emd1_py4dstem_stand_ins")
    module._emd_hook = True  # type: ignore[attr-defined]
    module.DataCube = type("DataCube", (emdfile.Array,), {})  # type: ignore[attr-defined]
    module.Calibration = type("Calibration", (emdfile.Metadata,), {})  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module


def read_tree(path: Path) -> Any:
    """``emdfile.read(path)``: the Root when the tree has several nodes, else the node."""
    import emdfile

    _register_py4dstem_stand_ins()
    return emdfile.read(str(path))


def root_of(path: Path) -> Any:
    """The emdfile Root of *path*'s one tree."""
    tree = read_tree(path)
    return tree.root


def is_emd1(path: Path) -> bool:
    with h5py.File(path, "r") as h5:
        value = h5.attrs.get("emd_group_type")
    return (value.decode() if isinstance(value, bytes) else value) == "file"


@pytest.fixture(autouse=True)
def validate_written_emd(tmp_path: Path) -> Iterator[None]:
    """Overrides conftest's check: an EMD 1.0 file left in tmp_path must open in emdfile,
    any other ``.emd`` must still pass the v0.2 validator."""
    yield
    for path in tmp_path.rglob("*.emd"):
        if "invalid" in path.parts or not path.is_file():
            continue
        if is_emd1(path):
            read_tree(path)
        else:
            assert_valid_emd(path)
