"""The pure ledger transitions (``emdconvert.watch.transitions``) and the str enums.

Table-driven: every outcome from every state, the back-off's growth and cap, the
missing-dependency retry, ``corrupt`` quarantined at once, ``incomplete`` waiting until
``max_wait``.  Plus: the enums are the very words the ledger always stored, and a ledger
written before they existed (the schema and rows below, as the old code wrote them)
reads back and works.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from emdconvert.watch import ledger as ledger_module
from emdconvert.watch import transitions
from emdconvert.watch.config import WatchConfig
from emdconvert.watch.ledger import LEDGER_NAME, Ledger, Row
from emdconvert.watch.outcomes import CLAIMABLE, FINAL, STATES, Outcome, State
from emdconvert.watch.stability import Signature
from emdconvert.watch.transitions import Action, Step, Verdict, after_hash, after_result
from emdconvert.watch.worker import Result

NOW = 1_000_000.0
CONFIG = WatchConfig(
    in_dir=Path("/in"),
    out_dir=Path("/out"),
    backoff_initial=5.0,
    backoff_max=600.0,
    max_wait=100.0,
    rescan_interval=60.0,
)


def make_row(state: State = State.CLAIMED, **values: Any) -> Row:
    fields: dict[str, Any] = {
        "id": 7,
        "path": "sub/a.dm4",
        "size": 10,
        "mtime_ns": int((NOW - 5) * 1e9),
        "ino": 1,
        "dev": 2,
        "sha256": None,
        "state": state,
        "version": 1,
        "output": None,
        "alias_of": None,
        "attempts": 0,
        "kind": None,
        "detail": None,
        "found_by": "scan",
        "pid": 123,
        "first_seen": NOW - 5,
        "stable_at": NOW - 1,
        "started": NOW - 1,
        "finished": None,
        "retry_at": None,
    }
    fields.update(values)
    return Row(**fields)


def step_for(
    outcome: Outcome,
    row: Row | None = None,
    *,
    backoffs: int = 0,
    kind: str | None = None,
    detail: str = "why",
) -> Step:
    result = Result(7, outcome, sha256="ab" * 32, kind=kind, detail=detail, seconds=1.23456)
    return after_result(
        row or make_row(),
        result,
        now=NOW,
        config=CONFIG,
        backoffs=backoffs,
        output="sub/a.emd",
        target="/out/sub/a.emd",
    )


# -- every outcome from every state -----------------------------------------------------

#: outcome -> (new state, action, log event, log level)
EXPECTED = {
    Outcome.DONE: (State.DONE, Action.NONE, "converted", "info"),
    Outcome.PUBLISHED: (State.DONE, Action.NONE, "already-published", "info"),
    Outcome.NAME_TAKEN: (State.STABLE, Action.ENQUEUE, "name-taken", "info"),
    Outcome.CHANGED: (State.SEEN, Action.WATCH, "changed", "info"),
    Outcome.INTERRUPTED: (State.STABLE, Action.NONE, "interrupted", "info"),
    Outcome.INCOMPLETE: (State.INCOMPLETE, Action.RECHECK, "incomplete", "info"),
    Outcome.ENVIRONMENT: (State.RETRY, Action.NONE, "environment-problem", "warning"),
    Outcome.TIMEOUT: (State.STABLE, Action.ENQUEUE, "timeout-retry", "warning"),
    Outcome.FAILED: (State.FAILED, Action.REPORT, "failed", "error"),
    Outcome.CRASHED: (State.FAILED, Action.REPORT, "failed", "error"),
}


def test_the_table_covers_every_outcome() -> None:
    assert set(EXPECTED) == set(Outcome)


@pytest.mark.parametrize(("outcome", "state"), list(itertools.product(Outcome, State)))
def test_every_outcome_from_every_state(outcome: Outcome, state: State) -> None:
    """The row's state before (normally ``claimed``) never changes the verdict."""
    step = step_for(outcome, make_row(state))
    assert (step.state, step.action, step.event, step.level) == EXPECTED[outcome]
    assert step.changes["state"] == step.state
    assert step.changes["pid"] is None  # no process holds the row any more
    assert step.fields["path"] == "sub/a.dm4"
    quarantined = step.state in (State.FAILED, State.STALLED)
    assert (step.action == Action.REPORT) == quarantined
    assert ("finished" in step.changes) == (step.state in FINAL)


def test_done_records_the_output_and_resets_the_back_off() -> None:
    step = step_for(Outcome.DONE, backoffs=3)
    assert step.changes == {
        "state": State.DONE,
        "output": "sub/a.emd",
        "sha256": "ab" * 32,
        "finished": NOW,
        "kind": None,
        "detail": None,
        "pid": None,
    }
    assert step.backoffs == 0
    assert step.fields == {"path": "sub/a.dm4", "output": "sub/a.emd", "seconds": 1.235}


