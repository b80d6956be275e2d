"""Every public name's docstring example runs and prints what it says (issue 17, 12).

``help(emdconvert.read)`` is where a library user looks first; an example there that
no longer runs teaches the wrong call.  Each example runs as a doctest in an empty
folder, against the installed plugins and real files it writes itself.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import emdconvert

PUBLIC = {
    "read": emdconvert.read,
    "write": emdconvert.write,
    "convert": emdconvert.convert,
    "preview": emdconvert.preview,
    "EMDFile": emdconvert.EMDFile,
    "Dataset": emdconvert.Dataset,
    "Dim": emdconvert.Dim,
    "Dim.uniform": emdconvert.Dim.uniform,
    "StreamWriter": emdconvert.StreamWriter,
}


@pytest.mark.parametrize("name", list(PUBLIC))
def test_docstring_example_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (test,) = doctest.DocTestFinder(recurse=False).find(PUBLIC[name], name, globs={})
    assert len(test.examples) >= 2, f"{name}: its docstring has no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    failures: list[str] = []
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)


def test_every_public_callable_is_documented() -> None:
    for name in emdconvert.__all__:
        value = getattr(emdconvert, name)
        if callable(value):
            assert (value.__doc__ or "").strip(), f"emdconvert.{name} has no docstring"
