"""The whole batch's progress on a terminal: files and bytes done, MB/s, time left.

One rich display on stderr: an overall bar (``files 3/12``, bytes of the sources done
of their total, the rate, the time left) and, under it, a bar for each large file being
converted.  Bytes are counted in the sources' sizes: a finished file counts whole, a
file being copied counts the fraction of its copy done (``progress(done, total)`` from
the pipeline, through :mod:`emdconvert.progress_channel` from worker processes; a Dask
cluster reports files only as they finish).  A file found up to date leaves the total,
so it does not inflate the rate.

As with one file's bar (:mod:`emdconvert.cli.terminal`), nothing shows unless stderr is
a terminal and ``--quiet`` is off, nothing before :data:`~emdconvert.cli.terminal.DELAY`
seconds (a quick batch stays quiet), and the display is transient: what remains is the
summary table.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from emdconvert.cli import terminal
from emdconvert.narrow import middle_ellipsis

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from emdconvert.batch import Outcome
    from emdconvert.progress_channel import FileProgress

#: A file at least this large (bytes) gets its own bar while it converts.
LARGE = 64 * 2**20

#: Cells a per-file bar's name is cut to (in the middle, keeping the file name's end).
NAME_WIDTH = 24


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


class BatchDisplay:
    """What the batch has done so far, and the rich display of it once it is shown.

    :meth:`update` runs on the thread that drains the workers' reports, :meth:`finish`
    on the batch's, :meth:`show` on a timer's: one lock keeps them consistent.
    """

    def __init__(self, sources: Sequence[Path]) -> None:
        self.sizes = {source: _size(source) for source in sources}
        self.total = sum(self.sizes.values())
        self.done_bytes = 0
        self.done_files = 0
        self.running: dict[Path, tuple[int, int]] = {}  # source -> (done, total) of its copy
        self.lock = threading.Lock()
        self.bar: Progress | None = None
        self.overall: TaskID | None = None
        self.bars: dict[Path, TaskID] = {}

    @property
    def callback(self) -> FileProgress:
        return self.update

    def update(self, source: Path, done: int, total: int) -> None:
        """A :data:`~emdconvert.progress_channel.FileProgress` callback."""
        with self.lock:
            if source not in self.sizes:  # a late report of a file already finished
                return
            self.running[source] = (done, total)
            self._refresh(source)

    def finish(self, outcome: Outcome) -> None:
        with self.lock:
            size = self.sizes.pop(outcome.source, 0)
            self.running.pop(outcome.source, None)
            self.done_files += 1
            if outcome.up_to_date:
                self.total -= size
            else:
                self.done_bytes += size
            if self.bar is not None and outcome.source in self.bars:
                self.bar.remove_task(self.bars.pop(outcome.source))
            self._refresh(None)
            if self.bar is not None:  # a line printed above redraws the last drawing
                self.bar.refresh()

    def say(self, line: str) -> None:
        """Print *line* above the bars, as one line however long (``soft_wrap``)."""
        with self.lock:
            if self.bar is None:
                sys.stderr.write(f"{line}\n")
            else:
                self.bar.console.print(line, soft_wrap=True, markup=False, highlight=False)

    def show(self) -> None:
        """Start the display, with everything done until now."""
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with self.lock:
            self.bar = Progress(
                "{task.description}",
                BarColumn(bar_width=20),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.overall = self.bar.add_task(self._files(), total=self.total)
            for source in self.running:
                self._refresh(source)
            self._refresh(None)
            self.bar.start()

    def close(self) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.stop()

    def _files(self) -> str:
        return f"files {self.done_files}/{self.done_files + len(self.sizes)}"

    def _refresh(self, source: Path | None) -> None:
        """Bring the shown bars up to date (with the lock held)."""
        if self.bar is None or self.overall is None:
            return
        running = self.running.items()
        copied = sum(self.sizes.get(s, 0) * done // total for s, (done, total) in running if total)
        self.bar.update(
            self.overall,
            description=self._files(),
            completed=self.done_bytes + copied,
            total=self.total,
        )
        if source is None or self.sizes.get(source, 0) < LARGE:
            return
        done, total = self.running[source]
        if source not in self.bars:
            name = "  " + middle_ellipsis(source.name, NAME_WIDTH)
            self.bars[source] = self.bar.add_task(name, total=total)
        self.bar.update(self.bars[source], completed=done, total=total)


class _Quiet:
    """The display when there is none: no callback, nothing to finish."""

    callback: FileProgress | None = None

    def finish(self, outcome: Outcome) -> None:
        pass

    def say(self, line: str) -> None:
        sys.stderr.write(f"{line}\n")


@contextlib.contextmanager
def batch_progress(sources: Sequence[Path], *, enabled: bool) -> Iterator[_Quiet | BatchDisplay]:
    """Yield the batch's display: give ``convert_many`` its ``callback`` and
    ``finish`` each outcome; it shows after ``DELAY`` seconds, on a terminal only."""
    if not enabled or not sys.stderr.isatty():
        yield _Quiet()
        return
    display = BatchDisplay(sources)
    timer = threading.Timer(terminal.DELAY, display.show)
    timer.daemon = True
    timer.start()
    try:
        yield display
    finally:
        timer.cancel()
        timer.join()
        display.close()
