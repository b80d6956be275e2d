"""SHA-256s off the daemon's thread: one hashing thread, results picked up each pass.

A stable file is hashed to tell "touched but unchanged" from new content, to find a
byte-identical copy of a converted file (de-duplication), and for a quarantine report;
a file of many GB would block the loop for seconds, so the loop only submits and
collects (README, Watch folder).  :class:`Hashing` then carries out what the digest
says (``transitions.after_hash``): the previous row stands, an ``alias`` (an output
linked to the first one, ``links``; converted instead if no link can be made, e.g. the
first output was deleted), a queued row, or a quarantine report with the hash.
"""

from __future__ import annotations

import os
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from emdconvert.watch import transitions
from emdconvert.watch.catalog import Catalog
from emdconvert.watch.config import WatchConfig
from emdconvert.watch.ledger import Row
from emdconvert.watch.links import NoLink
from emdconvert.watch.log import EventLog
from emdconvert.watch.quarantine import write_report
from emdconvert.watch.stability import Signature, StabilityTracker
from emdconvert.watch.transitions import Verdict
from emdconvert.watch.worker import sha256_of


class Purpose(Enum):
    """Why a file is hashed."""

    TOUCHED = "touched"  # a final row's file has a new mtime: is its content new?
    DEDUP = "dedup"  # a converted file has the same size: is this a copy of it?
    REPORT = "report"  # quarantined: the report records the content's SHA-256


@dataclass(frozen=True)
class Hashed:
    """A finished job: *digest* is None if the file was gone or unreadable, or stopping."""

    purpose: Purpose
    row_id: int
    extra: Any
    digest: str | None


class HashJobs:
    """Submit files to hash; :meth:`finished` returns the jobs that are done."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="emdconvert-hash")
        self._jobs: dict[Future[str], tuple[Purpose, int, Any]] = {}

    def submit(self, path: str, purpose: Purpose, row_id: int, extra: Any) -> None:
        self._jobs[self._executor.submit(sha256_of, path)] = (purpose, row_id, extra)

    def finished(self) -> list[Hashed]:
        done = []
        for future in [f for f in self._jobs if f.done()]:
            purpose, row_id, extra = self._jobs.pop(future)
            try:
                digest: str | None = future.result()
            except (OSError, RuntimeError, CancelledError):  # gone, unreadable, or stopping
                digest = None  # a report is then written without the hash
            done.append(Hashed(purpose, row_id, extra, digest))
        return done

    def shutdown(self) -> None:
        """Finish the running job, cancel the rest (:meth:`finished` still returns them)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class Hashing:
    """Hash jobs for the daemon's rows, and what their digests decide."""

    def __init__(
        self,
        catalog: Catalog,
        tracker: StabilityTracker,
        log: EventLog,
        *,
        config: WatchConfig,
        root: str,
        out_dir: Path,
    ) -> None:
        self.catalog = catalog
        self.tracker = tracker
        self.log = log
        self.config = config
        self.root = root
        self.out_dir = out_dir
        self.jobs = HashJobs()

    def submit(self, path: str, purpose: Purpose, row_id: int, extra: Any) -> None:
        """Hash *path* (relative to the root); the row is busy until the digest is in."""
        self.catalog.busy.add(path)
        self.jobs.submit(os.path.join(self.root, path), purpose, row_id, extra)

    def collect(self) -> None:
        for job in self.jobs.finished():
            row = self.catalog.ledger.row(job.row_id)
            self.catalog.busy.discard(row.path)
            if job.purpose == Purpose.REPORT:
                self._report(row, job)
            else:
                self._after_hash(row, job)

    def shutdown(self) -> None:
        self.jobs.shutdown()

    def _after_hash(self, row: Row, job: Hashed) -> None:
        """Touched only (the previous row stands), a copy (an alias), or new content."""
        catalog = self.catalog
        signature: Signature = job.extra
        previous = catalog.previous.get(row.path) if job.purpose == Purpose.TOUCHED else None
        original = None
        if job.digest is not None and (job.purpose == Purpose.DEDUP or self.config.dedup):
            original = catalog.ledger.done_hashes(signature.size).get(job.digest)
        verdict = transitions.after_hash(
            job.digest, previous_sha256=previous.sha256 if previous else None, original=original
        )
        if verdict == Verdict.RESAMPLE:
            self.tracker.watch(PurePath(row.path), "retry")
        elif verdict == Verdict.UNCHANGED:
            assert previous is not None
            catalog.unchanged(row, previous, signature)
            self.log.info("unchanged", path=row.path, state=previous.state)
        elif verdict == Verdict.ALIAS:
            assert job.digest is not None and original is not None
            self._alias(row, signature, job.digest, catalog.ledger.row(original))
        else:
            catalog.mark_stable(row.id, signature, job.digest)

    def _alias(self, row: Row, signature: Signature, digest: str, first: Row) -> None:
        """A copy of converted *first*: link its output, or convert it if none can be."""
        try:
            link = self.catalog.alias(row, signature, digest, first, self.out_dir)
        except NoLink as exc:  # e.g. the first output was deleted: never link to nothing
            self.catalog.mark_stable(row.id, signature, digest)
            self.log.warning(
                "alias-converted",
                path=row.path,
                same_as=first.path,
                detail=f"{exc}: converting it instead",
            )
            return
        self.log.info(
            "alias",
            path=row.path,
            output=link.output,
            links_to=link.target,
            link=link.kind,
            same_as=first.path,
        )

    def _report(self, row: Row, job: Hashed) -> None:
        if job.digest is not None:
            self.catalog.ledger.update(row.id, sha256=job.digest)
            self.catalog.refresh(row.id)
        report = write_report(
            self.out_dir,
            in_dir=Path(self.root),
            relative=row.path,
            state=row.state,
            result=job.extra,
            sha256=job.digest,
            attempts=row.attempts,
            state_dir=self.config.state_dir,
        )
        self.log.info("quarantined", path=row.path, report=str(report))
