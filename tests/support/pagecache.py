"""Bytes of one file that a piece of code made the kernel read from disk.

The honest measure of "what a preview read" is not what it asked for but what came off
the disk: HDF5 reads whole chunks, and a memory map or a ``pread`` pulls in the
kernel's readahead (``/sys/block/*/queue/read_ahead_kb``, 8 MiB on our CI machines).
So the test drops the file from the page cache (``fsync``, then
``posix_fadvise(POSIX_FADV_DONTNEED)``), runs the code, and counts the file's pages
that are resident afterwards with ``mincore(2)``: every one of them was read from disk
(readahead included) by that code.  Unlike ``/proc/self/io``'s ``read_bytes`` this
counts only this file (not the Python modules and fonts a first preview imports) and
does not depend on the process's other reads; unlike a counting file object it sees
what the kernel really did.  :func:`cached_bytes` returns None where the page cache
cannot be dropped (a file system that ignores the hint, e.g. tmpfs), and the test skips.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path

PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def resident_bytes(path: Path) -> int:
    """Bytes of *path* in the page cache now (``mincore`` over a fresh mapping, which
    touches no page itself)."""
    size = path.stat().st_size
    if not size:
        return 0
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap failed", str(path))
        try:
            pages = (size + PAGE - 1) // PAGE
            vec = (ctypes.c_ubyte * pages)()
            if _libc.mincore(ctypes.c_void_p(addr), size, vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed", str(path))
            return sum(b & 1 for b in bytes(vec)) * PAGE
        finally:
            _libc.munmap(ctypes.c_void_p(addr), size)
    finally:
        os.close(fd)


def drop(path: Path) -> bool:
    """Write *path* back and drop it from the page cache; False if it stays cached."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return resident_bytes(path) <= 16 * PAGE
