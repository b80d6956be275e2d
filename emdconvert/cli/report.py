"""Rich renderings for the CLI: the ``info`` tree and the ``formats`` table.

Kept apart from ``cli.py`` so the CLI stays a thin layer and these can be tested
without a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emdconvert.emd.provenance import parse_comment
from emdconvert.model import METADATA_GROUPS, EMDFile, describe

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from rich.table import Table
    from rich.tree import Tree

    from emdconvert.batch import Outcome
    from emdconvert.registry import Registry


def model_tree(title: str, model: EMDFile) -> Tree:
    """Datasets (shape, dtype, dims with units), metadata groups and comments."""
    from rich.markup import escape
    from rich.tree import Tree

    root = Tree(f"[bold]{escape(title)}[/bold]")
    data = root.add("data")
    for dataset in model.datasets:
        shape = " x ".join(str(n) for n in dataset.shape)
        values = f"  ({escape(dataset.units)})" if dataset.units else ""
        node = data.add(f"[bold]{escape(dataset.name)}[/bold]  {shape}  {dataset.dtype}{values}")
        for dim in dataset.dims:
            units = f" {escape(dim.units)}" if dim.units else ""
            node.add(
                f"{escape(dim.name)}: {dim.size} points, offset {dim.offset:g}, "
                f"scale {dim.scale:g}{units}"
            )
        for key, value in dataset.attrs.items():
            node.add(f"[dim]{escape(key)} = {escape(describe(value))}[/dim]")
    for group in METADATA_GROUPS:
        attrs = model.metadata(group)
        node = root.add(f"{group} ({len(attrs)})")
        for key, value in attrs.items():
            node.add(f"{escape(key)} = {escape(describe(value))}")
    comments = root.add(f"comments ({len(model.comments)})")
    for comment in model.comments:
        entry = parse_comment(comment.message)
        text = (
            comment.message
            if entry is None
            else (
                f"{entry.get('tool')}: {entry.get('reader', {}).get('plugin')} -> "
                f"{entry.get('writer', {}).get('plugin')}"
                + (f" from {entry['source']['name']}" if entry.get("source") else "")
            )
        )
        comments.add(f"{escape(comment.key)}  {escape(describe(text))}")
    return root


def formats_table(registry: Registry) -> Table:
    """One row per plugin: name, extensions, read/write, provider, description."""
    from rich.table import Table

    table = Table(title="emdconvert formats")
    for column in ("name", "extensions", "read", "write", "provided by", "description"):
        table.add_column(column)
    for name in registry.names():
        plugin = registry.plugins[name]
        table.add_row(
            name,
            " ".join(plugin.extensions),
            "yes" if plugin.can_read else "",
            "yes" if plugin.can_write else "",
            registry.distribution(name),
            plugin.description,
        )
    return table


def outcomes_table(outcomes: Sequence[Outcome], *, out_dir: Path | None = None) -> Table:
    """The batch summary: the counts, then one row per input, sorted by path.

    It fits an 80-column terminal: inputs are shown relative to the folder they all
    share and outputs relative to *out_dir* (both named in the caption), long paths are
    cut in the middle (:class:`~emdconvert.narrow.MiddlePath`) and reasons folded.  A
    reason leaves out the file's name, which its row already shows; the full line is on
    stderr (``run_batch``).
    """
    from rich.markup import escape
    from rich.table import Table

    from emdconvert.narrow import MiddlePath, common_root, relative

    failed = sum(not o.ok for o in outcomes)
    skipped = sum(o.up_to_date for o in outcomes)
    counts = [f"{len(outcomes) - failed - skipped} converted"]
    counts += [f"{skipped} skipped"] if skipped else []
    root = common_root(o.source for o in outcomes)
    where = [f"inputs in {root}"] if root else []
    where += [f"outputs in {out_dir}"] if out_dir is not None else []
    table = Table(
        title=", ".join([*counts, f"{failed} failed"]),
        caption=escape("\n".join(where)) if where else None,
        caption_justify="left",
    )
    table.add_column("input", ratio=1)
    table.add_column("status", no_wrap=True)
    table.add_column("output or reason", ratio=1, overflow="fold")
    table.add_column("MB", justify="right", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    for o in sorted(outcomes, key=lambda o: str(o.source)):
        size = o.source_bytes if o.source_bytes is not None else o.nbytes
        table.add_row(
            MiddlePath(relative(o.source, root)),
            _status(o),
            MiddlePath(relative(o.target, out_dir)) if o.ok else escape(_reason(o)),
            f"{size / 1e6:.1f}",
            f"{o.seconds:.2f}",
        )
    return table


def _status(outcome: Outcome) -> str:
    if outcome.up_to_date:
        return "[cyan]up to date[/cyan]"
    return "[green]ok[/green]" if outcome.ok else f"[red]exit {outcome.exit_code}[/red]"


def _reason(outcome: Outcome) -> str:
    """The failure's message without the ``<file>: `` it starts with."""
    prefix = f"{outcome.source}: "
    text = outcome.message
    return text[len(prefix) :] if text.startswith(prefix) else text
