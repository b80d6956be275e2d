"""The conformance suite every format plugin's tests subclass (README, Writing a format
plugin).

Import it explicitly in a test module (it is not auto-registered as a pytest plugin)::

    from emdconvert.testing import ReaderContract, WriterContract

    class TestMyFormat(ReaderContract, WriterContract):
        plugin_name = "myfmt"          # an installed plugin, by its entry-point name
        suffix = ".myf"

        @pytest.fixture
        def sample_paths(self, tmp_path):
            return [make_sample(tmp_path / "a.myf")]

A plugin that is not installed (no entry point yet) is tested the same way: set
``plugin_class = MyFormatPlugin`` instead of ``plugin_name``, or override the ``plugin``
fixture to return an instance.  The suite then hands that very plugin to
:func:`emdconvert.read`, :func:`~emdconvert.write` and :func:`~emdconvert.convert`
(their ``reader=``/``writer=`` arguments) instead of letting detection find it.

A reader contract checks metadata, import cost, sniffing, header-only inspection,
laziness, clean failures on damaged input and that the source is never modified.  A
writer contract checks round trips and that a failing write leaves nothing behind.
The helpers they use are public for a plugin's own tests too: :func:`assert_valid_emd`,
:func:`fingerprint` (the source is unchanged), :func:`leftovers` (temp files a failed
write left behind) and :class:`FailingArray` (a source that fails mid-write).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import emdconvert
from emdconvert.errors import EmdConvertError
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.plugin import FormatPlugin, validate_plugin
from emdconvert.publish import TEMP_PREFIX
from emdconvert.registry import PluginSpec, default_registry, instantiate

#: Modules a plugin module must not import at import time.
HEAVY_MODULES = ("h5py", "rsciio", "tifffile", "dask", "hyperspy", "ncempy")


def assert_valid_emd(path: str | Path) -> None:
    """Fail with every broken MUST rule when *path* is not a compliant EMD v0.2 file."""
    from emdconvert.emd.spec import errors, validate

    broken = errors(validate(path))
    assert not broken, f"{path} is not valid EMD v0.2:\n" + "\n".join(map(str, broken))


def fingerprint(path: Path) -> tuple[str, int, int]:
    """(sha256, size, mtime_ns): what "the source is unchanged" means."""
    data = path.read_bytes()
    info = path.stat()
    return hashlib.sha256(data).hexdigest(), info.st_size, info.st_mtime_ns


def leftovers(directory: Path) -> list[Path]:
    """Temp files a failed write might have left in *directory*."""
    return sorted(directory.glob(f"{TEMP_PREFIX}*"))


class FailingArray:
    """A lazy array that raises after its first block: simulates a failure mid-write."""

    def __init__(self, shape: tuple[int, ...], dtype: Any = np.uint16) -> None:
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.calls = 0

    def __getitem__(self, key: Any) -> np.ndarray:
        self.calls += 1
        if self.calls > 1:
            msg = "simulated read failure mid-write"
            raise OSError(msg)
        return np.zeros(self.shape, self.dtype)[key]


def _installed(plugin: FormatPlugin) -> bool:
    """Is *plugin* the very one the default registry has under its name?"""
    return default_registry().plugins.get(plugin.name) is plugin


def forced(plugin: FormatPlugin) -> PluginSpec:
    """What to pass as ``reader=``/``writer=`` to force *plugin*: its name when it is installed (as
    ``--from`` would), else the plugin itself."""
    return plugin.name if _installed(plugin) else plugin


class PluginContract:
    """Checks that hold for every plugin, reader or writer.

    Name the plugin by ``plugin_name`` (installed), or give ``plugin_class`` (need not
    be installed), or override the ``plugin`` fixture to return an instance.
    """

    plugin_name: ClassVar[str] = ""
    plugin_class: ClassVar[type[Any] | None] = None

    @pytest.fixture
    def plugin(self) -> FormatPlugin:
        if self.plugin_class is not None:
            return instantiate(self.plugin_class, "")
        return default_registry().get(self.plugin_name)

    def test_metadata_well_formed(self, plugin: FormatPlugin) -> None:
        validate_plugin(plugin)  # the whole contract, well typed
        if self.plugin_name:
            assert plugin.name == self.plugin_name
        assert plugin.description and "\n" not in plugin.description
        assert plugin.extensions, "a plugin needs at least one extension"
        for ext in plugin.extensions:
            assert ext.startswith(".") and ext == ext.lower(), ext
        for offset, signature in plugin.magic:
            assert isinstance(offset, int) and offset >= 0
            assert isinstance(signature, bytes) and signature
        assert plugin.can_read or plugin.can_write
        cls = type(plugin)
        if plugin.can_read:
            assert "read" in _own_methods(cls), "can_read but read() is not implemented"
        if plugin.can_write:
            assert "write" in _own_methods(cls), "can_write but write() is not implemented"

    def test_import_is_cheap(self, plugin: FormatPlugin) -> None:
        module = type(plugin).__module__
        code = (
            f"import sys, {module}; "
            f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
        )
        # This process's path, so that a plugin module that is not installed imports too.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout.strip()
        assert out == "", f"importing {module} imported {out}"


def _own_methods(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("emdconvert.plugin") and klass.__name__ == "BasePlugin":
            break
        names.update(vars(klass))
    return names


class ReaderContract(PluginContract):
    """Override ``sample_paths`` (files of this format, small) to use it."""

    @pytest.fixture
    def sample_paths(self, tmp_path: Path) -> list[Path]:
        raise NotImplementedError("override sample_paths in the test class")

    def test_sniff_accepts_samples(self, plugin: FormatPlugin, sample_paths: list[Path]) -> None:
        for path in sample_paths:
            head = path.read_bytes()[:4096] if path.is_file() else b""
            assert plugin.sniff(path, head), path

    def test_sniff_never_raises(self, plugin: FormatPlugin, tmp_path: Path) -> None:
        rng = np.random.default_rng(0)
        cases = {"empty": b"", "three": b"abc", "random": rng.bytes(4096)}
        (tmp_path / "invalid").mkdir()
        for name, content in cases.items():
            path = tmp_path / "invalid" / f"{name}{plugin.extensions[0]}"
            path.write_bytes(content)
            assert plugin.sniff(path, content) is False, name
        assert plugin.sniff(tmp_path, b"") is False

    def test_inspect_matches_read(self, plugin: FormatPlugin, sample_paths: list[Path]) -> None:
        for path in sample_paths:
            info = plugin.inspect(path)
            model = plugin.read(path)
            assert [(d.shape, np.dtype(d.dtype)) for d in info.datasets] == [
                (d.shape, d.dtype) for d in model.datasets
            ]

    def test_read_gives_valid_lazy_model(
        self, plugin: FormatPlugin, sample_paths: list[Path]
    ) -> None:
        lazy = plugin.lazy_reads
        for path in sample_paths:
            model = plugin.read(path)
            assert isinstance(model, EMDFile)
            for dataset in model.datasets:
                assert isinstance(dataset, Dataset)
                assert (
                    not lazy
                    or not isinstance(dataset.data, np.ndarray)
                    or isinstance(dataset.data, np.memmap)
                ), f"{path.name}: {dataset.name} was read into memory"

    def test_damaged_input_fails_cleanly(
        self, plugin: FormatPlugin, sample_paths: list[Path], tmp_path: Path
    ) -> None:
        source = sample_paths[0]
        if not source.is_file():
            pytest.skip("sample is a folder")
        content = source.read_bytes()
        damaged = {
            "truncated_half": content[: len(content) // 2],
            "truncated_head": content[:64],
            "zero_tail": content[: len(content) // 2] + b"\0" * (len(content) - len(content) // 2),
        }
        for name, data in damaged.items():
            path = tmp_path / "invalid" / f"{name}{source.suffix}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            out = tmp_path / "invalid" / f"{name}.out.emd"
            try:
                emdconvert.convert(path, out, reader=forced(plugin))
            except EmdConvertError as exc:
                assert "\n" not in str(exc)
                assert not out.exists()
            else:
                # A damage the format cannot detect must still convert to a valid file.
                assert_valid_emd(out)
            assert not leftovers(path.parent)

    def test_source_untouched(
        self, plugin: FormatPlugin, sample_paths: list[Path], tmp_path: Path
    ) -> None:
        for path in sample_paths:
            if not path.is_file():
                continue
            before = fingerprint(path)
            emdconvert.convert(path, tmp_path / f"{path.stem}.emd", reader=forced(plugin))
            assert fingerprint(path) == before


class WriterContract(PluginContract):
    """Round trip through the plugin's writer; ``suffix`` is the output extension."""

    suffix: ClassVar[str] = ""

    @pytest.fixture
    def roundtrip_model(self) -> EMDFile:
        data = np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4)
        dims = (
            Dim.uniform("z", size=2, scale=1.0),
            Dim.uniform("y", size=3, scale=0.5, units="nm"),
            Dim.uniform("x", size=4, scale=0.5, offset=1.0, units="nm"),
        )
        return EMDFile((Dataset("sample", data, dims),))

    def test_roundtrip_data(
        self, plugin: FormatPlugin, roundtrip_model: EMDFile, tmp_path: Path
    ) -> None:
        path = tmp_path / f"out{self.suffix}"
        emdconvert.write(roundtrip_model, path, writer=forced(plugin))
        # An installed plugin must be found by detection; one that is not, is named.
        back = emdconvert.read(path, reader=None if _installed(plugin) else plugin)
        for want, got in zip(roundtrip_model.datasets, back.datasets, strict=True):
            np.testing.assert_array_equal(np.asarray(got.data[...]), np.asarray(want.data))
            assert got.dtype == want.dtype

    def test_failed_write_leaves_nothing(self, plugin: FormatPlugin, tmp_path: Path) -> None:
        model = EMDFile((Dataset("bad", FailingArray((200, 256, 256))),))
        path = tmp_path / f"fail{self.suffix}"
        with pytest.raises(EmdConvertError):
            emdconvert.write(model, path, writer=forced(plugin))
        assert not path.exists()
        assert not leftovers(tmp_path)
        assert os.listdir(tmp_path) == []
