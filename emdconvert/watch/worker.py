"""What a worker process does with one claimed file: check it, convert it, say how it went.

This runs in a child process (see ``pool``): a reader that segfaults, exhausts memory or
hangs takes only this process down (README, Safety rules W4 and R4).  The conversion is
the one pipeline's :func:`~emdconvert.pipeline.prepare` and
:func:`~emdconvert.pipeline.run`; the completeness check is part of ``prepare``, run
here rather than in the daemon so a crafted HDF5 header cannot crash the daemon either.
The worker never raises: every outcome, including a bug, comes back as a
:class:`Result`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import resource
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from emdconvert.errors import EmdConvertError, IncompleteError, OutputExistsError
from emdconvert.pipeline import Request
from emdconvert.watch.outcomes import Outcome
from emdconvert.watch.stability import Signature

_PR_SET_PDEATHSIG = 1
#: A worker's first message: imports done, its time limit may start with the next task.
READY = "ready"


@dataclass(frozen=True)
class Task:
    """Convert *source* to *target*, provided the file still has *signature*."""

    row_id: int
    source: str
    target: str
    signature: Signature
    request: Request = field(default_factory=Request)


#: Result outcomes (see :class:`~emdconvert.watch.outcomes.Outcome`).
OUTCOMES = tuple(Outcome)


@dataclass(frozen=True)
class Result:
    """How one task went."""

    row_id: int
    outcome: Outcome
    sha256: str | None = None
    kind: str | None = None
    exit_code: int = 0
    exception_class: str | None = None
    detail: str = ""
    seconds: float = 0.0


def sha256_of(path: str | Path) -> str:
    """The file's SHA-256, streamed (the same digest provenance records)."""
    digest = hashlib.sha256()
    buffer = bytearray(4 * 2**20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def source_provenance(output: Path) -> dict[str, Any] | None:
    """The ``source`` facts of *output*'s newest emdconvert conversion entry, if any."""
    import h5py

    from emdconvert.emd.provenance import parse_comment, read_comments

    try:
        with h5py.File(output, "r") as h5:
            comments = read_comments(h5)
    except (OSError, ValueError, RuntimeError):
        return None
    for comment in reversed(comments):
        entry = parse_comment(comment.message)
        if entry and entry.get("event") == "convert" and isinstance(entry.get("source"), dict):
            return entry["source"]
    return None


def _class_name(exc: BaseException) -> str:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    module = type(cause).__module__
    name = type(cause).__qualname__
    return name if module == "builtins" else f"{module}.{name}"


def _changed_since(task: Task) -> bool:
    """True when the source is no longer the file the task was claimed for."""
    try:
        return Signature.of(os.lstat(task.source)) != task.signature
    except OSError:
        return True


def _failure(task: Task, exc: EmdConvertError, start: float) -> Result:
    """A failure is the file's fault only if the file held still while it was read.

    A source rewritten during the conversion fails it in many ways (``changed`` from the
    digest, "written data differ" from the read-back, a garbled header mid-rewrite); none
    is a verdict on the final content, which is converted once it is stable again.
    """
    detail = " ".join(str(exc).split())
    if exc.kind == "changed" or _changed_since(task):
        return Result(task.row_id, Outcome.CHANGED, detail=detail)
    outcome = Outcome.ENVIRONMENT if exc.exit_code == 4 else Outcome.FAILED
    return Result(
        task.row_id,
        outcome,
        kind=exc.kind,
        exit_code=exc.exit_code,
        exception_class=_class_name(exc),
        detail=detail,
        seconds=time.perf_counter() - start,
    )


def _existing_output(task: Task, start: float) -> Result:
    """The target exists: ours for this very content (published), or another file's."""
    facts = source_provenance(Path(task.target))
    digest = sha256_of(task.source)
    outcome = (
        Outcome.PUBLISHED
        if facts is not None and facts.get("sha256") == digest
        else Outcome.NAME_TAKEN
    )
    return Result(task.row_id, outcome, sha256=digest, seconds=time.perf_counter() - start)


def run(task: Task) -> Result:
    """Check, convert and verify one file; never raises.

    One :func:`~emdconvert.pipeline.prepare` (completeness, destination, read, budgets)
    and one :func:`~emdconvert.pipeline.run`; the source facts provenance recorded come
    back from the run, so the output is not reopened to learn them.
    """
    from emdconvert.pipeline import prepare
    from emdconvert.preview.beside import run_with_preview as publish

    start = time.perf_counter()
    target = Path(task.target)
    try:
        info = os.lstat(task.source)
        if Signature.of(info) != task.signature:
            return Result(task.row_id, Outcome.CHANGED, detail="changed since it was stable")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            prepared = prepare(task.source, target, task.request)
            publish(prepared)
        except OutputExistsError:
            return _existing_output(task, start)
        facts = prepared.facts()
        if (facts.size, facts.mtime_ns) != (task.signature.size, task.signature.mtime_ns):
            target.unlink()  # it was read while changing: discard, retry later (README R13)
            return Result(task.row_id, Outcome.CHANGED, detail="changed while it was converted")
        return Result(
            task.row_id, Outcome.DONE, sha256=facts.sha256, seconds=time.perf_counter() - start
        )
    except FileNotFoundError:
        return Result(task.row_id, Outcome.CHANGED, detail="the file went away")
    except IncompleteError as exc:
        return Result(
            task.row_id,
            Outcome.INCOMPLETE,
            kind=exc.kind,
            exit_code=exc.exit_code,
            exception_class=_class_name(exc),
            detail=" ".join(str(exc).split()),
        )
    except EmdConvertError as exc:
        return _failure(task, exc, start)
    except Exception as exc:  # a bug: reported for this file, the daemon carries on
        return Result(
            task.row_id,
            Outcome.FAILED,
            kind="internal",
            exit_code=70,
            exception_class=_class_name(exc),
            detail=f"internal error: {type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - start,
        )


def _limit_child(memory_limit_mb: int | None) -> None:
    """Memory cap, die with the daemon, leave SIGTERM/SIGINT to the daemon."""
    if memory_limit_mb is not None:
        limit = memory_limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def serve(conn: Connection, memory_limit_mb: int | None) -> None:
    """A worker's life: tasks in, results out, until told to stop or the daemon is gone."""
    _limit_child(memory_limit_mb)
    import h5py  # noqa: F401  (every task writes HDF5: import before the clock starts)

    import emdconvert.pipeline  # noqa: F401

    conn.send(READY)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(run(task))
