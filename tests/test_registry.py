"""Registry and detection: entry points, broken third parties, content over extension."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest

from emdconvert.detect import choose_reader, choose_writer
from emdconvert.errors import InputError, PluginError, UnknownFormatError, UsageError
from emdconvert.registry import GROUP, Registry

THIRD_PARTY = textwrap.dedent('''
    from emdconvert.plugin import BasePlugin

    class Good(BasePlugin):
        name = "good"
        description = "a third-party format"
        extensions = (".good",)
        magic = ((0, b"GOOD"),)
        can_read = True

    class Clash(BasePlugin):
        name = "npy"
        description = "pretends to be npy"
        extensions = (".npy",)
        can_read = True

    class Broken(BasePlugin):
        def __init__(self):
            raise RuntimeError("cannot start")
''')


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "thirdparty_fmt.py").write_text(THIRD_PARTY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "thirdparty_fmt"
    sys.modules.pop("thirdparty_fmt", None)


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, GROUP)


def test_isolated_registry_loads_a_third_party_plugin(third_party: str) -> None:
    registry = Registry([ep("good", f"{third_party}:Good")])
    assert registry.names() == ["good"]
    assert registry.get("good").extensions == (".good",)


def test_broken_plugin_is_skipped_with_a_warning(third_party: str) -> None:
    registry = Registry([ep("good", f"{third_party}:Good"),
                         ep("broken", f"{third_party}:Broken"),
                         ep("missing", "no_such_module:Nope")])
    with pytest.warns(RuntimeWarning) as record:
        assert registry.names() == ["good"]
    messages = " ".join(str(w.message) for w in record)
    assert "skipping plugin 'broken'" in messages and "skipping plugin 'missing'" in messages


def test_name_clash_keeps_the_builtin(third_party: str) -> None:
    registry = Registry([ep("npy", f"{third_party}:Clash"),
                         ep("npy", "emdconvert.plugins.npy:NPYPlugin")])
    with pytest.warns(RuntimeWarning, match="two plugins are named 'npy'"):
        assert type(registry.get("npy")).__module__ == "emdconvert.plugins.npy"


def test_empty_registry_says_how_to_install() -> None:
    with pytest.raises(PluginError, match="pip install"):
        Registry([]).names()


def test_unknown_name_lists_installed() -> None:
    from emdconvert.registry import default_registry

    with pytest.raises(UsageError, match="installed formats: csv, dm, emd"):
        default_registry().get("nope")


def test_content_beats_extension(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    np.save(tmp_path / "a.npy", np.zeros(3))
    (tmp_path / "invalid").mkdir()  # not EMD despite its name: skip the EMD check
    renamed = tmp_path / "invalid" / "actually_npy.emd"
    (tmp_path / "a.npy").rename(renamed)
    with caplog.at_level(logging.WARNING):
        assert choose_reader(renamed).name == "npy"
    assert "content is npy" in caplog.text


def test_from_and_to_override(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros(3))
    assert choose_reader(tmp_path / "a.npy", "npy").name == "npy"
    assert choose_writer(tmp_path / "out.bin", "emd").name == "emd"
    with pytest.raises(UnknownFormatError, match="cannot be written"):
        choose_writer(tmp_path / "out.dm4", "dm")


def test_unknown_format_message_names_file_tried_installed(tmp_path: Path) -> None:
    (tmp_path / "mystery.xyz").write_bytes(b"\x01\x02\x03\x04" * 100)
    with pytest.raises(UnknownFormatError) as info:
        choose_reader(tmp_path / "mystery.xyz")
    text = str(info.value)
    assert "mystery.xyz" in text and "tried" in text and "installed formats" in text
    assert "--from" in text
    with pytest.raises(UnknownFormatError, match="writable formats"):
        choose_writer(tmp_path / "out.xyz")


def test_empty_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "e.npy").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        choose_reader(tmp_path / "e.npy")
