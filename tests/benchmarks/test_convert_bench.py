"""The benchmark harness itself works (a tiny run in the normal suite, so it cannot rot).

The real measurements are run on demand: see the module docstring of convert_bench.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import convert_bench
import pytest
import stage_profile


def test_tiny_run_measures_every_tool_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    assert (
        convert_bench.main(
            [
                "--size",
                "4",
                "--reps",
                "2",
                "--formats",
                "npy",
                "--tools",
                "cp,cp+sync,emdconvert,h5py",
                "--once",
                "h5py",
                "--work",
                str(tmp_path / "w"),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    rows = {(r["format"], r["tool"]): r for r in report["rows"]}
    assert set(rows) == {
        ("npy", "cp"),
        ("npy", "cp+sync"),
        ("npy", "emdconvert"),
        ("npy", "h5py"),
        ("dm3-small", "cp"),
        ("dm3-small", "emdconvert"),
        ("dm3-small", "hyperspy"),
    }
    for key, row in rows.items():
        rounds = 1 if key == ("npy", "h5py") else 2  # --once h5py: the first round only
        assert len(row["runs"]) == rounds and all(r["exit_code"] == 0 for r in row["runs"])
        assert row["output_mb"] > 0
    assert rows["npy", "emdconvert"]["peak_rss_mb"] > 20  # a Python process, measured
    names = {t["name"] for t in report["targets"]}
    assert "npy: emdconvert time / cp+sync time" in names
    assert "~1 MB DM3 → EMD, time / HyperSpy's time" in names
    assert "| npy | emdconvert |" in capsys.readouterr().out
    assert not list((tmp_path / "w").glob("out_*"))  # outputs removed after each run


@pytest.mark.parametrize("shape", ["npy-eels", "tiff"])
def test_stage_profile_times_every_stage(tmp_path: Path, shape: str) -> None:
    out = tmp_path / "stages.json"
    stage_profile.main(
        [
            "--shape",
            shape,
            "--gib",
            "0.002",
            "--reps",
            "1",
            "--dir",
            str(tmp_path),
            "--json",
            str(out),
        ]
    )
    report = json.loads(out.read_text())
    assert set(report["timings"]) == {
        "open",
        "read",
        "hash",
        "transpose",
        "write",
        "fsync",
        "verify",
        "convert x-first",
        "convert c",
        "cp+fsync",
    }
    assert all(len(v) == 1 and v[0] >= 0 for v in report["timings"].values())
    if shape == "npy-eels":
        assert report["chunks"][0] == 2048  # stored x-first: every chunk holds whole spectra


def test_tiny_export_run_measures_the_exporters_and_their_alternatives(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    tools = "cp,emdconvert-dm4,emdconvert-emd1,nionswift-dm4,emdfile"
    argv = ["--size", "4", "--reps", "1", "--formats", "emd-4dstem", "--tools", tools]
    assert convert_bench.main([*argv, "--work", str(tmp_path / "w"), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = {r["tool"]: r for r in report["rows"] if r["format"] == "emd-4dstem"}
    assert set(rows) == set(tools.split(","))
    for row in rows.values():
        assert [r["exit_code"] for r in row["runs"]] == [0], row["error"]
        assert row["output_mb"] > 0
    names = {t["name"] for t in report["targets"]}
    assert {
        "emd-4dstem: emdconvert-dm4 peak RSS MB",
        "emd-4dstem: emdconvert-emd1 peak RSS MB",
    } <= names
