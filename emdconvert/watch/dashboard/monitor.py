"""What only the running daemon knows: its metrics, its queue over time, its health.

The daemon's thread calls :meth:`Monitor.recorded` for each finished task and
:meth:`Monitor.tick` once per pass of its loop (cheap: a few assignments; the queue is
sampled into the history once a minute).  The HTTP threads only read.  Metrics use the
Prometheus client with a registry of our own, so an acquisition program that embeds
emdconvert and has its own registry gets no duplicate names.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from emdconvert.watch.outcomes import Outcome

#: Seconds between samples of the queue, and how many are kept (six hours).
HISTORY_STEP = 60.0
HISTORY_SAMPLES = 360
#: A loop pass takes about 50 ms; one that has not run for this long is stuck.
LOOP_STALE = 30.0
#: Conversion-time buckets: from a small TIFF to the two-hour time limit.
_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)


@dataclass(frozen=True)
class Sample:
    """The queue at one moment (wall-clock seconds)."""

    time: float
    queued: int
    in_flight: int


class Monitor:
    """Prometheus metrics, the queue's history and the liveness of loop and watcher."""

    def __init__(self, *, rescan_interval: float) -> None:
        self.rescan_interval = rescan_interval
        self.started = time.time()
        self.registry = CollectorRegistry()
        registry = self.registry
        self.files = Counter(
            "emdconvert_watch_files",
            "Tasks finished, by outcome (done, failed, incomplete, ...)",
            ["outcome"],
            registry=registry,
        )
        for outcome in Outcome:
            self.files.labels(outcome.value)  # every series exists from the start, at 0
        self.converted_bytes = Counter(
            "emdconvert_watch_converted_bytes", "Source bytes converted", registry=registry
        )
        self.seconds = Histogram(
            "emdconvert_watch_conversion_seconds",
            "Seconds one conversion took (outcome done)",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "emdconvert_watch_queue_depth", "Files waiting for a worker", registry=registry
        )
        self.in_flight = Gauge(
            "emdconvert_watch_in_flight", "Files being converted now", registry=registry
        )
        self.last_scan = Gauge(
            "emdconvert_watch_last_scan_timestamp_seconds",
            "Unix time the last full scan of the watch folder finished",
            registry=registry,
        )
        self.restarts = Counter(
            "emdconvert_watch_worker_restarts",
            "Worker processes replaced after a crash, a timeout or an unexpected exit",
            registry=registry,
        )
        self.healthy = Gauge(
            "emdconvert_watch_healthy", "1 while /healthz answers 200", registry=registry
        )
        self.history: deque[Sample] = deque(maxlen=HISTORY_SAMPLES)
        self.queued = 0
        self.running = 0
        self.scan_time: float | None = None
        self.watcher_problem: str | None = "the daemon is starting"
        self._beat = time.monotonic()
        self._restarts_seen = 0
        self._next_sample = 0.0

    # -- written by the daemon's thread --------------------------------------------
    def recorded(self, outcome: Outcome, *, size: int, seconds: float) -> None:
        """One task finished with *outcome* (a file of *size* bytes, in *seconds*)."""
        self.files.labels(outcome.value).inc()
        if outcome == Outcome.DONE:
            self.converted_bytes.inc(size)
            self.seconds.observe(seconds)

    def tick(
        self,
        *,
        queued: int,
        in_flight: int,
        restarts: int,
        scan_time: float | None,
        watcher_problem: str | None,
    ) -> None:
        """The loop ran: its queue now, the pool's restart count, the last scan's time."""
        now = time.monotonic()
        self._beat = now
        self.queued, self.running = queued, in_flight
        self.queue_depth.set(queued)
        self.in_flight.set(in_flight)
        if restarts > self._restarts_seen:
            self.restarts.inc(restarts - self._restarts_seen)
            self._restarts_seen = restarts
        if scan_time is not None and scan_time != self.scan_time:
            self.scan_time = scan_time
            self.last_scan.set(scan_time)
        self.watcher_problem = watcher_problem
        if now >= self._next_sample:
            self._next_sample = now + HISTORY_STEP
            self.history.append(Sample(time.time(), queued, in_flight))

    # -- read by the HTTP threads ----------------------------------------------------
    def problems(self) -> list[str]:
        """Why the daemon may not be doing its job: empty while it is healthy.

        Healthy means the loop runs, the observer or poller is alive and answering, and
        the last full scan is recent (at most two rescan intervals and 30 s ago).
        """
        found = []
        stuck = time.monotonic() - self._beat
        if stuck > LOOP_STALE:
            found.append(f"the daemon's loop has not run for {stuck:.0f} s")
        if self.watcher_problem:
            found.append(self.watcher_problem)
        limit = 2 * self.rescan_interval + 30.0
        if self.scan_time is None:
            if time.time() - self.started > limit:
                found.append("no full scan has finished since the start")
        elif time.time() - self.scan_time > limit:
            found.append(f"the last full scan finished {time.time() - self.scan_time:.0f} s ago")
        self.healthy.set(0 if found else 1)
        return found

    def metrics(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        self.problems()  # brings the healthy gauge up to date
        return generate_latest(self.registry)
