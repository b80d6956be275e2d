"""Benchmark: converting a large numeric CSV, against numpy.loadtxt and pandas.read_csv.

Run on demand (not part of the test suite)::

    export PYTHONPATH=tests  # from the project root: the support/ helpers
    python tests/benchmarks/csv_bench.py                 # ~200 MB table, 1 round
    python tests/benchmarks/csv_bench.py --mb 50 --reps 3

The issue's target (issue 12): emdconvert's peak RSS while converting the CSV to EMD is
at most the parsed array plus 200 MB (it used to be ~4.5 GB for 200 MB of text, every
cell a Python object).  The input is generated under ``--work`` (default: a temp dir,
never the repository) and reused.  Each tool runs in its own child process, measured by
:func:`support.bench_measure.run_measured` (wall time, the child's own ``VmHWM``); rows are medians.
numpy and pandas only parse into memory, so their times are a floor for "parse"; ours
also writes, validates and publishes the EMD file.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from support.bench_measure import Run, median, run_measured, warm

COLUMNS = 8
#: Bytes of one row as generated, on average ("%.9g" normal floats, comma-separated).
ROW_BYTES = 91


def make_input(work: Path, megabytes: int) -> tuple[Path, tuple[int, int]]:
    """A float table of about *megabytes* MB of text; (path, shape), reused if present."""
    rows = megabytes * 1_000_000 // ROW_BYTES
    path = work / f"table_{rows}x{COLUMNS}.csv"
    if not path.exists():
        rng = np.random.default_rng(0)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as handle:
            for start in range(0, rows, 200_000):
                block = rng.normal(0, 1000, (min(200_000, rows - start), COLUMNS))
                np.savetxt(handle, block, fmt="%.9g", delimiter=",")
        partial.rename(path)
    return path, (rows, COLUMNS)


def commands(src: Path, dst: Path) -> dict[str, list[str]]:
    """Tool name -> argv; pandas only when it is installed."""
    parse = "import sys, numpy as np; a = np.loadtxt(sys.argv[1], delimiter=','); print(a.shape)"
    tools = {
        "emdconvert": [sys.executable, "-m", "emdconvert", str(src), str(dst), "--quiet"],
        "numpy.loadtxt": [sys.executable, "-c", parse, str(src)],
    }
    if importlib.util.find_spec("pandas") is not None:
        tools["pandas.read_csv"] = [
            sys.executable,
            "-c",
            "import sys, pandas; print(pandas.read_csv(sys.argv[1], header=None).shape)",
            str(src),
        ]
    return tools


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="CSV size in MB")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.gettempdir()) / "emdconvert-csv-bench"
    work.mkdir(parents=True, exist_ok=True)
    src, shape = make_input(work, args.mb)
    array_mb = shape[0] * shape[1] * 8 / 1e6
    print(
        f"input {src} ({src.stat().st_size / 1e6:.0f} MB, {shape[0]}x{shape[1]} "
        f"float64 = {array_mb:.0f} MB parsed)"
    )
    warm(src)
    dst = work / "out.emd"
    runs: dict[str, list[Run]] = {}
    for _ in range(args.reps):
        for name, argv_ in commands(src, dst).items():
            dst.unlink(missing_ok=True)
            run = run_measured(argv_, dst)
            if run.exit_code != 0:
                print(f"{name} failed ({run.exit_code}): {run.stderr}")
                return 1
            runs.setdefault(name, []).append(run)
    dst.unlink(missing_ok=True)
    print("| tool | seconds | peak RSS MB | peak - array MB |")
    print("|---|---|---|---|")
    summary = {}
    for name, measured in runs.items():
        seconds = median([r.seconds for r in measured])
        peak = median([r.peak_rss_bytes / 1e6 for r in measured])
        summary[name] = (seconds, peak)
        print(f"| {name} | {seconds:.1f} | {peak:.0f} | {peak - array_mb:.0f} |")
    ours, loadtxt = summary["emdconvert"], summary["numpy.loadtxt"]
    print(
        f"emdconvert / numpy.loadtxt: time {ours[0] / loadtxt[0]:.2f}x, "
        f"peak RSS {ours[1] / loadtxt[1]:.2f}x"
    )
    if "pandas.read_csv" in summary:
        pandas = summary["pandas.read_csv"]
        print(
            f"emdconvert / pandas.read_csv: time {ours[0] / pandas[0]:.2f}x, "
            f"peak RSS {ours[1] / pandas[1]:.2f}x"
        )
    met = ours[1] <= array_mb + 200
    print(
        f"target peak RSS <= array + 200 MB: {'met' if met else 'NOT met'} "
        f"({ours[1]:.0f} <= {array_mb + 200:.0f})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
