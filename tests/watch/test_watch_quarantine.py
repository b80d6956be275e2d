"""Bad files are quarantined without touching them; copies and re-acquisitions.

README, Safety rules W6.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from support.watch_daemon import run_cli, wait_for

from emdconvert.testing import fingerprint

DM4 = "dm/2D_test-1.dm4"


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_t16_quarantine_leaves_source_untouched_and_retries_only_on_change(
    daemon_factory, corpus: Path
) -> None:
    daemon = daemon_factory(max_wait=5)
    data = (corpus / DM4).read_bytes()
    staging = daemon.in_dir.parent
    half = staging / "half.dm4"  # truncated to 50 %, older than max_wait: final
    half.write_bytes(data[: len(data) // 2])
    _age(half, 60)
    cut = int(len(data) * 0.9)
    corrupt = staging / "corrupt.dm4"  # right length, last 10 % zeroed
    corrupt.write_bytes(data[:cut] + b"\0" * (len(data) - cut))
    _age(corrupt, 60)
    prints = {p.name: fingerprint(p) for p in (half, corrupt)}
    for path in (half, corrupt):
        os.rename(path, daemon.in_dir / path.name)
    shutil.copy(corpus / "dm/2D_test-2.dm4", daemon.in_dir / "good.dm4")
    daemon.wait_states({"half.dm4": "stalled", "corrupt.dm4": "failed", "good.dm4": "done"})
    wait_for(lambda: len(daemon.reports()) == 2, what="two quarantine reports")
    for name, before in prints.items():
        assert fingerprint(daemon.in_dir / name) == before
    reports = {p.name.split(".")[0]: json.loads(p.read_text()) for p in daemon.reports()}
    failed = reports["corrupt"]
    assert failed["kind"] == "corrupt" and failed["state"] == "failed"
    assert failed["attempts"] == 1 and failed["exception_class"]
    assert failed["source_sha256"] == prints["corrupt.dm4"][0]
    assert failed["source_stat"]["size"] == len(data)
    for key in ("reason", "tool_version", "timestamp", "how_to_retry"):
        assert failed[key]
    assert "--retry corrupt.dm4" in failed["how_to_retry"]
    assert reports["half"]["kind"] == "incomplete" and reports["half"]["state"] == "stalled"
    assert [p.name for p in daemon.outputs()] == ["good.emd"]

    os.utime(daemon.in_dir / "corrupt.dm4")  # touched: same content, new mtime
    wait_for(lambda: "unchanged path=corrupt.dm4" in daemon.log(), what="touch noticed")
    time.sleep(1.2)  # another reconcile scan: still no new attempt
    assert [(r.state, r.attempts) for r in daemon.rows("corrupt.dm4")] == [("failed", 1)]

    with open(daemon.in_dir / "corrupt.dm4", "ab") as handle:  # the content changes
        handle.write(b"\0" * 16)
    wait_for(
        lambda: (
            len(daemon.rows("corrupt.dm4")) == 2 and daemon.rows("corrupt.dm4")[1].state == "failed"
        ),
        what="one retry",
    )
    time.sleep(1.2)
    assert [(r.state, r.attempts) for r in daemon.rows("corrupt.dm4")] == [
        ("failed", 1),
        ("failed", 1),
    ]
    assert daemon.stop() == 0


@pytest.mark.parametrize("backend", ["inotify"])  # the backends differ in detection, not here
def test_t15_copies_are_aliases_and_reacquisition_gets_a_new_version(
    daemon_factory, corpus: Path
) -> None:
    daemon = daemon_factory()
    shutil.copy(corpus / DM4, daemon.in_dir / "a.dm4")
    daemon.wait_states({"a.dm4": "done"})
    first = daemon.out_dir / "a.emd"
    before = fingerprint(first)
    shutil.copy(corpus / DM4, daemon.in_dir / "b.dm4")
    daemon.wait_states({"b.dm4": "alias"})
    copy = daemon.out_dir / "b.emd"
    assert daemon.outputs() == [first, copy] and os.path.samefile(copy, first)  # a link
    staged = daemon.in_dir.parent / "a.dm4"
    shutil.copy(corpus / "dm/2D_test-2.dm4", staged)
    os.replace(staged, daemon.in_dir / "a.dm4")  # re-acquired under the same name
    wait_for(
        lambda: [r.state for r in daemon.rows("a.dm4")] == ["done", "done"],
        what="the new version converted",
    )
    assert [p.name for p in daemon.outputs()] == ["a.emd", "a.v2.emd", "b.emd"]
    assert fingerprint(first) == before and os.path.samefile(copy, first)
    assert daemon.stop() == 0


@pytest.mark.parametrize("backend", ["inotify"])
def test_retry_command_requeues_a_failed_file(daemon_factory, corpus: Path) -> None:
    daemon = daemon_factory()
    data = (corpus / DM4).read_bytes()
    cut = int(len(data) * 0.9)
    (daemon.in_dir / "bad.dm4").write_bytes(data[:cut] + b"\0" * (len(data) - cut))
    daemon.wait_states({"bad.dm4": "failed"})
    result = run_cli("watch", daemon.in_dir, "--state-dir", daemon.state_dir, "--retry", "bad.dm4")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: daemon.rows("bad.dm4")[0].attempts == 2, what="the retry")
    assert daemon.states() == {"bad.dm4": "failed"}
    assert daemon.stop() == 0