def test_a_published_result_needs_its_output_name() -> None:
    with pytest.raises(AssertionError):
        after_result(make_row(), Result(7, Outcome.PUBLISHED), now=NOW, config=CONFIG)


def test_name_taken_moves_to_the_next_version() -> None:
    step = step_for(Outcome.NAME_TAKEN, make_row(version=2), backoffs=1)
    assert step.changes == {"state": State.STABLE, "version": 3, "pid": None}
    assert step.fields["output"] == "/out/sub/a.emd"
    assert step.backoffs == 1  # untouched


@pytest.mark.parametrize("outcome", [Outcome.CHANGED, Outcome.INTERRUPTED])
def test_changed_and_interrupted_are_not_attempts(outcome: Outcome) -> None:
    step = step_for(outcome, make_row(attempts=1, kind="corrupt"))
    assert set(step.changes) == {"state", "pid"}
    assert step.fields == {"path": "sub/a.dm4", "detail": "why"}


# -- environment problems: back-off, never quarantine ----------------------------------


@pytest.mark.parametrize(
    ("tries", "delay"),
    [
        (0, 5.0),
        (1, 10.0),
        (2, 20.0),
        (3, 40.0),
        (4, 80.0),
        (5, 160.0),
        (6, 320.0),
        (7, 600.0),
        (8, 600.0),
        (30, 600.0),
    ],
)
def test_back_off_doubles_and_is_capped(tries: int, delay: float) -> None:
    assert transitions.backoff_delay(tries, CONFIG) == delay
    step = step_for(Outcome.ENVIRONMENT, backoffs=tries, kind="environment")
    assert step.changes["retry_at"] == NOW + delay
    assert step.fields["retry_in"] == round(delay, 1)
    assert step.backoffs == tries + 1


def test_back_off_grows_over_successive_results() -> None:
    row, backoffs, delays = make_row(), 0, []
    for _ in range(9):
        step = step_for(Outcome.ENVIRONMENT, row, backoffs=backoffs, kind="environment")
        delays.append(step.changes["retry_at"] - NOW)
        backoffs = step.backoffs
        row = dataclasses.replace(row, state=State.CLAIMED)  # claimed again when due
    assert delays == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert step_for(Outcome.DONE, row, backoffs=backoffs).backoffs == 0


def test_a_missing_dependency_is_retried_not_quarantined() -> None:
    step = step_for(
        Outcome.ENVIRONMENT,
        make_row(attempts=0),
        backoffs=1,
        kind="missing-dependency",
        detail="pip install imagecodecs",
    )
    assert step.state == State.RETRY and step.action == Action.NONE
    assert step.changes == {
        "state": State.RETRY,
        "retry_at": NOW + 10.0,
        "kind": "missing-dependency",
        "detail": "pip install imagecodecs",
        "pid": None,
    }
    assert "attempts" not in step.changes  # the machine's problem is not a failure
    assert State.RETRY in CLAIMABLE and State.RETRY not in FINAL


# -- bad input: quarantined at once ------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [
        (Outcome.FAILED, "corrupt"),
        (Outcome.FAILED, "budget"),
        (Outcome.FAILED, "internal"),
        (Outcome.CRASHED, "crash"),
    ],
)
def test_bad_input_and_crashes_are_quarantined_at_once(outcome: Outcome, kind: str) -> None:
    step = step_for(outcome, make_row(attempts=0), kind=kind)
    assert step.state == State.FAILED and step.action == Action.REPORT
    assert step.changes == {
        "state": State.FAILED,
        "attempts": 1,
        "kind": kind,
        "detail": "why",
        "pid": None,
        "finished": NOW,
    }
    assert step.fields == {"path": "sub/a.dm4", "kind": kind, "detail": "why"}


def test_a_timeout_is_retried_once_then_fails() -> None:
    first = step_for(Outcome.TIMEOUT, make_row(attempts=0), kind="timeout")
    assert (first.state, first.action) == (State.STABLE, Action.ENQUEUE)
    assert first.changes == {
        "state": State.STABLE,
        "attempts": 1,
        "kind": "timeout",
        "detail": "why",
        "pid": None,
    }
    second = step_for(Outcome.TIMEOUT, make_row(attempts=1, kind="timeout"), kind="timeout")
    assert (second.state, second.action) == (State.FAILED, Action.REPORT)
    assert second.changes["attempts"] == 2


# -- incomplete: wait until max_wait, then stalled ------------------------------------------


