"""Progress for the whole batch on a terminal (issue 17 item 4).

The CLI runs under a pseudo-terminal (stderr is the pty's slave, as on a user's
terminal; stdout a pipe), 80 columns wide, on inputs slow enough to pass the bar's
delay: what the terminal received must show files done of the total, the bytes of the
sources (their sizes, from ``os.path.getsize``) and a rate.  With stderr a pipe, or
with ``--quiet``, none of it is written.  The outputs are checked with h5py against
the arrays numpy wrote.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from emdconvert.batch import Outcome, convert_many
from emdconvert.cli.batch_progress import LARGE, BatchDisplay

SLOW = ("--compression", "gzip:9", "--threads", "1")  # ~2.5 s for each input below


def stored(output: Path) -> np.ndarray:
    """The array of *output*'s one signal (EMD stores axes reversed: numpy's ``.T``)."""
    with h5py.File(output, "r") as h5:
        (name,) = list(h5["data"])
        return np.asarray(h5[f"data/{name}/data"][()])


def under_pty(*args: str | Path) -> tuple[int, str, str]:
    """``emdconvert ARGS`` with stderr on a pseudo-terminal: (exit code, what the
    terminal got, stdout)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "emdconvert", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    received: list[bytes] = []

    def drain() -> None:  # the child blocks if the pty's buffer fills
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child and its slave are gone
                return
            if not data:
                return
            received.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout = child.communicate(timeout=120)[0]
    reader.join(timeout=10)
    os.close(master)
    return child.returncode, b"".join(received).decode(errors="replace"), stdout.decode()


@pytest.fixture(scope="module")
def large_inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two ~84 MB .npy files (over :data:`LARGE`: each gets its own bar)."""
    folder = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(7)
    paths = []
    for i in range(2):
        paths.append(folder / f"scan{i}.npy")
        np.save(paths[-1], rng.integers(0, 4096, size=(40, 1024, 1024), dtype=np.uint16))
    assert all(os.path.getsize(p) > LARGE for p in paths)
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_terminal_sees_files_bytes_and_rate(
    large_inputs: list[Path], tmp_path: Path, jobs: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"\x93NUMPY garbage")
    inputs = (large_inputs[0], broken, large_inputs[1])
    code, tty, stdout = under_pty("convert", *inputs, "--out-dir", out, "-j", jobs, *SLOW)
    assert code == 3, tty
    (error,) = re.findall(r"emdconvert: error: [^\r\n]*", tty)  # printed above the bars
    assert error.startswith(f"emdconvert: error: {broken}: "), error
    assert len(error) > 80  # one line however long: the terminal wraps it, not emdconvert
    total = sum(os.path.getsize(p) for p in large_inputs) / 1e6
    assert re.search(r"files [0-2]/3", tty), tty
    assert f"/{total:.1f} MB" in tty  # bytes done of the sources' total
    assert re.search(r"\d+(\.\d)? MB/s", tty), tty
    assert re.search(r"scan[01]\.npy .*/\d+\.\d MB", tty), tty  # a large file's own bar
    assert "2 converted, 1 failed" in stdout  # the summary stays; the bars were transient
    for source in large_inputs:
        np.testing.assert_array_equal(stored(out / f"{source.stem}.emd"), np.load(source).T)


@pytest.mark.slow
def test_quiet_and_pipes_get_no_progress(large_inputs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, tty, stdout = under_pty("convert", *large_inputs, "--out-dir", out, "--quiet", *SLOW)
    assert (code, tty, stdout) == (0, "", "")
    argv = [sys.executable, "-m", "emdconvert", "convert", *map(str, large_inputs)]
    piped = subprocess.run(
        [*argv, "--out-dir", str(out), "--overwrite", "-j", "2", *SLOW],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert piped.returncode == 0 and piped.stderr == ""
    assert "2 converted, 0 failed" in piped.stdout and "MB/s" not in piped.stdout
    for source in large_inputs:
        np.testing.assert_array_equal(stored(out / f"{source.stem}.emd"), np.load(source).T)


def test_a_quick_batch_shows_nothing_on_a_terminal(tmp_path: Path) -> None:
    np.save(tmp_path / "small.npy", np.arange(12, dtype=np.uint16).reshape(3, 4))
    (tmp_path / "o").mkdir()
    code, tty, stdout = under_pty("convert", tmp_path / "small.npy", "--out-dir", tmp_path / "o")
    assert code == 0 and "1 converted, 0 failed" in stdout
    assert "files" not in tty and "MB/s" not in tty, tty
    assert stored(tmp_path / "o" / "small.emd").tolist() == np.arange(12).reshape(3, 4).T.tolist()


@pytest.mark.parametrize("jobs", [1, 2])
def test_convert_many_reports_each_files_copy(tmp_path: Path, jobs: int) -> None:
    arrays = {f"a{i}.npy": np.full((8, 256, 256), i, np.uint16) for i in range(3)}
    for name, array in arrays.items():
        np.save(tmp_path / name, array)
    pairs = [(tmp_path / n, tmp_path / "out" / n.replace(".npy", ".emd")) for n in arrays]
    reports: dict[Path, list[tuple[int, int]]] = {}
    lock = threading.Lock()

    def progress(source: Path, done: int, total: int) -> None:
        with lock:
            reports.setdefault(source, []).append((done, total))

    outcomes = list(convert_many(pairs, jobs=jobs, progress=progress))
    assert all(o.ok for o in outcomes)
    assert set(reports) == {source for source, _ in pairs}
    for source, seen in reports.items():
        nbytes = arrays[source.name].nbytes
        assert {total for _, total in seen} == {nbytes}
        assert [done for done, _ in seen] == sorted(done for done, _ in seen)
        assert seen[-1] == (nbytes, nbytes)


def test_the_display_counts_sources_bytes(tmp_path: Path) -> None:
    big, small, same = tmp_path / "big.npy", tmp_path / "small.npy", tmp_path / "same.npy"
    for path, size in ((big, LARGE + 1000), (small, 1000), (same, 5000)):
        path.write_bytes(b"\0" * size)
    display = BatchDisplay([big, small, same])
    display.update(small, 50, 100)  # before the display shows: remembered
    display.show()
    try:
        bar = display.bar
        assert bar is not None
        overall = bar.tasks[0]
        assert (overall.description, overall.total) == ("files 0/3", LARGE + 7000)
        assert overall.completed == 500  # half of small's 1000 bytes
        display.update(big, 1, 4)
        assert [t.description.strip() for t in bar.tasks] == ["files 0/3", "big.npy"]
        assert overall.completed == 500 + (LARGE + 1000) // 4
        display.finish(done(small))
        display.finish(done(same, up_to_date=True))  # leaves the total: nothing copied
        assert (overall.description, overall.total) == ("files 2/3", LARGE + 1000 + 1000)
        assert overall.completed == 1000 + (LARGE + 1000) // 4
        display.finish(done(big))
        display.update(big, 4, 4)  # a late report of a finished file changes nothing
        assert len(bar.tasks) == 1 and overall.completed == overall.total
    finally:
        display.close()


def done(source: Path, *, up_to_date: bool = False) -> Outcome:
    return Outcome(source, source.with_suffix(".emd"), 0, "", 0.1, 0, up_to_date=up_to_date)
