"""Where a conversion's time goes: each stage of ``input -> EMD`` timed on its own.

Run on demand (not part of the test suite)::

    PYTHONPATH=tests python tests/benchmarks/stage_profile.py --shape npy-stack --reps 3
    PYTHONPATH=tests python tests/benchmarks/stage_profile.py --shape npy-4dstem --gib 4
    PYTHONPATH=tests python tests/benchmarks/stage_profile.py --shape tiff

For one input written by other software (a shape users have from
:data:`support.bench_inputs.SHAPES`, written by numpy, or the harness's int16 stack as
``npy``, BigTIFF by tifffile or DM4 by nionswift-io): **open** it in a new Python process
(interpreter start, imports and the plugin's header and calibration reading: what
``emdconvert`` pays before the first byte of data), then, in this
process, **read** every source block the writer reads (page cache warm), **hash** the
file (SHA-256, as provenance does), **transpose** every block to x-first in memory,
**write** every stored chunk with direct chunk writes (no fsync), **fsync** that file,
**verify** it (the spec check and the sampled read-back ``convert`` runs), then the
whole **convert** (x-first and C order) next to **cp+fsync** of the same bytes.  Each
stage is run ``--reps`` times in rotation; the table gives median and minimum seconds
and the median as a fraction of ``cp+fsync``, plus the chunk layout chosen.  Stages run
on two cores at once in ``convert`` (hash, read/transpose and write overlap), so the
stages add up to more than the whole.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
from support.bench_inputs import FORMATS, SHAPES, ensure_inputs, shaped_input

import emdconvert
from emdconvert.emd.blockcopy import ChunkWriter, raw_bytes, source_chunk
from emdconvert.emd.provenance import SourceDigest
from emdconvert.emd.transpose import to_stored, use_simd_transpose
from emdconvert.lazy import block_indices
from emdconvert.plugins.emd import EMDPlugin


def stages(src: Path, work: Path) -> dict[str, Callable[[], None]]:
    model = emdconvert.read(src)
    data = model.datasets[0].data
    shape, dtype = tuple(data.shape), np.dtype(data.dtype)
    block = source_chunk(shape, dtype.itemsize, True)
    indices = list(block_indices(shape, block))
    buffer = np.empty(block, dtype)
    stored = np.empty(block[::-1], dtype)
    use_simd_transpose()

    def read() -> None:
        for index in indices:
            if tuple(s.stop - s.start for s in index) == block:
                data.read_into(index, buffer)
            else:
                np.asarray(data[index])

    def open_() -> None:
        script = "import sys, emdconvert; emdconvert.read(sys.argv[1]).close()"
        subprocess.run([sys.executable, "-c", script, str(src)], check=True)

    def hash_() -> None:
        SourceDigest(src).result()

    def transpose() -> None:
        for _ in indices:
            to_stored(buffer, stored, transpose=True)

    out = work / "stages.h5"

    def write() -> None:
        with h5py.File(out, "w") as h5:
            target = h5.create_dataset("d", shape=shape[::-1], dtype=dtype, chunks=block[::-1])
            writer = ChunkWriter(target, raw_bytes)
            for index in indices:
                piece = tuple(s.stop - s.start for s in index)[::-1]
                array = stored if piece == stored.shape else np.zeros(piece, dtype)
                offset = tuple(s.start for s in index[::-1])
                writer.write(writer.prepare(offset, array))

    def fsync() -> None:
        write()
        fd = os.open(out, os.O_RDONLY)
        start = time.perf_counter()
        os.fsync(fd)
        os.close(fd)
        timings["fsync"].append(time.perf_counter() - start)

    converted = work / "converted.emd"

    def verify() -> None:
        if not converted.exists():
            emdconvert.convert(src, converted)
        EMDPlugin().verify(model, converted)

    def convert(axis_order: str) -> Callable[[], None]:
        def run() -> None:
            target = work / f"full-{axis_order}.emd"
            target.unlink(missing_ok=True)
            emdconvert.convert(src, target, axis_order=axis_order)

        return run

    def cp_fsync() -> None:
        copy = work / "copy.npy"
        copy.unlink(missing_ok=True)
        shutil.copyfile(src, copy)
        fd = os.open(copy, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    return {
        "open": open_,
        "read": read,
        "hash": hash_,
        "transpose": transpose,
        "write": write,
        "fsync": fsync,
        "verify": verify,
        "convert x-first": convert("x-first"),
        "convert c": convert("c"),
        "cp+fsync": cp_fsync,
    }


timings: dict[str, list[float]] = {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted((*FORMATS, *SHAPES)), default="npy-stack")
    parser.add_argument("--gib", type=float, default=2.0, help="input size in GiB")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    work = args.dir / f"emdconvert-stages-{args.shape}"
    work.mkdir(parents=True, exist_ok=True)
    size = int(args.gib * 2**30)
    if args.shape in SHAPES:
        src = shaped_input(work, args.shape, size)
    else:
        src = ensure_inputs(work, size, (args.shape,))[args.shape]
    with emdconvert.read(src) as model:
        shape, dtype = model.datasets[0].shape, model.datasets[0].dtype
    with open(src, "rb") as handle:  # warm the page cache, as the harness does
        while handle.read(64 << 20):
            pass
    steps = stages(src, work)
    for name in steps:
        timings[name] = []
    for rep in range(args.reps):
        names = list(steps)
        names = names[rep % len(names) :] + names[: rep % len(names)]
        for name in names:
            os.sync()
            start = time.perf_counter()
            steps[name]()
            if name != "fsync":  # fsync records its own time (the write is not part)
                timings[name].append(time.perf_counter() - start)
    size = src.stat().st_size
    reference = statistics.median(timings["cp+fsync"])
    block = source_chunk(shape, dtype.itemsize, True)
    print(
        f"{args.shape} {shape} {dtype}, {size / 2**30:.2f} GiB, {args.reps} rounds, "
        f"x-first chunks {block[::-1]} (stored order), load {os.getloadavg()[0]:.1f}"
    )
    print("| stage | median s | min s | GB/s | / cp+fsync |\n|---|---:|---:|---:|---:|")
    for name, values in timings.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.2f} | {min(values):.2f} | {size / median / 1e9:.2f} | "
            f"{median / reference:.2f}x |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"shape": args.shape, "bytes": size, "chunks": block[::-1], "timings": timings}
            )
        )
    (work / "stages.h5").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
