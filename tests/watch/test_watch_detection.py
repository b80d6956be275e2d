"""Only finished files are converted (README, Safety rules W1, W3), on both backends."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from support.watch_daemon import FAST, DaemonHandle, in_thread, mount_tmpfs, slow_write, wait_for

from emdconvert.api import read
from emdconvert.testing import fingerprint

DM4 = "dm/2D_test-1.dm4"
WINDOW = FAST["stability"]


def _rsciio_data(path: Path) -> np.ndarray:
    from rsciio.digitalmicrograph import file_reader

    return np.asarray(file_reader(str(path))[0]["data"])


def _assert_converted_once(
    daemon: DaemonHandle, name: str, original: Path, written_at: float, window: float
) -> None:
    daemon.wait_states({name: "done"})
    rows = daemon.rows(name)
    assert [r.state for r in rows] == ["done"], rows
    assert rows[0].attempts == 0
    assert rows[0].started is not None and rows[0].started - written_at >= window * 0.95
    assert len(daemon.outputs()) == 1
    output = daemon.outputs()[0]
    data = np.asarray(read(output).datasets[0].data[()])
    assert np.array_equal(data, _rsciio_data(original))


def test_t1_slow_writer_converted_once_after_it_finishes(daemon_factory, corpus: Path) -> None:
    daemon = daemon_factory(stability=0.5, min_age=0.5)  # a 0.5 s stability window
    data = (corpus / DM4).read_bytes()
    end = slow_write(daemon.in_dir / "scan.dm4", data, chunks=8, pause=0.3)
    _assert_converted_once(daemon, "scan.dm4", corpus / DM4, end, 0.5)
    assert daemon.stop() == 0


def test_t2_close_and_reopen_writer_not_converted_early(daemon_factory, corpus: Path) -> None:
    daemon = daemon_factory()
    data = (corpus / DM4).read_bytes()
    end = slow_write(daemon.in_dir / "scan.dm4", data, chunks=1, pause=0.4 * WINDOW, reopen_at=0.6)
    _assert_converted_once(daemon, "scan.dm4", corpus / DM4, end, WINDOW)
    assert daemon.stop() == 0


def test_t3_rename_writers_and_temp_names(daemon_factory, corpus: Path) -> None:
    daemon = daemon_factory()
    sources = ["dm/2D_test-1.dm4", "dm/2D_test-2.dm4", "dm/2D_test-6.dm4", "dm/2D_test-10.dm4"]
    temps = [".foo.dm4.tmp", "foo.dm4.part", "~$foo.dm4", "foo.dm4.crdownload"]
    (daemon.in_dir / "link.dm4").symlink_to(corpus / sources[0])  # never followed (rule 12)
    for i, (source, temp) in enumerate(zip(sources, temps, strict=True)):
        (daemon.in_dir / temp).write_bytes((corpus / source).read_bytes())
        time.sleep(0.3)  # long enough for a poll to see the temp name
        os.rename(daemon.in_dir / temp, daemon.in_dir / f"foo{i}.dm4")
    daemon.wait_states({f"foo{i}.dm4": "done" for i in range(4)})
    assert sorted(daemon.states()) == [f"foo{i}.dm4" for i in range(4)]
    assert [p.name for p in daemon.outputs()] == [f"foo{i}.emd" for i in range(4)]
    assert daemon.reports() == []
    assert daemon.stop() == 0


def test_t4_truncated_dm_waits_then_stalls_and_converts_when_completed(
    daemon_factory, corpus: Path
) -> None:
    daemon = daemon_factory(max_wait=3)  # its first look must come before max_wait, on a busy CI
    data = (corpus / DM4).read_bytes()
    short = daemon.in_dir / "short.dm4"
    short.write_bytes(data[:-8])  # rsciio reads this with identical data (E2)
    cut = int(len(data) * 0.9)
    zero_tail = daemon.in_dir / "zerotail.dm4"
    zero_tail.write_bytes(data[:cut] + b"\0" * (len(data) - cut))
    before = fingerprint(zero_tail)
    wait_for(lambda: daemon.states().get("short.dm4") == "incomplete", what="incomplete")
    daemon.wait_states({"short.dm4": "stalled", "zerotail.dm4": "failed"})
    assert daemon.outputs() == []
    wait_for(lambda: len(daemon.reports()) == 2, what="two quarantine reports")
    reports = {p.name.split(".")[0]: p for p in daemon.reports()}
    assert set(reports) == {"short", "zerotail"}
    assert '"kind": "incomplete"' in reports["short"].read_text()
    assert fingerprint(zero_tail) == before
    with open(short, "ab") as handle:  # the writer finally finishes
        handle.write(data[-8:])
    daemon.wait_states({"short.dm4": "done"})
    assert [p.name for p in daemon.outputs()] == ["short.emd"]
    assert [r.state for r in daemon.rows("short.dm4")] == ["stalled", "done"]
    assert daemon.stop() == 0


def test_t6_reconcile_scan_finds_files_when_events_are_lost(daemon_factory, tmp_path: Path) -> None:
    daemon = daemon_factory(env={"EMDCONVERT_TEST_DROP_EVENTS": "1"})
    dropped = time.monotonic()
    np.save(daemon.in_dir / "late.npy", np.arange(12, dtype=np.uint8).reshape(3, 4))
    daemon.wait_states({"late.npy": "done"}, timeout=WINDOW + 2 * 1.0 + 5)
    assert time.monotonic() - dropped < WINDOW + 2 * 1.0 + 5
    assert "found path=late.npy by=rescan" in daemon.log()
    assert daemon.stop() == 0


def test_slow_writers_in_parallel_each_wait_their_own_window(daemon_factory, corpus: Path) -> None:
    daemon = daemon_factory()
    ends = {}

    def writer(name: str, source: str) -> None:
        data = (corpus / source).read_bytes()
        ends[name] = slow_write(daemon.in_dir / name, data, chunks=4, pause=0.2)

    threads = [
        in_thread(lambda n=n, s=s: writer(n, s))
        for n, s in (("a.dm4", "dm/2D_test-1.dm4"), ("b.dm4", "dm/2D_test-2.dm4"))
    ]
    for thread in threads:
        thread.join()
    daemon.wait_states({"a.dm4": "done", "b.dm4": "done"})
    for row in daemon.rows():
        assert row.started is not None and row.started - ends[row.path] >= WINDOW * 0.95
    assert len(daemon.outputs()) == 2
    assert daemon.stop() == 0


def test_t7b_watch_root_unmounted_and_remounted_changes_nothing(
    daemon_factory, tmp_path: Path
) -> None:
    in_dir = tmp_path / "in"
    mount_tmpfs(in_dir)
    try:
        for i in range(3):
            np.save(in_dir / f"m{i}.npy", np.full((4, 4), i, dtype=np.uint8))
        daemon = daemon_factory()
        daemon.wait_states({f"m{i}.npy": "done" for i in range(3)})
        rows = daemon.rows()
        outputs = {p.name: p.stat().st_mtime_ns for p in daemon.outputs()}
        saved = tmp_path / "saved"
        shutil.copytree(in_dir, saved)  # copy2: the same mtimes come back
        subprocess.run(["umount", str(in_dir)], check=True)
        wait_for(lambda: daemon.log().count("watch-root-changed") >= 1, what="unmount seen")
        mount_tmpfs(in_dir)
        shutil.copytree(saved, in_dir, dirs_exist_ok=True)
        wait_for(lambda: daemon.log().count("watch-root-changed") >= 2, what="remount seen")
        time.sleep(1.2)  # another reconcile scan over the remounted files
        assert daemon.proc.poll() is None
        assert daemon.rows() == rows
        assert {p.name: p.stat().st_mtime_ns for p in daemon.outputs()} == outputs
        np.save(in_dir / "after.npy", np.zeros(3, dtype=np.uint8))  # still watching
        daemon.wait_states({"after.npy": "done"})
        assert daemon.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(in_dir)], capture_output=True)


@pytest.mark.parametrize("backend", ["inotify"])  # the backends differ in detection, not here
def test_marker_mode_in_sub_folders(daemon_factory) -> None:
    daemon = daemon_factory(recursive=True, marker=".done")
    sub = daemon.in_dir / "2026-05" / "session1"
    sub.mkdir(parents=True)  # a folder appearing: its files are found too
    np.save(sub / "a.npy", np.arange(6, dtype=np.uint8))
    (sub / "a.npy.done").touch()
    np.save(daemon.in_dir / "b.npy", np.arange(7, dtype=np.uint8))
    daemon.wait_states({"2026-05/session1/a.npy": "done"})
    assert [p.relative_to(daemon.out_dir).as_posix() for p in daemon.outputs()] == [
        "2026-05/session1/a.emd"
    ]
    time.sleep(1.2)  # b.npy is stable and scanned again, but has no marker yet
    assert daemon.states()["b.npy"] == "seen"
    (daemon.in_dir / "b.npy.done").touch()
    daemon.wait_states({"b.npy": "done"})
    assert daemon.stop() == 0
