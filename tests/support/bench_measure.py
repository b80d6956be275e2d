"""Run a command as a child process and measure it: wall time and its own peak RSS.

Peak RSS is the kernel's high-water mark ``VmHWM`` of the child's own address space,
read every few milliseconds until it exits.  (``wait4``'s ``ru_maxrss`` would be wrong
here: Linux carries the forked copy of this harness's memory into it across ``exec``.)
The mark only grows, so the last reading is the peak unless the tool grew in its final
milliseconds.  ``os.sync()`` before every run makes each run pay for its own writeback,
not for the dirty pages the previous tool left behind (the largest noise source on
these shared machines).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """One measured run of one command."""

    seconds: float
    peak_rss_bytes: int
    exit_code: int
    output_bytes: int
    stderr: str


def warm(path: Path) -> None:
    """Read *path* once so it sits in the page cache (the issue's "warm cache")."""
    buffer = bytearray(16 << 20)
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass


def run_measured(argv: list[str], output: Path, *, timeout: float = 3600.0) -> Run:
    """Run *argv*; return its wall time, peak RSS and the size of *output* it wrote."""
    os.sync()
    with tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
        deadline = start + timeout
        peak = 0
        while True:
            peak = max(peak, _high_water_mark(child.pid))
            pid, status, _ = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                pid, status, _ = os.wait4(child.pid, 0)
                break
            time.sleep(0.003)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read()
    size = output.stat().st_size if output.is_file() else 0
    return Run(seconds, peak, child.returncode, size, stderr.strip())


def _high_water_mark(pid: int) -> int:
    """``VmHWM`` of *pid* in bytes; 0 once it has exited (or before it has memory)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> float:
    """max / min of the repetitions: how noisy the machine was for this row."""
    return max(values) / min(values) if values and min(values) > 0 else float("nan")


def available_memory() -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable)."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return resource.getrlimit(resource.RLIMIT_AS)[0]
