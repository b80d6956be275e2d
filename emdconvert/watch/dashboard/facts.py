"""The daemon's state as one JSON-able dict: ``/api/status`` and ``watch --status --json``.

One function builds it for both, so the page, the API and the command line cannot
disagree.  The ledger is the source (it survives restarts, so "overnight" means what
it says); the running daemon adds what only it knows (queue history, health) through
its :class:`~emdconvert.watch.dashboard.monitor.Monitor`.  File names are returned as
they are: escaping is the renderer's job (the page sets them as text, never as markup).
Schema: README, "Dashboard and machine-readable status".
"""

from __future__ import annotations

import datetime as _dt
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from emdconvert.errors import UsageError
from emdconvert.pipeline import preview_path
from emdconvert.watch.dashboard.monitor import Monitor
from emdconvert.watch.ledger import LEDGER_NAME, STATES, Alias, Ledger, Row
from emdconvert.watch.lock import holder
from emdconvert.watch.outcomes import QUARANTINED, State

SCHEMA = "emdconvert.watch-status/1"
#: Throughput is counted in buckets of ten minutes over the last six hours.
BUCKET_SECONDS = 600
HOURS = 6
_WAITING = (State.SEEN, State.INCOMPLETE, State.STALLED)


@dataclass(frozen=True)
class Folders:
    """Where the facts come from: the state folder, and OUT_DIR when it is known."""

    state_dir: Path
    out_dir: Path | None = None


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).isoformat(timespec="seconds")


def retry_command(state_dir: Path, path: str) -> str:
    """The exact shell command that queues *path* again (README, Watch folder)."""
    return shlex.join(["emdconvert", "watch", "--state-dir", str(state_dir), "--retry", path])


def _output_facts(out_dir: Path | None, output: str | None) -> dict[str, Any]:
    """The output's size and its preview (a URL under ``previews/``), when on disk."""
    if out_dir is None or output is None:
        return {"output_bytes": None, "preview": None}
    target = out_dir / output
    try:
        size: int | None = os.stat(target).st_size
    except OSError:
        size = None
    png = preview_path(target)
    preview = "previews/" + quote(str(png.relative_to(out_dir))) if png.is_file() else None
    return {"output_bytes": size, "preview": preview}


def _converted(row: Row, out_dir: Path | None) -> dict[str, Any]:
    seconds = row.finished - row.started if row.finished and row.started else None
    return {
        "path": row.path,
        "output": row.output,
        "finished": _iso(row.finished),
        "source_bytes": row.size,
        "seconds": None if seconds is None else round(seconds, 3),
        **_output_facts(out_dir, row.output),
    }


def _failure(row: Row, state_dir: Path) -> dict[str, Any]:
    return {
        "path": row.path,
        "state": row.state.value,
        "kind": row.kind,
        "reason": row.detail,
        "attempts": row.attempts,
        "when": _iso(row.finished or row.retry_at),
        "retry_command": retry_command(state_dir, row.path) if row.state in QUARANTINED else None,
    }


def _waiting(row: Row, now: float) -> dict[str, Any]:
    until = row.finished if row.state == State.STALLED and row.finished else now
    return {
        "path": row.path,
        "state": row.state.value,
        "since": _iso(row.first_seen),
        "waited_seconds": round(until - row.first_seen, 1),
        "reason": row.detail,
    }


def _alias(alias: Alias) -> dict[str, Any]:
    return {
        "path": alias.row.path,
        "output": alias.row.output,
        "same_as": alias.original.path,
        "links_to": alias.original.output,
        "link": alias.row.kind,
        "when": _iso(alias.row.finished),
    }


def _throughput(ledger: Ledger, now: float) -> list[dict[str, Any]]:
    count = HOURS * 3600 // BUCKET_SECONDS
    first = (int(now) // BUCKET_SECONDS - count + 1) * BUCKET_SECONDS
    files, sizes = [0] * count, [0] * count
    for finished, size in ledger.finished_since(State.DONE, first):
        index = min(int(finished - first) // BUCKET_SECONDS, count - 1)
        files[index] += 1
        sizes[index] += size
    return [
        {"start": _iso(first + i * BUCKET_SECONDS), "files": files[i], "bytes": sizes[i]}
        for i in range(count)
    ]


def _live(monitor: Monitor) -> dict[str, Any]:
    problems = monitor.problems()
    return {
        "queue": {"queued": monitor.queued, "in_flight": monitor.running},
        "queue_history": [
            {"time": _iso(s.time), "queued": s.queued, "in_flight": s.in_flight}
            for s in monitor.history
        ],
        "health": {"ok": not problems, "problems": problems},
        "last_scan": _iso(monitor.scan_time),
        "started": _iso(monitor.started),
    }


def collect(folders: Folders, *, monitor: Monitor | None = None, limit: int = 20) -> dict[str, Any]:
    """Everything the status page shows, newest first, *limit* rows per list."""
    state_dir = Path(os.path.abspath(folders.state_dir))  # the retry command runs anywhere
    if not (state_dir / LEDGER_NAME).is_file():
        raise UsageError(
            "no ledger here yet (has the daemon run with this state folder?)", path=state_dir
        )
    now = time.time()
    ledger = Ledger(state_dir)
    try:
        counts = ledger.counts()
        facts: dict[str, Any] = {
            "schema": SCHEMA,
            "generated": _iso(now),
            "state_dir": str(state_dir),
            "out_dir": None if folders.out_dir is None else str(folders.out_dir),
            "daemon_pid": holder(state_dir),
            "counts": {state.value: counts.get(state.value, 0) for state in STATES},
            "total": sum(counts.values()),
            "throughput": {"bucket_seconds": BUCKET_SECONDS, "buckets": _throughput(ledger, now)},
            "recent": [
                _converted(row, folders.out_dir) for row in ledger.recent((State.DONE,), limit)
            ],
            "failures": [_failure(row, state_dir) for row in ledger.recent_failures(limit)],
            "waiting": [_waiting(row, now) for row in ledger.recent(_WAITING, limit)],
            "aliases": [_alias(alias) for alias in ledger.aliases(limit)],
        }
    finally:
        ledger.close()
    facts.update(
        _live(monitor)
        if monitor is not None
        else {
            "queue": {
                "queued": facts["counts"]["stable"] + facts["counts"]["retry"],
                "in_flight": facts["counts"]["claimed"],
            },
            "queue_history": [],
            "health": None,
            "last_scan": None,
            "started": None,
        }
    )
    return facts
