"""Bursts and two daemons: every file converted exactly once (README, Safety rules W5)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from support.watch_daemon import DaemonHandle, burst, wait_for

from emdconvert.testing import leftovers


def _done(daemon: DaemonHandle) -> int:
    return sum(state == "done" for state in daemon.states().values())


@pytest.mark.slow
def test_t28_burst_of_1000_files_converted_exactly_once(daemon_factory) -> None:
    daemon = daemon_factory()
    start = time.monotonic()
    burst(daemon.in_dir, 1000)
    wait_for(lambda: _done(daemon) == 1000, timeout=300, step=0.25, what="1000 done rows")
    seconds = time.monotonic() - start
    rss = psutil.Process(daemon.pid).memory_info().rss
    assert daemon.stop() == 0
    rows = daemon.rows()
    assert len(rows) == 1000 and {r.state for r in rows} == {"done"}
    outputs = daemon.outputs()
    assert len(outputs) == 1000
    assert {p.stem for p in outputs} == {Path(r.path).stem for r in rows}
    assert daemon.reports() == [] and leftovers(daemon.out_dir) == []
    assert rss < 500 * 2**20
    print(
        f"burst: 1000 files in {seconds:.1f} s = {1000 / seconds:.1f} files/s, "
        f"daemon RSS {rss / 2**20:.0f} MB"
    )


def test_t29a_second_daemon_on_the_same_state_dir_exits_2(daemon_factory) -> None:
    first = daemon_factory()
    second = daemon_factory(wait=False)
    assert second.proc.wait(30) == 2
    lines = second.log().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emdconvert: error: ")
    assert f"already running (pid {first.pid})" in lines[0]
    assert first.proc.poll() is None and first.stop() == 0


@pytest.mark.slow
def test_t29b_two_daemons_on_one_folder_make_no_duplicates(daemon_factory, tmp_path: Path) -> None:
    one = daemon_factory(state_dir=tmp_path / "state-one", workers=1)
    two = daemon_factory(state_dir=tmp_path / "state-two", workers=1)
    burst(one.in_dir, 200)
    for daemon in (one, two):
        wait_for(
            lambda d=daemon: _done(d) == 200,
            timeout=120,
            step=0.25,
            what="200 done rows in each ledger",
        )
    assert one.stop() == 0 and two.stop() == 0
    outputs = one.outputs()
    assert len(outputs) == 200 and leftovers(one.out_dir) == []
    logs = one.log() + two.log()
    assert logs.count(" converted ") + logs.count(" already-published ") == 400
    assert logs.count(" converted ") >= 200  # each file published by exactly one side


def test_refuses_root_without_allow_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only meaningful as root")
    import sys

    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emdconvert",
            "watch",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("emdconvert: error: refusing to run as root")
    assert "Traceback" not in result.stderr
