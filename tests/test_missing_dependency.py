"""A missing library is not a bad input (issue 14, item 5).

An ``ImportError`` inside a plugin (a codec, an optional reader dependency), tifffile's
"requires the 'imagecodecs' package", or an EMD compressed with a filter hdf5plugin
provides read where hdf5plugin is missing, is an environment problem: exit 4, kind
``missing-dependency``, one line naming the ``pip install`` that fixes it.  Only filters
no one registers stay a policy refusal (exit 5).

Missing modules are simulated in a subprocess with ``sys.modules[name] = None`` (what a
``ModuleNotFoundError`` on import looks like), then the real CLI runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from support.malformed_corpus import _emd_hostile

import emdconvert
from emdconvert.boundary import missing_dependency
from emdconvert.errors import (
    EnvironmentProblem,
    FormatError,
    MissingDependency,
    distribution_for,
)
from emdconvert.testing import leftovers

#: Runs ``python -m emdconvert ARGS`` with the modules named in argv[1] (comma-separated)
#: made unimportable.
_HIDING_CLI = """
import runpy, sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None
sys.argv = ["emdconvert", *sys.argv[2:]]
runpy.run_module("emdconvert", run_name="__main__", alter_sys=True)
"""


def run_without(hidden: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _HIDING_CLI, hidden, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_missing(result: subprocess.CompletedProcess[str], output: Path, install: str) -> str:
    """Exit 4, one stderr line with *install*, no traceback, no output, no temp file."""
    assert result.returncode == 4, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("emdconvert: error: ")]
    assert len(lines) == 1, result.stderr
    assert install in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not output.exists()
    assert not leftovers(output.parent)
    return lines[0]


def _stdlib_zstd() -> bool:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


# -- TIFF: codecs only imagecodecs provides -------------------------------------------
@pytest.mark.parametrize(
    "compression",
    [
        "lzw",
        "png",
        pytest.param(
            "zstd",
            marks=pytest.mark.skipif(
                _stdlib_zstd(), reason="tifffile decodes zstd with Python 3.14's compression.zstd"
            ),
        ),
    ],
)
def test_compressed_tiff_without_imagecodecs_is_exit_4(tmp_path: Path, compression: str) -> None:
    import tifffile

    source = tmp_path / f"{compression}.tif"
    tifffile.imwrite(
        source, np.arange(64 * 48, dtype=np.uint16).reshape(64, 48), compression=compression
    )
    output = tmp_path / "out.emd"
    line = assert_missing(
        run_without("imagecodecs", source, output), output, "pip install imagecodecs"
    )
    assert str(source) in line
    # The file itself is fine: with imagecodecs it converts.
    assert run_without("", source, output).returncode == 0


def test_zlib_tiff_needs_no_imagecodecs(tmp_path: Path) -> None:
    """tifffile decodes deflate natively: hiding imagecodecs must not refuse it."""
    import tifffile

    source = tmp_path / "zlib.tif"
    tifffile.imwrite(
        source, np.arange(64 * 48, dtype=np.uint16).reshape(64, 48), compression="zlib"
    )
    result = run_without("imagecodecs", source, tmp_path / "out.emd")
    assert result.returncode == 0, result.stderr


# -- EMD: HDF5 filters hdf5plugin provides --------------------------------------------
@pytest.mark.parametrize("compression", ["zstd", "bitshuffle-lz4"])
def test_plugin_filtered_emd_without_hdf5plugin_is_exit_4(tmp_path: Path, compression: str) -> None:
    source = tmp_path / "in.npy"
    np.save(source, np.arange(60, dtype=np.float32).reshape(6, 10))
    emd = emdconvert.convert(source, tmp_path / "filtered.emd", compression=compression)
    output = tmp_path / "out.emd"
    line = assert_missing(run_without("hdf5plugin", emd, output), output, "pip install hdf5plugin")
    assert "32015" in line if compression == "zstd" else "32008" in line
    assert "refused" not in line
    assert run_without("", emd, output).returncode == 0


def test_unregistered_filter_stays_a_policy_refusal(tmp_path: Path) -> None:
    """Filter 32000 (LZF) is not one of hdf5plugin's: refused, exit 5, with or without
    hdf5plugin; and a file that also uses zstd is still refused, not "install"."""
    folder = tmp_path / "invalid"
    folder.mkdir()
    source = folder / "unknown_filter.emd"
    _emd_hostile("unknown filter")(source, folder)
    both = folder / "zstd_and_unknown.emd"
    _emd_hostile("unknown filter")(both, folder)
    import hdf5plugin

    with h5py.File(both, "a") as h5:
        h5["data/a"].create_dataset("zstd", data=np.arange(5), chunks=(5,), **hdf5plugin.Zstd())
    for path in (source, both):
        for hidden in ("", "hdf5plugin"):
            output = folder / "out.emd"
            result = run_without(hidden, path, output)
            assert result.returncode == 5, (hidden, result.stderr)
            assert "unknown filter 32000" in result.stderr
            assert "pip install" not in result.stderr
            assert not output.exists()


# -- rsciio: optional libraries of one reader -----------------------------------------
@pytest.mark.parametrize("hidden", ["zarr", "numcodecs"])
def test_zspy_without_zarr_is_exit_4(corpus: Path, tmp_path: Path, hidden: str) -> None:
    source = corpus / "wide" / "rs" / "zspy" / "signal1d_10x10-DirectoryStore.zspy"
    if not source.is_dir():
        pytest.skip(f"{source} not in the corpus")
    output = tmp_path / "out.emd"
    assert_missing(run_without(hidden, source, output), output, f"pip install {hidden}")


def test_rsciio_missing_is_exit_4_naming_rosettasciio(tmp_path: Path) -> None:
    source = tmp_path / "a.msa"
    source.write_text(
        "#FORMAT : EMSA/MAS Spectral Data File\n#NPOINTS : 2\n"
        "#SPECTRUM :\n1, 2\n2, 3\n#ENDOFDATA :\n"
    )
    output = tmp_path / "out.emd"
    assert_missing(run_without("rsciio", source, output), output, "pip install rosettasciio")


def test_a_library_one_rsciio_reader_lacks_is_not_blamed_when_another_refused(
    tmp_path: Path,
) -> None:
    """Four rsciio readers take ``.h5`` (USID needs pyUSID); a plain HDF5 file the others
    refuse is bad input, not "pip install pyUSID"."""
    source = tmp_path / "plain.h5"
    with h5py.File(source, "w") as h5:
        h5["x"] = np.arange(10)
    output = tmp_path / "out.emd"
    result = run_without("pyUSID", source, output)
    assert result.returncode == 3, result.stderr
    assert "pyUSID" in result.stderr and "pip install" not in result.stderr
    assert not output.exists()


# -- the library: any ImportError a plugin raises, reading or writing -----------------
@pytest.fixture
def npy(tmp_path: Path) -> Path:
    path = tmp_path / "in.npy"
    np.save(path, np.arange(12, dtype=np.uint8).reshape(3, 4))
    return path


def test_import_error_in_a_reader_is_missing_dependency(
    npy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emdconvert.plugins.npy import NPYPlugin

    def read(self: object, path: Path, **kwargs: object) -> None:
        import skimage.no_such_module  # type: ignore[import-not-found]  # noqa: F401

    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setattr(NPYPlugin, "read", read)
    with pytest.raises(MissingDependency) as caught:
        emdconvert.convert(npy, tmp_path / "out.emd")
    error = caught.value
    assert isinstance(error, EnvironmentProblem) and isinstance(error, OSError)
    assert (error.exit_code, error.kind) == (4, "missing-dependency")
    assert error.reason.endswith("pip install scikit-image")
    assert error.path == str(npy)
    assert not (tmp_path / "out.emd").exists() and not leftovers(tmp_path)


def test_import_error_while_writing_is_missing_dependency_not_internal(
    npy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emdconvert.plugins.emd import EMDPlugin

    def write(self: object, *args: object, **kwargs: object) -> None:
        raise ModuleNotFoundError("No module named 'numba'", name="numba")

    monkeypatch.setattr(EMDPlugin, "write", write)
    with pytest.raises(MissingDependency, match=r"pip install numba$"):
        emdconvert.convert(npy, tmp_path / "out.emd")
    assert not (tmp_path / "out.emd").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("chained", ["cause", "context"])
def test_a_reader_that_wraps_the_import_error_is_missing_dependency(
    npy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chained: str
) -> None:
    """The ImportError is the cause (``raise ... from``) or the context of what the
    plugin raised, even its own FormatError."""
    from emdconvert.plugins.npy import NPYPlugin

    def read(self: object, path: Path, **kwargs: object) -> None:
        try:
            import sparse  # noqa: F401
        except ImportError as exc:
            if chained == "cause":
                raise FormatError("cannot decode the spectrum stream") from exc
            raise FormatError("cannot decode the spectrum stream")  # noqa: B904

    monkeypatch.setitem(sys.modules, "sparse", None)
    monkeypatch.setattr(NPYPlugin, "read", read)
    with pytest.raises(MissingDependency, match=r"pip install sparse$"):
        emdconvert.convert(npy, tmp_path / "out.emd")


def test_what_is_not_an_import_error_stays_bad_input() -> None:
    assert missing_dependency(ValueError("bad tag 270")) is None
    assert missing_dependency(KeyError("'imagecodecs'")) is None
    try:
        try:
            import not_a_real_module_xyz  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            raise ValueError("truncated") from None  # said: the import is not the cause
    except ValueError as exc:
        assert missing_dependency(exc) is None


def test_messages_name_module_and_pip_command() -> None:
    assert distribution_for("rsciio.zspy._api") == "rosettasciio"
    assert distribution_for("skimage") == "scikit-image"
    assert distribution_for("whatever_else") == "whatever_else"
    found = missing_dependency(
        ImportError("cannot import name 'x' from 'tifffile'", name="tifffile")
    )
    assert found is not None and found.reason.endswith("pip install --upgrade tifffile")
    velox = missing_dependency(
        ModuleNotFoundError(
            "The 'sparse' library was not found. To load EDS spectrum image data from Velox "
            "EMD files, 'sparse' must be installed."
        )
    )
    assert velox is not None and velox.reason.endswith("pip install sparse")
    tiff = missing_dependency(ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package"))
    assert tiff is not None and tiff.module == "imagecodecs"
    stdlib_zstd = missing_dependency(
        ModuleNotFoundError("No module named 'compression'", name="compression")
    )
    assert stdlib_zstd is not None and stdlib_zstd.reason.endswith("pip install imagecodecs")
    unnamed = missing_dependency(ImportError("No netCDF library installed."))
    assert unnamed is not None and unnamed.exit_code == 4 and unnamed.module is None
