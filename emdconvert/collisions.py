"""Output names for a batch that never collide, chosen predictably.

``scan.dm3`` beside ``scan.dm4`` would both become ``scan.emd``.  Refusing the whole
batch for that (as before) stops a night's run over one name, so each colliding group
is resolved by a rule a user can predict from the file names alone: the first source in
natural sort order keeps the plain name, the others keep their extension in it
(``scan.dm4.emd``), and ``-2``, ``-3`` are added only if even that name is taken.  With
``keep_ext`` every output is ``<name><ext><suffix>``, whatever the other files are, so a
name never changes when a file is added to the folder later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emdconvert.sources import natural_key


@dataclass(frozen=True)
class Collision:
    """Sources whose outputs would have had one name, and the names they get instead
    (in the same order: the first keeps the name)."""

    sources: tuple[Path, ...]
    targets: tuple[Path, ...]

    def note(self) -> str:
        """One line for the user: who collided on which name, and what is written."""
        return (
            f"{_listed([str(s) for s in self.sources])} would "
            f"{'both' if len(self.sources) == 2 else 'all'} be written to "
            f"{self.targets[0]}; writing {_listed([t.name for t in self.targets])}"
        )


def _listed(words: Sequence[str]) -> str:
    return ", ".join(words[:-1]) + f" and {words[-1]}"


def natural_order(path: Path) -> list[list[object]]:
    """Sort key for paths as a person lists them: ``frame2`` before ``frame10``."""
    return [natural_key(Path(part)) for part in path.parts]


def unique_targets(
    entries: Sequence[tuple[Path, Path]], suffix: str, *, keep_ext: bool = False
) -> tuple[list[tuple[Path, Path]], list[Collision]]:
    """(source, target) pairs for ``(source, base)`` *entries*, *base* being the output
    path before the suffix is applied (``out/sub/scan.dm4``), and the collisions found.

    Every first-choice name is reserved before any is renamed, so a renamed output
    never takes the name another file would have had on its own.
    """
    name = _with_ext if keep_ext else Path.with_suffix
    first = [name(base, suffix) for _, base in entries]
    targets = list(first)
    taken = set(first)
    groups: dict[Path, list[int]] = {}
    for index, target in enumerate(first):
        groups.setdefault(target, []).append(index)
    collisions = []
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda i: natural_order(entries[i][0]))
        for index in members[1:]:
            targets[index] = _free_name(entries[index][1], suffix, taken)
            taken.add(targets[index])
        collisions.append(
            Collision(tuple(entries[i][0] for i in members), tuple(targets[i] for i in members))
        )
    return [
        (source, target) for (source, _), target in zip(entries, targets, strict=True)
    ], collisions


def _with_ext(base: Path, suffix: str) -> Path:
    """``scan.dm4`` -> ``scan.dm4.emd``: the source's extension kept in the name."""
    return base.with_name(base.name + suffix)


def _free_name(base: Path, suffix: str, taken: set[Path]) -> Path:
    """``scan.dm4.emd``, else ``scan.dm4-2.emd``, ``scan.dm4-3.emd``…: the first not taken."""
    candidate, number = _with_ext(base, suffix), 2
    while candidate in taken:
        candidate, number = base.with_name(f"{base.name}-{number}{suffix}"), number + 1
    return candidate
