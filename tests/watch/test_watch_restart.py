"""Restarts, crashes and shutdown keep every file converted exactly once (README, W5)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
from support.watch_daemon import wait_for

from emdconvert.publish import temp_name
from emdconvert.testing import leftovers


def _npy(folder: Path, name: str, value: int) -> None:
    np.save(folder / name, np.full((8, 16), value, dtype=np.int16))


def test_t5_catch_up_at_start_and_idempotent_restart(daemon_factory) -> None:
    first = daemon_factory(wait=False)
    for i in range(3):
        _npy(first.in_dir, f"a{i}.npy", i)
    first.wait_watching()
    first.wait_states({f"a{i}.npy": "done" for i in range(3)})
    assert first.stop() == 0
    for i in range(3, 5):
        _npy(first.in_dir, f"a{i}.npy", i)
    second = daemon_factory()
    second.wait_states({f"a{i}.npy": "done" for i in range(5)})
    assert second.stop() == 0
    outputs = {p.name: p.stat().st_mtime_ns for p in second.outputs()}
    assert len(outputs) == 5
    rows = second.rows()
    third = daemon_factory(log_format="json")
    time.sleep(1.2)  # a reconcile scan (1 s) has run
    assert third.stop() == 0
    assert third.rows() == rows
    assert {p.name: p.stat().st_mtime_ns for p in third.outputs()} == outputs
    events = [json.loads(line)["event"] for line in third.log().splitlines()]
    assert events == ["start", "watching", "stopping", "stopped"]  # no work at all


def test_t14a_crash_after_publish_before_ledger_commit(daemon_factory) -> None:
    crashing = daemon_factory(env={"EMDCONVERT_TEST_FAULT": "kill@daemon_after_publish"})
    _npy(crashing.in_dir, "x.npy", 7)
    assert crashing.proc.wait(30) == -signal.SIGKILL
    (output,) = crashing.outputs()
    inode = output.stat().st_ino
    assert crashing.states() == {"x.npy": "claimed"}
    restarted = daemon_factory()
    restarted.wait_states({"x.npy": "done"})
    assert restarted.outputs() == [output] and output.stat().st_ino == inode
    assert "already-published path=x.npy" in restarted.log()
    assert restarted.stop() == 0


def test_t14b_crash_after_claim_requeues_and_removes_orphan_temp(daemon_factory) -> None:
    crashing = daemon_factory(env={"EMDCONVERT_TEST_FAULT": "kill@daemon_after_claim"})
    _npy(crashing.in_dir, "y.npy", 3)
    assert crashing.proc.wait(30) == -signal.SIGKILL
    assert crashing.states() == {"y.npy": "claimed"} and crashing.outputs() == []
    orphan = temp_name(crashing.out_dir)
    orphan.write_bytes(b"half an HDF5 file")  # what a killed conversion leaves
    restarted = daemon_factory()
    restarted.wait_states({"y.npy": "done"})
    assert [p.name for p in restarted.outputs()] == ["y.emd"]
    assert not orphan.exists() and leftovers(restarted.out_dir) == []
    assert "requeued path=y.npy" in restarted.log()
    assert restarted.stop() == 0


def test_t33_sigterm_mid_conversion_stops_cleanly_and_resumes(daemon_factory) -> None:
    daemon = daemon_factory(shutdown_grace=0)
    big = daemon.in_dir / "big.npy"
    staging = daemon.in_dir.parent / "big.npy"
    array = np.lib.format.open_memmap(staging, mode="w+", dtype=np.uint16, shape=(150, 1024, 1024))
    array[:, ::64, ::64] = 1
    array.flush()
    del array
    os.rename(staging, big)  # a rename writer: complete when it appears
    wait_for(
        lambda: daemon.states().get("big.npy") == "claimed",
        step=0.01,
        what="the conversion to start",
    )
    start = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - start < 30
    assert daemon.outputs() == [] and leftovers(daemon.out_dir) == []
    assert daemon.states() == {"big.npy": "stable"}
    resumed = daemon_factory()
    resumed.wait_states({"big.npy": "done"}, timeout=60)
    assert [p.name for p in resumed.outputs()] == ["big.emd"]
    assert resumed.stop() == 0
