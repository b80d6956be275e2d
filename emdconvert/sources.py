"""What an input path names: one file, every file in a folder, or a glob of files.

Frame-per-file acquisitions (a folder of TIFFs) convert as one stack, so "the source" can
be several files.  They are ordered naturally (``frame2`` before ``frame10``), as every
microscopist expects and plain string sorting does not do.  Some folders are one file
to their reader (a zarr store, :data:`FOLDER_FORMATS`).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from pathlib import Path

from emdconvert.errors import UsageError

_GLOB_CHARS = re.compile(r"[*?\[]")

#: Folder suffixes whose whole tree is one dataset to its reader (HyperSpy's zarr
#: ``.zspy`` directory stores), not a stack of frames.
FOLDER_FORMATS = (".zspy",)


def natural_key(path: Path) -> list[object]:
    """Sort key that orders embedded numbers by value: ``a2`` < ``a10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def is_pattern(path: Path) -> bool:
    """True for a glob such as ``frames/*.tif`` that does not exist as a file itself."""
    return not path.exists() and bool(_GLOB_CHARS.search(str(path)))


def expand(path: Path, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """The regular files *path* stands for, naturally sorted.

    A file is itself; a folder is its (non-hidden) files, filtered by *suffixes* when
    given; a glob is its matches.  Symbolic links inside a folder or glob are left out:
    one planted in an acquisition folder could point anywhere (README, Safety rules R11).
    """
    if path.is_file():
        return [path]
    if path.is_dir() and path.suffix.lower() in FOLDER_FORMATS:
        return sorted(p for p in path.rglob("*") if _regular(p))
    if path.is_dir():
        files = [p for p in path.iterdir() if _regular(p) and not p.name.startswith(".")]
    elif is_pattern(path):
        files = [Path(p) for p in glob.glob(str(path)) if _regular(Path(p))]
    else:
        return []
    if suffixes:
        files = [p for p in files if p.suffix.lower() in suffixes]
    return sorted(files, key=natural_key)


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def as_path(value: object, what: str) -> Path:
    """*value* as a Path when it is one (``str``, ``bytes`` or ``os.PathLike``).

    Acquisition software written against ``os`` APIs passes ``bytes``; anything else (an
    open file, a number) is a caller's mistake, reported as one, not as pathlib's bare
    ``TypeError``.
    """
    if isinstance(value, (str, bytes, os.PathLike)):
        try:
            return Path(os.fsdecode(value))
        except (TypeError, UnicodeError):
            pass
    raise UsageError(
        f"{what} must be a path (str, bytes or os.PathLike), not {type(value).__name__}"
    )


def read_set(path: Path, reader_suffixes: tuple[str, ...] = ()) -> SourceSet:
    """The files a reader of *path* reads now, and the rule for the ones it would read.

    An output that is any of them would overwrite the data being converted; one that
    lands in a source folder with a suffix the reader takes (or matches a source glob)
    would become part of the source on the next run.
    """
    return SourceSet(path, tuple(expand(path)), tuple(s.lower() for s in reader_suffixes))


class SourceSet:
    """Which paths belong to a source: see :func:`read_set`."""

    def __init__(self, path: Path, files: tuple[Path, ...], suffixes: tuple[str, ...]) -> None:
        self.path = path
        self.files = files
        self.suffixes = suffixes
        self._resolved = {_resolved(f) for f in files}

    def claims(self, target: Path) -> bool:
        """True when writing *target* would overwrite or join this source."""
        if _resolved(target) in self._resolved:
            return True
        if target.exists() and any(_same_file(f, target) for f in self.files):
            return True  # a second hard link to a source file
        if self.path.is_dir():
            return _resolved(target.parent) == _resolved(self.path) and (
                not self.suffixes or target.suffix.lower() in self.suffixes
            )
        if is_pattern(self.path):
            return fnmatch.fnmatch(str(_resolved(target)), str(_resolved(self.path)))
        return False


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
