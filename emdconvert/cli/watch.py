"""``emdconvert watch``: the command-line face of the daemon (registered by ``cli.app``).

Every flag defaults to "not given" (None) so that the TOML file given with ``--config``
can set it; a flag given on the command line wins.  Errors go through the CLI's one-line
error boundary; exit codes: 0 after a clean stop, 2 usage (including "already running"
and "refusing to run as root"), 4 environment (a folder missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from emdconvert.cli.boundary import guarded
from emdconvert.cli.options import AllowHighRatio, MaxBytes, MaxRatio


def watch(
    in_dir: Annotated[
        Path | None,
        typer.Argument(
            help="The folder to watch (or in_dir in the config file).",
            show_default=False,
            metavar="IN_DIR",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where outputs go (and _quarantine/ reports).")
    ] = None,
    recursive: Annotated[
        bool | None,
        typer.Option(
            "--recursive/--no-recursive",
            "-r",
            help="Also watch sub-folders [default: off, or the config's recursive].",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A TOML file with any of these options (flags win)."),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            help="Ledger and lock folder, on local disk [default: "
            "~/.local/state/emdconvert/<hash of IN_DIR>].",
            show_default=False,
        ),
    ] = None,
    poll: Annotated[
        bool,
        typer.Option("--poll", help="Poll instead of inotify (automatic on cifs/smb/nfs/9p/fuse)."),
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", help="auto, inotify or polling [default: auto].", show_default=False
        ),
    ] = None,
    poll_interval: Annotated[
        float | None,
        typer.Option(
            "--poll-interval", help="Seconds between polls [default: 10].", show_default=False
        ),
    ] = None,
    rescan_interval: Annotated[
        float | None,
        typer.Option(
            "--rescan-interval",
            help="Seconds between reconcile scans [default: 60].",
            show_default=False,
        ),
    ] = None,
    stability: Annotated[
        float | None,
        typer.Option(
            "--stability",
            help="Seconds a file must stay unchanged [default: 10].",
            show_default=False,
        ),
    ] = None,
    min_age: Annotated[
        float | None,
        typer.Option(
            "--min-age",
            help="Seconds since the file's mtime, at least [default: 10].",
            show_default=False,
        ),
    ] = None,
    max_wait: Annotated[
        float | None,
        typer.Option(
            "--max-wait",
            help="Seconds before an incomplete file is reported stalled [default: 86400].",
            show_default=False,
        ),
    ] = None,
    marker: Annotated[
        str | None,
        typer.Option("--marker", help="Convert X only once X<MARKER> exists, e.g. '.done'."),
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="Another glob to ignore (repeatable).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            help="Conversion processes [default: CPU count, at most 4].",
            show_default=False,
        ),
    ] = None,
    memory_limit_mb: Annotated[
        int | None,
        typer.Option(
            "--memory-limit-mb",
            help="Address-space limit per worker [default: half the RAM].",
            show_default=False,
        ),
    ] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit", help="Seconds one file may take [default: 7200].", show_default=False
        ),
    ] = None,
    recycle_after: Annotated[
        int | None,
        typer.Option(
            "--recycle-after",
            help="Replace a worker after this many files [default: 200].",
            show_default=False,
        ),
    ] = None,
    dedup: Annotated[
        bool | None,
        typer.Option(
            "--dedup/--no-dedup",
            help="Alias byte-identical copies instead of converting them again [default: dedup].",
            show_default=False,
        ),
    ] = None,
    compression: Annotated[
        str | None,
        typer.Option("--compression", help="As for convert: gzip[:LEVEL], zstd[:LEVEL], ..."),
    ] = None,
    axis_order: Annotated[
        str | None,
        typer.Option(
            "--axis-order", help="x-first (default) or c, as for convert.", show_default=False
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Threads per conversion [default: 1].", show_default=False),
    ] = None,
    max_bytes: MaxBytes = None,
    max_ratio: MaxRatio = None,
    allow_high_ratio: AllowHighRatio = False,
    preview: Annotated[
        bool,
        typer.Option("--preview", help="Also draw each output as a PNG beside it (scan.png)."),
    ] = False,
    backoff_initial: Annotated[
        float | None,
        typer.Option(
            "--backoff-initial",
            help="Seconds before the first retry after an environment "
            "error (disk full, read-only), doubling [default: 5].",
            show_default=False,
        ),
    ] = None,
    backoff_max: Annotated[
        float | None,
        typer.Option(
            "--backoff-max",
            help="Longest wait between such retries [default: 600].",
            show_default=False,
        ),
    ] = None,
    shutdown_grace: Annotated[
        float | None,
        typer.Option(
            "--shutdown-grace",
            help="Seconds a running conversion may finish after SIGTERM [default: 20].",
            show_default=False,
        ),
    ] = None,
    allow_root: Annotated[
        bool, typer.Option("--allow-root", help="Run even as root (not recommended).")
    ] = False,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="text (default) or json.", show_default=False)
    ] = None,
    umask: Annotated[
        str | None,
        typer.Option(
            "--umask",
            help="Who may read the outputs: 027 (default; the daemon's group) or 022 (everyone).",
            show_default=False,
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            help="Serve a read-only status page, /api/status, /metrics and /healthz on "
            "HOST:PORT, e.g. 127.0.0.1:8765 [default: no dashboard].",
            show_default=False,
        ),
    ] = None,
    http_allow_remote: Annotated[
        bool,
        typer.Option(
            "--http-allow-remote",
            help="Let --http bind a non-loopback address; needs a token (http_token in the "
            "config or EMDCONVERT_HTTP_TOKEN).",
        ),
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Show counts by state and recent failures, then exit.")
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="With --status: print the status as one JSON object (README schema)."
        ),
    ] = False,
    retry: Annotated[
        list[str] | None,
        typer.Option(
            "--retry",
            help="Retry this failed or stalled file (path relative to IN_DIR) "
            "without waiting for it to change; repeatable.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Watch a folder and convert every finished file once (a long-running daemon)."""
    overrides: dict[str, Any] = {
        "in_dir": in_dir,
        "out_dir": out,
        "recursive": recursive,
        "state_dir": state_dir,
        "backend": "polling" if poll else backend,
        "poll_interval": poll_interval,
        "rescan_interval": rescan_interval,
        "stability": stability,
        "min_age": min_age,
        "max_wait": max_wait,
        "marker": marker,
        "ignore": ignore or None,
        "workers": workers,
        "memory_limit_mb": memory_limit_mb,
        "time_limit": time_limit,
        "recycle_after": recycle_after,
        "dedup": dedup,
        "compression": compression,
        "axis_order": axis_order,
        "threads": threads,
        "backoff_initial": backoff_initial,
        "backoff_max": backoff_max,
        "shutdown_grace": shutdown_grace,
        "max_bytes": max_bytes,
        "max_ratio": max_ratio,
        "allow_high_ratio": allow_high_ratio or None,
        "allow_root": allow_root or None,
        "log_format": log_format,
        "preview": preview or None,
        "umask": umask,
        "http": http,
        "http_allow_remote": http_allow_remote or None,
    }
    if status:
        guarded(debug, None, lambda: _print_status(config, overrides, as_json=json_output))
        return
    if json_output:
        raise typer.Exit(guarded(debug, None, _json_without_status))
    if retry:
        guarded(debug, None, lambda: _request_retries(config, overrides, retry))
        return
    raise typer.Exit(guarded(debug, None, lambda: _run(config, overrides)))


