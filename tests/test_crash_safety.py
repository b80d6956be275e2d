"""Crash safety and environment faults (README, Safety rules R1-R4).

A conversion killed at any moment leaves either nothing at the output path or the
complete, valid file; a full disk, a read-only or unwritable output directory and a
failed ``--overwrite`` exit 4 and leave nothing behind (the old file intact).  CI runs as
root, which ignores permission bits, so real permission errors come from tmpfs mounts
and from running the CLI as ``nobody``.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

import emdconvert
from emdconvert.faults import ENV as FAULT
from emdconvert.testing import assert_valid_emd, fingerprint, leftovers

CLI = [sys.executable, "-m", "emdconvert"]
ROOT = os.geteuid() == 0


def cli(
    *args: str | Path, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emdconvert: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 64 MiB uint16 stack: big enough that a conversion takes a while."""
    path = tmp_path_factory.mktemp("src") / "stack.npy"
    data = np.random.default_rng(8).integers(0, 4000, (128, 512, 512), dtype=np.uint16)
    np.save(path, data)
    return path, data


def output_state(path: Path, data: np.ndarray) -> str:
    """ "absent" or "complete"; anything else fails the test."""
    if not path.exists():
        return "absent"
    assert_valid_emd(path)
    np.testing.assert_array_equal(emdconvert.read(path).datasets[0].data[...], data)
    return "complete"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_at_random_points_never_leaves_a_partial_output(
    stack: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    source, data = stack
    before = fingerprint(source)
    started = time.monotonic()
    assert cli(source, tmp_path / "timing.emd").returncode == 0
    duration = time.monotonic() - started
    rng = random.Random(20261201)
    seen = set()
    for attempt in range(12):
        out = tmp_path / f"killed{attempt}.emd"
        process = subprocess.Popen(
            [*CLI, str(source), str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.05, duration))
        process.send_signal(signal.SIGKILL)
        process.wait()
        seen.add(output_state(out, data))
        for temp in leftovers(tmp_path):  # only our hidden temp names may remain
            temp.unlink()
    assert "absent" in seen  # the kills really landed mid-conversion
    final = tmp_path / "final.emd"
    assert cli(source, final).returncode == 0
    assert output_state(final, data) == "complete"
    assert fingerprint(source) == before


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ("write:0.5", "absent"),
        ("before_verify", "absent"),
        ("before_publish", "absent"),
        ("after_publish", "complete"),
    ],
)
def test_sigkill_at_each_publication_step(
    stack: tuple[Path, np.ndarray], tmp_path: Path, point: str, expected: str
) -> None:
    source, data = stack
    out = tmp_path / "out.emd"
    result = cli(source, out, env={FAULT: f"kill@{point}"})
    assert result.returncode == -signal.SIGKILL
    assert output_state(out, data) == expected


