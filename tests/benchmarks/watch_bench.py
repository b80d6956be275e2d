"""Watch-daemon benchmark (on demand): burst throughput, stable-to-published latency, and
the idle cost of polling a large folder (README, Watch folder).

    export PYTHONPATH=tests  # from the project root: the support/ helpers
    python tests/benchmarks/watch_bench.py [--files 1000] [--backends inotify,polling]
        [--workers 2] [--idle-files 30000] [--idle-seconds 60] [--json results.json]

*Burst*: the real daemon (``emdconvert watch`` in a subprocess, stability window 1 s)
watches an empty folder; N small ``.npy`` files (64x64 float32, distinct contents) are
copied in by rename, 10 % of them written slowly in place, as in
tests/watch/test_watch_load.py.  Throughput
is N divided by the time from the burst's start to the last ``done`` row; latency is the
ledger's ``finished - stable_at`` of each file (the daemon's own clock: from the moment
the file passed the stability test to its output being published), which in a burst is
mostly queueing; "one file alone" is the same latency for single files dropped into the
idle daemon afterwards (median of 10).

*Idle*: a folder of M candidate files that the ledger already lists as converted, with
``--poll`` at the default 10 s interval and the default 60 s reconcile scan; CPU is the
daemon's and its workers' user+system time over the window, as % of one core.

Targets: >= 20 files/s on 2 cores; idle polling < 5 % of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from support.watch_daemon import DaemonHandle, burst, daemon_args, wait_for

from emdconvert.watch.ledger import Ledger
from emdconvert.watch.stability import Signature

BURST_OPTIONS = {
    "stability": 1.0,
    "min_age": 1.0,
    "poll_interval": 1.0,
    "rescan_interval": 10.0,
    "shutdown_grace": 5.0,
}


def _start(work: Path, backend: str, options: dict[str, Any]) -> DaemonHandle:
    for name in ("in", "out"):
        (work / name).mkdir(parents=True, exist_ok=True)
    args = daemon_args(work / "in", work / "out", work / "state", backend, options, defaults={})
    daemon = DaemonHandle(
        args, dict(os.environ), work / "in", work / "out", work / "state", work / "daemon.log"
    )
    daemon.wait_watching(60)
    return daemon


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_burst(work: Path, backend: str, files: int, workers: int) -> dict[str, Any]:
    daemon = _start(work, backend, {**BURST_OPTIONS, "workers": workers})
    start = time.time()
    burst(daemon.in_dir, files)
    wait_for(
        lambda: sum(s == "done" for s in daemon.states().values()) == files,
        timeout=3600,
        step=0.5,
        what=f"{files} done rows",
    )
    rss = psutil.Process(daemon.pid).memory_info().rss
    rows = daemon.rows()
    last = max(r.finished or 0.0 for r in rows)
    latency = [
        r.finished - r.stable_at for r in rows if r.finished is not None and r.stable_at is not None
    ]
    single = []
    for i in range(10):  # one file at a time into an idle daemon: latency without a queue
        name = f"single{i}.npy"
        np.save(daemon.in_dir / name, np.full((64, 64), -1 - i, dtype=np.float32))
        wait_for(lambda n=name: daemon.states().get(n) == "done", timeout=60, step=0.02, what=name)
        (row,) = daemon.rows(name)
        single.append(row.finished - row.stable_at)
    assert daemon.stop() == 0
    return {
        "backend": backend,
        "files": files,
        "workers": workers,
        "seconds": round(last - start, 2),
        "files_per_s": round(files / (last - start), 1),
        "latency_p50_s": round(statistics.median(latency), 3),
        "latency_p95_s": round(_percentile(latency, 0.95), 3),
        "latency_max_s": round(max(latency), 3),
        "single_file_latency_s": round(statistics.median(single), 3),
        "daemon_rss_mb": round(rss / 2**20),
        "outputs": len(daemon.outputs()),
    }


def measure_idle(work: Path, files: int, seconds: float) -> dict[str, Any]:
    """Polling cost of a folder whose *files* are all converted already."""
    in_dir = work / "in"
    in_dir.mkdir(parents=True)
    (work / "state").mkdir()
    ledger = Ledger(work / "state")
    with ledger.batch():
        for i in range(files):
            path = in_dir / f"frame{i:06d}.npy"
            path.write_bytes(b"converted earlier")
            row = ledger.add(path.name, Signature.of(os.lstat(path)), "bench")
            ledger.update(row, state="done", output=f"frame{i:06d}.emd")
    ledger.close()
    daemon = _start(work, "polling", {"workers": 2})  # defaults: poll 10 s, rescan 60 s
    time.sleep(2.0)  # start-up scan and worker start-up are not "idle"
    process = psutil.Process(daemon.pid)
    family = [process, *process.children(recursive=True)]
    cpu_before = sum(sum(p.cpu_times()[:2]) for p in family)
    rss_before = process.memory_info().rss
    time.sleep(seconds)
    cpu = sum(sum(p.cpu_times()[:2]) for p in family) - cpu_before
    rss_growth = process.memory_info().rss - rss_before
    assert daemon.stop() == 0
    return {
        "files": files,
        "seconds": seconds,
        "cpu_percent": round(100 * cpu / seconds, 2),
        "rss_growth_mb": round(rss_growth / 2**20, 1),
        "new_rows": len(daemon.rows()) - files,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--backends", default="inotify,polling")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle-files", type=int, default=30000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "burst": [], "idle": None}
    with tempfile.TemporaryDirectory(prefix="emdconvert-watch-bench-") as tmp:
        for backend in args.backends.split(","):
            results["burst"].append(
                measure_burst(Path(tmp) / f"burst-{backend}", backend, args.files, args.workers)
            )
        if args.idle_files:
            results["idle"] = measure_idle(Path(tmp) / "idle", args.idle_files, args.idle_seconds)
    print(
        "| backend | files | workers | s | files/s | latency p50 s | p95 s | max s | "
        "one file alone s | daemon RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results["burst"]:
        print(
            f"| {row['backend']} | {row['files']} | {row['workers']} | {row['seconds']} | "
            f"{row['files_per_s']} | {row['latency_p50_s']} | {row['latency_p95_s']} | "
            f"{row['latency_max_s']} | {row['single_file_latency_s']} | "
            f"{row['daemon_rss_mb']} |"
        )
    idle = results["idle"]
    if idle is not None:
        print(
            f"\nidle polling of {idle['files']} files over {idle['seconds']:g} s: "
            f"{idle['cpu_percent']} % of one core, RSS growth {idle['rss_growth_mb']} MB, "
            f"{idle['new_rows']} new ledger rows"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    met = all(r["files_per_s"] >= 20 for r in results["burst"]) and (
        idle is None or idle["cpu_percent"] < 5
    )
    print("\ntargets (>= 20 files/s; idle < 5 % of a core):", "met" if met else "NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
