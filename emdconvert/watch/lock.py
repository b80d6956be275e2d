"""One daemon per state folder: an exclusive ``flock`` on ``<state_dir>/daemon.lock``.

Two daemons sharing a ledger would each believe they own its claims.  The lock file is
opened with ``O_NOFOLLOW`` (a planted symlink cannot make us truncate another file,
CVE-2025-68146) and mode 0600, and holds the owner's pid so the second daemon can say
who is running.  The kernel drops the lock when the process dies, so a crash never
leaves a stale lock.  It must be on local disk: ``flock`` is unreliable over NFS/SMB.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from emdconvert.errors import UsageError

LOCK_NAME = "daemon.lock"


class AlreadyRunning(UsageError):
    """Another daemon holds the lock (exit code 2: it is a usage mistake, not a failure)."""

    kind = "already-running"


def holder(state_dir: Path) -> int | None:
    """The pid of the daemon holding the lock, or None when no daemon runs."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class InstanceLock:
    """Held for the daemon's lifetime; :meth:`acquire` raises :class:`AlreadyRunning`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise UsageError(f"cannot open the lock file: {exc.strerror}", path=self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise AlreadyRunning(
                f"already running (pid {text or '?'}) with state folder {self.path.parent}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
