"""File events from watchdog, reduced to "look at this path soon".

An event never means "the file is complete" (README, Safety rules W1): inotify reports a
rename-writer's final name as ``moved`` while polling reports it as ``created``; a
writer may close and reopen.  So every created, modified, closed or moved-to path is
only a hint that goes into a queue, and the stability check decides.  On network mounts
the polling observer is used (inotify sees nothing there).

``EMDCONVERT_TEST_DROP_EVENTS=1`` discards every event, so tests can prove the reconcile
scan alone finds files.
"""

from __future__ import annotations

import os
import queue
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver


class HintHandler(FileSystemEventHandler):
    """Puts the path an event names on a queue as ``(absolute path, is a folder)``.

    Under the test hook every event is dropped.
    """

    def __init__(self, hints: queue.SimpleQueue[tuple[str, bool]]) -> None:
        self.hints = hints
        self.drop = os.environ.get("EMDCONVERT_TEST_DROP_EVENTS") == "1"

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if self.drop or kind not in ("created", "modified", "closed", "moved"):
            return
        if event.is_directory and kind == "modified":
            return  # a file came or went inside: its own event says which
        path = event.dest_path if kind == "moved" else event.src_path
        self.hints.put((os.fsdecode(path), event.is_directory))


def start_observer(
    backend: str,
    root: Path,
    hints: queue.SimpleQueue[tuple[str, bool]],
    *,
    recursive: bool,
    poll_interval: float,
) -> BaseObserver:
    """A running watchdog observer of *root* feeding *hints*."""
    if backend == "polling":
        from watchdog.observers.polling import PollingObserver

        observer: BaseObserver = PollingObserver(timeout=poll_interval)
    else:
        from watchdog.observers.inotify import InotifyObserver

        observer = InotifyObserver()
    observer.schedule(HintHandler(hints), str(root), recursive=recursive)
    observer.daemon = True
    observer.start()
    return observer
