"""The daemon's parts on their own: backend choice (T7a), names, config, log, ledger, lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path, PurePath

import pytest
from support.watch_daemon import run_cli

from emdconvert.errors import UsageError
from emdconvert.watch.config import WatchConfig, load_config
from emdconvert.watch.daemon import output_name
from emdconvert.watch.dashboard.access import Binding
from emdconvert.watch.ledger import Ledger
from emdconvert.watch.lock import AlreadyRunning, InstanceLock, holder
from emdconvert.watch.log import EventLog
from emdconvert.watch.mounts import choose_backend, fs_type
from emdconvert.watch.names import DEFAULT_IGNORE, NameFilter
from emdconvert.watch.stability import Signature, StabilityTracker


def _mountinfo(kind: str, point: str = "/data") -> list[str]:
    return [
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
        f"40 22 0:50 / {point} rw,relatime shared:9 - {kind} //server/share rw",
    ]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("cifs", "polling"),
        ("smb3", "polling"),
        ("nfs4", "polling"),
        ("nfs", "polling"),
        ("9p", "polling"),
        ("fuse.sshfs", "polling"),
        ("ceph", "polling"),
        ("lustre", "polling"),
        ("ext4", "inotify"),
        ("xfs", "inotify"),
        ("tmpfs", "inotify"),
    ],
)
def test_t7a_backend_from_mountinfo(kind: str, expected: str) -> None:
    assert choose_backend("auto", Path("/data/microscope"), _mountinfo(kind)) == expected
    assert choose_backend("auto", Path("/home/user"), _mountinfo(kind)) == "inotify"
    assert choose_backend("polling", Path("/home/user"), _mountinfo(kind)) == "polling"


def test_fs_type_takes_the_longest_mount_point_and_unescapes_spaces() -> None:
    lines = [
        *_mountinfo("cifs", "/mnt/my\\040share"),
        "41 40 0:51 / /mnt/my\\040share/local rw - ext4 /dev/sdb1 rw",
    ]
    assert fs_type(Path("/mnt/my share/x"), lines) == "cifs"
    assert fs_type(Path("/mnt/my share/local/x"), lines) == "ext4"
    assert fs_type(Path("/mnt/my sharex"), lines) == "ext4"


def test_ignore_list_and_candidates() -> None:
    names = NameFilter(["*.raw_backup"], marker=".done")
    for name in (
        ".foo.dm4.tmp",
        "foo.dm4.part",
        "~$foo.dm4",
        "foo.dm4.crdownload",
        "Thumbs.db",
        "desktop.ini",
        ".DS_Store",
        "._foo.dm4",
        ".nfs0001",
        ".smbdelete123",
        ".emdconvert-0123456789abcdef.part",
        "x.raw_backup",
        "foo.dm4.filepart",
        "foo.dm4.partial",
        "foo.temp",
    ):
        assert not names.candidate(PurePath(name)), name
    assert len(DEFAULT_IGNORE) >= 17
    assert names.candidate(PurePath("scan.DM4"))
    assert names.candidate(PurePath("sub/stack.tif"))
    assert not names.candidate(PurePath("@eaDir/scan.dm4"))
    assert not names.candidate(PurePath("$RECYCLE.BIN/scan.dm4"))
    assert not names.candidate(PurePath("notes.txt"))
    assert names.data_for_marker(PurePath("sub/scan.dm4.done")) == PurePath("sub/scan.dm4")
    assert names.data_for_marker(PurePath("notes.txt.done")) is None


FULL_TOML = """
[watch]
in_dir = "{root}/in"
out_dir = "{root}/out"
recursive = true
state_dir = "{root}/state"
backend = "polling"
poll_interval = 7
rescan_interval = 30.5
stability = 12
min_age = 15
max_wait = 3600
marker = ".done"
ignore = ["*.bak", "scratch*"]
workers = 3
memory_limit_mb = 4096
time_limit = 600
recycle_after = 50
dedup = false
backoff_initial = 2
backoff_max = 300
shutdown_grace = 9
compression = "gzip:2"
axis_order = "c"
threads = 2
max_bytes = "64G"
max_ratio = "none"
allow_high_ratio = true
allow_root = true
log_format = "json"
preview = true
umask = "022"
http = "0.0.0.0:8765"
http_allow_remote = true
http_token = "s3cret"
"""


def test_every_option_can_be_set_in_toml_and_flags_win(tmp_path: Path) -> None:
    toml = tmp_path / "watch.toml"
    toml.write_text(FULL_TOML.format(root=tmp_path))
    config = load_config(toml, {"workers": 1, "log_format": None})
    expected = WatchConfig(
        in_dir=tmp_path / "in",
        out_dir=tmp_path / "out",
        recursive=True,
        state_dir=tmp_path / "state",
        backend="polling",
        poll_interval=7.0,
        rescan_interval=30.5,
        stability=12.0,
        min_age=15.0,
        max_wait=3600.0,
        marker=".done",
        ignore=("*.bak", "scratch*"),
        workers=1,
        memory_limit_mb=4096,
        time_limit=600.0,
        recycle_after=50,
        dedup=False,
        backoff_initial=2.0,
        backoff_max=300.0,
        shutdown_grace=9.0,
        compression="gzip:2",
        axis_order="c",
        threads=2,
        max_bytes="64G",
        max_ratio="none",
        allow_high_ratio=True,
        allow_root=True,
        log_format="json",
        preview=True,
        umask="022",
        http="0.0.0.0:8765",
        http_allow_remote=True,
        http_token="s3cret",
    )
    assert config == expected
    assert config.binding == Binding("0.0.0.0", 8765, "s3cret")
    assert config.umask_bits == 0o022
    assert config.request().options.max_bytes == 64 << 30
    assert config.request().options.max_ratio is None
    names = {line.split("=")[0].strip() for line in FULL_TOML.splitlines() if "=" in line}
    assert names == {f.name for f in WatchConfig.__dataclass_fields__.values()}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('in_dir = "a"\nout_dir = "b"\nwokers = 2', "unknown option 'wokers'"),
        ('in_dir = "a"\nout_dir = "b"\nstability = "10"', "stability must be a number"),
        ('in_dir = "a"\nout_dir = "b"\nbackend = "fanotify"', "backend must be one of"),
        ('in_dir = "a"', "missing --out"),
        ("in_dir = ", "invalid TOML"),
        ('in_dir = "a"\nout_dir = "b"\numask = "8"', "umask must be octal digits"),
        ('in_dir = "a"\nout_dir = "b"\numask = "020"', "umask 020 would let everyone write"),
        ('in_dir = "a"\nout_dir = "b"\numask = 22', "umask must be a string"),
    ],
)
def test_bad_config_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    toml = tmp_path / "watch.toml"
    toml.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_config(toml, {})


def test_log_lines_escape_control_characters(tmp_path: Path) -> None:
    out = tmp_path / "log.txt"
    with open(out, "w") as stream:
        log = EventLog("text", stream)
        log.info("found", path="evil\nname 2026 error forged\x1b[31m.dm4")
        EventLog("json", stream).info("found", path="evil\nname.dm4")
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    assert 'path="evil\\x0aname 2026 error forged\\x1b[31m.dm4"' in lines[0]
    assert json.loads(lines[1])["path"] == "evil\nname.dm4"


def test_output_names_are_versioned() -> None:
    assert output_name("a.dm4", 1) == "a.emd"
    assert output_name("sub/a.dm4", 2) == "sub/a.v2.emd"


def test_stability_needs_the_window_and_restarts_on_change(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(b"1234")
    old = time.time() - 100
    os.utime(path, (old, old))
    tracker = StabilityTracker(str(tmp_path), window=1.0, min_age=5.0)
    tracker.watch(PurePath("x.npy"), "test")
    assert tracker.sample(now=100.0) == ([], [])
    assert tracker.sample(now=100.5) == ([], [])
    path.write_bytes(b"12345")  # grows: the window starts again, and it is young now
    os.utime(path, (old, old))
    assert tracker.sample(now=101.2) == ([], [])
    (stable,), _ = tracker.sample(now=102.3)
    assert stable.signature == Signature.of(os.lstat(path))
    assert len(tracker) == 0
    fresh = tmp_path / "y.npy"
    fresh.write_bytes(b"1")
    tracker.watch(PurePath("y.npy"), "test")
    tracker.sample(now=0.0)
    assert tracker.sample(now=50.0) == ([], [])  # unchanged, but mtime younger than min_age
    fresh.unlink()
    assert tracker.sample(now=60.0) == ([], [PurePath("y.npy")])


CLAIMER = """
import sys
from pathlib import Path
from emdconvert.watch.ledger import Ledger
ledger = Ledger(Path(sys.argv[1]))
won = []
for row_id in range(1, 401):
    with ledger.batch():
        if ledger.claim(row_id, 1):
            won.append(row_id)
