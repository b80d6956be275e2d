"""The conformance suite every format plugin's tests subclass (README, Writing a format
plugin).

Import it explicitly in a test module (it is not auto-registered as a pytest plugin)::

    from emdconvert.testing import ReaderContract, WriterContract

    class TestMyFormat(ReaderContract, WriterContract):
        plugin_name = "myfmt"
        suffix = ".myf"

        @pytest.fixture
        def sample_paths(self, tmp_path):
            return [make_sample(tmp_path / "a.myf")]

A reader contract checks metadata, import cost, sniffing, header-only inspection,
laziness, clean failures on damaged input and that the source is never modified.  A
writer contract checks round trips and that a failing write leaves nothing behind.
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
from emdconvert.plugin import FormatPlugin
from emdconvert.publish import TEMP_PREFIX
from emdconvert.registry import default_registry

#: Modules a plugin module must not import at import time.
HEAVY_MODULES = ("h5py", "rsciio", "tifffile", "dask", "hyperspy", "ncempy")


def corpus_dir() -> Path:
    """The real-file corpus: ``$EMDCONVERT_CORPUS``, else ``../shared/corpus`` beside the
    project checkout (found from the working directory or from this source tree)."""
    if "EMDCONVERT_CORPUS" in os.environ:
        return Path(os.environ["EMDCONVERT_CORPUS"])
    candidates = [Path.cwd().resolve().parent, Path(__file__).resolve().parents[2]]
    for base in candidates:
        if (base / "shared" / "corpus").is_dir():
            return base / "shared" / "corpus"
    return candidates[0] / "shared" / "corpus"


def assert_valid_emd(path: str | Path) -> None:
    """Fail with every broken MUST rule when *path* is not a compliant EMD v0.2 file."""
    from emdconvert.spec import errors, validate

    broken = errors(validate(path))
    assert not broken, f"{path} is not valid EMD v0.2:\n" + "\n".join(map(str, broken))


def write_dm(path: Path, data: np.ndarray, version: int) -> None:
    """Write *data* with nionswift-io's DM writer (independent of rsciio and of us).

    Tests and benchmarks make DM inputs this way because no DM file should come from
    the code under test.  *data* may be a read-only memmap: the writer streams it.
    """
    from nion.data import DataAndMetadata
    from nionswift_plugin.DM_IO import dm3_image_utils

    # 3-D: a sequence of images (nionswift's default would be a spectrum image);
    # 4-D: a 2-D scan of 2-D diffraction patterns.
    descriptor = {3: DataAndMetadata.DataDescriptor(True, 0, 2),
                  4: DataAndMetadata.DataDescriptor(False, 2, 2)}.get(data.ndim)
    xdata = DataAndMetadata.new_data_and_metadata(data, data_descriptor=descriptor)
    with open(path, "wb") as handle:
        dm3_image_utils.save_image(xdata, handle, version)


def rsciio_emd_arrays(path: str | Path) -> list[np.ndarray]:
    """Every dataset of the EMD file at *path*, as rsciio (HyperSpy's reader) returns it.

    The independent expectation for "what did we write": differential tests compare it
    with another library's reading of the source, never with our own reader.
    """
    from rsciio.emd import file_reader

    return [np.asarray(signal["data"]) for signal in file_reader(str(path))]


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


class PluginContract:
    """Checks that hold for every plugin, reader or writer."""

    plugin_name: ClassVar[str] = ""

    @pytest.fixture
    def plugin(self) -> FormatPlugin:
        return default_registry().get(self.plugin_name)

    def test_metadata_well_formed(self, plugin: FormatPlugin) -> None:
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
        code = (f"import sys, {module}; "
                f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.strip()
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

    def test_sniff_accepts_samples(self, plugin: FormatPlugin,
                                   sample_paths: list[Path]) -> None:
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

    def test_inspect_matches_read(self, plugin: FormatPlugin,
                                  sample_paths: list[Path]) -> None:
        for path in sample_paths:
            info = plugin.inspect(path)
            model = plugin.read(path)
            assert [(d.shape, np.dtype(d.dtype)) for d in info.datasets] == \
                [(d.shape, d.dtype) for d in model.datasets]

    def test_read_gives_valid_lazy_model(self, plugin: FormatPlugin,
                                         sample_paths: list[Path]) -> None:
        lazy = getattr(plugin, "lazy_reads", True)
        for path in sample_paths:
            model = plugin.read(path)
            assert isinstance(model, EMDFile)
            for dataset in model.datasets:
                assert isinstance(dataset, Dataset)
                assert not lazy or not isinstance(dataset.data, np.ndarray) or \
                    isinstance(dataset.data, np.memmap), \
                    f"{path.name}: {dataset.name} was read into memory"

    def test_damaged_input_fails_cleanly(self, sample_paths: list[Path],
                                         tmp_path: Path) -> None:
        source = sample_paths[0]
        if not source.is_file():
            pytest.skip("sample is a folder")
        content = source.read_bytes()
        damaged = {"truncated_half": content[: len(content) // 2],
                   "truncated_head": content[:64],
                   "zero_tail": content[: len(content) // 2]
                   + b"\0" * (len(content) - len(content) // 2)}
        for name, data in damaged.items():
            path = tmp_path / "invalid" / f"{name}{source.suffix}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            out = tmp_path / "invalid" / f"{name}.out.emd"
            try:
                emdconvert.convert(path, out, source_plugin=self.plugin_name)
            except EmdConvertError as exc:
                assert "\n" not in str(exc)
                assert not out.exists()
            else:
                # A damage the format cannot detect must still convert to a valid file.
                assert_valid_emd(out)
            assert not leftovers(path.parent)

    def test_source_untouched(self, sample_paths: list[Path], tmp_path: Path) -> None:
        for path in sample_paths:
            if not path.is_file():
                continue
            before = fingerprint(path)
            emdconvert.convert(path, tmp_path / f"{path.stem}.emd",
                               source_plugin=self.plugin_name)
            assert fingerprint(path) == before


class WriterContract(PluginContract):
    """Round trip through the plugin's writer; ``suffix`` is the output extension."""

    suffix: ClassVar[str] = ""

    @pytest.fixture
    def roundtrip_model(self) -> EMDFile:
        data = np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4)
        dims = (Dim.uniform("z", "", 2), Dim.uniform("y", "nm", 3, 0.0, 0.5),
                Dim.uniform("x", "nm", 4, 1.0, 0.5))
        return EMDFile((Dataset("sample", data, dims),))

    def test_roundtrip_data(self, roundtrip_model: EMDFile, tmp_path: Path) -> None:
        path = tmp_path / f"out{self.suffix}"
        emdconvert.write(roundtrip_model, path, plugin=self.plugin_name)
        back = emdconvert.read(path)
        for want, got in zip(roundtrip_model.datasets, back.datasets, strict=True):
            np.testing.assert_array_equal(np.asarray(got.data[...]),
                                          np.asarray(want.data))
            assert got.dtype == want.dtype

    def test_failed_write_leaves_nothing(self, tmp_path: Path) -> None:
        model = EMDFile((Dataset("bad", FailingArray((200, 256, 256))),))
        path = tmp_path / f"fail{self.suffix}"
        with pytest.raises(EmdConvertError):
            emdconvert.write(model, path, plugin=self.plugin_name)
        assert not path.exists()
        assert not leftovers(tmp_path)
        assert os.listdir(tmp_path) == []


