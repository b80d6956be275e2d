"""README's format table says what ``emdconvert formats`` says: the same formats, each
readable and writable exactly as the installed plugin declares, with its extensions.

The table is the first thing a user reads to decide whether a file can go in or out;
issue 18 added two writers, and a dash left in a write column would hide one.
"""

from __future__ import annotations

import re
from pathlib import Path

from emdconvert.registry import default_registry

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(\w+)` \| (yes|\u2013) \| (yes|\u2013) \| ([^|]*) \|", re.M)


def table_rows() -> dict[str, tuple[bool, bool, str]]:
    section = README.split("\n## Formats\n", 1)[1].split("\n## ", 1)[0]
    return {
        name: (read == "yes", write == "yes", extensions)  # else an en dash
        for name, read, write, extensions in ROW.findall(section)
    }


def test_the_format_table_matches_the_installed_plugins() -> None:
    rows = table_rows()
    plugins = default_registry().plugins
    assert set(rows) == set(plugins)
    for name, (read, write, extensions) in rows.items():
        plugin = plugins[name]
        assert (read, write) == (plugin.can_read, plugin.can_write), name
        listed = re.findall(r"\.\w+", extensions)
        if "…" in extensions:  # a selection (rsciio's forty-odd)
            assert set(listed) <= set(plugin.extensions), name
        else:
            assert listed == list(plugin.extensions), name
