"""Long paths in narrow tables: cut from the middle, so the file name stays readable.

Rich can fold a long path over many lines or cut its end off; in an 80-column summary
neither is much use, because what tells the rows apart is the file name at the end.
:class:`MiddlePath` takes the width the table gives its column and, when the path does
not fit, keeps its start and its end around an ellipsis (``raw/2026/…/scan_0042.dm4``).
The full path is never lost: the CLI prints each failure in full on stderr, and
``--json`` documents carry every path unabridged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

#: The narrowest a path column is squeezed to, in cells (unless the path is shorter).
MIN_WIDTH = 12

ELLIPSIS = "…"

#: A width no table reaches: to measure a table's natural width.
UNBOUNDED = 1 << 20


def middle_ellipsis(text: str, width: int) -> str:
    """*text* in at most *width* cells, cut in the middle.

    The file name matters most, then the folder's start: a name that fits is kept
    whole after as much of the start as fits (``raw/20…/scan_0042.dm4``); a longer one
    loses the folders and its own middle (``…/scan_0042_ha…_indeed.dm4``).
    """
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    room = width - 1
    cut = text.rfind("/", 0, len(text) - 1)
    name = text[cut:] if cut >= 0 else text
    if cell_len(name) <= room:
        return set_cell_size(text, room - cell_len(name)).rstrip() + ELLIPSIS + name
    if cut >= 0 and width >= 8:
        return ELLIPSIS + "/" + middle_ellipsis(name[1:], width - 2)
    tail = _last_cells(text, room - room // 2)
    return set_cell_size(text, room - cell_len(tail)).rstrip() + ELLIPSIS + tail


def _last_cells(text: str, width: int) -> str:
    """The longest end of *text* that fits in *width* cells."""
    taken = ""
    for char in reversed(text):
        if cell_len(char + taken) > width:
            break
        taken = char + taken
    return taken


class MiddlePath:
    """A rich renderable: one line, middle-ellipsized to the width it is given."""

    def __init__(self, text: str, style: str = "") -> None:
        self.text, self.style = text, style

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        full = cell_len(self.text)
        return Measurement(min(full, MIN_WIDTH), full).clamp(max_width=options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = middle_ellipsis(self.text, options.max_width)
        yield Text(line, style=self.style, no_wrap=True, overflow="crop")


def common_root(paths: Iterable[Path]) -> Path | None:
    """The deepest folder holding every path (None if there is none but ``/``, or no
    paths): the root a table shows its paths relative to."""
    folders = [str(p.parent) for p in paths]
    if not folders:
        return None
    try:
        root = Path(os.path.commonpath(folders))
    except ValueError:  # absolute and relative paths mixed
        return None
    return None if root in (Path("/"), Path()) else root


def relative(path: Path, root: Path | None) -> str:
    """*path* relative to *root* when it lies below it, else as given."""
    if root is not None and path.is_relative_to(root):
        return str(path.relative_to(root))
    return str(path)


class Widest:
    """A rich renderable: the first of *choices* whose natural width fits the console,
    else the last: a table with one line per row where there is room, a compact one on
    an 80-column terminal."""

    def __init__(self, *choices: RenderableType) -> None:
        self.choices = choices

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        unbounded = options.update(max_width=UNBOUNDED)
        for choice in self.choices[:-1]:
            if Measurement.get(console, unbounded, choice).maximum <= options.max_width:
                yield choice
                return
        yield self.choices[-1]
