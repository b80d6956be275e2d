"""A crashing, hanging or starved conversion fails only its file; the machine's problems
are retried, not quarantined (README, Safety rules W4, W6).

The worker pool does not depend on the event backend, so these run on inotify only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from support.watch_daemon import DaemonHandle, daemon_args, mount_tmpfs, wait_for

from emdconvert.testing import leftovers

pytestmark = pytest.mark.parametrize("backend", ["inotify"])


def _big_npy(daemon: DaemonHandle, name: str) -> None:
    """~150 MB, written aside and renamed in, so its conversion takes a while."""
    staging = daemon.in_dir.parent / name
    array = np.lib.format.open_memmap(staging, mode="w+", dtype=np.uint16, shape=(75, 1024, 1024))
    array[:, ::32, ::32] = 7
    array.flush()
    del array
    os.rename(staging, daemon.in_dir / name)


def _workers(daemon: DaemonHandle) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(daemon.pid).children()
        if "--multiprocessing-fork" in " ".join(p.cmdline())
    ]


def _assert_survives_with(daemon: DaemonHandle, kind: str, attempts: int = 1) -> None:
    daemon.wait_states({"big.npy": "failed"})
    (row,) = daemon.rows("big.npy")
    assert row.kind == kind and row.attempts == attempts
    assert daemon.proc.poll() is None
    assert leftovers(daemon.out_dir) == [] and daemon.outputs() == []
    np.save(daemon.in_dir / "next.npy", np.arange(6, dtype=np.uint8))
    daemon.wait_states({"next.npy": "done"})
    wait_for(lambda: daemon.reports(), what="the quarantine report")
    report = json.loads(daemon.reports()[0].read_text())
    assert report["kind"] == kind and report["source_sha256"]
    assert daemon.stop() == 0


def test_a_segfault_in_a_worker_fails_that_file_not_the_daemon(daemon_factory) -> None:
    daemon = daemon_factory(workers=1)
    _big_npy(daemon, "big.npy")
    wait_for(
        lambda: daemon.states().get("big.npy") == "claimed",
        step=0.01,
        what="the conversion to start",
    )
    for worker in _workers(daemon):
        worker.send_signal(signal.SIGSEGV)
    _assert_survives_with(daemon, "crash")
    assert "SIGSEGV" in daemon.rows("big.npy")[0].detail


def test_a_conversion_over_the_time_limit_is_killed(daemon_factory) -> None:
    daemon = daemon_factory(workers=1, time_limit=0.25)
    _big_npy(daemon, "big.npy")
    _assert_survives_with(daemon, "timeout", attempts=2)  # retried once in a new worker


@pytest.fixture
def read_only_out(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/out`` as a read-only tmpfs (root only: chmod does not stop root)."""
    out = tmp_path / "out"
    out.mkdir()
    mount_tmpfs(out, "ro,size=64m")
    try:
        yield out
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)


def test_read_only_output_backs_off_and_converts_once_writable(
    tmp_path: Path, read_only_out: Path, backend: str
) -> None:
    (tmp_path / "in").mkdir()
    args = daemon_args(
        tmp_path / "in",
        read_only_out,
        tmp_path / "state",
        backend,
        {"backoff_initial": 0.3, "backoff_max": 0.6},
    )
    daemon = DaemonHandle(
        args,
        dict(os.environ),
        tmp_path / "in",
        read_only_out,
        tmp_path / "state",
        tmp_path / "daemon.log",
    )
    try:
        daemon.wait_watching()
        np.save(daemon.in_dir / "a.npy", np.arange(20, dtype=np.uint8))
        wait_for(
            lambda: daemon.log().count("environment-problem path=a.npy") >= 2,
            what="two backed-off attempts",
        )
        assert daemon.states() == {"a.npy": "retry"} and daemon.reports() == []
        subprocess.run(["mount", "-o", "remount,rw", str(read_only_out)], check=True)
        daemon.wait_states({"a.npy": "done"})
        assert [p.name for p in daemon.outputs()] == ["a.emd"]
        assert daemon.stop() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.kill()
