"""Our own temp files left behind by a dead conversion, and removing them safely.

A conversion writes ``<outdir>/.emdconvert-<16 hex>.part`` and renames it into place
(README, Safety rules R1).  A killed worker or daemon leaves that temp behind (W5).  It
is removed when no process on this host has it open: a live conversion always holds its
temp open (the writer, or the writeback thread that flushes it), so another daemon's or
worker's work in progress is never deleted.  Linux's ``/proc/<pid>/fd`` says which files
are open.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from emdconvert.publish import TEMP_PREFIX, TEMP_SUFFIX


def _is_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def open_temps(pids: Iterable[int] | None = None) -> set[str]:
    """Paths of our temp files that the processes *pids* (default: all) hold open."""
    if pids is None:
        pids = (int(name) for name in os.listdir("/proc") if name.isdigit())
    found = set()
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or another user's process
        for fd in fds:
            with contextlib.suppress(OSError):
                target = os.readlink(os.path.join(fd_dir, fd))
                if _is_temp(os.path.basename(target)):
                    found.add(target)
    return found


def remove(paths: Iterable[str]) -> list[str]:
    """Unlink *paths*, returning those that existed."""
    removed = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed.append(path)
    return removed


def sweep(directory: Path, *, recursive: bool) -> list[str]:
    """Remove every temp file of ours under *directory* that no process holds open."""
    if not directory.is_dir():
        return []
    found = (
        directory.rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}")
        if recursive
        else directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}")
    )
    candidates = {os.path.realpath(p) for p in found if p.is_file()}
    if not candidates:
        return []
    return remove(sorted(candidates - open_temps()))
