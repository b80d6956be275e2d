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
                f"step {dim.scale:g}{units}"
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


def outcomes_table(outcomes: Sequence[Outcome]) -> Table:
    """The batch summary: one row per input, then the totals."""
    from rich.markup import escape
    from rich.table import Table

    failed = sum(not o.ok for o in outcomes)
    table = Table(title=f"{len(outcomes) - failed} converted, {failed} failed")
    for column in ("input", "status", "output or reason", "MB", "s"):
        table.add_column(column, overflow="fold")
    for o in sorted(outcomes, key=lambda o: str(o.source)):
        status = "[green]ok[/green]" if o.ok else f"[red]exit {o.exit_code}[/red]"
        table.add_row(
            escape(str(o.source)),
            status,
            escape(o.message),
            f"{o.nbytes / 1e6:.1f}",
            f"{o.seconds:.2f}",
        )
    return table
