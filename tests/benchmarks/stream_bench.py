"""Benchmark: StreamWriter.append against a plain h5py loop, 512x512 uint16 frames.

    python tests/benchmarks/stream_bench.py [--frames 3000] [--reps 5] [--dir DIR]

The issue's target: appending sustains >= 0.8x the frame rate of a plain h5py loop
writing the same frames into a contiguous dataset.  Both run in one process, alternating,
``--reps`` rounds, each to a fresh file (old outputs deleted and ``sync`` run outside the
timing); the median of each is compared.  The frames come from a 16-frame ring, as a
camera driver's buffers would.

The sustained rate is what acquisition software sees: frames over the time from opening
the writer to its last ``append`` returning, with the transpose to the x-first layout
included.  The default 3000 frames are 24 times the queue, so the writer thread's
throughput sets it, not the head start the queue gives.  End to end, StreamWriter also
validates and fsyncs before publishing, which the plain loop does not; that ratio is
printed as well, next to the plain loop with an fsync (the same durability).
Informational rows: StreamWriter in C order (no transpose), and gzip level 1 against
h5py's own gzip filter at level 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from emdconvert import StreamWriter
from emdconvert.emd.stream import QUEUE_BYTES

SHAPE = (512, 512)


def ring(count: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    # Camera-like data: Poisson counts, so gzip has something realistic to chew on.
    return [rng.poisson(40.0, SHAPE).astype(np.uint16) for _ in range(count)]


def plain_h5py(
    path: Path, frames: list[np.ndarray], n: int, gzip: bool, fsync: bool = False
) -> None:
    options = {"compression": "gzip", "compression_opts": 1, "chunks": (1, *SHAPE)} if gzip else {}
    with h5py.File(path, "w") as h5:
        data = h5.create_dataset("data", (n, *SHAPE), np.uint16, **options)
        for k in range(n):
            data[k] = frames[k % len(frames)]
    if fsync:
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


#: Seconds from opening a StreamWriter to its last append returning (the producer's view).
APPENDS: list[float] = []


def stream(
    path: Path,
    frames: list[np.ndarray],
    n: int,
    compression: str | None,
    axis_order: str = "x-first",
) -> None:
    start = time.perf_counter()
    with StreamWriter(
        path, SHAPE, np.uint16, compression=compression, axis_order=axis_order
    ) as writer:
        for k in range(n):
            writer.append(frames[k % len(frames)])
        if compression is None and axis_order == "x-first":
            APPENDS.append(time.perf_counter() - start)


def timed(run: Callable[[Path], None], path: Path) -> float:
    if path.exists():
        path.unlink()
    os.sync()
    start = time.perf_counter()
    run(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    frames, n = ring(), args.frames
    tools: dict[str, Callable[[Path], None]] = {
        "h5py": lambda p: plain_h5py(p, frames, n, gzip=False),
        "h5py+fsync": lambda p: plain_h5py(p, frames, n, gzip=False, fsync=True),
        "StreamWriter": lambda p: stream(p, frames, n, None),
        "StreamWriter-c": lambda p: stream(p, frames, n, None, "c"),
        "h5py-gzip1": lambda p: plain_h5py(p, frames, n, gzip=True),
        "StreamWriter-gzip1": lambda p: stream(p, frames, n, "gzip:1"),
    }
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        times: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.reps):
            for name, run in tools.items():
                times[name].append(timed(run, Path(tmp) / f"{name}.h5"))
        sizes = {name: (Path(tmp) / f"{name}.h5").stat().st_size for name in tools}
    mb = n * np.prod(SHAPE) * 2 / 1e6
    print(f"{n} frames of 512x512 uint16 ({mb:.0f} MB), {args.reps} alternating rounds")
    print("| tool | median s | frames/s | MB/s | output MB | max/min |")
    print("|---|---:|---:|---:|---:|---:|")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"| {name} | {medians[name]:.3f} | {n / medians[name]:.0f} | "
            f"{mb / medians[name]:.0f} | {sizes[name] / 1e6:.0f} | "
            f"{max(values) / min(values):.2f} |"
        )
    sustained = medians["h5py"] / statistics.median(APPENDS)
    print(
        f"\nsustained append rate (open to last append; the queue holds "
        f"{QUEUE_BYTES >> 20} MiB) / plain h5py loop: {sustained:.2f}x "
        f"(target >= 0.8x: {'met' if sustained >= 0.8 else 'missed'})"
    )
    print(
        f"StreamWriter / plain h5py, end to end (published: validated, fsynced): "
        f"{medians['h5py'] / medians['StreamWriter']:.2f}x"
    )
    print(
        f"StreamWriter / h5py+fsync (same durability), end to end: "
        f"{medians['h5py+fsync'] / medians['StreamWriter']:.2f}x"
    )
    print(f"StreamWriter C order / plain h5py: {medians['h5py'] / medians['StreamWriter-c']:.2f}x")
    print(
        f"gzip:1 StreamWriter / h5py gzip filter: "
        f"{medians['h5py-gzip1'] / medians['StreamWriter-gzip1']:.2f}x (information)"
    )


if __name__ == "__main__":
    main()
