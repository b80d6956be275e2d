"""What an input path names: one file, every file in a folder, or a glob of files.

Frame-per-file acquisitions (a folder of TIFFs) convert as one stack, so "the source" can
be several files.  They are ordered naturally (``frame2`` before ``frame10``), as every
microscopist expects and plain string sorting does not do.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

_GLOB_CHARS = re.compile(r"[*?\[]")


def natural_key(path: Path) -> list[object]:
    """Sort key that orders embedded numbers by value: ``a2`` < ``a10``."""
    return [int(part) if part.isdigit() else part.lower()
            for part in re.split(r"(\d+)", path.name)]


def is_pattern(path: Path) -> bool:
    """True for a glob such as ``frames/*.tif`` that does not exist as a file itself."""
    return not path.exists() and bool(_GLOB_CHARS.search(str(path)))


def expand(path: Path, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """The regular files *path* stands for, naturally sorted.

    A file is itself; a folder is its (non-hidden) files, filtered by *suffixes* when
    given; a glob is its matches.  Symbolic links inside a folder or glob are left out:
    one planted in an acquisition folder could point anywhere (reliability.md S4).
    """
    if path.is_file():
        return [path]
    if path.is_dir():
        files = [p for p in path.iterdir()
                 if _regular(p) and not p.name.startswith(".")]
    elif is_pattern(path):
        files = [Path(p) for p in glob.glob(str(path)) if _regular(Path(p))]
    else:
        return []
    if suffixes:
        files = [p for p in files if p.suffix.lower() in suffixes]
    return sorted(files, key=natural_key)


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()
