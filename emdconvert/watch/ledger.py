"""The persistent ledger: one SQLite row per version of a source file, with its state.

SQLite in WAL mode with ``synchronous=FULL`` on local disk (never on the share: WAL does
not work over a network file system; README, Safety rules W5).  States::

    seen -> stable -> claimed -> done | alias | failed | stalled
              ^  |      |
              |  +-- incomplete (not yet whole; looked at again later)
              +------ retry (environment error: disk full, read-only; backs off)

A row is one version of one path: (path, size, mtime_ns, sha256).  At most one *open*
row per path exists (a partial unique index), and a claim is a conditional UPDATE under
``BEGIN IMMEDIATE``, so a file is claimed once even if two processes shared a ledger
(README W5).  Outputs are unique too: no two rows can publish to one name (an alias's
output links to its ``alias_of`` row's; ``kind`` says how).  Writes are batched into one
transaction per pass of the daemon's loop, so a burst of 1000 files costs a few hundred
fsyncs, not thousands.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from emdconvert.errors import EnvironmentProblem
from emdconvert.watch.outcomes import CLAIMABLE, FINAL, QUARANTINED, STATES, State, sql_list
from emdconvert.watch.stability import Signature

__all__ = ["CLAIMABLE", "FINAL", "LEDGER_NAME", "STATES", "Alias", "Ledger", "Row"]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ino INTEGER,
    dev INTEGER,
    sha256 TEXT,
    state TEXT NOT NULL CHECK (state IN {sql_list(STATES)}),
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
    WHERE state NOT IN {sql_list(FINAL)};
CREATE UNIQUE INDEX IF NOT EXISTS one_row_per_output ON files(output)
    WHERE output IS NOT NULL;
CREATE INDEX IF NOT EXISTS files_by_state ON files(state);
CREATE INDEX IF NOT EXISTS files_by_size ON files(size);
CREATE INDEX IF NOT EXISTS files_by_path ON files(path);
"""

_COLUMNS = (
    "id",
    "path",
    "size",
    "mtime_ns",
    "ino",
    "dev",
    "sha256",
    "state",
    "version",
    "output",
    "alias_of",
    "attempts",
    "kind",
    "detail",
    "found_by",
    "pid",
    "first_seen",
    "stable_at",
    "started",
    "finished",
    "retry_at",
)


@dataclass(frozen=True)
class Row:
    """One ledger row (the columns the daemon and ``--status`` use)."""

    id: int
    path: str
    size: int
    mtime_ns: int
    ino: int | None
    dev: int | None
    sha256: str | None
    state: State
    version: int
    output: str | None
    alias_of: int | None
    attempts: int
    kind: str | None
    detail: str | None
    found_by: str | None
    pid: int | None
    first_seen: float
    stable_at: float | None
    started: float | None
    finished: float | None
    retry_at: float | None

    def __post_init__(self) -> None:
        if not isinstance(self.state, State):  # as stored: the plain word
            object.__setattr__(self, "state", State(self.state))


class Alias(NamedTuple):
    """An alias row and the converted row it copies: ``row.output`` (None in ledgers from
    before aliases had outputs) links to ``original.output``, ``row.kind`` says how."""

    row: Row
    original: Row


LEDGER_NAME = "ledger.sqlite3"