print(",".join(map(str, won)))
"""


def test_claims_are_exactly_once_across_processes(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    with ledger.batch():
        for i in range(400):
            row_id = ledger.add(f"f{i}.npy", Signature(1, i, i, 1), "test")
            ledger.update(row_id, state="stable")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    won = [
        set(map(int, filter(None, p.communicate(timeout=60)[0].strip().split(",")))) for p in procs
    ]
    assert not won[0] & won[1] and len(won[0] | won[1]) == 400
    assert ledger.counts() == {"claimed": 400}
    assert oct(os.stat(ledger.path).st_mode & 0o777) == "0o600"
    ledger.close()


def test_lock_is_single_instance_and_refuses_symlinks(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path)
    first.acquire()
    assert holder(tmp_path) == os.getpid()
    with pytest.raises(AlreadyRunning, match=f"already running \\(pid {os.getpid()}\\)"):
        InstanceLock(tmp_path).acquire()
    first.release()
    assert holder(tmp_path) is None
    other = tmp_path / "elsewhere"
    other.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (other / "daemon.lock").symlink_to(victim)
    with pytest.raises(UsageError, match="cannot open the lock file"):
        InstanceLock(other).acquire()
    assert victim.read_text() == "keep me"


def test_status_shows_counts_and_failures(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    with ledger.batch():
        ok = ledger.add("good.dm4", Signature(1, 1, 1, 1), "test")
        ledger.update(ok, state="done", output="good.emd")
        bad = ledger.add("bad\nname.dm4", Signature(1, 2, 2, 1), "test")
        ledger.update(
            bad,
            state="failed",
            kind="corrupt",
            detail="corrupt DM tag structure",
            attempts=1,
            finished=time.time(),
        )
    ledger.close()
    result = run_cli("watch", "--status", "--state-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    for text in (
        "daemon not running",
        "done",
        "failed",
        "bad\\x0aname.dm4",
        "corrupt",
        "recent failures",
    ):
        assert text in result.stdout, result.stdout
    missing = run_cli("watch", "--status", "--state-dir", tmp_path / "nothing")
    assert missing.returncode == 2 and missing.stderr.startswith("emdconvert: error: ")
