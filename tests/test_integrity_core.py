"""Issue-12 classes the core owns: never touch a source, always terminate, say what happened.

Inputs come from tifffile, numpy and h5py; expectations from h5py, numpy and rsciio.
Each test here failed on the code before the fix it names (see the closing note).
"""

from __future__ import annotations

import itertools
import os
import resource
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from support.rsciio_oracle import rsciio_emd_arrays

import emdconvert
from emdconvert.completeness import check_complete
from emdconvert.errors import EmdConvertError, FormatError, IncompleteError, UsageError
from emdconvert.model import Dataset, EMDFile
from emdconvert.testing import fingerprint


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emdconvert", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"f{i}.tif", np.full((4, 5), i, np.uint16))
    return folder


# --- 2. Never touch a source --------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("frames", "frames/f0.tif", "--overwrite"),  # a member of a folder stack
        ("frames/*.tif", "frames/f1.tif", "--overwrite"),  # a member of a glob
        ("frames/f*.tif", "frames/f2.tif", "--overwrite", "--to", "tiff"),
        ("frames", "frames/new.tif"),  # would join the stack next run
        ("frames/f0.tif", "frames/f0.tif", "--overwrite"),  # the single file itself
    ],
)
def test_an_output_the_reader_reads_is_refused(frames: Path, args: tuple[str, ...]) -> None:
    before = {p.name: fingerprint(p) for p in frames.iterdir()}
    result = _cli(*args, cwd=frames.parent)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert {p.name: fingerprint(p) for p in frames.iterdir()} == before


def test_an_output_beside_a_stack_with_another_suffix_converts(frames: Path) -> None:
    result = _cli("frames", "frames/stack.emd", cwd=frames.parent)
    assert result.returncode == 0, result.stderr
    expected = np.stack([tifffile.imread(frames / f"f{i}.tif") for i in range(3)])
    np.testing.assert_array_equal(rsciio_emd_arrays(frames / "stack.emd")[0], expected)


def test_the_batch_planner_refuses_an_output_that_is_a_source(frames: Path) -> None:
    before = fingerprint(frames / "f0.tif")
    result = _cli(
        "frames/f0.tif",
        "frames/f1.tif",
        "--out-dir",
        "frames",
        "--to",
        "tiff",
        "--overwrite",
        cwd=frames.parent,
    )
    assert result.returncode == 2, result.stderr
    assert "overwrite the source" in result.stderr
    assert fingerprint(frames / "f0.tif") == before


def test_a_hard_link_to_the_source_is_the_source(tmp_path: Path) -> None:
    source = tmp_path / "a.npy"
    np.save(source, np.arange(6, dtype=np.int32))
    os.link(source, tmp_path / "alias.npy")
    with pytest.raises(UsageError, match="same file") as caught:
        emdconvert.convert(source, tmp_path / "alias.npy", overwrite=True)
    assert caught.value.exit_code == 2
    np.testing.assert_array_equal(np.load(tmp_path / "alias.npy"), np.arange(6))


# --- 3. Always terminate, within the memory bound -----------------------------------


@pytest.mark.timeout(120)
def test_a_thousand_same_named_datasets_get_unique_prefix_free_names(tmp_path: Path) -> None:
    count = 1000
    model = EMDFile(tuple(Dataset("HAADF", np.full((2, 3), i, np.int16)) for i in range(count)))
    out = emdconvert.write(model, tmp_path / "many.emd")
    with h5py.File(out, "r") as h5:
        names = list(h5["data"])
        values = [int(h5["data"][n]["data"][0, 0]) for n in names]
    assert len(set(names)) == count and values == list(range(count))
    ordered = sorted(names)
    assert not any(b.startswith(a) for a, b in itertools.pairwise(ordered))


def test_ten_alike_titles_read_back_by_rsciio_in_order(tmp_path: Path) -> None:
    model = EMDFile(tuple(Dataset("HAADF", np.full((2, 3), i, np.int16)) for i in range(12)))
    out = emdconvert.write(model, tmp_path / "twelve.emd")
    assert [int(a[0, 0]) for a in rsciio_emd_arrays(out)] == list(range(12))


def _emd_with_dim(path: Path, data_shape: tuple[int, ...], dim_len: int) -> None:
    """An EMD file written by h5py whose dim1 declares *dim_len* float64 values, stored
    as compressed chunks that were never written (a few KB on disk)."""
    with h5py.File(path, "w") as h5:
        h5.attrs.update(version_major=0, version_minor=2)
        group = h5.create_group("data").create_group("bomb")
        group.attrs["emd_group_type"] = 1
        group.create_dataset("data", shape=data_shape, dtype="u1", chunks=True, compression="gzip")
        group.create_dataset(
            "dim1", shape=(dim_len,), dtype="f8", chunks=(1 << 16,), compression="gzip"
        )
        for k, n in enumerate(data_shape[1:], start=2):
            group.create_dataset(f"dim{k}", data=np.arange(n, dtype="f8"))


