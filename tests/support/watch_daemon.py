"""Driving the real daemon from tests: a process handle, deadlines, slow writers.

Windows are short (stability 0.3 s, poll 0.2 s, rescan 1 s) and tests wait on
conditions with deadlines, never on fixed sleeps alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from emdconvert.watch.ledger import Ledger, Row
from emdconvert.watch.names import QUARANTINE_DIR

#: Short windows for tests (S = 0.3 s, poll 0.2 s, rescan 1 s; defaults: README, Safety rules W3).
FAST = {
    "stability": 0.3,
    "min_age": 0.3,
    "poll_interval": 0.2,
    "rescan_interval": 1.0,
    "workers": 2,
    "shutdown_grace": 5.0,
}


def wait_for(
    condition: Callable[[], Any], timeout: float = 30.0, step: float = 0.05, what: str = "condition"
) -> Any:
    """Poll *condition* until it returns something truthy; fail after *timeout* s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class DaemonHandle:
    """One running ``emdconvert watch`` process and what it works on."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        in_dir: Path,
        out_dir: Path,
        state_dir: Path,
        log_path: Path,
    ) -> None:
        self.in_dir, self.out_dir, self.state_dir = in_dir, out_dir, state_dir
        self.log_path = log_path
        self._log_file = open(log_path, "a", encoding="utf-8")
        self.proc = subprocess.Popen(
            args, stdout=self._log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_watching(self, timeout: float = 30.0) -> None:
        wait_for(
            lambda: (
                any(mark in self.log() for mark in (" watching ", '"watching"'))
                or self.proc.poll() is not None
            ),
            timeout,
            what="the daemon to start watching",
        )
        assert self.proc.poll() is None, self.log()

    def rows(self, path: str | None = None) -> list[Row]:
        if not (self.state_dir / "ledger.sqlite3").exists():
            return []
        ledger = Ledger(self.state_dir)
        try:
            return ledger.rows(path)
        finally:
            ledger.close()

    def states(self) -> dict[str, str]:
        """Newest state of each path."""
        return {row.path: row.state for row in self.rows()}

    def outputs(self) -> list[Path]:
        return sorted(p for p in self.out_dir.rglob("*.emd") if QUARANTINE_DIR not in p.parts)

    def reports(self) -> list[Path]:
        return sorted((self.out_dir / QUARANTINE_DIR).glob("*.error.json"))

    def wait_states(self, expected: dict[str, str], timeout: float = 30.0) -> None:
        def reached() -> bool:
            states = self.states()
            return all(states.get(path) == state for path, state in expected.items())

        wait_for(reached, timeout, what=f"states {expected} (log:\n{self.log()[-3000:]})")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the daemon and wait for it; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            self._log_file.close()
        return code

    def kill(self) -> None:
        """SIGKILL the daemon's whole session (workers too), as a crash would."""
        if self.proc.poll() is None:
            kill_process_group(self.proc.pid)
        self.proc.wait(30)
        self._log_file.close()


def kill_process_group(pgid: int, timeout: float = 30.0) -> None:
    """SIGKILL every process in group *pgid* and wait until none of them is running.

    Waiting matters for a restart: a worker that has been sent SIGKILL but has not yet
    exited still holds its temp file open, and the next daemon's start-up sweep rightly
    leaves open temps alone.  A service manager waits the same way (systemd restarts a
    unit only once its cgroup is empty).  Zombies count as gone: they hold no files, and
    whoever inherited them may not reap them promptly.
    """

    def members() -> list[int]:
        alive = []
        for process in psutil.process_iter(["status"]):
            with contextlib.suppress(OSError, psutil.Error):
                if (
                    os.getpgid(process.pid) == pgid
                    and process.info["status"] != psutil.STATUS_ZOMBIE
                ):
                    alive.append(process.pid)
        return alive

    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    wait_for(lambda: not members(), timeout, what=f"process group {pgid} to die")


def daemon_args(
    in_dir: Path,
    out_dir: Path,
    state_dir: Path,
    backend: str,
    options: dict[str, Any],
    defaults: dict[str, Any] = FAST,
) -> list[str]:
    """The daemon's command line: *defaults* (the short test windows), then *options*."""
    args = [
        sys.executable,
        "-m",
        "emdconvert",
        "watch",
        str(in_dir),
        "--out",
        str(out_dir),
        "--state-dir",
        str(state_dir),
        "--allow-root",
        *(["--poll"] if backend == "polling" else ["--backend", backend]),
    ]
    for name, value in {**defaults, **options}.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False:
            args.append("--no-" + name.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [flag, str(item)]
        else:
            args += [flag, str(value)]
    return args


def slow_write(
    path: Path, data: bytes, chunks: int, pause: float, *, reopen_at: float | None = None
) -> float:
    """Write *data* to *path* in *chunks* with *pause* between them; returns the end time.

    With *reopen_at* (a fraction), the writer closes after that much and reopens in
    append mode after *pause* (a writer that closes and reopens its file).
    """
    if reopen_at is not None:
        cut = int(len(data) * reopen_at)
        with open(path, "wb") as handle:
            handle.write(data[:cut])
        time.sleep(pause)
        with open(path, "ab") as handle:
            handle.write(data[cut:])
        return time.time()
    size = -(-len(data) // chunks)
    with open(path, "wb") as handle:
        for start in range(0, len(data), size):
            handle.write(data[start : start + size])
            handle.flush()
            os.fsync(handle.fileno())
            if start + size < len(data):
                time.sleep(pause)
    return time.time()


def in_thread(target: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def run_cli(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``emdconvert ARGS`` in a subprocess, as a shell would run it (200 columns wide)."""
    return subprocess.run(
        [sys.executable, "-m", "emdconvert", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def _npy_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.full((64, 64), value, dtype=np.float32))
    return buffer.getvalue()


def burst(in_dir: Path, count: int, slow_every: int = 10) -> None:
    """*count* small .npy files: most copied in by rename, every *slow_every*-th written
    slowly in place (the burst of tests/watch/test_watch_load.py)."""
    staging = in_dir.parent / "staging"
    staging.mkdir()
    slow = []
    for i in range(count):
        data = _npy_bytes(i)
        if i % slow_every == 0:
            slow.append((in_dir / f"f{i:05d}.npy", data))
        else:
            (staging / f"f{i:05d}.npy").write_bytes(data)
    handles = []
    for path, data in slow:
        handle = open(path, "wb")
        handle.write(data[: len(data) // 2])
        handle.flush()
        handles.append((handle, data))
    for entry in sorted(os.scandir(staging), key=lambda e: e.name):
        os.rename(entry.path, in_dir / entry.name)

    def finish() -> None:
        time.sleep(0.3)
        for handle, data in handles:
            handle.write(data[len(data) // 2 :])
            handle.close()

    in_thread(finish).join()


def mount_tmpfs(folder: Path, options: str = "size=16m") -> None:
    """Mount a tmpfs on *folder*, or skip the test (needs root; chmod does not stop root)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {result.stderr.decode().strip()}")