@pytest.mark.parametrize(
    ("age", "delay"), [(0.0, 60.0), (5.0, 60.0), (40.0, 60.0), (50.0, 50.0), (99.0, 1.0)]
)
def test_an_incomplete_file_waits(age: float, delay: float) -> None:
    row = make_row(first_seen=NOW - age, mtime_ns=int((NOW - age) * 1e9))
    step = step_for(Outcome.INCOMPLETE, row, kind="incomplete")
    assert (step.state, step.action) == (State.INCOMPLETE, Action.RECHECK)
    assert step.delay == pytest.approx(delay)
    assert step.changes == {
        "state": State.INCOMPLETE,
        "kind": "incomplete",
        "detail": "why",
        "pid": None,
    }


@pytest.mark.parametrize("age", [100.0, 101.0, 86400.0])
def test_an_incomplete_file_stalls_after_max_wait(age: float) -> None:
    row = make_row(first_seen=NOW - age, mtime_ns=int((NOW - age) * 1e9))
    step = step_for(Outcome.INCOMPLETE, row, kind="incomplete")
    assert (step.state, step.action, step.level) == (State.STALLED, Action.REPORT, "warning")
    assert step.changes["finished"] == NOW
    assert step.fields["waited"] == round(age, 1)


def test_the_wait_counts_from_the_older_of_first_seen_and_mtime() -> None:
    """A file written long before the daemon saw it has waited that long already."""
    row = make_row(first_seen=NOW - 1, mtime_ns=int((NOW - 500) * 1e9))
    assert step_for(Outcome.INCOMPLETE, row).state == State.STALLED


# -- start-up, and hashes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (State.SEEN, Action.WATCH),
        (State.INCOMPLETE, Action.WATCH),
        (State.STABLE, Action.ENQUEUE),
        (State.CLAIMED, Action.NONE),
        (State.RETRY, Action.NONE),
        (State.DONE, Action.NONE),
        (State.ALIAS, Action.NONE),
        (State.FAILED, Action.NONE),
        (State.STALLED, Action.NONE),
    ],
)
def test_at_startup(state: State, action: Action) -> None:
    assert transitions.at_startup(make_row(state)) == action


def test_a_dead_claim_is_requeued() -> None:
    assert transitions.requeue_dead_claim(make_row(State.CLAIMED)) == {
        "state": State.STABLE,
        "pid": None,
    }


@pytest.mark.parametrize(
    ("digest", "previous", "original", "verdict"),
    [
        (None, "aa", 3, Verdict.RESAMPLE),
        ("aa", "aa", None, Verdict.UNCHANGED),
        ("aa", "aa", 3, Verdict.UNCHANGED),  # only touched beats a copy of another file
        ("bb", "aa", 3, Verdict.ALIAS),
        ("bb", None, 3, Verdict.ALIAS),
        ("bb", "aa", None, Verdict.STABLE),
        ("bb", None, None, Verdict.STABLE),
    ],
)
def test_after_hash(
    digest: str | None, previous: str | None, original: int | None, verdict: Verdict
) -> None:
    assert after_hash(digest, previous_sha256=previous, original=original) == verdict


# -- the enums are the old words -----------------------------------------------------------

OLD_STATES = (
    "seen",
    "incomplete",
    "stable",
    "claimed",
    "retry",
    "done",
    "alias",
    "failed",
    "stalled",
)
OLD_OUTCOMES = (
    "done",
    "published",
    "name-taken",
    "changed",
    "incomplete",
    "failed",
    "environment",
    "crashed",
    "timeout",
    "interrupted",
)


def test_enum_values_are_the_old_strings() -> None:
    assert tuple(state.value for state in STATES) == OLD_STATES
    assert tuple(outcome.value for outcome in Outcome) == OLD_OUTCOMES
    assert FINAL == ("done", "alias", "failed", "stalled")
    assert CLAIMABLE == ("stable", "retry")


@pytest.mark.parametrize("member", [*State, *Outcome])
def test_members_behave_as_their_words(member: State | Outcome) -> None:
    word = member.value
    assert member == word and hash(member) == hash(word) and {word: 1}[member] == 1
    assert str(member) == word and f"{member}" == word and f"{member:>12}" == f"{word:>12}"
    assert json.dumps({"state": member}) == json.dumps({"state": word})
    assert pickle.loads(pickle.dumps(member)) is member  # results cross processes


# -- a ledger written by the old code still loads ---------------------------------------

#: ``ledger._SCHEMA`` as the code before the enums wrote it.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ino INTEGER,
    dev INTEGER,
    sha256 TEXT,
    state TEXT NOT NULL CHECK (state IN ('seen', 'incomplete', 'stable', 'claimed', 'retry', 'done', 'alias', 'failed', 'stalled')),
    version INTEGER NOT NULL DEFAULT 1,
    output TEXT,
    alias_of INTEGER REFERENCES files(id),
    attempts INTEGER NOT NULL DEFAULT 0,
    kind TEXT,
    detail TEXT,
    found_by TEXT,
    pid INTEGER,
    host TEXT,
    first_seen REAL NOT NULL,
    stable_at REAL,
    started REAL,
    finished REAL,
    retry_at REAL,
    updated REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_row_per_path ON files(path)
    WHERE state NOT IN ('done', 'alias', 'failed', 'stalled');