def _convert_capped(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """CLI conversion under a 1 GiB address-space cap: a 2 GB allocation cannot happen."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "emdconvert", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
    )


@pytest.mark.parametrize(
    ("data_shape", "code", "says"),
    [
        ((4, 4), 3, "shape (268435456,) for an axis of length 4"),  # dim disagrees with data
        ((1 << 28,), 5, "/data/bomb/dim1"),  # dim as long as the axis
    ],
)
def test_dim_vectors_are_counted_before_they_are_allocated(
    tmp_path: Path, data_shape: tuple[int, ...], code: int, says: str
) -> None:
    source = tmp_path / "invalid" / "dims.emd"
    source.parent.mkdir()
    _emd_with_dim(source, data_shape, 1 << 28)
    assert source.stat().st_size < 64 * 1024
    result = _convert_capped(source, tmp_path / "out.emd")
    assert result.returncode == code, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.emd").exists()


# --- 4. Errors that say what happened -----------------------------------------------


def test_a_corrupt_superblock_is_corrupt_not_incomplete(tmp_path: Path) -> None:
    good = tmp_path / "good.h5"
    with h5py.File(good, "w") as h5:
        h5["x"] = np.arange(10)
    data = bytearray(good.read_bytes())
    data[8] ^= 0xFF  # the superblock version: "bad superblock version number"
    bad = tmp_path / "invalid" / "bad.emd"
    bad.parent.mkdir()
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError) as caught:
        check_complete(bad)
    assert not isinstance(caught.value, IncompleteError)
    assert caught.value.kind == "corrupt" and "superblock" in str(caught.value)


def test_a_file_held_by_a_writer_is_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "invalid" / "open.emd"
    path.parent.mkdir()
    writer = h5py.File(path, "w")
    writer["x"] = 1
    writer.flush()
    try:
        # h5py's lock is per process: another process sees it, as the daemon would.
        code = (
            "import sys, emdconvert\nfrom emdconvert.completeness import check_complete\n"
            "try: check_complete(sys.argv[1])\n"
            "except emdconvert.EmdConvertError as e: print(e.kind)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
        )
    finally:
        writer.close()
    assert result.stdout.strip() == "incomplete", result.stderr


def test_a_hard_link_cycle_converts_each_object_once(tmp_path: Path) -> None:
    source = tmp_path / "cycle.emd"
    values = np.arange(12, dtype=np.uint16).reshape(3, 4)
    emdconvert.write(EMDFile.from_array(values, name="image"), source)
    with h5py.File(source, "a") as h5:
        h5["data"]["loop"] = h5["data"]  # /data/loop is /data: a cycle
        h5["deeper/again"] = h5["data/image"]  # the same data group, linked twice
    out = emdconvert.convert(source, tmp_path / "out.emd")
    arrays = rsciio_emd_arrays(out)
    assert len(arrays) == 1
    np.testing.assert_array_equal(arrays[0], values)


class _Exploding:
    """An array whose reads fail the way damaged files make codecs fail."""

    shape = (64, 64)
    dtype = np.dtype(np.uint16)

    def __getitem__(self, key: object) -> np.ndarray:
        raise ZeroDivisionError("integer division or modulo by zero")


def test_any_failure_while_the_writer_pulls_source_data_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "a.npy"
    np.save(source, np.zeros((64, 64), np.uint16))
    # The reader succeeds (headers are fine); its data fail only when pulled.
    monkeypatch.setattr(
        "emdconvert.plugins.npy.NPYPlugin.read",
        lambda self, path, options=None: EMDFile.from_array(_Exploding()),
    )
    with pytest.raises(EmdConvertError) as caught:
        emdconvert.convert(source, tmp_path / "out.emd")
    assert caught.value.exit_code == 3 and caught.value.kind == "corrupt"
    assert "ZeroDivisionError" in str(caught.value) and str(source) in str(caught.value)
    assert not (tmp_path / "out.emd").exists()


def test_a_bug_in_a_writer_is_still_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "a.npy"
    np.save(source, np.zeros((8, 8), np.uint16))

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug in our own code")

    monkeypatch.setattr("emdconvert.plugins.emd.write_emd", broken)
    with pytest.raises(ZeroDivisionError):
        emdconvert.convert(source, tmp_path / "out.emd")


def test_paths_may_be_str_bytes_or_pathlike(tmp_path: Path) -> None:
    source = tmp_path / "a.npy"
    np.save(source, np.arange(6, dtype=np.int16))
    emdconvert.convert(os.fsencode(source), os.fsencode(tmp_path / "b.emd"))
    emdconvert.convert(str(source), tmp_path / "c.emd")
    for name in ("b.emd", "c.emd"):
        np.testing.assert_array_equal(rsciio_emd_arrays(tmp_path / name)[0], np.arange(6))
    assert emdconvert.read(os.fsencode(source)).datasets[0].shape == (6,)


@pytest.mark.parametrize("bad", ["handle", 42, None])
def test_anything_else_is_a_clear_usage_error(tmp_path: Path, bad: object) -> None:
    source = tmp_path / "a.npy"
    np.save(source, np.arange(6))
    with source.open("rb") as handle:
        value = handle if bad == "handle" else bad
        with pytest.raises(UsageError, match="must be a path") as caught:
            emdconvert.convert(value, tmp_path / "out.emd")  # type: ignore[arg-type]
        assert caught.value.exit_code == 2
        with pytest.raises(UsageError, match="must be a path"):
            emdconvert.convert(source, value)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="must be a path"):
            emdconvert.read(value)  # type: ignore[arg-type]


def test_a_source_rewritten_after_its_provenance_was_recorded_is_not_published(
    tmp_path: Path,
) -> None:
    """The change lands between the provenance entry and publication, away from the
    start, middle and end the read-back compares: only the source check can see it."""
    import time

    source = tmp_path / "big.npy"
    values = np.zeros((16, 512, 1024), np.uint16)  # 16 MiB
    np.save(source, values)
    env = {**os.environ, "EMDCONVERT_TEST_FAULT": "hang:4@before_verify"}
    out = tmp_path / "out.emd"
    child = subprocess.Popen(
        [sys.executable, "-m", "emdconvert", str(source), str(out)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)  # well inside the hang: the data and provenance are written
    with source.open("r+b") as handle:
        handle.seek(source.stat().st_size // 4)
        handle.write(b"\x01\x02")
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 3, stderr
    assert "changed while it was being converted" in stderr
    assert not out.exists()


def test_metadata_that_sends_libhdf5_into_a_loop_is_refused_in_bounded_time(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the differential fuzzer: one byte inserted into a real EMD file shifts
    its global heap, and reading the ``version_major`` string attribute then loops
    forever inside libhdf5 (HDF5 2.0.0), holding the GIL.  A forked probe with a
    deadline refuses it; the process itself never reads the poisoned attribute."""
    import time

    from emdconvert.emd import hdf5probe

    data = (corpus / "emd" / "example_image.emd").read_bytes()
    source = tmp_path / "invalid" / "loop.emd"
    source.parent.mkdir()
    source.write_bytes(data[:2193] + b"\x00" + data[2193:])
    monkeypatch.setattr(hdf5probe, "DEADLINE", 2.0)
    start = time.monotonic()
    with pytest.raises(FormatError, match="did not finish reading the file's metadata"):
        emdconvert.convert(source, tmp_path / "out.emd")
    assert time.monotonic() - start < 20  # one probe, not one per step
    assert not (tmp_path / "out.emd").exists()


def test_the_probe_passes_healthy_files_once(tmp_path: Path, corpus: Path) -> None:
    from emdconvert.emd import hdf5probe

    out = emdconvert.convert(corpus / "emd" / "example_image.emd", tmp_path / "out.emd")
    np.testing.assert_array_equal(
        rsciio_emd_arrays(out)[0], rsciio_emd_arrays(corpus / "emd" / "example_image.emd")[0]
    )
    info = (corpus / "emd" / "example_image.emd").stat()
    assert hdf5probe._verdicts[(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)] is None


def test_a_berkeley_file_missing_version_minor_is_refused_like_rsciio(tmp_path: Path) -> None:
    """Found by the fuzz oracle: one flipped byte renames ``version_minor``; rsciio
    refuses the file as not EMD, and so must we, rather than convert it."""
    from rsciio.emd import file_reader

    source = tmp_path / "invalid" / "renamed.emd"
    source.parent.mkdir()
    emdconvert.write(EMDFile.from_array(np.arange(6, dtype=np.int16)), source)
    with h5py.File(source, "a") as h5:
        h5.attrs["wersion_minor"] = h5.attrs["version_minor"]
        del h5.attrs["version_minor"]
    with pytest.raises(OSError, match="not a supported EMD file"):
        file_reader(str(source))
    with pytest.raises(EmdConvertError) as caught:
        emdconvert.convert(source, tmp_path / "out.emd")
    assert caught.value.exit_code == 3
    assert not (tmp_path / "out.emd").exists()
