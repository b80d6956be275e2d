"""Where candidates come from: file events (hints) and scans of the watch root.

Events are hints and scans the source of truth (README, Safety rules W1): the observer
thread only queues paths; the daemon's thread turns them, and each scan, into calls of
*consider*.  A root that goes away is reported once, and one that comes back (or was
mounted anew: another device or inode) gets a fresh observer.  A file the scan no
longer sees is never treated as deleted.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from emdconvert.watch.config import WatchConfig
from emdconvert.watch.events import Pulse, start_observer, watcher_problem
from emdconvert.watch.log import EventLog
from emdconvert.watch.names import NameFilter
from emdconvert.watch.scan import scan

#: ``consider(relative, found_by, stat or None)``: a hint that a file may need work.
Consider = Callable[[PurePath, str, "os.stat_result | None"], None]


class Intake:
    """The watch root's observer and scans, feeding *consider*."""

    def __init__(
        self,
        config: WatchConfig,
        log: EventLog,
        *,
        root: str,
        out_dir: Path,
        names: NameFilter,
        backend: str,
        consider: Consider,
    ) -> None:
        self.config = config
        self.log = log
        self.root = root
        self.out_dir = out_dir
        self.names = names
        self.backend = backend
        self.consider = consider
        self.hints: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
        self.skip = frozenset({str(out_dir)})
        self.observer: Any = None
        self.root_available = True
        self.root_identity: tuple[int, int] | None = None
        self.pulse = Pulse()
        self.last_scan: float | None = None  # time.time() the last full scan finished

    def start(self) -> None:
        try:
            self.observer = start_observer(
                self.backend,
                Path(self.root),
                self.hints,
                recursive=self.config.recursive,
                poll_interval=self.config.poll_interval,
                pulse=self.pulse,
            )
        except OSError as exc:  # e.g. the inotify watch limit: the rescan still works
            self.observer = None
            self.log.warning("events-unavailable", detail=str(exc))

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(5)
            self.observer = None

    def problem(self) -> str | None:
        """Why events or polls may be missing now (None: the watcher works)."""
        limit = 3 * self.config.poll_interval + 10.0
        return watcher_problem(self.observer, self.pulse, limit)

    def take_hints(self) -> None:
        while True:
            try:
                path, is_dir = self.hints.get_nowait()
            except queue.Empty:
                return
            relative = os.path.relpath(path, self.root)
            if relative.startswith("..") or relative == ".":
                continue
            rel = PurePath(relative)
            if is_dir:
                if self.config.recursive and not self.names.ignored_path(rel):
                    with contextlib.suppress(OSError):  # gone again: nothing to scan
                        self._scan_from(relative, "event")
                continue
            marked = self.names.data_for_marker(rel)
            if marked is not None:
                self.consider(marked, "event", None)
            elif self.names.candidate(rel) and not self._in_output(path):
                self.consider(rel, "event", None)

    def _in_output(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real.startswith(str(self.out_dir) + os.sep)

    def rescan(self, found_by: str) -> None:
        """Scan everything; notice a root that went away or was mounted anew (README W1).

        A file the scan no longer sees is never treated as deleted, so a share that drops
        and comes back causes no ledger changes and no re-conversions.
        """
        try:
            info = os.stat(self.root)
            identity = (info.st_dev, info.st_ino)
            self._scan_from("", found_by)
            self.last_scan = time.time()
        except OSError as exc:
            if self.root_available:
                self.root_available = False
                self.log.error(
                    "watch-root-unavailable", path=self.root, detail=exc.strerror or str(exc)
                )
            return
        if not self.root_available or identity != self.root_identity:
            if self.root_identity is not None:
                self.log.warning(
                    "watch-root-available" if not self.root_available else "watch-root-changed",
                    path=self.root,
                )
                self.stop()  # its watch was on the old folder: start anew
                self.start()
            self.root_available = True
            self.root_identity = identity

    def _scan_from(self, start: str, found_by: str) -> None:
        for relative, info in scan(
            self.root, self.names, recursive=self.config.recursive, skip=self.skip, start=start
        ):
            self.consider(relative, found_by, info)
