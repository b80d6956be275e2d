"""An alias's own output: a hard link to the first output, a symbolic link where none can be.

A byte-identical copy of a converted file (``alias``) is not converted again; it gets an
output under its own name that is the first output (README, Watch folder).  A hard link
is the same file under a second name: it survives the first name being deleted and
carries the first output's provenance (the original's source name and SHA-256, which is
the copy's SHA-256 too).  Where a hard link cannot be made (another file system below the
output folder, a share or file system without hard links, a link count at its limit) a
relative symbolic link is made instead.

Both are created in one step that fails if the name exists (``link``/``symlink`` never
replace a file), so there is never a partial file at the name and nobody's file is
overwritten: an existing name is left alone and the next version's name tried, the rule
of :meth:`~emdconvert.watch.catalog.Catalog.claim` -- unless the existing name already is
the first output (a link made just before a crash, before the ledger recorded it),
which is then adopted.  Runs on the daemon's thread: a link costs a few system calls.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emdconvert.pipeline import preview_path
from emdconvert.watch.names import output_name

#: The ledger's ``kind`` of an alias row: what its output is.
HARD = "hardlink"
SYMBOLIC = "symlink"
#: Names tried (versions) before giving up; a name is only skipped when it exists.
_MAX_TRIES = 1000


@dataclass(frozen=True)
class Link:
    """An alias's output, relative to the output folder, and what it links to."""

    output: str
    kind: str  # HARD or SYMBOLIC
    target: str  # the first output (relative to the output folder)
    version: int


class NoLink(Exception):
    """No link can be made (the first output is gone, or the output folder refuses one).

    ``str()`` says why, for the log line; the copy is then converted like any new file.
    """


def _make(source: Path, path: Path) -> str | None:
    """Create *path* as a link to *source*: its kind, or None if the name exists."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NoLink(f"cannot create the folder {path.parent}: {exc.strerror or exc}") from None
    try:
        os.link(source, path)
        return HARD
    except FileExistsError:
        return None
    except OSError as exc:  # EXDEV, EPERM, EMLINK, ENOTSUP: no hard link here
        hard_error = exc
    try:
        os.symlink(os.path.relpath(source, path.parent), path)
        return SYMBOLIC
    except FileExistsError:
        return None
    except OSError as exc:
        raise NoLink(
            f"neither a hard link ({hard_error.strerror or hard_error}) nor a symbolic "
            f"link ({exc.strerror or exc}) can be made in {path.parent}"
        ) from None


def _adopt(source: Path, path: Path) -> str | None:
    """The kind of an existing *path* that already is *source*; None if it is not."""
    try:
        if os.path.samefile(path, source):
            return SYMBOLIC if path.is_symlink() else HARD
    except OSError:  # a dangling symbolic link, or gone again
        pass
    return None


def _link_preview(source: Path, path: Path) -> None:
    """The first output's PNG (``preview = true``) under the alias's name too, if any.

    Best effort: a preview is a convenience, and an existing PNG is never replaced."""
    png = preview_path(source)
    if png.is_file():
        with contextlib.suppress(NoLink):
            _make(png, preview_path(path))


def _fsync_directory(directory: Path) -> None:
    """The new name survives a power cut before the ledger records it (as in publish)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def link_output(
    out_dir: Path,
    target: str | None,
    relative: str,
    version: int,
    taken: Callable[[str], bool],
) -> Link:
    """Give the alias *relative* (a watch-folder path) an output linking to *target*.

    *target* is the first output (relative to *out_dir*); the alias's name is
    :func:`~emdconvert.watch.names.output_name` of *relative*, from *version* on,
    skipping names *taken* says a ledger row has and names that exist on disk.  Raises
    :class:`NoLink` when the first output is gone (a link to nothing helps no one) or no
    link can be made.
    """
    if target is None:
        raise NoLink("the first conversion recorded no output")
    source = out_dir / target
    if not source.is_file():
        raise NoLink(f"its first output {target} is gone")
    for _ in range(_MAX_TRIES):
        name = output_name(relative, version)
        if not taken(name):
            path = out_dir / name
            kind = _make(source, path) or _adopt(source, path)
            if kind is not None:
                _link_preview(source, path)
                _fsync_directory(path.parent)
                return Link(name, kind, target, version)
        version += 1
    raise NoLink(f"no free output name for {relative} after {_MAX_TRIES} versions")
