"""Is the file whole?  Header-only checks that run before anything is converted.

Readers of a truncated file often do not fail: rsciio reads a DM4 missing its last
8 bytes as if it were whole, and tifffile returns 1 frame of a truncated 20-frame
compressed stack with nothing but a log line (README, Safety rules R5).  Each format
plugin knows what its header promises (DM's declared length, NPY's shape, TIFF's page
list, HDF5's end-of-file address) and checks the file against it in
``check_complete``; this module asks the right plugin.

The CLI and :func:`emdconvert.convert` run the check before reading; the watch daemon
runs it on a file that has stopped changing, and while a young file fails it with
:class:`~emdconvert.errors.IncompleteError` it waits instead of failing.
"""

from __future__ import annotations

from pathlib import Path

from emdconvert.boundary import error_boundary
from emdconvert.detect import choose_reader
from emdconvert.plugin import FormatPlugin
from emdconvert.registry import PluginSpec
from emdconvert.sources import expand


def check_with(reader: FormatPlugin, path: Path) -> None:
    """Run *reader*'s completeness check on *path* (every file of a folder or glob).

    Every plugin has the method (:class:`~emdconvert.plugin.BasePlugin`'s checks
    nothing); anything a check raises becomes an emdconvert error naming the file.
    """
    for file in expand(path):
        with error_boundary(file, f"cannot read as {reader.name}", reading=True):
            reader.check_complete(file)


def check_complete(path: str | Path, *, plugin: PluginSpec | None = None) -> None:
    """Raise :class:`~emdconvert.errors.IncompleteError` if *path* is shorter than its
    header declares, :class:`~emdconvert.errors.FormatError` for other damage the header
    shows, :class:`~emdconvert.errors.UnknownFormatError` if no plugin reads it.

    Only headers are read, so this is cheap enough to run on every candidate file.
    ``plugin`` forces the format: a name, ``module:Class``, a class or an instance.
    """
    source = Path(path)
    check_with(choose_reader(source, plugin), source)
