"""File events from watchdog, reduced to "look at this path soon".

An event never means "the file is complete" (README, Safety rules W1): inotify reports a
rename-writer's final name as ``moved`` while polling reports it as ``created``; a
writer may close and reopen.  So every created, modified, closed or moved-to path is
only a hint that goes into a queue, and the stability check decides.  On network mounts
the polling observer is used (inotify sees nothing there).

``EMDCONVERT_TEST_DROP_EVENTS=1`` discards every event, so tests can prove the reconcile
scan alone finds files.

A poller on a dead SMB share can look alive: its thread runs, blocked in a ``stat``
that never returns, or its emitter stopped while the observer thread goes on.  So the
poller's file-system calls beat a :class:`Pulse`, and :func:`watcher_problem` reports a
stopped emitter or a pulse gone quiet (``/healthz``, README "Dashboard").
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver

from emdconvert import faults

_T = TypeVar("_T")


class Pulse:
    """The monotonic time of the poller's last file-system call that returned."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.started = False  # the first snapshot runs on the starting thread: no hook there

    def beating(self, call: Callable[..., _T]) -> Callable[..., _T]:
        """*call*, beating the pulse each time it returns."""

        def wrapped(*args: Any) -> _T:
            if self.started:
                faults.reached("poll_listing")  # test hook: a share that stops answering
            value = call(*args)
            self.last = time.monotonic()
            return value

        return wrapped


def watcher_problem(observer: BaseObserver | None, pulse: Pulse, quiet_limit: float) -> str | None:
    """Why the file watcher cannot be trusted now, or None when it is working."""
    if observer is None:
        return "no file watcher is running"
    emitters = list(getattr(observer, "emitters", ()))
    if not observer.is_alive() or not emitters or not all(e.is_alive() for e in emitters):
        return "the file watcher has stopped"
    quiet = time.monotonic() - pulse.last
    if getattr(observer, "polls", False) and quiet > quiet_limit:
        return f"the poller has not finished a file-system call for {quiet:.0f} s"
    return None


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
    pulse: Pulse,
) -> BaseObserver:
    """A running watchdog observer of *root* feeding *hints* (a poller beats *pulse*)."""
    if backend == "polling":
        from watchdog.observers.polling import PollingObserverVFS

        listdir: Callable[[str | None], Iterator[os.DirEntry[str]]] = os.scandir
        observer: BaseObserver = PollingObserverVFS(
            pulse.beating(os.stat), pulse.beating(listdir), polling_interval=poll_interval
        )
        observer.polls = True  # type: ignore[attr-defined]
        pulse.last = time.monotonic()
    else:
        from watchdog.observers.inotify import InotifyObserver

        observer = InotifyObserver()
    observer.schedule(HintHandler(hints), str(root), recursive=recursive)
    observer.daemon = True
    observer.start()
    pulse.started = True
    return observer
