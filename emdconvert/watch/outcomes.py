"""The daemon's vocabulary: how a task went (:class:`Outcome`), where a row is (:class:`State`).

Both are ``str``-valued enums: a member *is* its string (``State.DONE == "done"``, the
same hash, ``str()`` and ``format()`` give the value), so the ledger stores, and
``--status``, the log and the quarantine reports show, exactly the words they always
did, and a ledger written before these enums existed reads back unchanged.
"""

from __future__ import annotations

from enum import Enum


class _Word(str, Enum):
    """A str enum whose ``str()``/``format()`` is its value on every Python (3.10 too)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return str(self.value).__format__(spec)


class Outcome(_Word):
    """How one task went (a worker's or the pool's :class:`~emdconvert.watch.worker.Result`)."""

    DONE = "done"  # published now
    PUBLISHED = "published"  # an identical output was there already (crash, second daemon)
    NAME_TAKEN = "name-taken"  # a different file's output has the name
    CHANGED = "changed"  # the source changed or went away
    INCOMPLETE = "incomplete"  # shorter than its header says (README R5)
    FAILED = "failed"  # bad input, or a bug
    ENVIRONMENT = "environment"  # disk full, read-only output, a missing library
    CRASHED = "crashed"  # from the pool: the worker died
    TIMEOUT = "timeout"  # from the pool: over the time limit
    INTERRUPTED = "interrupted"  # from the pool: killed at shutdown


class State(_Word):
    """A ledger row's state (README, Watch folder: "States in the ledger")."""

    SEEN = "seen"
    INCOMPLETE = "incomplete"
    STABLE = "stable"
    CLAIMED = "claimed"
    RETRY = "retry"
    DONE = "done"
    ALIAS = "alias"
    FAILED = "failed"
    STALLED = "stalled"


#: Every state, in the order ``--status`` lists them.
STATES = tuple(State)
#: States a row never leaves unless its file changes (or ``--retry`` asks).
FINAL = (State.DONE, State.ALIAS, State.FAILED, State.STALLED)
#: Rows in these states may be claimed.
CLAIMABLE = (State.STABLE, State.RETRY)
#: Rows whose file the stability tracker watches (not yet queued).
WATCHED = (State.SEEN, State.INCOMPLETE)
#: Quarantined rows (an error report exists); ``--retry`` makes them due again.
QUARANTINED = (State.FAILED, State.STALLED)


def sql_list(states: tuple[State, ...]) -> str:
    """``('done', 'alias')``: *states* as an SQL list of literals."""
    return "(" + ", ".join(f"'{state.value}'" for state in states) + ")"
