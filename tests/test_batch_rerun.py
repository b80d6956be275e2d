"""Batch runs that can be rerun (issue 17 items 1-3): ``--out-dir`` made when missing,
name collisions resolved instead of refused, ``--skip-existing`` reruns that do nothing.

Inputs are written by numpy, tifffile and nionswift-io; outputs are read with h5py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import jsonschema
import numpy as np
import pytest
import tifffile
from support.dm_files import write_dm
from support.json_schemas import CONVERT

from emdconvert.batch import convert_many, plan_outputs
from emdconvert.collisions import unique_targets


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emdconvert", "convert", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
    )


def run_json(*args: str | Path) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    result = run(*args, "--json")
    document = json.loads(result.stdout)
    jsonschema.validate(document, CONVERT)
    assert document["exit_code"] == result.returncode
    return document, result


def stored(path: Path) -> np.ndarray:
    """The one dataset of an EMD file, in numpy order (default layout: stored x-first,
    i.e. transposed, README EMD layout)."""
    with h5py.File(path, "r") as h5:
        (group,) = h5["data"].values()
        return np.asarray(group["data"][()]).T


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("emdconvert: error:")]


def identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


@pytest.fixture
def frames(tmp_path: Path) -> dict[str, np.ndarray]:
    """Three .npy files in tmp_path/in: name -> data."""
    data = {
        f"frame{i}.npy": np.full((4, 5), i, np.uint16) + np.arange(5, dtype=np.uint16)
        for i in (1, 2, 10)
    }
    (tmp_path / "in").mkdir()
    for name, array in data.items():
        np.save(tmp_path / "in" / name, array)
    return data


# -- item 1: --out-dir is created -----------------------------------------------------


def test_missing_out_dir_is_created_with_parents(
    tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    out = tmp_path / "new" / "deeper" / "out"
    result = run(tmp_path / "in", "--out-dir", out, "-q")
    assert result.returncode == 0, result.stderr
    for name, array in frames.items():
        np.testing.assert_array_equal(stored(out / name.replace(".npy", ".emd")), array)


def test_out_dir_that_is_a_file_is_one_error(tmp_path: Path, frames: dict[str, np.ndarray]) -> None:
    out = tmp_path / "out"
    out.write_text("not a folder")
    result = run(tmp_path / "in", "--out-dir", out)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"emdconvert: error: {out}: the output folder is not a folder"
    ]
    assert out.read_text() == "not a folder"


def test_refused_plan_creates_no_folder(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("not data")
    out = tmp_path / "new" / "out"
    result = run(tmp_path / "in", "--out-dir", out)
    assert result.returncode == 3 and "no convertible files" in result.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("json_output", [False, True])
def test_failed_run_leaves_no_empty_folders(tmp_path: Path, json_output: bool) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    out = tmp_path / "new" / "out"
    result = run(tmp_path / "in", "--out-dir", out, "-r", *(["--json"] if json_output else []))
    assert result.returncode == 3
    assert len(error_lines(result)) == 1
    assert not (tmp_path / "new").exists()


def test_existing_out_dir_is_kept_even_when_all_fail(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    (tmp_path / "out").mkdir()
    assert run(tmp_path / "in", "--out-dir", tmp_path / "out").returncode == 3
    assert (tmp_path / "out").is_dir()


# -- item 2: collisions ---------------------------------------------------------------


def collision_inputs(folder: Path) -> dict[str, np.ndarray]:
    """scan.dm3, scan.dm4 (nionswift-io), scan.tif (tifffile), other.npy (numpy)."""
    folder.mkdir()
    data = {
        "scan.dm3": np.arange(12, dtype=np.float32).reshape(3, 4),
        "scan.dm4": np.arange(20, dtype=np.int16).reshape(4, 5),
        "scan.tif": np.arange(30, dtype=np.uint8).reshape(5, 6),
        "other.npy": np.ones((2, 3), np.int32),
    }
    for name, array in data.items():
        if name.startswith("scan.dm"):
            write_dm(folder / name, array, int(name[-1]))
        elif name.endswith(".tif"):
            tifffile.imwrite(folder / name, array)
        else:
            np.save(folder / name, array)
    return data


def test_collisions_get_predictable_names_and_one_note(tmp_path: Path) -> None:
    data = collision_inputs(tmp_path / "in")
    out = tmp_path / "out"
    result = run(tmp_path / "in", "--out-dir", out, "-q")
    assert result.returncode == 0, result.stderr
    expected = {
        "scan.dm3": "scan.emd",  # first in natural order keeps the plain name
        "scan.dm4": "scan.dm4.emd",
        "scan.tif": "scan.tif.emd",
        "other.npy": "other.emd",
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(expected.values())
    for source, target in expected.items():
        np.testing.assert_array_equal(stored(out / target), data[source])
    notes = [line for line in result.stderr.splitlines() if "note:" in line]
    assert notes == [
        f"emdconvert: note: {tmp_path / 'in' / 'scan.dm3'}, {tmp_path / 'in' / 'scan.dm4'} "
        f"and {tmp_path / 'in' / 'scan.tif'} would all be written to {out / 'scan.emd'}; "
        "writing scan.emd, scan.dm4.emd and scan.tif.emd"
    ]


def test_keep_ext_names_every_output_after_the_whole_name(tmp_path: Path) -> None:
    data = collision_inputs(tmp_path / "in")
    out = tmp_path / "out"
    result = run(tmp_path / "in", "--out-dir", out, "--keep-ext", "-q")
    assert result.returncode == 0, result.stderr
    assert "note:" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.emd" for n in data)
    for name, array in data.items():
        np.testing.assert_array_equal(stored(out / f"{name}.emd"), array)


def test_json_reports_the_resolved_names(tmp_path: Path) -> None:
    collision_inputs(tmp_path / "in")
    document, result = run_json(tmp_path / "in", "--out-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    outputs = {Path(f["source"]).name: Path(f["output"]).name for f in document["files"]}
    assert outputs["scan.dm3"] == "scan.emd" and outputs["scan.dm4"] == "scan.dm4.emd"
    assert result.stderr.count("note:") == 1


def test_a_taken_alternative_gets_a_number(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sources = [tmp_path / d / "scan.npy" for d in ("c", "a", "b")]
    pairs, collisions = unique_targets([(s, out / s.name) for s in sources], ".emd")
    assert {s.parent.name: t.name for s, t in pairs} == {
        "a": "scan.emd",
        "b": "scan.npy.emd",
        "c": "scan.npy-2.emd",
    }
    (collision,) = collisions
    assert [s.parent.name for s in collision.sources] == ["a", "b", "c"]


def test_a_renamed_output_never_takes_another_files_name(tmp_path: Path) -> None:
    # scan.dm4.npy's own output is scan.dm4.emd: the renamed scan.dm4 must not take it.
    out = tmp_path / "out"
    names = ["scan.dm3", "scan.dm4", "scan.dm4.npy"]
    pairs, _ = unique_targets([(tmp_path / n, out / n) for n in names], ".emd")
    assert [t.name for _, t in pairs] == ["scan.emd", "scan.dm4-2.emd", "scan.dm4.emd"]


def test_the_same_file_twice_is_still_an_error(
    tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    source = tmp_path / "in" / "frame1.npy"
    with pytest.raises(ValueError, match="given twice"):
        plan_outputs([source, source], tmp_path / "out")


# -- item 3: --skip-existing ----------------------------------------------------------


def test_rerun_of_a_finished_batch_is_one_line(
    tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    out = tmp_path / "out"
    assert run(tmp_path / "in", "--out-dir", out, "-q").returncode == 0
    before = {p.name: identity(p) for p in out.iterdir()}
    result = run(tmp_path / "in", "--out-dir", out, "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["3 files up to date, nothing to convert"]
    assert result.stderr == ""
    assert {p.name: identity(p) for p in out.iterdir()} == before


def test_rerun_without_skip_existing_names_the_flag(
    tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    out = tmp_path / "out"
    assert run(tmp_path / "in", "--out-dir", out, "-q").returncode == 0
    result = run(tmp_path / "in", "--out-dir", out, "-q")
    assert result.returncode == 4
    errors = error_lines(result)
    assert len(errors) == 3 and all("--skip-existing" in line for line in errors)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_changed_source_is_an_error_for_that_file_only(
    tmp_path: Path, frames: dict[str, np.ndarray], jobs: str
) -> None:
    out = tmp_path / "out"
    assert run(tmp_path / "in", "--out-dir", out, "-q").returncode == 0
    before = {p.name: identity(p) for p in out.iterdir()}
    changed = frames["frame2.npy"] + 100  # same size, other bytes
    np.save(tmp_path / "in" / "frame2.npy", changed)
    result = run(tmp_path / "in", "--out-dir", out, "--skip-existing", "-q", "-j", jobs)
    assert result.returncode == 4
    assert error_lines(result) == [
        f"emdconvert: error: {out / 'frame2.emd'}: output exists but records another "
        "source (frame2.npy with another SHA-256); --overwrite replaces it"
    ]
    assert {p.name: identity(p) for p in out.iterdir()} == before
    np.testing.assert_array_equal(stored(out / "frame2.emd"), frames["frame2.npy"])

    result = run(tmp_path / "in", "--out-dir", out, "--skip-existing", "--overwrite", "-q")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(stored(out / "frame2.emd"), changed)
    after = {p.name: identity(p) for p in out.iterdir()}
    assert after["frame1.emd"] == before["frame1.emd"]
    assert after["frame10.emd"] == before["frame10.emd"]
    assert after["frame2.emd"] != before["frame2.emd"]


def test_resized_source_is_told_apart_by_size(
    tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    out = tmp_path / "out"
    assert run(tmp_path / "in", "--out-dir", out, "-q").returncode == 0
    np.save(tmp_path / "in" / "frame1.npy", np.zeros((8, 8), np.uint16))
    result = run(tmp_path / "in", "--out-dir", out, "--skip-existing", "-q")
    assert result.returncode == 4
    (error,) = error_lines(result)
    assert "frame1.emd" in error and "of another size" in error


def test_output_without_provenance_is_not_up_to_date(
    tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with h5py.File(out / "frame1.emd", "w") as h5:  # someone else's HDF5 file
        h5["x"] = np.zeros(3)
    (out / "frame2.emd").write_text("plain text")
    result = run(tmp_path / "in", "--out-dir", out, "--skip-existing", "-q")
    assert result.returncode == 4
    errors = error_lines(result)
    assert len(errors) == 2 and all("no emdconvert provenance" in e for e in errors)
    np.testing.assert_array_equal(stored(out / "frame10.emd"), frames["frame10.npy"])
    result = run(tmp_path / "in", "--out-dir", out, "--skip-existing", "--overwrite", "-q")
    assert result.returncode == 0, result.stderr
    for name, array in frames.items():
        np.testing.assert_array_equal(stored(out / name.replace(".npy", ".emd")), array)


def test_json_reports_up_to_date_files(tmp_path: Path, frames: dict[str, np.ndarray]) -> None:
    out = tmp_path / "out"
    first, _ = run_json(tmp_path / "in", "--out-dir", out)
    keys = {f["source"]: f["provenance_id"] for f in first["files"]}
    document, result = run_json(tmp_path / "in", "--out-dir", out, "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert {f["status"] for f in document["files"]} == {"up-to-date"}
    assert {f["source"]: f["provenance_id"] for f in document["files"]} == keys
    for entry in document["files"]:
        assert entry["output_bytes"] == os.path.getsize(entry["output"])
        assert entry["error"] is None and entry["exit_code"] == 0
    assert document["summary"] == {**document["summary"], "converted": 0, "up_to_date": 3}


def test_skip_existing_needs_a_format_with_provenance(
    tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    result = run(tmp_path / "in", "--out-dir", tmp_path / "out", "--skip-existing", "--to", "tiff")
    assert result.returncode == 2
    assert "keep none" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--skip-existing", "--keep-ext"])
def test_batch_flags_without_out_dir_are_usage_errors(tmp_path: Path, flag: str) -> None:
    np.save(tmp_path / "a.npy", np.zeros(3))
    result = run(tmp_path / "a.npy", tmp_path / "a.emd", flag)
    assert result.returncode == 2 and f"{flag} is for batch mode" in result.stderr
    assert not (tmp_path / "a.emd").exists()


def test_library_reruns_speak_python(
    tmp_path: Path, frames: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMDCONVERT_MESSAGES", raising=False)
    out = tmp_path / "new" / "out"
    pairs = plan_outputs([tmp_path / "in"], out)[0]
    assert all(o.ok and not o.up_to_date for o in convert_many(pairs, out_dir=out))
    again = list(convert_many(pairs, out_dir=out))
    assert {o.kind for o in again} == {"exists"}
    assert all("skip_existing=True" in o.message and "overwrite=True" in o.message for o in again)
    skipped = list(convert_many(pairs, out_dir=out, skip_existing=True))
    assert all(o.ok and o.up_to_date and o.provenance_id for o in skipped)


def test_a_symlinked_source_is_refused_before_it_is_compared(
    tmp_path: Path, frames: dict[str, np.ndarray]
) -> None:
    out = tmp_path / "out"
    assert run(tmp_path / "in", "--out-dir", out, "-q").returncode == 0
    (tmp_path / "link.npy").symlink_to(tmp_path / "in" / "frame1.npy")
    (out / "link.emd").write_bytes((out / "frame1.emd").read_bytes())
    result = run(tmp_path / "link.npy", "--out-dir", out, "--skip-existing")
    assert result.returncode == 5
    (error,) = error_lines(result)
    assert "symbolic link" in error
