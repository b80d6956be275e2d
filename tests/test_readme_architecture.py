"""README's references to the code must name files and modules that exist.

README names the code that enforces each rule (``publish.py``, ``emd/spec.py``,
``emd.writer.group_names``) and describes the layout in its Architecture and
Development sections; after a restructuring those names go stale silently.  The
convention this test holds README to:

- A backticked word starting ``emdconvert/``, ``plugins/``, ``tests/`` or
  ``sample_data/`` (also inside a command, and in fenced code blocks) is a path from the
  repository root.  A glob must match at least one file.
- A backticked span that is one bare path ending ``.py`` or ``/`` (``publish.py``,
  ``emd/spec.py``, ``watch/``) is a path from the repository root or from ``emdconvert/``.
- A backticked ``emdconvert.a.b`` (optionally ``module:Class`` or with a call's
  ``(...)``), or a short ``a.b`` whose first part is a module or package of
  ``emdconvert`` (``emd.writer.group_names``, ``pipeline.source_path``), must import,
  down to its last attribute.

Placeholders (``<name>``, ``…``, ``$VAR``) are not paths and are skipped.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCED = re.compile(r"^```.*?^```", re.S | re.M)
ROOTED = re.compile(r"^(?:emdconvert|plugins|tests|sample_data)/[\w./*-]*$")
BARE = re.compile(r"^\w+(?:/\w+)*(?:\.py|/)$")
DOTTED = re.compile(r"^(emdconvert(?:\.\w+)+)(?::(\w+))?(?:\(.*\))?$")
SHORT = re.compile(r"^(\w+)((?:\.\w+)+)$")
PLACEHOLDER = re.compile(r"[<>…$]")


def inline_spans(text: str) -> list[str]:
    """Backticked spans outside fenced code (a span may wrap a line)."""
    return [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", FENCED.sub("", text))]


def fenced_words(text: str) -> list[str]:
    return [w for block in FENCED.findall(text) for w in block.split()]


def core_modules() -> set[str]:
    """Top-level modules and packages of emdconvert, by their short names."""
    pkg = ROOT / "emdconvert"
    return {p.stem for p in pkg.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in pkg.iterdir() if (p / "__init__.py").is_file()
    }


def path_references(text: str) -> list[str]:
    refs: list[str] = []
    spans = inline_spans(text)
    for word in [w for s in spans for w in s.split()] + fenced_words(text):
        word = word.strip("\"'(),;:")
        if ROOTED.match(word) and not PLACEHOLDER.search(word):
            refs.append(word)
    refs += [s for s in spans if BARE.match(s) and not ROOTED.match(s)]
    return sorted(set(refs))


def dotted_references(text: str) -> list[str]:
    core = core_modules()
    refs = set()
    for span in inline_spans(text):
        found = DOTTED.match(span)
        if found:
            refs.add(found.group(1) + (f".{found.group(2)}" if found.group(2) else ""))
            continue
        short = SHORT.match(span)
        if short and short.group(1) in core and not span.endswith(".py"):
            refs.add(f"emdconvert.{span}")
    return sorted(refs)


def section(title: str) -> str:
    """The text of README's ``## title`` section."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert found, f"README has no '## {title}' section"
    return found.group(1)


def resolve(dotted: str) -> object:
    """Import the longest importable prefix of *dotted*, then get the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            obj: object = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # this prefix is not a module: try a shorter one
            raise
        for attr in parts[cut:]:
            obj = getattr(obj, attr)  # AttributeError: README names a stale attribute
        return obj
    raise ModuleNotFoundError(dotted)


def exists(ref: str) -> bool:
    bases = [ROOT] if ROOTED.match(ref) else [ROOT, ROOT / "emdconvert"]
    for base in bases:
        if "*" in ref:
            if any(base.glob(ref)):
                return True
        elif ref.endswith("/") and (base / ref).is_dir():
            return True
        elif not ref.endswith("/") and (base / ref).is_file():
            return True
    return False


PATHS = path_references(README)
DOTTED_NAMES = dotted_references(README)


def test_conventions_find_references() -> None:
    # Not vacuous: the README's own references are found by the rules above.
    assert {"emd/spec.py", "publish.py", "plugins/emd.py", "tests/test_crash_safety.py"} <= set(
        PATHS
    )
    assert {"emdconvert.plugin.BasePlugin", "emdconvert.emd.writer.group_names"} <= set(
        DOTTED_NAMES
    )
    assert not exists("emd/no_such_module.py")
    with pytest.raises((ImportError, AttributeError)):
        resolve("emdconvert.emd.no_such_module")


@pytest.mark.parametrize("ref", PATHS)
def test_path_exists(ref: str) -> None:
    assert exists(ref), f"README names {ref!r}, which is not in the repository"


@pytest.mark.parametrize("name", DOTTED_NAMES)
def test_dotted_name_imports(name: str) -> None:
    resolve(name)


def test_architecture_names_every_package() -> None:
    text = section("Architecture")
    packages = sorted(
        p.name for p in (ROOT / "emdconvert").iterdir() if (p / "__init__.py").is_file()
    )
    plugins = sorted(
        p.name + "/" if p.is_dir() else p.name
        for p in (ROOT / "plugins").iterdir()
        if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").is_file())
    )
    missing = [f"emdconvert/{name}/" for name in packages if f"`emdconvert/{name}/`" not in text]
    missing += [f"plugins/{name}" for name in plugins if f"`plugins/{name}`" not in text]
    assert not missing, f"README's Architecture section does not name {missing}"
    for module in ("model", "options", "pipeline", "api", "batch"):
        assert f"`emdconvert/{module}.py`" in text


def test_architecture_dotted_names_import() -> None:
    names = dotted_references(section("Architecture"))
    assert "emdconvert.testing" in names
    for name in names:
        resolve(name)
