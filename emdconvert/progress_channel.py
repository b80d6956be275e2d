"""Progress from worker processes back to the process that shows it.

A batch converts in a :class:`~concurrent.futures.ProcessPoolExecutor`, where the copy's
``progress(done, total)`` callback runs in a worker and a terminal bar lives in the
parent.  :func:`worker_pool` carries the reports over one :mod:`multiprocessing` queue,
handed to each worker by the pool's initializer (a queue cannot travel as a task
argument), and a thread in the parent passes them to the caller's callback.  Workers
send at most :data:`INTERVAL`-spaced reports (and always the last), so a many-chunk copy
does not flood the queue.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

#: Called as ``progress(source, done_bytes, total_bytes)`` while *source* is copied.
FileProgress = Callable[[Path, int, int], None]

#: Seconds between two reports a worker sends for one file.
INTERVAL = 0.1

_queue: Any = None  # the worker's end, set by the pool's initializer


def _install(queue: Any) -> None:
    global _queue
    _queue = queue


class _Report:
    """The picklable per-file callback a worker runs: puts ``(source, done, total)``."""

    def __init__(self, source: Path) -> None:
        self.source, self.sent = source, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if _queue is not None and (done >= total or now - self.sent >= INTERVAL):
            self.sent = now
            _queue.put((self.source, done, total))


@contextlib.contextmanager
def worker_pool(
    workers: int, progress: FileProgress | None
) -> Iterator[tuple[ProcessPoolExecutor, Callable[[Path], _Report | None]]]:
    """A process pool and ``report(source)``, the per-file callback to give its tasks.

    With *progress* None there is no queue and no thread, and ``report`` gives None.
    """
    if progress is None:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield pool, lambda source: None
        return
    queue = multiprocessing.get_context().Queue()
    thread = threading.Thread(target=_drain, args=(queue, progress), daemon=True)
    thread.start()
    try:
        with ProcessPoolExecutor(workers, initializer=_install, initargs=(queue,)) as pool:
            yield pool, _Report
    finally:
        queue.put(None)
        thread.join()
        queue.close()


def _drain(queue: Any, progress: FileProgress) -> None:
    """The parent's end: pass each report on, until the ``None`` that ends the pool."""
    while (message := queue.get()) is not None:
        progress(*message)
