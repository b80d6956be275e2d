"""The daemon keeps its promises (issue 12): a rewrite during conversion is retried, a
clock that runs ahead does not block a file, a stopped worker gets a second chance, a
damaged ledger is explained, and only "incomplete" is waited on.

Most tests run on one backend: the backends differ in how files are found, not here.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from support.rsciio_oracle import rsciio_emd_arrays
from support.watch_daemon import run_cli, wait_for

from emdconvert.testing import fingerprint, leftovers
from emdconvert.watch.ledger import FINAL, LEDGER_NAME

inotify_only = pytest.mark.parametrize("backend", ["inotify"])


def _npy_bytes(data: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, data)
    return buffer.getvalue()


def _frame(value: int) -> np.ndarray:
    return np.arange(64 * 48, dtype=np.float32).reshape(64, 48) + value


def _drop(in_dir: Path, name: str, data: bytes, *, mtime: float | None = None) -> Path:
    """Write *data* beside the watch folder, set its mtime, and rename it in (one event)."""
    staged = in_dir.parent / name
    staged.write_bytes(data)
    if mtime is not None:
        os.utime(staged, (mtime, mtime))
    os.rename(staged, in_dir / name)
    return in_dir / name


def _assert_output_is(output: Path, source: Path) -> None:
    """rsciio's reading of *output* equals numpy's reading of *source*."""
    (array,) = rsciio_emd_arrays(output)
    np.testing.assert_array_equal(array, np.load(source))


def _worker_pids(daemon_pid: int) -> list[int]:
    """The daemon's conversion processes (multiprocessing's spawned children)."""
    return [
        child.pid
        for child in psutil.Process(daemon_pid).children()
        if "--multiprocessing-fork" in child.cmdline()
    ]


@inotify_only
@pytest.mark.parametrize("point", ["write:0.5", "before_verify"])
def test_source_rewritten_during_conversion_is_converted_again_once_settled(
    daemon_factory, point: str
) -> None:
    """Every conversion pauses 2 s at *point*: the window for the rewrite.

    Mid-write the source's digest notices the change (kind ``changed``); after the
    digest, the read-back comparison does ("written data differ").
    """
    daemon = daemon_factory(workers=1, env={"EMDCONVERT_TEST_FAULT": f"hang:2@{point}"})
    source = _drop(daemon.in_dir, "a.npy", _npy_bytes(_frame(0)))
    wait_for(lambda: leftovers(daemon.out_dir), what="the first conversion's temp file")
    np.save(source, _frame(1000))  # rewritten in place (same inode) while converted
    daemon.wait_states({"a.npy": "done"}, timeout=30)
    assert "changed path=a.npy" in daemon.log()
    assert daemon.reports() == []
    (row,) = daemon.rows("a.npy")
    assert row.sha256 == fingerprint(source)[0]
    _assert_output_is(daemon.out_dir / "a.emd", source)
    assert daemon.stop() == 0


@pytest.mark.parametrize(("umask", "mode"), [(None, 0o640), ("022", 0o644)])
def test_umask_decides_who_can_read_the_outputs(
    daemon_factory, umask: str | None, mode: int
) -> None:
    """Microscope users outside the daemon's group read their data with umask 022."""
    daemon = daemon_factory(**({"umask": umask} if umask else {}), preview=True)
    source = _drop(daemon.in_dir, "a.npy", _npy_bytes(_frame(5)))
    daemon.wait_states({"a.npy": "done"}, timeout=20)
    _assert_output_is(daemon.out_dir / "a.emd", source)
    for name in ("a.emd", "a.png"):
        assert stat.S_IMODE((daemon.out_dir / name).stat().st_mode) == mode, name
    assert daemon.stop() == 0


