"""``emdconvert watch --status``: what the ledger says, as tables.

Counts by state, the recent failures, and the recent aliases: which file each
byte-identical copy is the same as, and how its output links to the first output
(:meth:`~emdconvert.watch.ledger.Ledger.aliases`).

Read from the ledger (WAL lets a reader look while the daemon writes), so it works
whether or not the daemon runs, and says which of the two it is.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from emdconvert.errors import UsageError
from emdconvert.narrow import MiddlePath, Widest
from emdconvert.watch.ledger import LEDGER_NAME, STATES, Alias, Ledger, Row
from emdconvert.watch.lock import holder
from emdconvert.watch.log import escape as escape_controls


def _when(timestamp: float | None, sep: str = " ") -> str:
    """Local time to the second; *sep* between date and time (a line break in the
    narrow tables)."""
    if timestamp is None:
        return ""
    return _dt.datetime.fromtimestamp(timestamp).isoformat(sep=sep, timespec="seconds")


def status_report(state_dir: Path, *, failures: int = 10, aliases: int = 10) -> Group:
    """A line saying whether the daemon runs, counts by state, recent failures, aliases.

    *failures* and *aliases* bound those two tables (the most recent first).
    """
    if not (state_dir / LEDGER_NAME).is_file():
        raise UsageError(
            "no ledger here yet (has the daemon run with this state folder?)", path=state_dir
        )
    ledger = Ledger(state_dir)
    try:
        counts = ledger.counts()
        recent = ledger.recent_failures(failures)
        copies = ledger.aliases(aliases)
    finally:
        ledger.close()
    pid = holder(state_dir)
    running = f"daemon running (pid {pid})" if pid else "daemon not running"
    table = Table()
    table.add_column("state")
    table.add_column("files", justify="right")
    for state in STATES:
        table.add_row(state, str(counts.get(state, 0)))
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values())}[/bold]")
    parts: list[RenderableType] = [Text(f"{state_dir}: {running}", style="bold"), table]
    if recent:
        parts.append(_failures_table(recent))
    if copies:
        parts.append(_aliases_table(copies, counts.get("alias", 0)))
    return Group(*parts)


def _failures_table(recent: list[Row]) -> Widest:
    """One line per failure where there is room; else each kind and reason under its file."""
    wide, narrow = Table(title="recent failures"), Table(title="recent failures")
    for column in ("file", "state", "kind", "attempts", "when", "reason"):
        wide.add_column(column)
    for column in ("file / kind: reason", "state", "tries", "when"):
        narrow.add_column(column, justify="right" if column == "tries" else "left")
    for row in recent:
        path, reason = escape_controls(row.path), escape_controls(row.detail or "")
        when = row.finished or row.retry_at
        facts = (row.state, row.kind or "", str(row.attempts), _when(when))
        wide.add_row(Text(path), *facts, Text(reason))
        why = Text(f"{row.kind}: {reason}" if row.kind else reason, style="dim")
        stacked = Group(MiddlePath(path), why)
        narrow.add_row(stacked, row.state, str(row.attempts), _when(when, "\n"))
    return Widest(wide, narrow)


def _aliases_table(copies: list[Alias], total: int) -> Widest:
    """One line per alias where there is room; else each output under its file."""
    shown = f"the {len(copies)} most recent of {total}" if total > len(copies) else "all"
    title = f"aliases (byte-identical copies; {shown})"
    wide, narrow = Table(title=title), Table(title=title)
    for column in ("file", "output", "same as", "its output", "link", "when"):
        wide.add_column(column)
    for column in ("file / output", "same as / its output", "link", "when"):
        narrow.add_column(column)
    for copy in copies:
        paths = [
            escape_controls(text or "")
            for text in (
                copy.row.path,
                copy.row.output or "(none)",
                copy.original.path,
                copy.original.output,
            )
        ]
        link, when = copy.row.kind or "", copy.row.finished
        wide.add_row(*map(Text, paths), link, _when(when))
        pairs = (paths[:2], paths[2:])
        narrow.add_row(
            *(Group(MiddlePath(a), MiddlePath(b)) for a, b in pairs), link, _when(when, "\n")
        )
    return Widest(wide, narrow)