class Ledger:
    """The ledger in *state_dir*; every method runs inside :meth:`batch`, or alone."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LEDGER_NAME
        fresh = not self.path.exists()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, timeout=30.0, check_same_thread=False
        )
        if fresh:
            os.chmod(self.path, 0o600)
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if isinstance(exc, sqlite3.OperationalError):  # locked, unreadable: not damage
                raise EnvironmentProblem(f"cannot use the ledger: {exc}", path=self.path) from None
            raise EnvironmentProblem(
                f"the ledger is damaged ({exc}); move it and any -wal/-shm files beside "
                "it aside and start again: the start-up scan records outputs already "
                "in the output folder as done from their provenance, without converting "
                "them again",
                path=self.path,
            ) from None
        self._depth = 0

    def _open(self) -> None:
        """Settings and schema; a damaged file fails here, not months later mid-run.

        ``quick_check`` reads every page once (0.3 s for a ledger of 100 000 rows), so
        garbage behind an intact header is caught too.
        """
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OSError(f"{self.path}: SQLite refused WAL mode (is it on local disk?)")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check(1)")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(f"quick_check: {problems[0]}")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction for everything inside (nests)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    def _rows(self, where: str, args: Sequence[Any] = ()) -> list[Row]:
        query = f"SELECT {', '.join(_COLUMNS)} FROM files {where}"
        return [Row(*values) for values in self._db.execute(query, args)]

    # -- reading -------------------------------------------------------------------
    def row(self, row_id: int) -> Row:
        return self._rows("WHERE id = ?", (row_id,))[0]

    def rows(self, path: str | None = None) -> list[Row]:
        """All rows (of one *path*), oldest first."""
        if path is None:
            return self._rows("ORDER BY id")
        return self._rows("WHERE path = ? ORDER BY id", (path,))

    def latest(self) -> dict[str, Row]:
        """The newest row of every path: what the daemon compares a file against."""
        return {
            row.path: row
            for row in self._rows("WHERE id IN (SELECT MAX(id) FROM files GROUP BY path)")
        }

    def in_state(self, *states: State) -> list[Row]:
        marks = ", ".join("?" * len(states))
        return self._rows(
            f"WHERE state IN ({marks}) ORDER BY id", [state.value for state in states]
        )

    def due_retries(self, now: float) -> list[Row]:
        return self._rows(
            f"WHERE state = '{State.RETRY.value}' AND COALESCE(retry_at, 0) <= ? ORDER BY id",
            (now,),
        )

    def done_hashes(self, size: int) -> dict[str, int]:
        """sha256 -> row id of converted files of exactly *size* bytes (de-duplication)."""
        query = (
            f"SELECT sha256, id FROM files WHERE state = '{State.DONE.value}' "
            "AND size = ? AND sha256 IS NOT NULL"
        )
        return dict(self._db.execute(query, (size,)).fetchall())

    def next_version(self, path: str) -> int:
        """1 for a path never converted; else one more than its newest output's."""
        query = "SELECT COALESCE(MAX(version), 0) FROM files WHERE path = ? AND output NOT NULL"
        return int(self._db.execute(query, (path,)).fetchone()[0]) + 1

    def output_taken(self, output: str) -> bool:
        query = "SELECT 1 FROM files WHERE output = ?"
        return self._db.execute(query, (output,)).fetchone() is not None

    def counts(self) -> dict[str, int]:
        query = "SELECT state, COUNT(*) FROM files GROUP BY state"
        return dict(self._db.execute(query).fetchall())

    def recent_failures(self, limit: int = 10) -> list[Row]:
        return self.recent((*QUARANTINED, State.RETRY), limit)

    def aliases(self, limit: int | None = 10) -> list[Alias]:
        """The *limit* (None: all) newest alias rows, each with its original (status views)."""
        query = (
            f"SELECT {', '.join(f'{t}.{c}' for t in 'ao' for c in _COLUMNS)} FROM files a "
            f"JOIN files o ON o.id = a.alias_of WHERE a.state = '{State.ALIAS.value}' "
            "ORDER BY COALESCE(a.finished, a.updated) DESC, a.id DESC LIMIT ?"
        )
        n = len(_COLUMNS)
        rows = self._db.execute(query, (-1 if limit is None else limit,))
        return [Alias(Row(*values[:n]), Row(*values[n:])) for values in rows]

    def recent(self, states: tuple[State, ...], limit: int) -> list[Row]:
        """The *limit* rows in *states* changed last, newest first (status page)."""
        return self._rows(
            f"WHERE state IN {sql_list(states)} ORDER BY updated DESC LIMIT ?", (limit,)
        )

    def finished_since(self, state: State, since: float) -> list[tuple[float, int]]:
        """``(finished, size)`` of the rows in *state* finished after *since* (throughput)."""
        query = "SELECT finished, size FROM files WHERE state = ? AND finished >= ?"
        return list(self._db.execute(query, (state.value, since)).fetchall())

    # -- writing -------------------------------------------------------------------
    def add(self, path: str, signature: Signature, found_by: str) -> int:
        """A row in state ``seen`` for a new version of *path*; the open row if one exists."""
        now = time.time()
        cursor = self._db.execute(
            "INSERT INTO files (path, size, mtime_ns, ino, dev, state, found_by, first_seen, "
            "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                path,
                signature.size,
                signature.mtime_ns,
                signature.ino,
                signature.dev,
                State.SEEN.value,
                found_by,
                now,
                now,
            ),
        )
        if cursor.rowcount:
            return int(cursor.lastrowid)  # type: ignore[arg-type]
        query = f"SELECT id FROM files WHERE path = ? AND state NOT IN {sql_list(FINAL)}"
        return int(self._db.execute(query, (path,)).fetchone()[0])

    def update(self, row_id: int, **values: Any) -> None:
        """Set columns of one row (``state=`` and any others), stamping ``updated``."""
        values["updated"] = time.time()
        if isinstance(values.get("state"), State):
            values["state"] = values["state"].value  # stored as the plain word
        columns = ", ".join(f"{name} = ?" for name in values)
        self._db.execute(f"UPDATE files SET {columns} WHERE id = ?", (*values.values(), row_id))

    def set_signature(self, row_id: int, signature: Signature, **values: Any) -> None:
        self.update(
            row_id,
            size=signature.size,
            mtime_ns=signature.mtime_ns,
            ino=signature.ino,
            dev=signature.dev,
            **values,
        )

    def claim(self, row_id: int, version: int) -> bool:
        """Claim a ``stable``/``retry`` row for this process: True exactly once."""
        now = time.time()
        cursor = self._db.execute(
            f"UPDATE files SET state = '{State.CLAIMED.value}', pid = ?, host = ?, "
            f"started = ?, version = ?, updated = ? WHERE id = ? "
            f"AND state IN {sql_list(CLAIMABLE)}",
            (os.getpid(), os.uname().nodename, now, version, now, row_id),
        )
        return cursor.rowcount == 1

    def delete(self, row_id: int) -> None:
        self._db.execute("DELETE FROM files WHERE id = ?", (row_id,))

    def request_retry(self, path: str) -> int:
        """``--retry``: make the newest failed or stalled row of *path* due again."""
        cursor = self._db.execute(
            f"UPDATE files SET state = '{State.RETRY.value}', retry_at = 0, updated = ? "
            f"WHERE id = (SELECT MAX(id) FROM files WHERE path = ?) "
            f"AND state IN {sql_list(QUARANTINED)}",
            (time.time(), path),
        )
        return cursor.rowcount
