"""The daemon's loop: candidates -> stable -> claimed -> converted, once, across restarts.

One thread owns the ledger and all decisions; watchdog's thread only queues hints and a
hashing thread computes SHA-256s (de-duplication, "touched but unchanged", quarantine
reports) so a large file never blocks the loop.  Each pass of the loop:

1. collects worker results (and crashed or timed-out tasks) and records them;
2. takes event hints, and every ``rescan_interval`` rescans the whole folder;
3. samples watched files and moves the stable ones on (hash first if needed);
4. claims queued files for idle workers, commits, then hands the tasks out.

All ledger writes of a pass are one transaction.  Start-up reconciles first: claims of a
dead daemon are requeued, orphaned temp files removed; an output already published for
a requeued file is recognised by its provenance SHA-256 (in the worker) and marked done
without converting again (README, Safety rules W5).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import stat
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from pathlib import Path, PurePath
from types import FrameType
from typing import Any

from emdconvert import faults
from emdconvert.errors import EnvironmentProblem, UsageError
from emdconvert.watch import orphans
from emdconvert.watch.config import WatchConfig
from emdconvert.watch.events import start_observer
from emdconvert.watch.ledger import FINAL, Ledger, Row
from emdconvert.watch.lock import InstanceLock
from emdconvert.watch.log import EventLog
from emdconvert.watch.mounts import choose_backend, fs_type, is_network
from emdconvert.watch.names import NameFilter
from emdconvert.watch.pool import WorkerPool
from emdconvert.watch.quarantine import write_report
from emdconvert.watch.scan import scan
from emdconvert.watch.stability import Signature, StabilityTracker, Stable
from emdconvert.watch.worker import Result, Task, sha256_of

_TICK = 0.05


def output_name(relative: str, version: int, suffix: str = ".emd") -> str:
    """``sub/a.dm4`` -> ``sub/a.emd``; a re-acquisition (version 2, ...) -> ``sub/a.v2.emd``."""
    path = PurePath(relative)
    stem = path.stem if version == 1 else f"{path.stem}.v{version}"
    return str(path.with_name(stem + suffix))


def check_environment(config: WatchConfig) -> None:
    """Refuse set-ups that cannot work: root, missing folders, a ledger on a share."""
    if os.geteuid() == 0 and not config.allow_root:
        raise UsageError("refusing to run as root: run the daemon as an unprivileged "
                         "user, or pass --allow-root")
    for label, folder in (("watch folder", config.in_dir), ("output folder", config.out_dir)):
        if not folder.is_dir():
            raise EnvironmentProblem(f"{label} does not exist", path=folder)
    root, out = Path(os.path.realpath(config.in_dir)), Path(os.path.realpath(config.out_dir))
    if out == root or (config.recursive and root in out.parents):
        raise UsageError("the output folder must not be the watch folder or (with "
                         "--recursive) inside it: outputs would be picked up as inputs")
    config.state_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    kind = fs_type(config.state_path)
    if is_network(kind):
        raise UsageError(f"the state folder is on a network file system ({kind}); the "
                         "ledger and lock need local disk (use --state-dir)",
                         path=config.state_path)


class Daemon:
    """One watch folder, one output folder, one ledger."""

    def __init__(self, config: WatchConfig, log: EventLog) -> None:
        self.config = config
        self.log = log
        self.root = os.path.realpath(config.in_dir)
        self.out_dir = Path(os.path.realpath(config.out_dir))
        self.names = NameFilter(config.ignore, config.marker)
        self.tracker = StabilityTracker(self.root, window=config.stability,
                                        min_age=config.min_age, marker=config.marker)
        self.hints: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
        self.skip = frozenset({str(self.out_dir)})
        self.ledger: Ledger | None = None
        self.known: dict[str, Row] = {}  # newest ledger row of each path
        self.previous: dict[str, Row] = {}  # the final row a new version replaces
        self.busy: set[str] = set()  # paths being hashed or converted
        self.ready: deque[int] = deque()
        self.queued: set[int] = set()
        self.inflight: dict[int, Task] = {}
        self.backoffs: dict[int, int] = {}
        self.skewed: set[str] = set()  # paths whose future mtime was reported
        self.hashes: dict[Future[str], tuple[str, int, Any]] = {}
        self.hasher = ThreadPoolExecutor(1, thread_name_prefix="emdconvert-hash")
        self.pool = WorkerPool(config.workers, memory_limit_mb=config.memory_limit_mb,
                               time_limit=config.time_limit,
                               recycle_after=config.recycle_after,
                               note=lambda text: log.warning("worker", detail=text))
        self.stopping = False
        self.root_available = True
        self.root_identity: tuple[int, int] | None = None
        self.observer: Any = None
        self.backend = choose_backend(config.backend, config.in_dir)

    # -- life cycle ----------------------------------------------------------------
    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code (0 after a clean stop)."""
        check_environment(self.config)
        os.umask(0o027)
        lock = InstanceLock(self.config.state_path)
        lock.acquire()
        previous_handlers = {sig: signal.signal(sig, self._request_stop)
                             for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.ledger = Ledger(self.config.state_path)
            self.log.info("start", watch=self.root, out=str(self.out_dir),
                          backend=self.backend, state=str(self.config.state_path),
                          workers=self.config.workers, pid=os.getpid())
            self._reconcile()
            self.pool.start()
            self._start_observer()
            with self.ledger.batch():
                self._rescan("startup")  # after the watch starts: nothing falls between
            self.log.info("watching", backend=self.backend,
                          events=self.observer is not None)
            self._loop()
            self._shutdown()
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            if self.ledger is not None:
                self.ledger.close()
            lock.release()
        self.log.info("stopped")
        return 0

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _start_observer(self) -> None:
        try:
            self.observer = start_observer(self.backend, Path(self.root), self.hints,
                                           recursive=self.config.recursive,
                                           poll_interval=self.config.poll_interval)
        except OSError as exc:  # e.g. the inotify watch limit: the rescan still works
            self.observer = None
            self.log.warning("events-unavailable", detail=str(exc))

    def _stop_observer(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(5)
            self.observer = None

    def _reconcile(self) -> None:
        """Start-up: requeue dead claims, remove orphaned temps, reload the queue."""
        assert self.ledger is not None
        with self.ledger.batch():
            for row in self.ledger.in_state("claimed"):
                self.ledger.update(row.id, state="stable", pid=None)
                self.log.warning("requeued", path=row.path, dead_pid=row.pid)
        for path in orphans.sweep(self.out_dir, recursive=True):
            self.log.info("orphan-removed", path=path)
        self.known = self.ledger.latest()
        for row in self.known.values():
            if row.state == "stable":
                self._enqueue(row.id)
            elif row.state in ("seen", "incomplete"):
                self.tracker.watch(PurePath(row.path), row.found_by or "ledger")

    def _shutdown(self) -> None:
        """Stop claiming; let running conversions finish for a grace period, or kill them."""
        assert self.ledger is not None
        self._stop_observer()
        self.log.info("stopping", running=len(self.inflight))
        results = self.pool.stop(self.config.shutdown_grace)
        self.hasher.shutdown(wait=True, cancel_futures=True)
        with self.ledger.batch():
            for result in results:
                self._record(result)
            self._collect_hashes()

    # -- the loop ------------------------------------------------------------------
    def _loop(self) -> None:
        assert self.ledger is not None
        next_rescan = time.monotonic() + self.config.rescan_interval
        next_retry_check = 0.0
        while not self.stopping:
            results = self.pool.collect(_TICK)
            submit: list[Task] = []
            with self.ledger.batch():
                for result in results:
                    self._record(result)
                self._collect_hashes()
                self._take_hints()
                now = time.monotonic()
                if now >= next_rescan:
                    self._rescan("rescan")
                    next_rescan = now + self.config.rescan_interval
                stable, vanished = self.tracker.sample(now)
                for relative in vanished:
                    self._vanished(str(relative))
                for item in stable:
                    self._stable(item)
                if now >= next_retry_check:
                    self._queue_retries()
                    next_retry_check = now + min(1.0, self.config.rescan_interval)
                if not self.stopping:
                    submit = self._claim_for_idle_workers()
            if submit:
                faults.reached("daemon_after_claim")  # test hook: claimed, not handed out
            for task in submit:
                self.pool.submit(task)

    def _take_hints(self) -> None:
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
                self._consider(marked, "event")
            elif self.names.candidate(rel) and not self._in_output(path):
                self._consider(rel, "event")

    def _in_output(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real.startswith(str(self.out_dir) + os.sep)

    def _rescan(self, found_by: str) -> None:
        """Scan everything; notice a root that went away or was mounted anew (README W1).

        A file the scan no longer sees is never treated as deleted, so a share that drops
        and comes back causes no ledger changes and no re-conversions.
        """
        try:
            info = os.stat(self.root)
            identity = (info.st_dev, info.st_ino)
            self._scan_from("", found_by)
        except OSError as exc:
            if self.root_available:
                self.root_available = False
                self.log.error("watch-root-unavailable", path=self.root,
                               detail=exc.strerror or str(exc))
            return
        if not self.root_available or identity != self.root_identity:
            if self.root_identity is not None:
                self.log.warning("watch-root-available" if not self.root_available else
                                 "watch-root-changed", path=self.root)
                self._stop_observer()  # its watch was on the old folder: start anew
                self._start_observer()
            self.root_available = True
            self.root_identity = identity

    def _scan_from(self, start: str, found_by: str) -> None:
        for relative, info in scan(self.root, self.names, recursive=self.config.recursive,
                                   skip=self.skip, start=start):
            self._consider(relative, found_by, info)

    # -- candidates ----------------------------------------------------------------
    def _consider(self, relative: PurePath, found_by: str,
                  info: os.stat_result | None = None) -> None:
        """A hint that *relative* may need work: decide whether to watch it."""
        assert self.ledger is not None
        path = str(relative)
        if path in self.busy or relative in self.tracker:
            return
        row = self.known.get(path)
        if row is not None and row.state not in FINAL:
            if row.state == "seen":
                self.tracker.watch(relative, found_by)
            return  # incomplete: rechecked on its own clock; stable/retry: queued
        if info is None:
            try:
                info = os.lstat(os.path.join(self.root, path))
            except OSError:
                return
        if not stat.S_ISREG(info.st_mode):
            return  # a symbolic link or a folder: never followed out of the watch root
        signature = Signature.of(info)
        if row is not None and (row.size, row.mtime_ns) == (signature.size,
                                                            signature.mtime_ns):
            return  # converted, aliased or failed already, and unchanged since
        row_id = self.ledger.add(path, signature, found_by)
        if row is not None:
            self.previous[path] = row
        self._refresh(row_id)
        self.tracker.watch(relative, found_by)
        self.log.info("found", path=path, by=found_by,
                      **({"previous": row.state} if row is not None else {}))

    def _refresh(self, row_id: int) -> Row:
        assert self.ledger is not None
        row = self.ledger.row(row_id)
        self.known[row.path] = row
        return row

    def _vanished(self, path: str) -> None:
        """A watched file went away before it was stable: forget its unstarted row."""
        assert self.ledger is not None
        row = self.known.get(path)
        if row is not None and row.state in ("seen", "incomplete"):
            self.ledger.delete(row.id)
            restored = self.previous.pop(path, None)
            if restored is not None:
                self.known[path] = restored
            else:
                del self.known[path]
            self.log.info("vanished", path=path)

    def _stable(self, item: Stable) -> None:
        """A file stopped changing: was it only touched?  a duplicate?  else queue it."""
        path = str(item.relative)
        row = self.known.get(path)
        if row is None or row.state in FINAL:
            return
        if item.clock_skew and path not in self.skewed:
            self.skewed.add(path)
            self.log.warning("clock-skew", path=path, ahead=round(item.clock_skew, 1),
                             detail="its mtime is in the future (the writer's clock is "
                                    "ahead of this one): judged stable on size and "
                                    "identity alone, without min_age")
        previous = self.previous.get(path)
        if previous is not None and previous.sha256 and previous.size == item.signature.size:
            self._hash(path, "touched", row.id, item.signature)
        elif self.config.dedup and self._done_hashes(item.signature.size):
            self._hash(path, "dedup", row.id, item.signature)
        else:
            self._mark_stable(row.id, item.signature)

    def _done_hashes(self, size: int) -> dict[str, int]:
        assert self.ledger is not None
        return self.ledger.done_hashes(size)

    def _mark_stable(self, row_id: int, signature: Signature, sha256: str | None = None
                     ) -> None:
        assert self.ledger is not None
        self.ledger.set_signature(row_id, signature, state="stable", stable_at=time.time(),
                                  **({"sha256": sha256} if sha256 else {}))
        row = self._refresh(row_id)
        self.previous.pop(row.path, None)
        self._enqueue(row_id)

    def _enqueue(self, row_id: int) -> None:
        if row_id not in self.queued and row_id not in self.inflight:
            self.queued.add(row_id)
            self.ready.append(row_id)

    # -- hashing -------------------------------------------------------------------
    def _hash(self, path: str, purpose: str, row_id: int, extra: Any) -> None:
        self.busy.add(path)
        future = self.hasher.submit(sha256_of, os.path.join(self.root, path))
        self.hashes[future] = (purpose, row_id, extra)

    def _collect_hashes(self) -> None:
        assert self.ledger is not None
        for future in [f for f in self.hashes if f.done()]:
            purpose, row_id, extra = self.hashes.pop(future)
            row = self.ledger.row(row_id)
            self.busy.discard(row.path)
            try:
                digest: str | None = future.result()
            except (OSError, RuntimeError, CancelledError):  # gone, unreadable, or stopping
                digest = None  # a report is then written without the hash
            handlers: dict[str, Callable[[Row, str | None, Any], None]] = {
                "touched": self._after_touch, "dedup": self._after_dedup,
                "report": self._after_report_hash}
            handlers[purpose](row, digest, extra)

    def _after_touch(self, row: Row, digest: str | None, signature: Signature) -> None:
        assert self.ledger is not None
        previous = self.previous.get(row.path)
        if digest is None:
            self.tracker.watch(PurePath(row.path), "retry")
        elif previous is not None and digest == previous.sha256:
            # Same content, new mtime (touched, or copied again): nothing to do.
            self.ledger.delete(row.id)
            self.ledger.set_signature(previous.id, signature)
            self.previous.pop(row.path, None)
            self._refresh(previous.id)
            self.log.info("unchanged", path=row.path, state=previous.state)
        elif self.config.dedup and digest in self._done_hashes(signature.size):
            self._after_dedup(row, digest, signature)
        else:
            self._mark_stable(row.id, signature, digest)

    def _after_dedup(self, row: Row, digest: str | None, signature: Signature) -> None:
        assert self.ledger is not None
        if digest is None:
            self.tracker.watch(PurePath(row.path), "retry")
            return
        original = self._done_hashes(signature.size).get(digest)
        if original is None:
            self._mark_stable(row.id, signature, digest)
            return
        self.ledger.set_signature(row.id, signature, state="alias", sha256=digest,
                                  alias_of=original, finished=time.time())
        self.previous.pop(row.path, None)
        self._refresh(row.id)
        self.log.info("alias", path=row.path, same_as=self.ledger.row(original).path)

    def _after_report_hash(self, row: Row, digest: str | None, result: Result) -> None:
        assert self.ledger is not None
        if digest is not None:
            self.ledger.update(row.id, sha256=digest)
            self._refresh(row.id)
        report = write_report(self.out_dir, in_dir=Path(self.root), relative=row.path,
                              state=row.state, result=result, sha256=digest,
                              attempts=row.attempts, state_dir=self.config.state_dir)
        self.log.info("quarantined", path=row.path, report=str(report))

    # -- claiming and results ------------------------------------------------------
    def _claim_for_idle_workers(self) -> list[Task]:
        assert self.ledger is not None
        tasks: list[Task] = []
        while self.ready and self.pool.idle() > len(tasks):
            row_id = self.ready.popleft()
            self.queued.discard(row_id)
            row = self.ledger.row(row_id)
            version = max(row.version, self.ledger.next_version(row.path))
            while self.ledger.output_taken(output_name(row.path, version)):
                version += 1
            if not self.ledger.claim(row_id, version):
                continue  # no longer claimable (changed meanwhile)
            row = self._refresh(row_id)
            task = Task(row.id, os.path.join(self.root, row.path),
                        str(self.out_dir / output_name(row.path, version)),
                        self._signature(row), self.config.converter_options())
            self.inflight[row.id] = task
            self.busy.add(row.path)
            tasks.append(task)
        return tasks

    @staticmethod
    def _signature(row: Row) -> Signature:
        return Signature(row.size, row.mtime_ns, row.ino or 0, row.dev or 0)

    def _queue_retries(self) -> None:
        assert self.ledger is not None
        for row in self.ledger.due_retries(time.time()):
            if row.path not in self.busy:
                self._refresh(row.id)
                self._enqueue(row.id)

    def _record(self, result: Result) -> None:
        """Put one worker result into the ledger (and the log, and quarantine)."""
        assert self.ledger is not None
        task = self.inflight.pop(result.row_id, None)
        row = self.ledger.row(result.row_id)
        self.busy.discard(row.path)
        outcome = result.outcome
        now = time.time()
        if outcome in ("done", "published"):
            if outcome == "done":
                faults.reached("daemon_after_publish")  # test hook: ledger not done yet
            assert task is not None
            output = os.path.relpath(task.target, self.out_dir)
            self.ledger.update(row.id, state="done", output=output, sha256=result.sha256,
                               finished=now, kind=None, detail=None, pid=None)
            self.backoffs.pop(row.id, None)
            self.log.info("converted" if outcome == "done" else "already-published",
                          path=row.path, output=output, seconds=round(result.seconds, 3))
        elif outcome == "name-taken":
            self.ledger.update(row.id, state="stable", version=row.version + 1, pid=None)
            self.log.info("name-taken", path=row.path, output=task and task.target)
            self._enqueue(row.id)
        elif outcome in ("changed", "interrupted"):
            state = "seen" if outcome == "changed" else "stable"
            self.ledger.update(row.id, state=state, pid=None)
            self.log.info(outcome, path=row.path, detail=result.detail)
            if state == "seen":
                self.tracker.watch(PurePath(row.path), "changed")
        elif outcome == "incomplete":
            self._incomplete(row, result, now)
        elif outcome == "environment":
            tries = self.backoffs.get(row.id, 0)
            delay = min(self.config.backoff_initial * 2 ** tries, self.config.backoff_max)
            self.backoffs[row.id] = tries + 1
            self.ledger.update(row.id, state="retry", retry_at=now + delay, kind=result.kind,
                               detail=result.detail, pid=None)
            self.log.warning("environment-problem", path=row.path, detail=result.detail,
                             retry_in=round(delay, 1))
        elif outcome == "timeout" and row.kind != "timeout":
            # Once more in a fresh worker: the first may have been frozen (SIGSTOP, a
            # suspended VM, a share that hung) rather than slow on this file.
            self.ledger.update(row.id, state="stable", attempts=row.attempts + 1,
                               kind=result.kind, detail=result.detail, pid=None)
            self.log.warning("timeout-retry", path=row.path, detail=result.detail)
            self._enqueue(row.id)
        else:  # failed, crashed, a second timeout
            self.ledger.update(row.id, state="failed", attempts=row.attempts + 1,
                               kind=result.kind, detail=result.detail, finished=now,
                               pid=None)
            self.log.error("failed", path=row.path, kind=result.kind, detail=result.detail)
            self._hash(row.path, "report", row.id, result)
        self._refresh(row.id)

    def _incomplete(self, row: Row, result: Result, now: float) -> None:
        """Shorter than its header says: wait while young, ``stalled`` after max_wait."""
        assert self.ledger is not None
        waited = now - min(row.first_seen, row.mtime_ns / 1e9)
        if waited < self.config.max_wait:
            self.ledger.update(row.id, state="incomplete", kind=result.kind,
                               detail=result.detail, pid=None)
            recheck = min(self.config.rescan_interval, self.config.max_wait - waited)
            self.tracker.watch(PurePath(row.path), "recheck",
                               not_before=time.monotonic() + max(recheck, 0.0))
            self.log.info("incomplete", path=row.path, detail=result.detail)
            return
        self.ledger.update(row.id, state="stalled", kind=result.kind, detail=result.detail,
                           finished=now, pid=None)
        self.log.warning("stalled", path=row.path, detail=result.detail,
                         waited=round(waited, 1))
        self._hash(row.path, "report", row.id, result)

