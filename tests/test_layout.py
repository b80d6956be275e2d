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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "plugins":
        parts = ["emdconvert", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _source_modules() -> dict[str, Path]:
    files = [*(ROOT / "emdconvert").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    return {_module_name(path): path for path in files}


def test_no_import_cycle() -> None:
    """Not even through imports inside functions: each layer imports only those below."""
    import ast

    modules = _source_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("emdconvert"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    deps.add(sub if sub in modules else str(node.module))
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("emdconvert")}
        graph[name] = {dep for dep in deps if dep in modules and dep != name}
    state: dict[str, int] = {}
    path_now: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = 1
        path_now.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append([*path_now[path_now.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        path_now.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, [" -> ".join(cycle) for cycle in cycles]
    assert graph["emdconvert.emd.writer"] and graph["emdconvert.cli.app"]  # the walk works


def test_no_module_is_over_about_350_lines() -> None:
    """One job per module: a module past ~350 lines is doing two (issue 14)."""
    long = {
        name: n
        for name, path in _source_modules().items()
        if (n := len(path.read_text().splitlines())) > 360
    }
    assert not long, long