def _print_status(config: Path | None, overrides: dict[str, Any], *, as_json: bool) -> None:
    from emdconvert.watch.config import load_values, state_dir_of

    state_dir = state_dir_of(config, overrides)
    if as_json:
        import json

        from emdconvert.watch.dashboard.facts import Folders, collect

        out_dir = load_values(config, overrides).get("out_dir")
        typer.echo(json.dumps(collect(Folders(state_dir, out_dir)), indent=2))
        return
    from rich.console import Console

    from emdconvert.watch.status import status_report

    Console().print(status_report(state_dir))


def _json_without_status() -> int:
    from emdconvert.errors import UsageError

    raise UsageError("--json goes with --status (the daemon's own log: --log-format json)")


def _request_retries(config: Path | None, overrides: dict[str, Any], paths: list[str]) -> None:
    from emdconvert.errors import UsageError
    from emdconvert.watch.config import state_dir_of
    from emdconvert.watch.ledger import Ledger

    ledger = Ledger(state_dir_of(config, overrides))
    try:
        with ledger.batch():
            missing = [path for path in paths if not ledger.request_retry(path)]
    finally:
        ledger.close()
    if missing:
        raise UsageError(f"not failed or stalled: {', '.join(missing)}")
    typer.echo(f"queued for retry: {', '.join(paths)}")


def _run(config: Path | None, overrides: dict[str, Any]) -> int:
    from emdconvert.watch.config import load_config
    from emdconvert.watch.daemon import Daemon
    from emdconvert.watch.log import EventLog

    settings = load_config(config, overrides)
    return Daemon(settings, EventLog(settings.log_format)).run()
