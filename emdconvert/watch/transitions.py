"""What a row becomes, given what happened to it: pure functions, no I/O, no clock.

The daemon asks; these answer with a :class:`Step` (the ledger columns to set, one log
line, and what the daemon does next) and the daemon carries it out.  The rules (README,
Watch folder and Safety rules W3, W6):

- ``done``/``published``: ``done``, with the output and the source's SHA-256.
- ``name-taken``: the next version's name, queued again.
- ``changed``: ``seen``, watched until it is stable again; ``interrupted`` (shutdown):
  ``stable``, claimed again after the restart.
- ``incomplete``: ``incomplete`` and looked at again while younger than ``max_wait``;
  then ``stalled`` and quarantined.
- ``environment`` (disk full, read-only output, a missing library): ``retry`` after a
  back-off of ``backoff_initial * 2**n`` capped at ``backoff_max``; never quarantined.
- ``timeout``: once more in a fresh worker, then like a failure.
- ``failed`` (``corrupt`` and any other bad input, a bug) and ``crashed``: ``failed`` at
  once, and quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from emdconvert.watch.config import WatchConfig
from emdconvert.watch.ledger import Row
from emdconvert.watch.outcomes import WATCHED, Outcome, State
from emdconvert.watch.worker import Result

#: The error kind of a timeout (a second one fails the file).
TIMEOUT_KIND = "timeout"


class Action(Enum):
    """What the daemon does with the file after the ledger update."""

    NONE = "none"  # nothing now (a retry is due later; an interrupted claim waits)
    ENQUEUE = "enqueue"  # queue it for a worker
    WATCH = "watch"  # sample it again until it is stable
    RECHECK = "recheck"  # sample it again after ``Step.delay`` seconds
    REPORT = "report"  # hash it and write its quarantine report


@dataclass(frozen=True)
class Step:
    """One transition: ``ledger.update(row.id, **changes)``, one log line, an action."""

    state: State
    changes: dict[str, Any]
    action: Action
    event: str
    level: str = "info"
    fields: dict[str, Any] = field(default_factory=dict)
    #: Environment retries in a row so far (0: the file's back-off starts afresh).
    backoffs: int = 0
    #: Seconds before a ``RECHECK``.
    delay: float = 0.0


def backoff_delay(tries: int, config: WatchConfig) -> float:
    """Seconds before retry number *tries* + 1: doubling from the first, capped."""
    return float(min(config.backoff_initial * 2**tries, config.backoff_max))


def after_result(
    row: Row,
    result: Result,
    *,
    now: float,
    config: WatchConfig,
    backoffs: int = 0,
    output: str | None = None,
    target: str | None = None,
) -> Step:
    """The step for a worker's *result* on claimed *row* at wall-clock *now*.

    *backoffs* counts the environment retries in a row so far; *output* is the published
    name (relative to the output folder) and *target* the full one, where known.
    """
    outcome, path = result.outcome, row.path
    failure = {"kind": result.kind, "detail": result.detail, "pid": None}
    if outcome in (Outcome.DONE, Outcome.PUBLISHED):
        assert output is not None, "a published result without its task"
        return Step(
            State.DONE,
            {
                "state": State.DONE,
                "output": output,
                "sha256": result.sha256,
                "finished": now,
                "kind": None,
                "detail": None,
                "pid": None,
            },
            Action.NONE,
            "converted" if outcome == Outcome.DONE else "already-published",
            fields={"path": path, "output": output, "seconds": round(result.seconds, 3)},
        )
    if outcome == Outcome.NAME_TAKEN:
        return Step(
            State.STABLE,
            {"state": State.STABLE, "version": row.version + 1, "pid": None},
            Action.ENQUEUE,
            "name-taken",
            fields={"path": path, "output": target},
            backoffs=backoffs,
        )
    if outcome in (Outcome.CHANGED, Outcome.INTERRUPTED):
        state = State.SEEN if outcome == Outcome.CHANGED else State.STABLE
        return Step(
            state,
            {"state": state, "pid": None},
            Action.WATCH if state == State.SEEN else Action.NONE,
            str(outcome),
            fields={"path": path, "detail": result.detail},
            backoffs=backoffs,
        )
    if outcome == Outcome.INCOMPLETE:
        return _incomplete(row, result, now, config, backoffs)
    if outcome == Outcome.ENVIRONMENT:
        delay = backoff_delay(backoffs, config)
        return Step(
            State.RETRY,
            {"state": State.RETRY, "retry_at": now + delay, **failure},
            Action.NONE,
            "environment-problem",
            "warning",
            {"path": path, "detail": result.detail, "retry_in": round(delay, 1)},
            backoffs=backoffs + 1,
        )
    if outcome == Outcome.TIMEOUT and row.kind != TIMEOUT_KIND:
        # Once more in a fresh worker: the first may have been frozen (SIGSTOP, a
        # suspended VM, a share that hung) rather than slow on this file.
        return Step(
            State.STABLE,
            {"state": State.STABLE, "attempts": row.attempts + 1, **failure},
            Action.ENQUEUE,
            "timeout-retry",
            "warning",
            {"path": path, "detail": result.detail},
            backoffs=backoffs,
        )
    # failed (corrupt or any other bad input, a bug), crashed, a second timeout
    return Step(
        State.FAILED,
        {"state": State.FAILED, "attempts": row.attempts + 1, **failure, "finished": now},
        Action.REPORT,
        "failed",
        "error",
        {"path": path, "kind": result.kind, "detail": result.detail},
        backoffs=backoffs,
    )


def _incomplete(row: Row, result: Result, now: float, config: WatchConfig, backoffs: int) -> Step:
    """Shorter than its header says: wait while young, ``stalled`` after max_wait."""
    failure = {"kind": result.kind, "detail": result.detail, "pid": None}
    waited = now - min(row.first_seen, row.mtime_ns / 1e9)
    if waited < config.max_wait:
        recheck = min(config.rescan_interval, config.max_wait - waited)
        return Step(
            State.INCOMPLETE,
            {"state": State.INCOMPLETE, **failure},
            Action.RECHECK,
            "incomplete",
            fields={"path": row.path, "detail": result.detail},
            backoffs=backoffs,
            delay=max(recheck, 0.0),
        )
    return Step(
        State.STALLED,
        {"state": State.STALLED, **failure, "finished": now},
        Action.REPORT,
        "stalled",
        "warning",
        {"path": row.path, "detail": result.detail, "waited": round(waited, 1)},
        backoffs=backoffs,
    )


class Verdict(Enum):
    """What a file's SHA-256 says about it (touched, or a copy of a converted file?)."""

    RESAMPLE = "resample"  # no digest (gone, unreadable, stopping): watch it again
    UNCHANGED = "unchanged"  # only touched: the previous row stands
    ALIAS = "alias"  # the same content as a converted file
    STABLE = "stable"  # new content: queue it


def after_hash(
    digest: str | None, *, previous_sha256: str | None = None, original: int | None = None
) -> Verdict:
    """The verdict on a stable file hashed for the "touched" or the de-duplication check.

    *previous_sha256* is the digest of the final row this one replaces (touched check
    only); *original* the row id of a converted file with this digest, if de-duplicating.
    """
    if digest is None:
        return Verdict.RESAMPLE
    if previous_sha256 is not None and digest == previous_sha256:
        return Verdict.UNCHANGED
    return Verdict.ALIAS if original is not None else Verdict.STABLE


def at_startup(row: Row) -> Action:
    """What start-up does with the newest row of a path (after dead claims are requeued)."""
    if row.state == State.STABLE:
        return Action.ENQUEUE
    if row.state in WATCHED:
        return Action.WATCH
    return Action.NONE  # final, or a retry: due on its own clock


def requeue_dead_claim(row: Row) -> dict[str, Any]:
    """The columns for a claim whose daemon died: back in the queue (README W5)."""
    assert row.state == State.CLAIMED
    return {"state": State.STABLE, "pid": None}
