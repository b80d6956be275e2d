"""Is an existing output already the conversion of this source?  (``--skip-existing``)

A rerun of a finished batch should do nothing, and say so once.  Existence alone does
not prove an output is current (the source may have been re-acquired under the same
name, or the file may be someone else's), and modification times are not kept by every
copy tool, so the proof is the output's own provenance: its newest ``convert`` entry
records the source's size and SHA-256 (:mod:`emdconvert.emd.provenance`).  The size is
compared first, so a changed source is usually told apart without reading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emdconvert.emd.provenance import SourceDigest, parse_comment, read_comments
from emdconvert.errors import EnvironmentProblem, OutputExistsError
from emdconvert.model import Comment
from emdconvert.remedies import remedy

if TYPE_CHECKING:
    from emdconvert.pipeline import Request


@dataclass(frozen=True)
class Existing:
    """What an existing output is to its source: *key* names the provenance entry that
    records this very source (None when there is none), *reason* says why not."""

    key: str | None
    reason: str = ""

    @property
    def current(self) -> bool:
        return self.key is not None


def conversions(target: Path) -> list[tuple[Comment, dict[str, Any]]]:
    """The ``convert`` provenance entries of the HDF5 file *target*, oldest first (none
    for a file that is not HDF5 or keeps no emdconvert provenance)."""
    import h5py

    if not h5py.is_hdf5(target):
        return []
    with h5py.File(target, "r") as h5:
        comments = read_comments(h5)
    found = []
    for comment in comments:
        entry = parse_comment(comment.message) or {}
        if entry.get("event") == "convert" and isinstance(entry.get("source"), dict):
            found.append((comment, entry))
    return sorted(found, key=lambda pair: pair[0].timestamp)


def compare(source: Path, target: Path) -> Existing:
    """Whether the existing output *target* records *source* as it is now (name aside:
    the same bytes converted are the same output)."""
    try:
        entries = conversions(target)
    except (OSError, ValueError) as exc:  # h5py: truncated or damaged
        return Existing(None, f"cannot be read back ({' '.join(str(exc).split())})")
    if not entries:
        return Existing(None, "keeps no emdconvert provenance to compare with the source")
    comment, entry = entries[-1]
    recorded = entry["source"]
    name = recorded.get("name", "?")
    try:
        digest = SourceDigest(source)
        if recorded.get("size") != digest.size:
            digest.cancel()
            return Existing(None, f"records another source ({name} of another size)")
        sha256 = digest.result().sha256
    except OSError as exc:
        reason = f"cannot read the source to compare it: {exc.strerror or exc}"
        raise EnvironmentProblem(reason, path=source) from None
    if recorded.get("sha256") != sha256:
        return Existing(None, f"records another source ({name} with another SHA-256)")
    return Existing(comment.key)


def existing_output(
    source: Path, target: Path, request: Request, *, skip_existing: bool
) -> str | None:
    """Batch mode's look at an output that is already there, before any work: the key
    of its provenance entry for this very source when *skip_existing* finds it up to
    date, None to convert (nothing there, or ``overwrite``), else the error for this
    file, saying which flag would have done what the user probably wanted."""
    from emdconvert.pipeline import source_path

    if not target.is_file():
        return None
    source_path(source, follow_symlinks=request.options.follow_symlinks)  # as prepare would
    if not skip_existing:
        if request.overwrite:
            return None
        raise OutputExistsError(
            f"output exists ({remedy('skip_existing')} skips outputs already converted "
            f"from the same source, {remedy('overwrite')} replaces it)",
            path=target,
        )
    existing = compare(source, target)
    if existing.current or request.overwrite:
        return existing.key  # None when replacing a stale output: convert
    reason = f"output exists but {existing.reason}; {remedy('overwrite')} replaces it"
    raise OutputExistsError(reason, path=target)
