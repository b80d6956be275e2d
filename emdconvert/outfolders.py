"""The folders a batch writes into: created on demand, removed again if left empty.

``--out-dir`` is created with its parents, as ``mkdir -p`` would, so a first run needs
no set-up.  A command that fails should leave nothing behind, though: a run in which
every file failed must not leave a tree of empty folders, so the folders the run
created are removed at its end if they are still empty (never one that was there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from emdconvert.errors import EnvironmentProblem


@contextlib.contextmanager
def output_folders(out_dir: Path | None, targets: Sequence[Path]) -> Iterator[None]:
    """Create *out_dir* (with its parents) for the block; afterwards remove the folders
    that did not exist before (it, its parents, the *targets*' sub-folders that the
    conversions create) and are empty."""
    made = _missing({t.parent for t in targets} | ({out_dir} if out_dir else set()))
    if out_dir is not None:
        make_folder(out_dir)
    try:
        yield
    finally:
        for folder in sorted(made, key=lambda f: len(f.parts), reverse=True):
            try:
                folder.rmdir()  # only an empty one
            except OSError:
                pass


def make_folder(folder: Path) -> None:
    """Create *folder* with its parents, or say why not (exit 4, naming it)."""
    if folder.exists() and not folder.is_dir():
        raise EnvironmentProblem("the output folder is not a folder", path=folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = f"cannot create the output folder: {exc.strerror or exc}"
        raise EnvironmentProblem(reason, path=folder) from None


def _missing(folders: Iterable[Path]) -> set[Path]:
    """*folders* and their parents that do not exist yet."""
    missing: set[Path] = set()
    for folder in folders:
        for step in (folder, *folder.parents):
            if step in missing or step.exists():
                break
            missing.add(step)
    return missing