def test_corruption_before_publish_is_caught_by_the_read_back(
    stack: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """R3: HDF5 returns fill-value zeros for lost chunks; the sampled read-back sees it."""
    source, _ = stack
    out = tmp_path / "out.emd"
    line = one_error_line(cli(source, out, env={FAULT: "corrupt@before_verify"}), 70)
    assert "differ from the source" in line and str(out) in line
    assert not out.exists() and not leftovers(tmp_path)


def test_a_failed_overwrite_keeps_the_old_file(
    stack: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    source, _ = stack
    out = tmp_path / "out.emd"
    np.save(tmp_path / "old.npy", np.zeros((4, 4), np.uint8))
    assert cli(tmp_path / "old.npy", out).returncode == 0
    old = fingerprint(out)
    line = one_error_line(cli(source, out, "--overwrite", env={FAULT: "raise@write:0.5"}), 4)
    assert "input/output error" in line
    assert fingerprint(out) == old and not leftovers(tmp_path)


def test_readers_see_the_old_or_the_new_file_during_an_overwrite(
    stack: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """R1: os.replace publishes in one step, so a reader never sees a partial file."""
    source, data = stack
    out = tmp_path / "out.emd"
    np.save(tmp_path / "old.npy", np.ones((128, 4, 4), np.uint16))
    assert cli(tmp_path / "old.npy", out).returncode == 0
    shapes: set[tuple[int, ...]] = set()
    failures: list[BaseException] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                with h5py.File(out, "r") as h5:
                    shapes.add(tuple(next(iter(h5["data"].values()))["data"].shape))
            except BaseException as exc:
                failures.append(exc)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        assert cli(source, out, "--overwrite").returncode == 0
    finally:
        stop.set()
        reader.join()
    assert not failures, failures[:3]
    assert shapes <= {(4, 4, 128), (512, 512, 128)} and (4, 4, 128) in shapes
    assert output_state(out, data) == "complete"


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[object]:
    """``mount(size, ro=False)`` a tmpfs under tmp_path (root only; CI runs as root)."""
    if not ROOT or shutil.which("mount") is None:
        pytest.skip("tmpfs mounts need root")
    mounted: list[Path] = []

    def mount(size: str, *, read_only: bool = False) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.fail(f"cannot mount a tmpfs as root: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_disk_full_exits_4_and_leaves_nothing(
    stack: tuple[Path, np.ndarray], mount_tmpfs: object
) -> None:
    source, _ = stack
    small = mount_tmpfs("5m")  # type: ignore[operator]
    out = small / "out.emd"
    # Uncompressed: refused before writing, from the declared size and free space.
    line = one_error_line(cli(source, out), 4)
    assert "not enough space" in line
    # Compressed (size unknown in advance): the write itself hits ENOSPC.
    line = one_error_line(cli(source, out, "--compression", "gzip:1"), 4)
    assert "no space left on device" in line
    assert list(small.iterdir()) == []


def test_file_size_limit_exits_4(stack: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    """The unprivileged variant of disk full: RLIMIT_FSIZE makes writes fail with EFBIG."""
    source, _ = stack

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    line = one_error_line(cli(source, tmp_path / "out.emd", preexec_fn=limit), 4)
    assert "file too large" in line
    assert not (tmp_path / "out.emd").exists() and not leftovers(tmp_path)


def test_read_only_output_exits_4(stack: tuple[Path, np.ndarray], mount_tmpfs: object) -> None:
    source, _ = stack
    frozen = mount_tmpfs("1m", read_only=True)  # type: ignore[operator]
    line = one_error_line(cli(source, frozen / "out.emd"), 4)
    assert str(frozen) in line and ("read-only" in line or "not writable" in line)


@pytest.mark.skipif(
    not ROOT or shutil.which("setpriv") is None, reason="needs root to drop capabilities"
)
def test_unwritable_output_directory_exits_4_without_privileges(tmp_path: Path) -> None:
    """Root without CAP_DAC_OVERRIDE obeys permission bits, as an ordinary user does."""
    source = tmp_path / "in.npy"
    np.save(source, np.arange(10, dtype=np.uint8))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-all",
            "--inh-caps=-all",
            *CLI,
            str(source),
            str(locked / "o.emd"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = one_error_line(result, 4)
    assert "not writable" in line and str(locked / "o.emd") in line
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(not ROOT, reason="bind mounts need root")
def test_a_read_only_source_converts_the_same(corpus: Path, tmp_path: Path) -> None:
    """R4: the source is only ever opened for reading, so a ro mount changes nothing."""
    frozen = tmp_path / "invalid" / "ro"  # "invalid": corpus EMDs are not all valid v0.2
    frozen.mkdir(parents=True)
    names = ["dm/2D_test-1.dm4", "tiff/imagej_stack.tif", "emd/example_image.emd", "other/temp.mrc"]
    for name in names:
        shutil.copy(corpus / name, frozen / Path(name).name)
    bound = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(frozen), str(frozen)], capture_output=True, text=True
    )
    if bound.returncode != 0:
        pytest.fail(f"cannot bind-mount read-only as root: {bound.stderr.strip()}")
    try:
        for name in names:
            source = frozen / Path(name).name
            before = fingerprint(source)
            result = cli(source, tmp_path / f"{source.stem}.emd")
            assert result.returncode == 0, result.stderr
            assert fingerprint(source) == before
    finally:
        subprocess.run(["umount", "-l", str(frozen)], check=False)
