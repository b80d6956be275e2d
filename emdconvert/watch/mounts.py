"""Which file system a path lives on, and so which watcher backend can see its changes.

inotify sees nothing that another machine writes to a CIFS, NFS or 9p (WSL) mount, and
it fails silently, so on those file systems the daemon polls (README, Safety rules W1).
The same test keeps the ledger off network file systems, where SQLite's WAL does not
work (W5).  The file-system type comes from ``/proc/self/mountinfo``: the mount point that
is the longest prefix of the path's real location.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
_NETWORK_TYPES = ("cifs", "smb3", "smbfs", "9p", "ceph", "lustre", "afs", "gpfs")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mountinfo(lines: Iterable[str]) -> list[tuple[str, str]]:
    """``(mount point, file-system type)`` for every well-formed mountinfo line."""
    mounts = []
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if sep and len(fields) >= 5 and after:
            mounts.append((_unescape(fields[4]), after[0]))
    return mounts


def fs_type(path: Path, lines: Iterable[str] | None = None) -> str | None:
    """The type of the file system holding *path*, or None when it cannot be told."""
    if lines is None:
        try:
            lines = MOUNTINFO.read_text(errors="replace").splitlines()
        except OSError:
            return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for point, kind in parse_mountinfo(lines):
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), kind)  # later lines with the same point are mounted over
    return None if best is None else best[1]


def is_network(kind: str | None) -> bool:
    """True for file systems where inotify misses remote writes and WAL is unsafe."""
    if kind is None:
        return False
    return kind in _NETWORK_TYPES or kind.startswith(("nfs", "fuse."))


def choose_backend(requested: str, path: Path, lines: Iterable[str] | None = None) -> str:
    """``inotify`` or ``polling`` for *requested* (``auto`` decides from the mount)."""
    if requested != "auto":
        return requested
    return "polling" if is_network(fs_type(path, lines)) else "inotify"
