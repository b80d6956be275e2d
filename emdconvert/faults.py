"""Fault injection for the crash-safety tests; inert unless ``EMDCONVERT_TEST_FAULT`` is set.

Crash safety cannot be shown by killing a process after a random sleep alone: the
interesting points (half the data written, the file verified but not yet published,
published but the caller not yet told) are milliseconds wide.  Tests need a hook they
can aim with; this is it, read once per process.

``EMDCONVERT_TEST_FAULT=ACTION@POINT`` where ACTION is

- ``kill``: SIGKILL this process (what a power cut or the OOM killer does to a writer);
- ``raise``: raise ``OSError(EIO)``, as a failing disk would;
- ``corrupt``: zero the first data chunk of the file being written, then carry on
  (what HDF5 leaves where a write never arrived, README, Safety rules R3),
- ``hang`` or ``hang:S``: stop there for an hour (or S seconds), then carry on (a
  reader stuck on a dead share; or a window in which a test changes the source),

and POINT is ``write:F`` (once a fraction F of the data has been copied),
``before_verify``, ``before_publish`` or ``after_publish`` in a conversion, or
``daemon_after_claim`` / ``daemon_after_publish`` in the watch daemon (its claim is
committed but not handed out; an output is published but the ledger not yet updated).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

ENV = "EMDCONVERT_TEST_FAULT"


def _planned() -> tuple[str, str] | None:
    value = os.environ.get(ENV, "")
    action, _, point = value.partition("@")
    return (action, point) if action and point else None


def write_fraction() -> float | None:
    """The ``write:F`` fraction to fail at, or None when no write fault is planned."""
    planned = _planned()
    if planned is None or not planned[1].startswith("write:"):
        return None
    return float(planned[1].split(":", 1)[1])


def reached(point: str, path: Path | None = None) -> None:
    """Called at each named point; does what ``EMDCONVERT_TEST_FAULT`` plans there."""
    planned = _planned()
    if planned is None or planned[1].split(":", 1)[0] != point.split(":", 1)[0]:
        return
    action = planned[0]
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "raise":
        raise OSError(errno.EIO, f"injected fault at {point}")
    elif action == "corrupt" and path is not None:
        _zero_first_chunk(path)
    elif action.partition(":")[0] == "hang":
        time.sleep(float(action.partition(":")[2] or 3600))


def _zero_first_chunk(path: Path) -> None:
    import h5py

    from emdconvert.emd.spec import emd_groups

    with h5py.File(path, "r+") as h5:
        data = emd_groups(h5)[0]["data"]
        chunk = data.chunks or data.shape
        data[tuple(slice(0, n) for n in chunk)] = 0
