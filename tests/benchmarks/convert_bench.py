"""Conversion benchmark: emdconvert against cp, naive h5py, ncempy and HyperSpy.

Run on demand (not part of the test suite)::

    export PYTHONPATH=tests  # from the project root: the support/ helpers
    python tests/benchmarks/convert_bench.py --size quick          # 256 MiB inputs
    python tests/benchmarks/convert_bench.py --size 2g --reps 3    # the issue's targets
    python tests/benchmarks/convert_bench.py --size 8g --tools cp,emdconvert,emdconvert-c
    python tests/benchmarks/convert_bench.py --size 2g --formats emd-4dstem \
        --tools cp+sync,emdconvert-dm4,emdconvert-emd1,nionswift-dm4,emdfile  # the exporters

Inputs are generated under ``--work`` (default: a folder in the system temp dir) and
reused by later runs.  Every round runs each tool once per format, in an order that
rotates between rounds, after ``sync``, with the input in the page cache; each row is
the median of the rounds.  Prints a markdown table and the target checks, and writes
the same as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from support.bench_inputs import EMD_4DSTEM, FORMATS, SHAPES, ensure_inputs, stack_shape
from support.bench_measure import Run, available_memory, median, run_measured, spread, warm

SIZES = {"quick": 256 << 20, "2g": 2 << 30, "8g": 8 << 30}
ANCHORS = Path(__file__).with_name("anchors.py")
EMDCONVERT = [sys.executable, "-m", "emdconvert"]

#: tool -> (argv builder, output suffix, peak memory as a multiple of the input).
Builder = Callable[[Path, Path], list[str]]


def _anchor(name: str) -> Builder:
    return lambda src, dst: [sys.executable, str(ANCHORS), name, str(src), str(dst)]


def _emdconvert(*extra: str) -> Builder:
    return lambda src, dst: [*EMDCONVERT, str(src), str(dst), "--quiet", *extra]


TOOLS: dict[str, tuple[Builder, str, float]] = {
    "cp": (lambda src, dst: ["cp", str(src), str(dst)], "copy", 0.0),
    "cp+sync": (
        lambda src, dst: ["sh", "-c", 'cp "$0" "$1" && sync "$1"', str(src), str(dst)],
        "copy",
        0.0,
    ),
    "emdconvert": (_emdconvert(), ".emd", 0.0),
    "emdconvert-c": (_emdconvert("--axis-order", "c"), ".emd", 0.0),
    "emdconvert-gzip1": (_emdconvert("--compression", "gzip:1"), ".emd", 0.0),
    "emdconvert-gzip2": (_emdconvert("--compression", "gzip:2"), ".emd", 0.0),
    "h5py": (_anchor("h5py"), ".h5", 1.1),
    "h5py-gzip1": (_anchor("h5py-gzip"), ".h5", 1.1),
    "ncempy": (_anchor("ncempy"), ".emd", 2.2),
    "hyperspy": (_anchor("hyperspy"), ".emd", 2.2),
    "hyperspy-lazy": (_anchor("hyperspy-lazy"), ".emd", 6.0),
    # The exporters (issue 18) and the only other writers of their formats.
    "emdconvert-dm4": (_emdconvert(), ".dm4", 0.0),
    "emdconvert-emd1": (_emdconvert("--to", "emd1"), ".emd", 0.0),
    "nionswift-dm4": (_anchor("nionswift-dm4"), ".dm4", 2.2),
    "emdfile": (_anchor("emdfile"), ".emd", 2.2),
}
SMALL_TOOLS = ("cp", "emdconvert", "hyperspy")


@dataclass
class Row:
    """All runs of one tool on one input."""

    format: str
    tool: str
    input_bytes: int
    runs: list[Run] = field(default_factory=list)
    skipped: str = ""

    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.exit_code == 0]

    @property
    def seconds(self) -> float:
        return median([r.seconds for r in self.ok_runs()])

    @property
    def peak_rss_mb(self) -> float:
        ok = self.ok_runs()
        return max(r.peak_rss_bytes for r in ok) / 1e6 if ok else float("nan")

    @property
    def output_mb(self) -> float:
        ok = self.ok_runs()
        return median([r.output_bytes / 1e6 for r in ok])

    @property
    def spread(self) -> float:
        return spread([r.seconds for r in self.ok_runs()])

    @property
    def error(self) -> str:
        failed = [r for r in self.runs if r.exit_code != 0]
        return (
            failed[-1].stderr.splitlines()[-1][:120]
            if failed and failed[-1].stderr
            else ("failed" if failed else "")
        )


def run_rounds(
    inputs: dict[str, Path],
    tools: Sequence[str],
    reps: int,
    work: Path,
    timeout: float,
    once: frozenset[str] = frozenset(),
) -> list[Row]:
    """Every tool on every input, *reps* rotated rounds (tools in *once*: round 1 only)."""
    rows: dict[tuple[str, str], Row] = {}
    memory = available_memory()
    for fmt, path in inputs.items():
        names = SMALL_TOOLS if fmt == "dm3-small" else tools
        for tool in names:
            row = rows[fmt, tool] = Row(fmt, tool, path.stat().st_size)
            need = TOOLS[tool][2] * path.stat().st_size
            if need > 0.8 * memory:
                row.skipped = f"needs ~{need / 1e9:.0f} GB RAM, {memory / 1e9:.0f} GB free"
    for rep in range(reps):
        for fmt, path in inputs.items():
            warm(path)
            names = [
                t
                for t in (SMALL_TOOLS if fmt == "dm3-small" else tools)
                if not rows[fmt, t].skipped and not (rep and t in once)
            ]
            shift = rep % len(names)
            for tool in names[shift:] + names[:shift]:
                build, suffix, _ = TOOLS[tool]
                out = work / f"out_{tool}{path.suffix if suffix == 'copy' else suffix}"
                result = run_measured(build(path, out), out, timeout=timeout)
                out.unlink(missing_ok=True)
                rows[fmt, tool].runs.append(result)
                print(
                    f"  round {rep + 1} {fmt:9} {tool:17} {result.seconds:8.2f} s "
                    f"{result.peak_rss_bytes / 1e6:8.0f} MB"
                    + ("" if result.exit_code == 0 else f"  FAILED {result.exit_code}"),
                    file=sys.stderr,
                    flush=True,
                )
    return list(rows.values())


def table(rows: list[Row]) -> str:
    cp = {r.format: r.seconds for r in rows if r.tool == "cp" and r.ok_runs()}
    synced = {r.format: r.seconds for r in rows if r.tool == "cp+sync" and r.ok_runs()}
    lines = [
        "| input | tool | median s | x cp | x cp+sync | peak RSS MB | MB/s | output MB | max/min |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.skipped or not r.ok_runs():
            lines.append(
                f"| {r.format} | {r.tool} | {r.skipped or 'failed: ' + r.error} | | | | | | |"
            )
            continue
        ratio = r.seconds / cp[r.format] if cp.get(r.format) else float("nan")
        ratio_synced = r.seconds / synced[r.format] if synced.get(r.format) else float("nan")
        lines.append(
            f"| {r.format} | {r.tool} | {r.seconds:.2f} | {ratio:.2f} | {ratio_synced:.2f} | "
            f"{r.peak_rss_mb:.0f} | {r.input_bytes / 1e6 / r.seconds:.0f} | "
            f"{r.output_mb:.0f} | {r.spread:.2f} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    limit: float
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit


def targets(rows: list[Row]) -> list[Target]:
    """The issue's targets that these rows can check."""
    by = {(r.format, r.tool): r for r in rows if r.ok_runs() and not r.skipped}
    found = []
    for fmt in (*FORMATS, *SHAPES, EMD_4DSTEM):
        # The fair reference: the same bytes read, written and made durable (issue 15).
        synced = by.get((fmt, "cp+sync"))
        for tool, limit in (("emdconvert", 1.5), ("emdconvert-c", 1.25)):
            row = by.get((fmt, tool))
            if synced and row:
                found.append(
                    Target(
                        f"{fmt}: {tool} time / cp+sync time", row.seconds / synced.seconds, limit
                    )
                )
        for tool in (
            "emdconvert",
            "emdconvert-c",
            "emdconvert-gzip1",
            "emdconvert-dm4",
            "emdconvert-emd1",
        ):
            row = by.get((fmt, tool))
            if row:
                found.append(Target(f"{fmt}: {tool} peak RSS MB", row.peak_rss_mb, 300))
        ours, theirs = by.get((fmt, "emdconvert-gzip1")), by.get((fmt, "h5py-gzip1"))
        if ours and theirs:
            found.append(
                Target(
                    f"{fmt}: gzip:1 throughput, emdconvert / h5py filter",
                    theirs.seconds / ours.seconds,
                    3.0,
                    True,
                )
            )
    small, hyperspy = by.get(("dm3-small", "emdconvert")), by.get(("dm3-small", "hyperspy"))
    if small and hyperspy:
        found.append(
            Target("~1 MB DM3 → EMD, time / HyperSpy's time", small.seconds / hyperspy.seconds, 0.6)
        )
    return found


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "mem_available_gb": round(available_memory() / 1e9, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", default="quick", help="quick (256 MiB), 2g, 8g, or a number of MiB"
    )
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--once",
        default="",
        help="tools run in the first round only (HyperSpy takes ~35 s per 2 GiB)",
    )
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "emdconvert-bench"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before one run is killed"
    )
    args = parser.parse_args(argv)
    size = SIZES.get(args.size) or int(args.size) << 20
    formats = tuple(f for f in args.formats.split(",") if f)
    tools = [t for t in args.tools.split(",") if t]
    once = frozenset(t for t in args.once.split(",") if t)
    unknown = [t for t in [*tools, *once] if t not in TOOLS] + [
        f for f in formats if f not in (*FORMATS, *SHAPES, EMD_4DSTEM)
    ]
    if unknown:
        parser.error(f"unknown tool or format: {', '.join(unknown)}")
    if "cp" not in tools:
        tools.insert(0, "cp")
    inputs = ensure_inputs(args.work / "inputs", size, formats)
    if shutil.disk_usage(args.work).free < 3 * size:
        parser.error(f"{args.work}: needs {3 * size / 1e9:.0f} GB free for outputs")
    before = machine()
    started = time.time()
    rows = run_rounds(inputs, tools, args.reps, args.work, args.timeout, once)
    checks = targets(rows)
    report = table(rows)
    shape = stack_shape(size)
    shaped = "".join(
        f", {name} {path.stem.split('_', 1)[1]}" for name, path in inputs.items() if name in SHAPES
    )
    print(
        f"\n{args.reps} rounds ({', '.join(sorted(once)) or 'no tool'} in round 1 only), "
        f"{shape[0]}x{shape[1]}x{shape[2]} int16 stacks{shaped} "
        f"({size / 2**20:.0f} MiB); load average before {before['loadavg']}, "
        f"after {os.getloadavg()}; max/min = spread of a row's rounds.\n"
    )
    print(report)
    print()
    for check in checks:
        print(
            f"- {'met' if check.met else 'MISSED'}: {check.name} = {check.value:.2f} "
            f"(target {'≥' if check.higher_is_better else '≤'} {check.limit})"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "size_bytes": size,
                    "stack_shape": shape,
                    "reps": args.reps,
                    "machine_before": before,
                    "machine_after": machine(),
                    "seconds_total": round(time.time() - started, 1),
                    "rows": [
                        {
                            **{k: v for k, v in asdict(r).items() if k != "runs"},
                            "median_s": r.seconds,
                            "peak_rss_mb": r.peak_rss_mb,
                            "output_mb": r.output_mb,
                            "spread": r.spread,
                            "error": r.error,
                            "runs": [asdict(run) for run in r.runs],
                        }
                        for r in rows
                    ],
                    "targets": [{**asdict(c), "met": c.met} for c in checks],
                    "table_markdown": report,
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