def test_an_incomplete_file_is_converted_soon_after_it_is_finished(daemon_factory) -> None:
    """A file found incomplete is looked at again on its next event or poll once it has
    changed, not at its recheck time (60 s here: rescan_interval)."""
    daemon = daemon_factory(rescan_interval=60, max_wait=600)
    data = _npy_bytes(_frame(3))
    source = _drop(daemon.in_dir, "a.npy", data[: len(data) // 2])
    daemon.wait_states({"a.npy": "incomplete"}, timeout=15)
    with open(source, "ab") as handle:
        handle.write(data[len(data) // 2 :])
    daemon.wait_states({"a.npy": "done"}, timeout=20)
    _assert_output_is(daemon.out_dir / "a.emd", source)
    assert daemon.stop() == 0


@inotify_only
def test_future_mtime_is_stable_after_the_window_with_one_clock_skew_warning(
    daemon_factory,
) -> None:
    daemon = daemon_factory(max_wait=60)
    data = _npy_bytes(_frame(7))
    ahead = time.time() + 3600  # the acquisition PC's clock is an hour ahead
    source = _drop(daemon.in_dir, "a.npy", data[: len(data) // 2], mtime=ahead)
    daemon.wait_states({"a.npy": "incomplete"}, timeout=15)
    wait_for(
        lambda: daemon.log().count("incomplete path=a.npy") >= 2,
        what="a second look at the incomplete file",
    )  # stable a second time
    with open(source, "ab") as handle:
        handle.write(data[len(data) // 2 :])
    os.utime(source, (ahead, ahead))
    daemon.wait_states({"a.npy": "done"}, timeout=15)
    _assert_output_is(daemon.out_dir / "a.emd", source)
    warnings = [line for line in daemon.log().splitlines() if "clock-skew" in line]
    assert len(warnings) == 1 and "path=a.npy" in warnings[0], daemon.log()
    assert "warning" in warnings[0] and "ahead=" in warnings[0]
    assert daemon.stop() == 0


@inotify_only
def test_a_worker_stopped_past_the_time_limit_is_retried_in_a_fresh_worker(daemon_factory) -> None:
    daemon = daemon_factory(workers=1, time_limit=5)
    _drop(daemon.in_dir, "warm.npy", _npy_bytes(_frame(1)))
    daemon.wait_states({"warm.npy": "done"})  # the worker is ready and idle
    (stopped,) = _worker_pids(daemon.pid)
    os.kill(stopped, signal.SIGSTOP)  # a frozen VM, a process stuck in the kernel
    source = _drop(daemon.in_dir, "b.npy", _npy_bytes(_frame(2)))
    daemon.wait_states({"b.npy": "done"}, timeout=40)
    assert "timeout-retry path=b.npy" in daemon.log()
    assert stopped not in _worker_pids(daemon.pid)
    assert daemon.reports() == []
    _assert_output_is(daemon.out_dir / "b.emd", source)
    assert daemon.stop() == 0


@inotify_only
def test_a_file_that_always_times_out_is_quarantined_after_two_attempts(daemon_factory) -> None:
    daemon = daemon_factory(
        workers=1, time_limit=2, env={"EMDCONVERT_TEST_FAULT": "hang@before_verify"}
    )
    _drop(daemon.in_dir, "a.npy", _npy_bytes(_frame(3)))
    daemon.wait_states({"a.npy": "failed"}, timeout=40)
    wait_for(daemon.reports, what="the quarantine report")
    (row,) = daemon.rows("a.npy")
    assert (row.kind, row.attempts) == ("timeout", 2)
    (report,) = [json.loads(p.read_text()) for p in daemon.reports()]
    assert (report["kind"], report["attempts"]) == ("timeout", 2)
    log = daemon.log()
    assert log.count("timeout-retry path=a.npy") == 1
    assert log.count("failed path=a.npy") == 1
    assert daemon.outputs() == [] and leftovers(daemon.out_dir) == []
    assert daemon.stop() == 0


def _garble(ledger: Path) -> None:
    ledger.write_bytes(b"this is not an SQLite database \x00\xff" * 256)


def test_a_corrupt_ledger_exits_4_with_one_line_naming_it(tmp_path: Path) -> None:
    for name in ("in", "out", "state"):
        (tmp_path / name).mkdir()
    ledger = tmp_path / "state" / LEDGER_NAME
    _garble(ledger)
    result = run_cli(
        "watch",
        tmp_path / "in",
        "--out",
        tmp_path / "out",
        "--state-dir",
        tmp_path / "state",
        "--allow-root",
        timeout=60,
    )
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(ledger) in lines[0] and "aside" in lines[0]


def _damage_a_page(ledger: Path) -> None:
    """A valid SQLite header, garbage in the pages behind it (a torn write, a bad disk)."""
    data = bytearray(ledger.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > page
    data[page:] = b"\xa5" * (len(data) - page)
    ledger.write_bytes(bytes(data))


@inotify_only
@pytest.mark.parametrize("damage", [_garble, _damage_a_page], ids=["garbage", "pages"])
def test_the_advertised_ledger_recovery_recognises_existing_outputs(daemon_factory, damage) -> None:
    first = daemon_factory()
    source = _drop(first.in_dir, "a.npy", _npy_bytes(_frame(5)))
    first.wait_states({"a.npy": "done"})
    assert first.stop() == 0
    output = first.out_dir / "a.emd"
    before = fingerprint(output), output.stat().st_ino
    ledger = first.state_dir / LEDGER_NAME
    damage(ledger)
    broken = daemon_factory(wait=False)
    assert broken.proc.wait(30) == 4
    (line,) = broken.log().strip().splitlines()
    assert str(ledger) in line
    for path in first.state_dir.glob(LEDGER_NAME + "*"):  # as the message says
        shutil.move(path, path.with_name(path.name + ".damaged"))
    restarted = daemon_factory()
    restarted.wait_states({"a.npy": "done"})
    assert "already-published path=a.npy" in restarted.log()
    assert "converted path=a.npy" not in restarted.log()
    assert (fingerprint(output), output.stat().st_ino) == before
    _assert_output_is(output, source)
    assert restarted.stop() == 0


@inotify_only
def test_corrupt_is_quarantined_at_once_and_only_incomplete_is_waited_on(daemon_factory) -> None:
    daemon = daemon_factory(max_wait=120)
    data = _npy_bytes(_frame(9))
    length = int.from_bytes(data[8:10], "little")
    garbage = data[:10] + b"{garbage!".ljust(length - 1) + b"\n" + data[10 + length :]
    assert len(garbage) == len(data)  # the length is right; the header is not
    start = time.monotonic()
    _drop(daemon.in_dir, "corrupt.npy", garbage)
    _drop(daemon.in_dir, "half.npy", data[: len(data) // 2])
    daemon.wait_states({"corrupt.npy": "failed", "half.npy": "incomplete"}, timeout=20)
    assert time.monotonic() - start < 20  # max_wait is 120 s
    (report,) = [json.loads(p.read_text()) for p in wait_for(daemon.reports, what="report")]
    assert (report["kind"], report["state"]) == ("corrupt", "failed")
    wait_for(
        lambda: daemon.log().count("incomplete path=half.npy") >= 2,
        what="a second look at the incomplete file",
    )  # waited on, not failed
    assert daemon.states()["half.npy"] not in FINAL and len(daemon.reports()) == 1
    assert [(r.state, r.attempts) for r in daemon.rows("corrupt.npy")] == [("failed", 1)]
    assert daemon.stop() == 0
