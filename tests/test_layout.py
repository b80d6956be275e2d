"""Packaging: every plugin module is advertised and tested; no top-level ``plugins``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def entry_points() -> dict[str, str]:
    return PYPROJECT["project"]["entry-points"]["emdconvert.plugins"]


def test_every_plugin_module_has_an_entry_point_and_back() -> None:
    # A plugin is a module (plugins/emd.py) or a package (plugins/tiff/__init__.py).
    modules = {p.stem for p in (ROOT / "plugins").glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py")}
    advertised = {value.split(":")[0].rsplit(".", 1)[1] for value in entry_points().values()}
    assert modules == advertised


def test_entry_point_names_match_plugin_names() -> None:
    from emdconvert.registry import default_registry

    assert sorted(entry_points()) == default_registry().names()


def test_every_plugin_has_a_test_module() -> None:
    for value in entry_points().values():
        module = value.split(":")[0].rsplit(".", 1)[1].rstrip("_")
        assert (ROOT / "tests" / "plugins" / f"test_{module}.py").is_file(), module


def test_every_package_folder_is_listed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "emdconvert").rglob("__init__.py")
    }
    found |= {"emdconvert.plugins"} if (ROOT / "plugins" / "__init__.py").exists() else set()
    found |= {
        f"emdconvert.plugins.{p.parent.name}" for p in (ROOT / "plugins").glob("*/__init__.py")
    }
    assert found <= listed


def test_no_top_level_plugins_package(tmp_path: Path) -> None:
    code = "import importlib.util; print(importlib.util.find_spec('plugins') is None)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout.strip()
    assert out == "True"


def test_dependencies_have_lower_bounds() -> None:
    deps = PYPROJECT["project"]["dependencies"]
    names = {re.split(r"[<>=!~ \[]", d)[0].lower(): d for d in deps}
    for required in ("h5py", "numpy", "tifffile", "rosettasciio", "typer"):
        assert ">=" in names[required], names[required]
    test_extra = " ".join(PYPROJECT["project"]["optional-dependencies"]["test"])
    for required in ("pytest", "ncempy", "hyperspy"):
        assert required in test_extra
