"""Registry and detection: entry points, broken third parties, content over extension;
plugins that are not installed (a class or instance given directly, ``module:Class``,
``Registry.register``) and the conformance suite run on one."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import emdconvert
from emdconvert.detect import choose_reader, choose_writer
from emdconvert.errors import (
    FormatError,
    InputError,
    PluginError,
    UnknownFormatError,
    UnsupportedError,
    UsageError,
)
from emdconvert.model import EMDFile
from emdconvert.plugin import BasePlugin
from emdconvert.registry import GROUP, Registry, default_registry, refresh
from emdconvert.testing import ReaderContract, WriterContract

THIRD_PARTY = textwrap.dedent("""
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
""")


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
    registry = Registry(
        [
            ep("good", f"{third_party}:Good"),
            ep("broken", f"{third_party}:Broken"),
            ep("missing", "no_such_module:Nope"),
        ]
    )
    with pytest.warns(RuntimeWarning) as record:
        assert registry.names() == ["good"]
    messages = " ".join(str(w.message) for w in record)
    assert "skipping plugin 'broken'" in messages and "skipping plugin 'missing'" in messages


def test_name_clash_keeps_the_builtin(third_party: str) -> None:
    registry = Registry(
        [ep("npy", f"{third_party}:Clash"), ep("npy", "emdconvert.plugins.npy:NPYPlugin")]
    )
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
    assert choose_writer(tmp_path / "out.dm4", "dm").name == "dm"
    with pytest.raises(UnknownFormatError, match="cannot be written"):
        choose_writer(tmp_path / "out.ser", "rsciio")


def test_unknown_format_message_names_file_tried_installed(tmp_path: Path) -> None:
    (tmp_path / "mystery.xyz").write_bytes(b"\x01\x02\x03\x04" * 100)
    with pytest.raises(UnknownFormatError) as info:
        choose_reader(tmp_path / "mystery.xyz")
    text = str(info.value)
    assert "mystery.xyz" in text and "tried" in text and "installed formats" in text
    assert "reader=NAME forces one" in text  # the library's keyword, not the CLI's --from
    with pytest.raises(UnknownFormatError, match="writable formats"):
        choose_writer(tmp_path / "out.xyz")


def test_empty_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "e.npy").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        choose_reader(tmp_path / "e.npy")


class TextMatrixPlugin(BasePlugin):
    """A small real format, installed nowhere: ``TXM1``, ``shape ...``, ``dtype ...``,
    then the values as text, one line per index of the first axis."""

    name: ClassVar[str] = "txm"
    description: ClassVar[str] = "text matrix (a test's uninstalled plugin)"
    extensions: ClassVar[tuple[str, ...]] = (".txm",)
    magic: ClassVar[tuple[tuple[int, bytes], ...]] = ((0, b"TXM1\n"),)
    can_read: ClassVar[bool] = True
    can_write: ClassVar[bool] = True
    lazy_reads: ClassVar[bool] = False  # text is parsed whole

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        try:
            magic, shape_line, dtype_line, *rows = path.read_text("ascii").splitlines()
            if magic != "TXM1" or not shape_line.startswith("shape "):
                raise ValueError("no TXM1 header")
            shape = tuple(int(n) for n in shape_line.split()[1:])
            dtype = np.dtype(dtype_line.removeprefix("dtype "))
            values = [dtype.type(v) for v in " ".join(rows).split()]
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise FormatError(f"not a text matrix: {exc}", path=path) from None
        if len(values) != int(np.prod(shape)):
            raise FormatError(
                f"header declares {int(np.prod(shape))} values, found {len(values)}", path=path
            )
        return EMDFile.from_array(np.array(values, dtype).reshape(shape))

    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        if len(model.datasets) != 1 or not model.datasets[0].shape:
            raise UnsupportedError("a text matrix holds one array of at least 1 axis")
        data = model.datasets[0]
        with open(path, "w", encoding="ascii") as out:
            out.write(f"TXM1\nshape {' '.join(map(str, data.shape))}\ndtype {data.dtype.str}\n")
            for index in range(data.shape[0]):  # one block at a time: the data stay lazy
                row = np.asarray(data.data[index]).ravel().tolist()
                out.write(" ".join(map(str, row)) + "\n")


class Malformed:
    """Duck-typed, not a BasePlugin, and missing most of the contract."""

    name = "malformed"
    can_read = True

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        raise AssertionError("never called")


class Mistyped(TextMatrixPlugin):
    name = "mistyped"
    extensions = ".txm"  # type: ignore[assignment]  # a string, not a tuple


def write_txm(path: Path, array: np.ndarray) -> Path:
    TextMatrixPlugin().write(EMDFile.from_array(array), path)
    return path


@pytest.fixture
def txm(tmp_path: Path) -> Path:
    return write_txm(tmp_path / "m.txm", np.arange(12, dtype=np.int16).reshape(3, 4))


def test_the_text_plugin_is_not_installed() -> None:
    assert "txm" not in default_registry().names()


def test_read_convert_write_take_an_uninstalled_plugin_class_or_instance(
    txm: Path, tmp_path: Path
) -> None:
    want = np.arange(12, dtype=np.int16).reshape(3, 4)
    for plugin in (TextMatrixPlugin, TextMatrixPlugin()):
        np.testing.assert_array_equal(emdconvert.read(txm, reader=plugin).datasets[0].data, want)
    out = emdconvert.convert(txm, tmp_path / "m.emd", reader=TextMatrixPlugin)
    np.testing.assert_array_equal(emdconvert.read(out).datasets[0].data[...], want)
    back = emdconvert.write(emdconvert.read(out), tmp_path / "back.txm", writer=TextMatrixPlugin())
    assert back.read_bytes() == txm.read_bytes()
    again = emdconvert.convert(out, tmp_path / "again.txm", writer=TextMatrixPlugin)
    assert again.read_bytes() == txm.read_bytes()


def test_a_module_class_spec_names_a_plugin_wherever_a_name_is(txm: Path, third_party: str) -> None:
    spec = f"{TextMatrixPlugin.__module__}:TextMatrixPlugin"
    assert emdconvert.read(txm, reader=spec).datasets[0].shape == (3, 4)
    assert type(default_registry().resolve(f"{third_party}:Good")).__name__ == "Good"
    for bad, reason in (
        (f"{third_party}:Nope", "has no Nope"),
        ("no_such_module_xyz:Cls", "cannot import no_such_module_xyz"),
        ("json:dumps", "dumps is not a class"),
    ):
        with pytest.raises(UsageError, match=reason) as info:
            emdconvert.read(txm, reader=bad)
        assert bad in str(info.value) and "\n" not in str(info.value)


def test_register_adds_a_plugin_at_runtime(txm: Path) -> None:
    registry = Registry([ep("npy", "emdconvert.plugins.npy:NPYPlugin")])
    assert registry.register(TextMatrixPlugin) is TextMatrixPlugin  # works as a decorator
    assert registry.names() == ["npy", "txm"]
    assert registry.distribution("txm") == "registered at run time"
    assert choose_reader(txm, registry=registry).name == "txm"
    assert choose_writer(txm.with_name("o.txm"), registry=registry).name == "txm"
    with pytest.raises(PluginError, match="a plugin named 'txm' is already there"):
        registry.register(TextMatrixPlugin())
    registry.register(TextMatrixPlugin(), replace=True)
    only = Registry([])
    only.register(TextMatrixPlugin())  # a registry of nothing but runtime plugins
    assert only.names() == ["txm"]


@pytest.fixture
def registered() -> Iterator[None]:
    refresh()
    yield
    refresh()


def test_registering_in_the_default_registry_makes_detection_find_it(
    txm: Path, tmp_path: Path, registered: None
) -> None:
    with pytest.raises(UnknownFormatError):
        emdconvert.read(txm)
    emdconvert.registry.register(TextMatrixPlugin)
    assert emdconvert.read(txm).datasets[0].shape == (3, 4)
    emdconvert.convert(txm, tmp_path / "d.emd")
    assert (
        emdconvert.convert(tmp_path / "d.emd", tmp_path / "d.txm").read_bytes() == txm.read_bytes()
    )
    with pytest.raises(PluginError, match="already there"):
        emdconvert.registry.register(type("Clash", (TextMatrixPlugin,), {"name": "npy"}))


def test_a_malformed_plugin_is_refused_naming_what_is_missing(txm: Path, third_party: str) -> None:
    missing = (
        "missing description, extensions, magic, priority, can_write, "
        "reads_stacks, lazy_reads, compressions, read_options, write_options, "
        "keeps_provenance, sniff, inspect, "
        "write, check_complete, verify, append_comment, library_versions"
    )
    with pytest.raises(PluginError, match=f"Malformed is malformed: {missing} "):
        Registry([]).register(Malformed)
    with pytest.raises(PluginError, match="missing description"):
        emdconvert.read(txm, reader=Malformed())
    with pytest.raises(PluginError, match="extensions must be a tuple, not str"):
        emdconvert.read(txm, reader=Mistyped)
    with pytest.raises(PluginError, match=r"Broken .*cannot start: RuntimeError"):
        default_registry().resolve(f"{third_party}:Broken")
    # An entry point naming one is skipped like any broken plugin, saying why.
    module = Malformed.__module__
    registry = Registry(
        [ep("npy", "emdconvert.plugins.npy:NPYPlugin"), ep("malformed", f"{module}:Malformed")]
    )
    with pytest.warns(RuntimeWarning, match=r"skipping plugin 'malformed'.*missing descr"):
        assert registry.names() == ["npy"]


class TestUninstalledPluginConformance(ReaderContract, WriterContract):
    """The public conformance suite, run on a plugin no entry point advertises."""

    plugin_class = TextMatrixPlugin
    suffix = ".txm"

    @pytest.fixture
    def sample_paths(self, tmp_path: Path) -> list[Path]:
        return [
            write_txm(tmp_path / "a.txm", np.arange(5 * 6 * 7, dtype=np.uint16).reshape(5, 6, 7)),
            write_txm(tmp_path / "b.txm", np.linspace(0, 1, 9)),
        ]


class TestUninstalledPluginInstanceConformance(ReaderContract):
    """Or with the ``plugin`` fixture overridden to return an instance."""

    @pytest.fixture
    def plugin(self) -> TextMatrixPlugin:
        return TextMatrixPlugin()

    @pytest.fixture
    def sample_paths(self, tmp_path: Path) -> list[Path]:
        return [write_txm(tmp_path / "c.txm", np.ones((4, 4), np.float32))]
