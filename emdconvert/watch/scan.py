"""The reconcile scan: every candidate under the watch root, by ``os.scandir``.

Events are only hints; they are lost on network mounts, on overflow and while the daemon
is down (README, Safety rules W1).  This scan, at start-up and every
``rescan_interval``, is the source of truth.  It never follows symbolic links (a link
could point out of the watch root) and skips ignored folders and the output folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import PurePath

from emdconvert.watch.names import NameFilter


def scan(
    root: str,
    names: NameFilter,
    *,
    recursive: bool,
    skip: frozenset[str] = frozenset(),
    start: str = "",
) -> Iterator[tuple[PurePath, os.stat_result]]:
    """(relative path, lstat) of candidate files under *root*; *skip*: real folder paths.

    Only names that pass the filter are stat-ed, so a folder of unrelated files is cheap.

    *start* (relative) scans only that sub-folder.  A failure to list the starting folder
    raises ``OSError`` (e.g. the watch root is unavailable); a sub-folder that cannot be
    listed is passed over.
    """
    pending = [start]
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(os.path.join(root, relative) if relative else root) as entries:
                found = list(entries)
        except OSError:
            if relative == start:
                raise
            continue
        for entry in found:
            rel = os.path.join(relative, entry.name) if relative else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if (
                        recursive
                        and not names.ignored(entry.name)
                        and os.path.realpath(entry.path) not in skip
                    ):
                        pending.append(rel)
                elif entry.is_file(follow_symlinks=False) and names.candidate(PurePath(rel)):
                    yield PurePath(rel), entry.stat(follow_symlinks=False)
            except OSError:
                continue
