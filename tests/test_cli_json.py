"""``--json`` (README, JSON output): stdout is one document, checked against what
numpy, tifffile, h5py and importlib.metadata say, and against the documented schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import h5py
import jsonschema
import numpy as np
import tifffile
from support.json_schemas import BY_NAME


def run_json(*args: str | Path) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """The console script in a subprocess; its whole stdout parsed and schema-checked."""
    result = subprocess.run(
        [sys.executable, "-m", "emdconvert", *map(str, args), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    document = json.loads(result.stdout)
    jsonschema.validate(document, BY_NAME[document["schema"]])
    assert document["exit_code"] == result.returncode
    return document, result


def test_convert_json_single_file(tmp_path: Path) -> None:
    source, target = tmp_path / "in.npy", tmp_path / "out.emd"
    np.save(source, np.arange(60, dtype=np.uint16).reshape(3, 4, 5))
    document, result = run_json("convert", source, target)
    assert result.returncode == 0, result.stderr
    (entry,) = document["files"]
    assert entry["status"] == "converted" and entry["error"] is None
    assert Path(entry["source"]) == source and Path(entry["output"]) == target
    assert entry["output_bytes"] == os.path.getsize(target)
    assert entry["source_bytes"] == os.path.getsize(source)
    assert entry["seconds"]["total"] >= entry["seconds"]["prepare"] >= 0
    with h5py.File(target) as h5:
        assert entry["provenance_id"] in h5["comments"].attrs
        provenance = json.loads(h5["comments"].attrs[entry["provenance_id"]])
    assert provenance["source"]["name"] == "in.npy"
    info, _ = run_json("info", target)
    assert info["datasets"][0]["shape"] == [3, 4, 5]


def test_convert_json_truncated_input_fails_cleanly(tmp_path: Path) -> None:
    good, bad, target = tmp_path / "good.npy", tmp_path / "bad.npy", tmp_path / "out.emd"
    np.save(good, np.zeros((64, 64), dtype=np.float32))
    bad.write_bytes(good.read_bytes()[:100])
    document, result = run_json(bad, target)
    assert result.returncode == 3
    (entry,) = document["files"]
    assert entry["status"] == "failed" and entry["output"] is None
    assert entry["error"]["kind"] in ("corrupt", "incomplete")
    assert "bad.npy" in entry["error"]["message"]
    assert not target.exists()
    assert len(result.stderr.strip().splitlines()) == 1


def test_convert_json_batch_reports_each_file(tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    tifffile.imwrite(inputs / "a.tif", np.ones((2, 8, 9), dtype=np.uint8))
    np.save(inputs / "b.npy", np.ones((5, 6), dtype=np.int32))
    (inputs / "c.npy").write_bytes(b"\x93NUMPY garbage")
    (inputs / "notes.txt").write_text("not data")
    document, result = run_json("convert", inputs, "--out-dir", out)
    assert result.returncode == 3
    by_name = {Path(f["source"]).name: f for f in document["files"]}
    assert {n: f["status"] for n, f in by_name.items()} == {
        "a.tif": "converted",
        "b.npy": "converted",
        "c.npy": "failed",
        "notes.txt": "skipped",
    }
    assert document["summary"] == {**document["summary"], "converted": 2, "failed": 1}
    for name, shape in (("a.tif", (2, 8, 9)), ("b.npy", (5, 6))):
        entry = by_name[name]
        assert entry["output_bytes"] == os.path.getsize(entry["output"])
        with h5py.File(entry["output"]) as h5:
            (group,) = list(h5["data"].values())
            assert sorted(group["data"].shape) == sorted(shape)
    assert not (out / "c.emd").exists()


def test_convert_json_usage_error_is_a_document(tmp_path: Path) -> None:
    document, result = run_json("convert", tmp_path / "only-one.npy")
    assert result.returncode == 2
    assert document["files"] == [] and document["error"]["kind"] == "usage"


def test_info_json_matches_tifffile(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    data = np.arange(3 * 10 * 12, dtype=np.uint16).reshape(3, 10, 12)
    tifffile.imwrite(path, data, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "um"})
    document, result = run_json("info", path)
    assert result.returncode == 0, result.stderr
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        shape, dtype = list(series.shape), str(series.dtype)
    (dataset,) = document["datasets"]
    assert dataset["shape"] == shape and dataset["dtype"] == dtype
    assert document["format"] == "tiff"
    assert document["file_bytes"] == os.path.getsize(path)
    assert [d["size"] for d in dataset["dims"]] == shape
    x = dataset["dims"][-1]
    assert x["scale"] == 0.5 and "m" in x["units"]


def test_info_json_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00")
    document, result = run_json("info", path)
    assert result.returncode == 3
    assert document["error"]["kind"] in ("corrupt", "incomplete", "bad-input")


def test_validate_json_invalid_file(tmp_path: Path) -> None:
    source = tmp_path / "in.npy"
    np.save(source, np.ones((4, 4), dtype=np.float32))
    good = tmp_path / "good.emd"
    run_json("convert", source, good)
    broken = tmp_path / "invalid" / "broken.emd"
    broken.parent.mkdir()
    broken.write_bytes(good.read_bytes())
    with h5py.File(broken, "r+") as h5:
        for group in h5["data"].values():
            del group.attrs["emd_group_type"]
    document, result = run_json("validate", good, broken)
    assert result.returncode == 1
    assert document["valid"] is False
    ok, bad = document["files"]
    assert ok["valid"] is True
    assert bad["valid"] is False and any(p["level"] == "MUST" for p in bad["problems"])
    document, result = run_json("validate", good)
    assert result.returncode == 0 and document["valid"] is True


def test_formats_json_lists_every_entry_point() -> None:
    document, result = run_json("formats")
    assert result.returncode == 0
    advertised = {ep.name: ep for ep in entry_points(group="emdconvert.plugins")}
    listed = {f["name"]: f for f in document["formats"]}
    assert set(listed) == set(advertised)
    for name, ep in advertised.items():
        cls = ep.load()
        assert (listed[name]["module"], listed[name]["class"]) == (cls.__module__, cls.__qualname__)
        plugin = cls()
        assert listed[name]["extensions"] == list(plugin.extensions)
        assert (listed[name]["read"], listed[name]["write"]) == (plugin.can_read, plugin.can_write)
