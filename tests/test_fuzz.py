"""Property-based fuzzing of every reader, sized for CI (README, Bad input, crashes and
hostile files).

Hypothesis mutates real files (truncates them, flips bytes, inserts and deletes runs,
overwrites header words with extreme integers) and a long-lived worker process converts
each mutant under a 1 GiB address-space limit.  The contract: the conversion either
succeeds with a valid EMD whose shapes match what the reader reported *and whose data
equal an independent eager reader's* (tifffile, numpy, rsciio, ``numpy.loadtxt``: the
differential oracle in ``support/fuzz_worker.py``), or fails with exit code 3 or 5 and leaves
nothing behind.  Any other outcome (a raw exception, exit 70, a signal, a hang past
10 s, a file converted that the independent reader refuses or reads differently) is a
bug, and Hypothesis shrinks it to a small example.  Each seed is mutated twice over:
with any damage, and with damage that keeps the file's length (which passes length
checks, so more mutants convert and reach the oracle).  ``-s`` prints the exit codes
per seed.

The on-demand, coverage-guided counterpart is ``tests/fuzz/atheris_read.py``.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import resource
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: The worker runs as ``python -m support.fuzz_worker`` with ``tests/`` on PYTHONPATH.
TESTS_DIR = Path(__file__).resolve().parent
MEMORY_CAP = 1 << 30
TIMEOUT = 25.0  # above hdf5probe.DEADLINE: a probe that gives up is an answer
#: Real files of each format the fuzzer starts from (corpus paths).
SEEDS = {
    "dm4": "dm/2D_test-1.dm4",
    "dm3": "dm/2D_test-1.dm3",
    "eels.dm4": "dm/EELS_SI.dm4",
    "tif": "tiff/imagej_stack.tif",
    "emd": "emd/example_image.emd",
    "ser": "other/16_STOimage_1.ser",
    "mrc": "other/temp.mrc",
}
EXAMPLES = int(os.environ.get("EMDCONVERT_FUZZ_EXAMPLES", "30"))
#: Exit codes per seed kind, for the summary a long run prints (``-s``).
OUTCOMES: dict[str, list[Any]] = {}


def _npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(24 * 16, dtype="<u2").reshape(24, 16))
    return buffer.getvalue()


def _npz() -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, a=np.arange(64.0).reshape(8, 8), b=np.ones(5, np.int8))
    return buffer.getvalue()


def _zlib_tiff() -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, np.arange(6 * 32 * 32, dtype=np.uint16).reshape(6, 32, 32), compression="zlib"
    )
    return buffer.getvalue()


def _csv() -> bytes:
    rows = "".join(f"{100 + 0.5 * i},{i * i},{i % 7}\n" for i in range(40))
    return ("energy [eV],counts,background\n" + rows).encode()


#: Formats the corpus has no file of, made here (numpy, tifffile, plain text).
GENERATED = {"npy": _npy, "npz": _npz, "zlib.tif": _zlib_tiff, "csv": _csv}
settings.register_profile(
    "ci",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class Worker:
    """The child converting mutants; restarted after it dies or hangs."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

        path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
        with open(self.log, "a") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "support.fuzz_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                preexec_fn=limit,
                env={**os.environ, "PYTHONPATH": path},
            )

    def convert(self, source: Path, output: Path) -> dict[str, Any]:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"source": str(source), "output": str(output)}) + "\n")
        self.process.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(TIMEOUT)
        if not ready:
            self.stop()
            return {"code": "timeout", "error": f"no answer in {TIMEOUT} s"}
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            self.process = None
            return {"code": f"died ({code})", "error": self.log.read_text()[-2000:]}
        return json.loads(line)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    running = Worker(tmp_path_factory.mktemp("fuzz") / "worker.log")
    yield running
    running.stop()


#: Mutations that keep a file's length: they pass length checks, so many convert, and
#: the differential oracle then compares their data with the independent reader's.
SAME_SIZE = ("flip", "extreme")


@st.composite
def mutants(
    draw: st.DrawFn,
    original: bytes,
    actions: tuple[str, ...] = ("truncate", "flip", "insert", "delete", "extreme"),
) -> bytes:
    """Damage the way files get damaged, and the way attackers write headers."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(actions))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "truncate":
            del data[at:]
        elif action == "flip":
            for _ in range(draw(st.integers(1, 16))):
                spot = draw(st.integers(0, max(len(data) - 1, 0)))
                if data:
                    data[spot] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 256))]
        else:  # a header-sized word set to an extreme value
            word = draw(st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1]))
            width = draw(st.sampled_from([4, 8]))
            at = min(at, draw(st.integers(0, 512)))
            data[at : at + width] = word.to_bytes(8, "little")[:width]
    return bytes(data)


@pytest.mark.slow
@pytest.mark.parametrize("actions", [None, SAME_SIZE], ids=["any", "same-size"])
@pytest.mark.parametrize("kind", sorted(SEEDS) + sorted(GENERATED))
def test_every_reader_fails_cleanly_or_converts_correctly(
    kind: str, actions: tuple[str, ...] | None, corpus: Path, worker: Worker, tmp_path: Path
) -> None:
    original = GENERATED[kind]() if kind in GENERATED else (corpus / SEEDS[kind]).read_bytes()
    suffix = "." + kind.split(".")[-1]
    work = tmp_path / "invalid"
    work.mkdir()

    numbers = itertools.count()

    @settings(settings.get_profile("ci"))
    @given(mutants(original) if actions is None else mutants(original, actions))
    def check(data: bytes) -> None:
        # A new name (and inode) per mutant: libhdf5 reuses a file the worker still has
        # open when the same inode is opened again, which would test a stale file.
        source = work / f"mutant{next(numbers)}{suffix}"
        source.write_bytes(data)
        reply = worker.convert(source, work / "out.emd")
        OUTCOMES.setdefault(f"{kind} {'same-size' if actions else 'any'}", []).append(reply["code"])
        assert reply["code"] in (0, 3, 5), reply
        assert source.read_bytes() == data  # never modified
        source.unlink()

    check()


def _oracle() -> Any:
    """The worker module itself, for its oracle."""
    import support.fuzz_worker

    return support.fuzz_worker


def test_the_oracle_sees_wrong_data_and_refused_sources(tmp_path: Path) -> None:
    """The differential contract can fail: a conversion that changed one value (94), and
    one of a file the independent reader refuses (95), are both caught."""
    import emdconvert

    oracle = _oracle()
    values = np.arange(24, dtype=np.int16).reshape(4, 6)
    source = tmp_path / "a.npy"
    np.save(source, values)
    right = emdconvert.write(emdconvert.EMDFile.from_array(values), tmp_path / "right.emd")
    assert oracle.same_data(source, right) is None
    wrong_values = values.copy()
    wrong_values[2, 3] += 1
    wrong = emdconvert.write(emdconvert.EMDFile.from_array(wrong_values), tmp_path / "wrong.emd")
    assert oracle.same_data(source, wrong)["code"] == 94
    refused = tmp_path / "invalid" / "b.npy"
    refused.parent.mkdir()
    refused.write_bytes(source.read_bytes()[:-10])
    assert oracle.same_data(refused, right)["code"] == 95


def test_zz_print_outcomes() -> None:
    """How many mutants of each seed converted (and so went through the oracle)."""
    for kind, codes in sorted(OUTCOMES.items()):
        counts = {code: codes.count(code) for code in sorted(set(codes), key=str)}
        print(f"fuzz {kind}: {len(codes)} mutants, exit codes {counts}")
