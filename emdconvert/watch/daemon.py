"""The daemon's loop: candidates -> stable -> claimed -> converted, once, across restarts.

One thread owns the ledger and all decisions; watchdog's thread only queues hints
(``intake``) and a hashing thread (``hashjobs``) computes SHA-256s (de-duplication,
"touched but unchanged", quarantine reports) so a large file never blocks the loop.
What a worker's result does to a row is decided in ``transitions``; this module carries
it out.  Each pass of the loop:

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

import os
import signal
import stat
import time
from pathlib import Path, PurePath
from types import FrameType

from emdconvert import faults
from emdconvert.errors import UsageError
from emdconvert.watch import orphans, transitions
from emdconvert.watch.catalog import Catalog
from emdconvert.watch.config import WatchConfig
from emdconvert.watch.dashboard.facts import Folders
from emdconvert.watch.dashboard.monitor import Monitor
from emdconvert.watch.dashboard.server import Dashboard
from emdconvert.watch.environment import check_environment
from emdconvert.watch.hashjobs import Hashing, Purpose
from emdconvert.watch.intake import Intake
from emdconvert.watch.ledger import Ledger, Row
from emdconvert.watch.lock import InstanceLock
from emdconvert.watch.log import EventLog
from emdconvert.watch.mounts import choose_backend
from emdconvert.watch.names import NameFilter, output_name
from emdconvert.watch.outcomes import FINAL, Outcome, State
from emdconvert.watch.pool import WorkerPool
from emdconvert.watch.stability import Signature, StabilityTracker, Stable
from emdconvert.watch.transitions import Action
from emdconvert.watch.worker import Result, Task

__all__ = ["Daemon", "check_environment", "output_name"]

_TICK = 0.05


class Daemon:
    """One watch folder, one output folder, one ledger."""

    def __init__(self, config: WatchConfig, log: EventLog) -> None:
        self.config = config
        self.request = config.request()
        self.log = log
        self.root = os.path.realpath(config.in_dir)
        self.out_dir = Path(os.path.realpath(config.out_dir))
        self.tracker = StabilityTracker(
            self.root, window=config.stability, min_age=config.min_age, marker=config.marker
        )
        self.backend = choose_backend(config.backend, config.in_dir)
        self.intake = Intake(
            config,
            log,
            root=self.root,
            out_dir=self.out_dir,
            names=NameFilter(config.ignore, config.marker),
            backend=self.backend,
            consider=self._consider,
        )
        self.ledger: Ledger | None = None
        self.catalog: Catalog  # rows and queue, once the ledger is open (see _reconcile)
        self.hashing: Hashing
        self.backoffs: dict[int, int] = {}  # environment retries in a row, by row id
        self.skewed: set[str] = set()  # paths whose future mtime was reported
        self.pool = WorkerPool(
            config.workers,
            memory_limit_mb=config.memory_limit_mb,
            time_limit=config.time_limit,
            recycle_after=config.recycle_after,
            note=lambda text: log.warning("worker", detail=text),
        )
        self.stopping = False
        self.monitor = Monitor(rescan_interval=config.rescan_interval)
        self.dashboard: Dashboard | None = None

    # -- life cycle ----------------------------------------------------------------
    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code (0 after a clean stop)."""
        check_environment(self.config)
        os.umask(self.config.umask_bits)  # who may read the outputs (README, Watch folder)
        lock = InstanceLock(self.config.state_path)
        lock.acquire()
        previous_handlers = {
            sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.ledger = Ledger(self.config.state_path)
            self.log.info(
                "start",
                watch=self.root,
                out=str(self.out_dir),
                backend=self.backend,
                state=str(self.config.state_path),
                workers=self.config.workers,
                pid=os.getpid(),
            )
            self._reconcile()
            self._start_dashboard()
            self.pool.start()
            self.intake.start()
            with self.ledger.batch():
                self.intake.rescan("startup")  # after the watch starts: nothing between
            self.log.info("watching", backend=self.backend, events=self.intake.observer is not None)
            self._loop()
            self._shutdown()
        finally:
            if self.dashboard is not None:
                self.dashboard.stop()
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            if self.ledger is not None:
                self.ledger.close()
            lock.release()
        self.log.info("stopped")
        return 0

    def _start_dashboard(self) -> None:
        """``--http``: the read-only status page, metrics and health (README, Dashboard)."""
        binding = self.config.binding
        if binding is None:
            return
        folders = Folders(self.config.state_path, self.out_dir)
        try:
            self.dashboard = Dashboard(binding, folders, self.monitor)
        except OSError as exc:  # the port is taken, or the address is not this machine's
            raise UsageError(f"cannot serve the dashboard on {self.config.http}: {exc}") from None
        self.dashboard.start()
        self.log.info("dashboard", url=self.dashboard.url, remote=binding.token is not None)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _reconcile(self) -> None:
        """Start-up: requeue dead claims, remove orphaned temps, reload the queue."""
        assert self.ledger is not None
        with self.ledger.batch():
            for row in self.ledger.in_state(State.CLAIMED):
                self.ledger.update(row.id, **transitions.requeue_dead_claim(row))
                self.log.warning("requeued", path=row.path, dead_pid=row.pid)
        for path in orphans.sweep(self.out_dir, recursive=True):
            self.log.info("orphan-removed", path=path)
        self.catalog = Catalog(self.ledger)
        self.hashing = Hashing(
            self.catalog,
            self.tracker,
            self.log,
            config=self.config,
            root=self.root,
            out_dir=self.out_dir,
        )
        for row in self.catalog.known.values():
            action = transitions.at_startup(row)
            if action == Action.ENQUEUE:
                self.catalog.enqueue(row.id)
            elif action == Action.WATCH:
                self.tracker.watch(PurePath(row.path), row.found_by or "ledger")

    def _shutdown(self) -> None:
        """Stop claiming; let running conversions finish for a grace period, or kill them."""
        assert self.ledger is not None
        self.intake.stop()
        self.log.info("stopping", running=len(self.catalog.inflight))
        results = self.pool.stop(self.config.shutdown_grace)
        self.hashing.shutdown()
        with self.ledger.batch():
            for result in results:
                self._record(result)
            self.hashing.collect()

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
                self.hashing.collect()
                self.intake.take_hints()
                now = time.monotonic()
                if now >= next_rescan:
                    self.intake.rescan("rescan")
                    next_rescan = now + self.config.rescan_interval
                stable, vanished = self.tracker.sample(now)
                for relative in vanished:
                    self._vanished(str(relative))
                for item in stable:
                    self._stable(item)
                if now >= next_retry_check:
                    self.catalog.queue_retries(time.time())
                    next_retry_check = now + min(1.0, self.config.rescan_interval)
                if not self.stopping:
                    submit = self.catalog.claim(
                        self.pool.idle(), self.root, self.out_dir, self.request
                    )
            self.monitor.tick(
                queued=len(self.catalog.ready),
                in_flight=len(self.catalog.inflight),
                restarts=self.pool.restarts,
                scan_time=self.intake.last_scan,
                watcher_problem=self.intake.problem(),
            )
            if submit:
                faults.reached("daemon_after_claim")  # test hook: claimed, not handed out
            for task in submit:
                self.pool.submit(task)

    # -- candidates ----------------------------------------------------------------
    def _consider(
        self, relative: PurePath, found_by: str, info: os.stat_result | None = None
    ) -> None:
        """A hint that *relative* may need work: decide whether to watch it."""
        path = str(relative)
        if path in self.catalog.busy:
            return
        row = self.catalog.known.get(path)
        if relative in self.tracker:
            if row is not None and row.state == State.INCOMPLETE and self._grew(row, info):
                # Finished (or grown) since it was found incomplete: look now, not at
                # its recheck time (up to rescan_interval away).
                self.tracker.look_now(relative)
            return
        if row is not None and row.state not in FINAL:
            if row.state == State.SEEN:
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
        if row is not None and (row.size, row.mtime_ns) == (signature.size, signature.mtime_ns):
            return  # converted, aliased or failed already, and unchanged since
        self.catalog.add(path, signature, found_by, row)
        self.tracker.watch(relative, found_by)
        self.log.info(
            "found", path=path, by=found_by, **({"previous": row.state} if row is not None else {})
        )

    def _grew(self, row: Row, info: os.stat_result | None) -> bool:
        """True when the file no longer has the size and mtime its row recorded."""
        if info is None:
            try:
                info = os.lstat(os.path.join(self.root, row.path))
            except OSError:
                return False
        return (info.st_size, info.st_mtime_ns) != (row.size, row.mtime_ns)

    def _vanished(self, path: str) -> None:
        """A watched file went away before it was stable: forget its unstarted row."""
        if self.catalog.forget(path):
            self.log.info("vanished", path=path)

    def _stable(self, item: Stable) -> None:
        """A file stopped changing: was it only touched?  a duplicate?  else queue it."""
        path = str(item.relative)
        row = self.catalog.known.get(path)
        if row is None or row.state in FINAL:
            return
        if item.clock_skew and path not in self.skewed:
            self.skewed.add(path)
            self.log.warning(
                "clock-skew",
                path=path,
                ahead=round(item.clock_skew, 1),
                detail="its mtime is in the future (the writer's clock is "
                "ahead of this one): judged stable on size and "
                "identity alone, without min_age",
            )
        previous = self.catalog.previous.get(path)
        if previous is not None and previous.sha256 and previous.size == item.signature.size:
            self.hashing.submit(path, Purpose.TOUCHED, row.id, item.signature)
        elif self.config.dedup and self.catalog.ledger.done_hashes(item.signature.size):
            self.hashing.submit(path, Purpose.DEDUP, row.id, item.signature)
        else:
            self.catalog.mark_stable(row.id, item.signature)

    def _record(self, result: Result) -> None:
        """Put one worker result into the ledger (and the log, and quarantine)."""
        assert self.ledger is not None
        task = self.catalog.inflight.pop(result.row_id, None)
        row = self.ledger.row(result.row_id)
        self.catalog.busy.discard(row.path)
        if result.outcome == Outcome.DONE:
            faults.reached("daemon_after_publish")  # test hook: ledger not done yet
        self.monitor.recorded(result.outcome, size=row.size, seconds=result.seconds)
        step = transitions.after_result(
            row,
            result,
            now=time.time(),
            config=self.config,
            backoffs=self.backoffs.get(row.id, 0),
            target=task.target if task else None,
            output=os.path.relpath(task.target, self.out_dir) if task else None,
        )
        self.ledger.update(row.id, **step.changes)
        if step.backoffs:
            self.backoffs[row.id] = step.backoffs
        else:
            self.backoffs.pop(row.id, None)
        self.log.emit(step.level, step.event, **step.fields)
        if step.action == Action.ENQUEUE:
            self.catalog.enqueue(row.id)
        elif step.action == Action.WATCH:
            self.tracker.watch(PurePath(row.path), "changed")
        elif step.action == Action.RECHECK:
            self.tracker.watch(
                PurePath(row.path), "recheck", not_before=time.monotonic() + step.delay
            )
        elif step.action == Action.REPORT:
            self.hashing.submit(row.path, Purpose.REPORT, row.id, result)
        self.catalog.refresh(row.id)
