"""Converting many files: plan the outputs, run them in worker processes, report each.

Every file goes through the same :func:`~emdconvert.pipeline.prepare` and
:func:`~emdconvert.pipeline.run` a single conversion uses (on a Dask cluster too); a
failure is recorded for that file and the others still complete.  Worker processes (not
threads) isolate the readers' C libraries from each other and use every core for the
CPU-bound parts (transposes, compression).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from emdconvert.errors import EmdConvertError, EnvironmentProblem, InputError, UsageError
from emdconvert.pipeline import Request
from emdconvert.registry import default_registry
from emdconvert.sources import expand, is_pattern, natural_key


@dataclass(frozen=True)
class Outcome:
    """How one file went: its output or its one-line reason, exit code, time, size."""

    source: Path
    target: Path
    exit_code: int
    message: str
    seconds: float
    nbytes: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def readable_suffixes() -> set[str]:
    """Extensions some installed plugin reads (batch mode and the watch daemon)."""
    return {ext for plugin in default_registry().readers() for ext in plugin.extensions}


def plan(
    inputs: Sequence[Path], out_dir: Path, *, recursive: bool = False, suffix: str = ".emd"
) -> list[tuple[Path, Path]]:
    """(source, target) pairs: files as given, folders' and globs' files by extension.

    A folder's files keep their relative paths under *out_dir*, so equal names in
    different sub-folders do not collide; a name that would still collide is an error.
    """
    known = readable_suffixes()
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            found = item.rglob("*") if recursive else item.iterdir()
            files = sorted(
                (
                    p
                    for p in found
                    if p.is_file()
                    and p.suffix.lower() in known
                    and not any(part.startswith(".") for part in p.relative_to(item).parts)
                ),
                key=lambda p: [natural_key(Path(s)) for s in p.parts],
            )
            pairs += [(f, out_dir / f.relative_to(item).with_suffix(suffix)) for f in files]
        elif is_pattern(item):
            pairs += [(f, out_dir / f.with_suffix(suffix).name) for f in expand(item)]
        else:
            pairs.append((item, out_dir / item.with_suffix(suffix).name))
    root = out_dir.resolve()
    sources = {source.resolve() for source, _ in pairs}
    seen: dict[Path, Path] = {}
    for source, target in pairs:
        if not target.resolve().is_relative_to(root):
            raise UsageError(f"output {target} would fall outside {out_dir}", path=source)
        if target.resolve() in sources:  # the rule convert() applies to one file
            raise UsageError(
                f"the output would overwrite the source {target}",
                path=source,
                kind="source-is-target",
            )
        if target in seen:
            msg = f"both {seen[target]} and {source} would be written to {target}"
            raise InputError(msg, path=source)
        seen[target] = source
    return pairs


def convert_one(source: Path, target: Path, request: Request) -> Outcome:
    """One conversion, never raising: an error becomes a failed :class:`Outcome`."""
    from emdconvert.pipeline import prepare
    from emdconvert.preview.beside import run_with_preview

    start = time.perf_counter()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        prepared = prepare(source, target, request)
        size = prepared.source_bytes
        run_with_preview(prepared)
    except EmdConvertError as exc:
        return Outcome(source, target, exc.exit_code, str(exc), time.perf_counter() - start, 0)
    except Exception as exc:  # a bug must not stop the other files of the batch
        return Outcome(
            source,
            target,
            70,
            f"{source}: internal error: {type(exc).__name__}: {exc}",
            time.perf_counter() - start,
            0,
        )
    return Outcome(source, target, 0, str(target), time.perf_counter() - start, size)


def convert_many(
    pairs: Sequence[tuple[Path, Path]],
    *,
    jobs: int = 1,
    request: Request | None = None,
    scheduler: str | None = None,
) -> Iterator[Outcome]:
    """Convert every pair, *jobs* at a time; yield outcomes as they finish.

    With *scheduler* (a Dask distributed address such as ``tcp://head:8786``) each file
    is one task on that cluster, running the same :func:`convert_one`; the paths must
    be visible to the workers (a shared file system).
    """
    request = request or Request()
    if scheduler is not None:
        yield from _on_cluster(pairs, request, scheduler)
        return
    if jobs <= 1 or len(pairs) <= 1:
        for source, target in pairs:
            yield convert_one(source, target, request)
        return
    with ProcessPoolExecutor(max_workers=min(jobs, len(pairs), os.cpu_count() or 1)) as pool:
        futures = [pool.submit(convert_one, s, t, request) for s, t in pairs]
        for future in as_completed(futures):
            yield future.result()


def _on_cluster(
    pairs: Sequence[tuple[Path, Path]], request: Request, scheduler: str
) -> Iterator[Outcome]:
    try:
        from distributed import Client
        from distributed import as_completed as completed
    except ImportError:
        msg = "--scheduler needs Dask distributed: pip install 'emdconvert[distributed]'"
        raise UsageError(msg) from None
    try:
        client = Client(scheduler, timeout=30)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        futures = [client.submit(convert_one, s, t, request, pure=False) for s, t in pairs]
        for future in completed(futures):
            yield future.result()


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 when every file converted, else the most severe failure's code."""
    return max((o.exit_code for o in outcomes), default=0)