#: Bytes per element of the DM tag types that hold numbers (DM3/DM4 format description).
_DM_ITEMSIZE = {2: 2, 3: 4, 4: 2, 5: 4, 6: 4, 7: 8, 8: 1, 9: 1, 10: 1, 11: 8, 12: 8}


def dm_tag_values(path: str | Path) -> list[tuple[tuple[str, ...], int, int, int]]:
    """``(tag path, offset, itemsize, count)`` of every value in a DM3/DM4 tag directory.

    A walker written from the format description, independent of rsciio's parser and
    of ours, so DM tests can patch one value (a ``Dimensions`` entry, the ``DataType``)
    or byte-swap them all (a big-endian twin) and judge the result with rsciio.  Paths
    name unnamed entries by their index (``ImageList/1/ImageData/Dimensions/0``); a
    struct or array of mixed element widths yields one entry per run of equal widths.
    """
    raw = Path(path).read_bytes()
    word = 8 if int.from_bytes(raw[:4], "big") == 4 else 4
    values: list[tuple[tuple[str, ...], int, int, int]] = []

    def number(at: int) -> int:
        return int.from_bytes(raw[at:at + word], "big")

    def layout(info: list[int], i: int) -> tuple[list[tuple[int, int]], int]:
        """Runs of (itemsize, count) of one value of the type starting at info[i]."""
        kind = info[i]
        if kind == 18:  # string: 1-byte characters
            return [(1, info[i + 1])], i + 2
        if kind == 15:  # struct: name length, field count, then (name length, type) pairs
            fields = info[i + 4:i + 3 + 2 * info[i + 2]:2]
            return [(_DM_ITEMSIZE[f], 1) for f in fields], i + 3 + 2 * info[i + 2]
        if kind == 20:  # array: element type, then length
            runs, j = layout(info, i + 1)
            runs = merged(runs)
            return ([(runs[0][0], runs[0][1] * info[j])] if len(runs) == 1
                    else runs * info[j]), j + 1
        return [(_DM_ITEMSIZE[kind], 1)], i + 1

    def merged(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for size, count in runs:
            out[-1:] = ([(size, out[-1][1] + count)] if out and out[-1][0] == size
                        else [*out[-1:], (size, count)])
        return out

    def group(at: int, prefix: tuple[str, ...]) -> int:
        count, at = number(at + 2), at + 2 + word
        for index in range(count):
            length = int.from_bytes(raw[at + 1:at + 3], "big")
            name = raw[at + 3:at + 3 + length].decode("latin-1") or str(index)
            body = at + 3 + length + (8 if word == 8 else 0)
            at = group(body, (*prefix, name)) if raw[at] == 20 else tag(body, (*prefix, name))
        return at

    def tag(at: int, name: tuple[str, ...]) -> int:
        info = [number(at + 4 + word * (1 + k)) for k in range(number(at + 4))]
        at += 4 + word * (1 + len(info))
        for size, count in merged(layout(info, 0)[0]):
            values.append((name, at, size, count))
            at += size * count
        return at

    group(4 + word + 4, ())
    return values


def dm_patch(source: str | Path, target: str | Path, changes: dict[str, int]) -> None:
    """Copy a little-endian DM file, replacing tag values of its last image.

    *changes* maps a tag path below the image (``"ImageData/Dimensions/0"``) to the new
    integer, stored in the tag's width (wrapping, so ``-1`` is all ones).  The last
    ``ImageList`` entry is the image itself in DigitalMicrograph files (thumbnails come
    first) and the only one in nionswift-io's.
    """
    values = dm_tag_values(source)
    last = max(path[1] for path, *_ in values if path[0] == "ImageList")
    raw = bytearray(Path(source).read_bytes())
    for name, value in changes.items():
        wanted = ("ImageList", last, *name.split("/"))
        offset, size = next((o, s) for path, o, s, _ in values if path == wanted)
        raw[offset:offset + size] = (value % 256 ** size).to_bytes(size, "little")
    Path(target).write_bytes(raw)


def dm_big_endian(source: str | Path, target: str | Path) -> None:
    """Write the big-endian twin of a little-endian DM file: the same tags and pixels.

    The header's byte-order word (after the version and the length) becomes 0, and every
    tag value wider than a byte, the image data included, is byte-swapped; the tag
    directory's own sizes and counts are big-endian in both (what rsciio reads).
    """
    raw = bytearray(Path(source).read_bytes())
    word = 8 if raw[3] == 4 else 4
    raw[4 + word:8 + word] = (0).to_bytes(4, "big")
    for _, offset, size, count in dm_tag_values(source):
        if size > 1:
            block = np.frombuffer(raw, f"u{size}", count, offset)
            raw[offset:offset + size * count] = block.byteswap().tobytes()
    Path(target).write_bytes(raw)
