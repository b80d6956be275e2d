"""Provenance entries for the ``comments`` group (README, EMD layout L10).

Every write appends one entry saying what happened, by what and from what: tool and
plugin versions, the source's name, size, mtime and SHA-256, and the options used.  The
value is a JSON object so the watch daemon can later match outputs to sources by hash.

The source hash is computed by :class:`SourceDigest` in a background thread *while* the
conversion streams (hashlib releases the GIL), so hashing adds no extra pass in series
with the copy.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emdconvert.emd.groups import text
from emdconvert.errors import InputError
from emdconvert.model import Comment
from emdconvert.sources import expand
from emdconvert.version import VERSION

if TYPE_CHECKING:
    import h5py

_CHUNK = 4 * 1024 * 1024


def tool_version() -> str:
    """The emdconvert version provenance records."""
    return VERSION


@dataclass(frozen=True)
class SourceFacts:
    """What provenance records about one source file."""

    name: str
    size: int
    mtime_ns: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "sha256": self.sha256,
        }


class SourceDigest:
    """SHA-256 of a source (for a folder or glob: of its files in order), in a thread.

    Start it before the conversion, call :meth:`result` after: the hash runs alongside
    the copy instead of after it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = expand(path)
        self._before = [_identity(f) for f in self._files]
        self._digest = hashlib.sha256()
        self._error: BaseException | None = None
        self._facts: SourceFacts | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emdconvert-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            buffer = bytearray(_CHUNK)
            view = memoryview(buffer)
            for file in self._files:
                with open(file, "rb", buffering=0) as handle:
                    while not self._cancelled.is_set():
                        n = handle.readinto(buffer)
                        if not n:
                            break
                        self._digest.update(view[:n])
            if self._cancelled.is_set():
                self._error = RuntimeError("the source hash was cancelled")
        except BaseException as exc:  # reported to the caller by result()
            self._error = exc

    def cancel(self) -> None:
        """Stop hashing and wait for the thread: the conversion it was for will not run."""
        self._cancelled.set()
        self._thread.join()

    @property
    def size(self) -> int:
        """Bytes in the source's files, as they were when the digest started."""
        return sum(before[0] for before in self._before)

    def result(self) -> SourceFacts:
        """Wait for the hash and return the source facts.

        Raises :class:`~emdconvert.errors.InputError` (kind ``changed``) when a file was
        replaced, grown or rewritten while it was read (README, Safety rules R13): the
        output would mix old and new data, so it must not be published.  The files are
        looked at on every call, not only the first: the provenance entry asks before
        the output is verified, the publication step asks again just before the rename.
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        for file, before in zip(self._files, self._before, strict=True):
            if _identity(file) != before:
                raise InputError(
                    "the source changed while it was being converted; "
                    "nothing was written (convert it again once it is "
                    "complete)",
                    path=file,
                    kind="changed",
                )
        if self._facts is None:
            self._facts = SourceFacts(
                self.path.name,
                self.size,
                max((b[1] for b in self._before), default=0),
                self._digest.hexdigest(),
            )
        return self._facts


def _identity(path: Path) -> tuple[int, int, int, int]:
    """(size, mtime_ns, inode, device): what changes when a file is rewritten or swapped."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return (-1, -1, -1, -1)
    return info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev


def conversion_comment(
    *,
    reader: str,
    reader_libraries: Mapping[str, str],
    writer: str,
    writer_libraries: Mapping[str, str],
    source: SourceFacts | None,
    options: Mapping[str, Any],
) -> Comment:
    """The provenance entry for one write."""
    entry: dict[str, Any] = {
        "event": "convert" if source is not None else "write",
        "tool": f"emdconvert {tool_version()}",
        "reader": {"plugin": reader, **dict(reader_libraries)},
        "writer": {"plugin": writer, **dict(writer_libraries)},
        "source": None if source is None else source.as_dict(),
        "options": {k: v for k, v in options.items() if v is not None},
    }
    return Comment.now(json.dumps(entry, sort_keys=True))


def parse_comment(message: str) -> dict[str, Any] | None:
    """Our JSON provenance entry as a dict, or None for someone else's free text."""
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _parse_timestamp(key: str) -> _dt.datetime:
    """A comment key as a time (the formats emdconvert, ncempy and rsciio write)."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S (UTC)", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return _dt.datetime.strptime(key, fmt).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            continue
    return _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def read_comments(h5: h5py.File) -> tuple[Comment, ...]:
    """The ``comments`` log, each entry keeping its original key."""
    group = h5.get("comments")
    if group is None:
        return ()
    return tuple(
        Comment(_parse_timestamp(key), text(value), original_key=key, original_value=value)
        for key, value in group.attrs.items()
    )


def append_comment(path: Path, comment: Comment) -> None:
    """Append *comment* to the ``comments`` log of the EMD file at *path*."""
    import h5py

    from emdconvert.emd.writer import append_comments

    with h5py.File(path, "r+") as h5:
        append_comments(h5, [comment])
