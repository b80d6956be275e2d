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

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from emdconvert.errors import UsageError
from emdconvert.watch.ledger import LEDGER_NAME, STATES, Alias, Ledger
from emdconvert.watch.lock import holder
from emdconvert.watch.log import escape as escape_controls


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return _dt.datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds")


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
    table = Table(title=f"{escape(str(state_dir))}: {running}")
    table.add_column("state")
    table.add_column("files", justify="right")
    for state in STATES:
        table.add_row(state, str(counts.get(state, 0)))
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values())}[/bold]")
    parts: list[Table] = [table]
    if recent:
        failed = Table(title="recent failures")
        for column in ("file", "state", "kind", "attempts", "when", "reason"):
            failed.add_column(column)
        for row in recent:
            failed.add_row(
                escape(escape_controls(row.path)),
                row.state,
                row.kind or "",
                str(row.attempts),
                _when(row.finished or row.retry_at),
                escape(escape_controls(row.detail or "")),
            )
        parts.append(failed)
    if copies:
        parts.append(_aliases_table(copies, counts.get("alias", 0)))
    return Group(*parts)


def _aliases_table(copies: list[Alias], total: int) -> Table:
    shown = f"the {len(copies)} most recent of {total}" if total > len(copies) else "all"
    table = Table(title=f"aliases (byte-identical copies; {shown})")
    for column in ("file", "output", "same as", "its output", "link", "when"):
        table.add_column(column)
    for copy in copies:
        table.add_row(
            *(
                escape(escape_controls(text or ""))
                for text in (
                    copy.row.path,
                    copy.row.output or "(none)",
                    copy.original.path,
                    copy.original.output,
                    copy.row.kind,
                )
            ),
            _when(copy.row.finished),
        )
    return table
