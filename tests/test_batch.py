"""Batch conversion and progress reporting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import emdconvert
from emdconvert.batch import convert_many, exit_code, plan_outputs
from emdconvert.errors import InputError


def make_inputs(root: Path) -> Path:
    (root / "in" / "sub").mkdir(parents=True)
    for i in (1, 2, 10):
        np.save(root / "in" / f"frame{i}.npy", np.full((4, 5), i, np.uint16))
    np.save(root / "in" / "sub" / "deep.npy", np.zeros((2, 3)))
    (root / "in" / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    (root / "in" / "notes.txt").write_text("not data")
    (root / "out").mkdir()
    return root / "in"


def test_plan_maps_folders_and_skips_unknown_extensions(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path)
    flat = plan_outputs([inputs], tmp_path / "out")[0]
    assert [s.name for s, _ in flat] == ["broken.npy", "frame1.npy", "frame2.npy", "frame10.npy"]
    deep = plan_outputs([inputs], tmp_path / "out", recursive=True)[0]
    assert (inputs / "sub" / "deep.npy", tmp_path / "out" / "sub" / "deep.emd") in deep


def test_colliding_outputs_are_refused(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path)
    with pytest.raises(InputError, match="would be written to"):
        plan_outputs([inputs / "frame1.npy", inputs / "frame1.npy"], tmp_path / "out")[0]


@pytest.mark.parametrize("jobs", [1, 2])
def test_failures_do_not_stop_the_others(tmp_path: Path, jobs: int) -> None:
    inputs = make_inputs(tmp_path)
    outcomes = list(
        convert_many(plan_outputs([inputs], tmp_path / "out", recursive=True)[0], jobs=jobs)
    )
    assert sorted(o.source.name for o in outcomes if not o.ok) == ["broken.npy"]
    assert exit_code(outcomes) == 3
    assert len(list((tmp_path / "out").rglob("*.emd"))) == 4


def test_cli_batch_summary_and_exit_code(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emdconvert",
            "convert",
            str(inputs),
            "--out-dir",
            str(tmp_path / "out"),
            "-j",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3
    assert "3 converted, 1 failed" in result.stdout
    assert result.stderr.count("emdconvert: error:") == 1 and "Traceback" not in result.stderr


def test_progress_reports_running_totals(tmp_path: Path) -> None:
    data = np.zeros((40, 256, 256), np.uint16)
    np.save(tmp_path / "p.npy", data)
    seen: list[tuple[int, int]] = []
    emdconvert.convert(
        tmp_path / "p.npy",
        tmp_path / "p.emd",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (data.nbytes, data.nbytes)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_scheduler_runs_each_file_as_a_task_on_a_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    inputs = make_inputs(tmp_path)
    pairs = plan_outputs([inputs], tmp_path / "out")[0]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        outcomes = list(convert_many(pairs, scheduler=cluster.scheduler_address))
    assert sorted(o.source.name for o in outcomes if o.ok) == [
        "frame1.npy",
        "frame10.npy",
        "frame2.npy",
    ]
    assert exit_code(outcomes) == 3
    for _, target in pairs[1:]:
        emdconvert.read(target)
