"""Quarantine: an error report beside the outputs, never a moved source (README W6).

Raw microscope data cannot be re-acquired, and downstream tools expect it to stay where
it was written (cryoSPARC links raw movies in place), so a file that cannot be converted
stays exactly where it is, untouched.  Quarantine is a ledger state (``failed`` or
``stalled``) plus ``OUT_DIR/_quarantine/<name>.<hash>.error.json``: what went wrong, the
exception, the source's stat and SHA-256, the tool version, when, and how to retry.  The
report is written through a temp name and renamed, like every output.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any

from emdconvert.emd.provenance import tool_version
from emdconvert.publish import temp_name
from emdconvert.watch.names import QUARANTINE_DIR
from emdconvert.watch.worker import Result

_MAX_NAME = 200


def report_path(out_dir: Path, relative: str, sha256: str | None) -> Path:
    """``_quarantine/<name>.<12 hex>.error.json``: one report per failing content."""
    tag = (sha256 or hashlib.sha256(os.fsencode(relative)).hexdigest())[:12]
    name = Path(relative).name[:_MAX_NAME]
    return out_dir / QUARANTINE_DIR / f"{name}.{tag}.error.json"


def retry_command(in_dir: Path, relative: str, state_dir: Path | None) -> str:
    words = ["emdconvert", "watch", str(in_dir), "--retry", relative]
    if state_dir is not None:
        words += ["--state-dir", str(state_dir)]
    return shlex.join(words)


def write_report(
    out_dir: Path,
    *,
    in_dir: Path,
    relative: str,
    state: str,
    result: Result,
    sha256: str | None,
    attempts: int,
    state_dir: Path | None,
) -> Path:
    """Write (or replace) the report for one failed file; returns its path."""
    source = in_dir / relative
    try:
        info = os.lstat(source)
        stat: dict[str, Any] | None = {
            "size": info.st_size,
            "mtime_ns": info.st_mtime_ns,
            "ino": info.st_ino,
            "dev": info.st_dev,
            "mode": oct(info.st_mode),
        }
    except OSError:
        stat = None
    report = {
        "source": str(source),
        "state": state,
        "reason": result.detail,
        "kind": result.kind,
        "exit_code": result.exit_code,
        "exception_class": result.exception_class,
        "attempts": attempts,
        "source_stat": stat,
        "source_sha256": sha256,
        "tool_version": tool_version(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "how_to_retry": (
            "The source was left untouched. The daemon tries again by itself "
            "when the file's content changes; to retry the same content, run: "
            + retry_command(in_dir, relative, state_dir)
        ),
    }
    path = report_path(out_dir, relative, sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path.parent)
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
