"""When a file has stopped changing (README, Safety rules W3).

A file is *stable* once ``lstat`` has given the same (size, mtime_ns, inode, device) for
at least the stability window and its mtime is at least ``min_age`` old: the rule of
NiFi, Camel and Spring, and what survives writers that close and reopen.  An mtime
in the future (the writer's clock is ahead) cannot age, so the window alone decides.  In marker
mode the producer says when it is done (``X.done`` next to ``X``) and no window is
needed.  Only metadata is read while waiting, never contents, so waiting on a 50 GB file
costs nothing.  Every watched file is sampled on its own clock, so many files wait
concurrently rather than in series.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import PurePath


@dataclass(frozen=True)
class Signature:
    """What "unchanged" compares: content size and time, and the file's identity."""

    size: int
    mtime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, info: os.stat_result) -> Signature:
        return cls(info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev)


@dataclass
class _Watched:
    found_by: str
    signature: Signature | None = None
    since: float = 0.0  # monotonic time this signature was first sampled
    next_sample: float = 0.0


@dataclass(frozen=True)
class Stable:
    """A file that passed the stability test, with the signature it passed with.

    *clock_skew* is how many seconds its mtime is ahead of this machine's clock (0 when
    it is not): the writer's clock runs ahead, so ``min_age`` could not be applied.
    """

    relative: PurePath
    signature: Signature
    found_by: str
    clock_skew: float = 0.0


class StabilityTracker:
    """The files being watched until they are stable, each sampled on its own clock."""

    def __init__(
        self, root: str, *, window: float, min_age: float, marker: str | None = None
    ) -> None:
        self.root = root
        self.window = window
        self.min_age = min_age
        self.marker = marker
        self.interval = min(max(window / 3, 0.05), 1.0)
        self._watched: dict[PurePath, _Watched] = {}

    def __len__(self) -> int:
        return len(self._watched)

    def __contains__(self, relative: PurePath) -> bool:
        return relative in self._watched

    def watch(self, relative: PurePath, found_by: str, *, not_before: float = 0.0) -> None:
        """Start watching *relative* (no-op if watched); first sample at *not_before*."""
        if relative not in self._watched:
            self._watched[relative] = _Watched(found_by, next_sample=not_before)

    def look_now(self, relative: PurePath) -> None:
        """Sample a watched *relative* at the next pass, not at its deferred first sample
        (an ``incomplete`` file that changed: it may have just been finished)."""
        watched = self._watched.get(relative)
        if watched is not None:
            watched.next_sample = min(watched.next_sample, time.monotonic())

    def discard(self, relative: PurePath) -> None:
        self._watched.pop(relative, None)

    def sample(self, now: float | None = None) -> tuple[list[Stable], list[PurePath]]:
        """Sample every file that is due: (files now stable, files that vanished).

        Both kinds stop being watched; a file whose signature changed starts its window
        again.
        """
        now = time.monotonic() if now is None else now
        wall = time.time()
        stable: list[Stable] = []
        vanished: list[PurePath] = []
        for relative, watched in list(self._watched.items()):
            if watched.next_sample > now:
                continue
            watched.next_sample = now + self.interval
            path = os.path.join(self.root, relative)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                vanished.append(relative)
                continue
            except OSError:
                continue  # the share hiccupped: sample again later
            if not stat.S_ISREG(info.st_mode):
                vanished.append(relative)  # a link or a folder now: not ours
                continue
            signature = Signature.of(info)
            if signature != watched.signature:
                watched.signature, watched.since = signature, now
            age = wall - info.st_mtime
            if self.marker is not None:
                ready = os.path.lexists(path + self.marker)
            else:
                # An mtime in the future never grows old: an acquisition PC's clock is
                # ahead.  The unchanged signature over the window then decides alone.
                ready = now - watched.since >= self.window and (age >= self.min_age or age < 0)
            if ready:
                stable.append(
                    Stable(relative, signature, watched.found_by, clock_skew=max(-age, 0.0))
                )
        for relative in vanished:
            del self._watched[relative]
        for item in stable:
            del self._watched[item.relative]
        return stable, vanished
