"""A deadline on libhdf5 parsing an untrusted file's metadata, in a forked child.

libhdf5 trusts the structures it reads.  A damaged global heap (where variable-length
strings live) sends ``H5HG__cache_heap_deserialize`` into an endless loop inside one
``H5Aread``: found by the differential fuzzer on a one-byte insertion into a real EMD
file, HDF5 2.0.0 (h5py 3.16).  The loop holds the GIL, so no thread, signal handler or
timeout of ours can stop it; a CLI run would never end, and a daemon worker would sit
until its time limit.  Other damage makes libhdf5 crash the process outright.

So before we (or rsciio) read an HDF5 file's attributes, a forked child reads every
object header and attribute, and the small string datasets readers parse, under a
deadline.  Parsing metadata is deterministic: if the child finishes, the same reads in
this process finish too; if it loops past the deadline or dies of a signal, the file is
refused as corrupt and this process never touches the poison.  The child costs a
``fork`` and a metadata walk (milliseconds for EMD files); its verdict is kept per file
identity, so sniffing, the completeness check and the read share one probe.  Where
``fork`` does not exist (Windows) nothing is probed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any

from emdconvert.errors import FormatError

#: Seconds the child may take; a healthy file's metadata walk takes milliseconds (a
#: slow network share may add seconds).
DEADLINE = 10.0
#: String and variable-length datasets the child reads whole, up to this many bytes.
SMALL_DATASET = 1 << 20

#: Verdicts by file identity: None for a file that passed, else why it is refused.  Only
#: the latest few are kept: one conversion asks three times, a daemon asks for months.
_verdicts: dict[tuple[int, int, int, int], str | None] = {}
_KEPT = 64


def probe(path: Path, deadline: float | None = None) -> None:
    """Raise :class:`FormatError` if libhdf5 cannot read *path*'s metadata in *deadline*
    seconds (default :data:`DEADLINE`) without looping or crashing, or reports damage
    in it.  A file libhdf5 cannot open at all is left to the real open, which says why
    (cut short, locked by a writer, not HDF5).
    """
    if not hasattr(os, "fork"):
        return
    try:
        info = path.stat()
    except OSError:
        return  # the real open says why
    identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    if identity not in _verdicts:
        if len(_verdicts) >= _KEPT:
            del _verdicts[next(iter(_verdicts))]
        _verdicts[identity] = _verdict(path, DEADLINE if deadline is None else deadline)
    reason = _verdicts[identity]
    if reason is not None:
        raise FormatError(reason)


def _verdict(path: Path, deadline: float) -> str | None:
    """None when a child read *path*'s metadata in time, else the reason it did not."""
    import h5py

    read_end, write_end = os.pipe()
    # Holding h5py's lock across fork: no other thread of ours can hold it in the child.
    with h5py._objects.phil, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
        if pid == 0:  # the child: walk, report, leave without running any cleanup
            os.close(read_end)
            code = 2  # cannot open, or failed otherwise: the real read will say
            try:
                with h5py.File(path, "r") as h5:
                    try:
                        _read_metadata(h5)
                        code = 0
                    except (RuntimeError, OSError) as exc:  # libhdf5's "this is damaged"
                        os.write(write_end, " ".join(str(exc).split())[:300].encode())
                        code = 1
            finally:
                os._exit(code)
    os.close(write_end)
    try:
        status = _wait(pid, deadline)
        said = os.read(read_end, 400).decode("utf-8", "replace")
    finally:
        os.close(read_end)
    if status is None:
        return (
            f"the HDF5 library did not finish reading the file's metadata in "
            f"{deadline:.0f} s (a loop in damaged structures)"
        )
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return f"the HDF5 library crashed ({name}) reading the file's metadata"
    if os.WEXITSTATUS(status) == 1:
        return f"damaged HDF5 metadata: {said}"
    return None


def _wait(pid: int, deadline: float) -> int | None:
    """The child's status, or None after killing it at *deadline*."""
    end = time.monotonic() + deadline
    pause = 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= end:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _read_metadata(h5: Any) -> None:
    import h5py

    from emdconvert.emd.spec import walk_links

    _attributes(h5)
    for _, _, obj in walk_links(h5):
        if obj is None:
            continue
        _attributes(obj)
        if isinstance(obj, h5py.Dataset) and _parsed_whole(obj):
            obj[()]


def _attributes(obj: Any) -> None:
    for name in obj.attrs:
        obj.attrs[name]


def _parsed_whole(dataset: Any) -> bool:
    """Strings and other variable-length data: what readers parse as metadata."""
    dtype = dataset.dtype
    return (dtype.kind in "OSU" or dtype.names is not None) and dataset.size * max(
        dtype.itemsize, 1
    ) <= SMALL_DATASET