CREATE UNIQUE INDEX IF NOT EXISTS one_row_per_output ON files(output)
    WHERE output IS NOT NULL;
CREATE INDEX IF NOT EXISTS files_by_state ON files(state);
CREATE INDEX IF NOT EXISTS files_by_size ON files(size);
CREATE INDEX IF NOT EXISTS files_by_path ON files(path);
"""  # noqa: E501

#: (id, path, size, mtime_ns, ino, dev, sha256, state, version, output, attempts, kind,
#: detail, first_seen, finished, retry_at), as the old daemon stored them.
OLD_ROWS = [
    (1, "a.dm4", 10, 1000, 1, 2, "ab" * 32, "done", 1, "a.emd", 0, None, None, 1.0, 2.0, None),
    (2, "b.dm4", 11, 1001, 3, 2, None, "failed", 1, None, 1, "corrupt", "bad", 1.0, 2.0, None),
    (3, "c.dm4", 12, 1002, 4, 2, None, "retry", 1, None, 0, "environment", "full", 1.0, None, 5.0),
    (
        4,
        "d.dm4",
        13,
        1003,
        5,
        2,
        None,
        "incomplete",
        1,
        None,
        0,
        "incomplete",
        "short",
        1.0,
        None,
        None,
    ),
    (5, "e.dm4", 14, 1004, 6, 2, None, "claimed", 1, None, 0, None, None, 1.0, None, None),
]


def _old_ledger(state_dir: Path) -> None:
    db = sqlite3.connect(state_dir / LEDGER_NAME, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(OLD_SCHEMA)
    for values in OLD_ROWS:
        db.execute(
            "INSERT INTO files (id, path, size, mtime_ns, ino, dev, sha256, state, "
            "version, output, attempts, kind, detail, first_seen, finished, "
            "retry_at, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, 1.0)",
            values,
        )
    db.close()


def test_the_schema_is_unchanged() -> None:
    assert ledger_module._SCHEMA == OLD_SCHEMA


def test_an_old_ledger_reads_back_and_works(tmp_path: Path) -> None:
    _old_ledger(tmp_path)
    ledger = Ledger(tmp_path)
    try:
        rows = ledger.rows()
        assert [(r.path, r.state) for r in rows] == [
            ("a.dm4", "done"),
            ("b.dm4", "failed"),
            ("c.dm4", "retry"),
            ("d.dm4", "incomplete"),
            ("e.dm4", "claimed"),
        ]
        assert all(type(r.state) is State for r in rows)
        assert rows[0].sha256 == "ab" * 32 and rows[0].output == "a.emd"
        assert rows[1].kind == "corrupt" and rows[1].attempts == 1
        assert ledger.counts() == {
            "done": 1,
            "failed": 1,
            "retry": 1,
            "incomplete": 1,
            "claimed": 1,
        }
        assert [r.path for r in ledger.in_state(State.CLAIMED)] == ["e.dm4"]
        assert [r.path for r in ledger.due_retries(10.0)] == ["c.dm4"]
        assert {r.path for r in ledger.recent_failures()} == {"b.dm4", "c.dm4"}
        assert ledger.done_hashes(10) == {"ab" * 32: 1}
        assert ledger.next_version("a.dm4") == 2 and ledger.output_taken("a.emd")
        with ledger.batch():
            ledger.update(5, **transitions.requeue_dead_claim(ledger.row(5)))
            assert ledger.claim(5, 1) and not ledger.claim(5, 1)
            assert ledger.claim(3, 1)
            assert ledger.request_retry("b.dm4") == 1
            assert ledger.add("d.dm4", Signature(99, 99, 9, 2), "scan") == 4  # open row
            new = ledger.add("a.dm4", Signature(20, 2000, 1, 2), "event")
            ledger.update(new, state=State.DONE, output="a.v2.emd")
        assert ledger.row(5).state == State.CLAIMED and ledger.row(3).state == "claimed"
        assert ledger.row(2).state == State.RETRY
        assert ledger.row(new).state == State.DONE
    finally:
        ledger.close()
    # What the new code wrote is the same plain text the old code wrote and reads.
    db = sqlite3.connect(tmp_path / LEDGER_NAME)
    stored = db.execute("SELECT id, state, typeof(state) FROM files ORDER BY id").fetchall()
    db.close()
    assert stored == [
        (1, "done", "text"),
        (2, "retry", "text"),
        (3, "claimed", "text"),
        (4, "incomplete", "text"),
        (5, "claimed", "text"),
        (new, "done", "text"),
    ]
