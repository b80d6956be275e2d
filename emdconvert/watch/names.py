"""Which names in the watch folder are candidates (README, Safety rules W2).

Acquisition software, copy tools, editors and file servers leave temp and housekeeping
files next to real data: a rename-writer's ``.x.tmp``, a browser's ``.crdownload``, SMB's
``.smbdelete*``, macOS's ``._x``.  Those are never candidates, nor are our own temp
files, nor files no installed plugin reads.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable
from pathlib import PurePath

from emdconvert.batch import readable_suffixes
from emdconvert.publish import TEMP_PREFIX, TEMP_SUFFIX

#: Always ignored (case-insensitive globs on the last path component).
DEFAULT_IGNORE = (
    ".*",
    "~$*",
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.filepart",
    "thumbs.db",
    "desktop.ini",
    ".ds_store",
    "._*",
    "@eadir",
    "$recycle.bin",
    ".nfs*",
    ".smbdelete*",
    f"{TEMP_PREFIX}*{TEMP_SUFFIX}",
)

#: The daemon's own folder inside OUT_DIR for error reports.
QUARANTINE_DIR = "_quarantine"


@functools.cache
def _suffixes() -> frozenset[str]:
    return frozenset(readable_suffixes())


class NameFilter:
    """Decides from a path alone whether it can be a candidate, and finds markers."""

    def __init__(self, extra_ignore: Iterable[str] = (), marker: str | None = None) -> None:
        self.patterns = tuple(p.lower() for p in (*DEFAULT_IGNORE, *extra_ignore))
        self.marker = marker

    def ignored(self, name: str) -> bool:
        """True for a temp, hidden or housekeeping name (a file or a folder)."""
        lowered = name.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self.patterns)

    def ignored_path(self, relative: PurePath) -> bool:
        """True when any component of *relative* (to the watch root) is ignored."""
        return any(self.ignored(part) for part in relative.parts)

    def candidate(self, relative: PurePath) -> bool:
        """A data file the daemon should consider converting."""
        return not self.ignored_path(relative) and relative.suffix.lower() in _suffixes()

    def data_for_marker(self, relative: PurePath) -> PurePath | None:
        """For ``X.done`` (marker mode), the data file ``X`` it announces."""
        if self.marker is None or not relative.name.lower().endswith(self.marker.lower()):
            return None
        data = relative.with_name(relative.name[: -len(self.marker)])
        return data if self.candidate(data) else None


def output_name(relative: str, version: int, suffix: str = ".emd") -> str:
    """``sub/a.dm4`` -> ``sub/a.emd``; a re-acquisition (version 2, ...) -> ``sub/a.v2.emd``."""
    path = PurePath(relative)
    stem = path.stem if version == 1 else f"{path.stem}.v{version}"
    return str(path.with_name(stem + suffix))
