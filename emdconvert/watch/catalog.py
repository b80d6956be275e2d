"""The daemon's picture of the ledger: the newest row of each path, and its work queue.

Everything here runs on the daemon's thread inside the pass's transaction.  ``known``
mirrors the ledger's newest row per path (refreshed after each write), ``previous``
holds the final row a new version of a path replaces (so a touched file can fall back
to it), and ``ready`` the rows waiting for a worker, claimed in order.
"""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path

from emdconvert.pipeline import Request
from emdconvert.watch.ledger import Ledger, Row
from emdconvert.watch.links import Link, link_output
from emdconvert.watch.names import output_name
from emdconvert.watch.outcomes import WATCHED, State
from emdconvert.watch.stability import Signature
from emdconvert.watch.worker import Task


class Catalog:
    """Rows by path, the queue of claimable rows, and the tasks in flight."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.known: dict[str, Row] = ledger.latest()  # newest ledger row of each path
        self.previous: dict[str, Row] = {}  # the final row a new version replaces
        self.busy: set[str] = set()  # paths being hashed or converted
        self.ready: deque[int] = deque()
        self.queued: set[int] = set()
        self.inflight: dict[int, Task] = {}

    def refresh(self, row_id: int) -> Row:
        row = self.ledger.row(row_id)
        self.known[row.path] = row
        return row

    def enqueue(self, row_id: int) -> None:
        if row_id not in self.queued and row_id not in self.inflight:
            self.queued.add(row_id)
            self.ready.append(row_id)

    def add(self, path: str, signature: Signature, found_by: str, row: Row | None) -> None:
        """A new version of *path* (replacing final *row*, if any), state ``seen``."""
        row_id = self.ledger.add(path, signature, found_by)
        if row is not None:
            self.previous[path] = row
        self.refresh(row_id)

    def forget(self, path: str) -> bool:
        """A watched file went away before it was stable: drop its unstarted row."""
        row = self.known.get(path)
        if row is None or row.state not in WATCHED:
            return False
        self.ledger.delete(row.id)
        restored = self.previous.pop(path, None)
        if restored is not None:
            self.known[path] = restored
        else:
            del self.known[path]
        return True

    def mark_stable(self, row_id: int, signature: Signature, sha256: str | None = None) -> None:
        self.ledger.set_signature(
            row_id,
            signature,
            state=State.STABLE,
            stable_at=time.time(),
            **({"sha256": sha256} if sha256 else {}),
        )
        row = self.refresh(row_id)
        self.previous.pop(row.path, None)
        self.enqueue(row_id)

    def unchanged(self, row: Row, previous: Row, signature: Signature) -> None:
        """Same content, new mtime (touched, or copied again): the previous row stands."""
        self.ledger.delete(row.id)
        self.ledger.set_signature(previous.id, signature)
        self.previous.pop(row.path, None)
        self.refresh(previous.id)

    def alias(
        self, row: Row, signature: Signature, sha256: str, original: Row, out_dir: Path
    ) -> Link:
        """*row* has the content of converted row *original*: give it a linked output.

        The alias's output name follows the rule of :meth:`claim` (a name no row has,
        the next version if it exists on disk); it is a hard link to *original*'s output,
        else a symbolic link (``links``), and the row records it (``output``, ``version``,
        ``kind`` = the link's kind).  Raises :class:`~emdconvert.watch.links.NoLink` with
        the row untouched when no link can be made (the first output is gone, say).
        """
        version = max(row.version, self.ledger.next_version(row.path))
        link = link_output(out_dir, original.output, row.path, version, self.ledger.output_taken)
        self.ledger.set_signature(
            row.id,
            signature,
            state=State.ALIAS,
            sha256=sha256,
            alias_of=original.id,
            output=link.output,
            version=link.version,
            kind=link.kind,
            detail=None,
            finished=time.time(),
        )
        self.previous.pop(row.path, None)
        self.refresh(row.id)
        return link

    def claim(self, idle: int, root: str, out_dir: Path, request: Request) -> list[Task]:
        """Claim up to *idle* queued rows, each under an output name no row has."""
        tasks: list[Task] = []
        while self.ready and idle > len(tasks):
            row_id = self.ready.popleft()
            self.queued.discard(row_id)
            row = self.ledger.row(row_id)
            version = max(row.version, self.ledger.next_version(row.path))
            while self.ledger.output_taken(output_name(row.path, version)):
                version += 1
            if not self.ledger.claim(row_id, version):
                continue  # no longer claimable (changed meanwhile)
            row = self.refresh(row_id)
            task = Task(
                row.id,
                os.path.join(root, row.path),
                str(out_dir / output_name(row.path, version)),
                Signature(row.size, row.mtime_ns, row.ino or 0, row.dev or 0),
                request,
            )
            self.inflight[row.id] = task
            self.busy.add(row.path)
            tasks.append(task)
        return tasks

    def queue_retries(self, now: float) -> None:
        """Queue the ``retry`` rows that are due (and not being hashed or converted)."""
        for row in self.ledger.due_retries(now):
            if row.path not in self.busy:
                self.refresh(row.id)
                self.enqueue(row.id)
