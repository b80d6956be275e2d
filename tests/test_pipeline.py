"""The two-phase pipeline (issue 14, item 3): ``prepare`` checks and reads, ``run`` writes.

Inputs are written by numpy; outputs are read back with h5py.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from emdconvert import ConvertOptions, IncompleteError, PolicyError, pipeline
from emdconvert.emd.provenance import SourceDigest
from emdconvert.pipeline import Request, prepare, run
from emdconvert.watch import worker
from emdconvert.watch.outcomes import Outcome
from emdconvert.watch.stability import Signature


def _npy(path: Path, shape: tuple[int, ...] = (4, 5)) -> np.ndarray:
    values = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    np.save(path, values)
    return values


def test_prepare_writes_nothing_and_run_publishes(tmp_path: Path) -> None:
    values = _npy(tmp_path / "a.npy")
    target = tmp_path / "out" / "a.emd"
    target.parent.mkdir()
    prepared = prepare(tmp_path / "a.npy", target, Request(ConvertOptions()))
    assert list(target.parent.iterdir()) == []
    assert prepared.source_bytes == (tmp_path / "a.npy").stat().st_size
    assert (prepared.reader.name, prepared.writer.name) == ("npy", "emd")
    assert run(prepared) == target
    with h5py.File(target) as h5:
        (group,) = h5["data"].values()
        assert np.array_equal(group["data"][()].T, values)  # x-first on disk
    facts = prepared.facts()
    assert (facts.size, facts.name) == (prepared.source_bytes, "a.npy")


def test_prepare_refuses_an_incomplete_file_before_the_destination(tmp_path: Path) -> None:
    """An incomplete source waits whatever its output's state (the daemon relies on it)."""
    _npy(tmp_path / "a.npy", (64, 64))
    cut = tmp_path / "cut.npy"
    cut.write_bytes((tmp_path / "a.npy").read_bytes()[:-100])
    run(prepare(tmp_path / "a.npy", tmp_path / "cut.emd", Request()))  # an older output
    with pytest.raises(IncompleteError):
        prepare(cut, tmp_path / "cut.emd", Request())


def _hashing() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "emdconvert-sha256" and t.is_alive()]


def _sparse_npy(path: Path, gib: int) -> None:
    """A .npy of *gib* GiB that takes no disk (numpy seeks past the data), seconds to hash."""
    np.lib.format.open_memmap(
        path, mode="w+", dtype=np.uint8, shape=(gib * 1024, 1024, 1024)
    ).flush()


def test_the_hash_of_a_source_refused_in_prepare_stops_with_it(tmp_path: Path) -> None:
    """The hash starts before the reader runs (overlapping its imports); a refusal of the
    source after that point must not leave it hashing 8 GiB in the background."""
    _sparse_npy(tmp_path / "big.npy", 8)
    with pytest.raises(PolicyError, match="max_bytes="):
        prepare(
            tmp_path / "big.npy",
            tmp_path / "big.emd",
            Request(ConvertOptions.parse(max_bytes="1M")),
        )
    assert _hashing() == []


def test_a_cancelled_digest_stops_and_never_gives_a_partial_hash(tmp_path: Path) -> None:
    _sparse_npy(tmp_path / "big.npy", 8)
    digest = SourceDigest(tmp_path / "big.npy")
    digest.cancel()
    assert _hashing() == []
    with pytest.raises(RuntimeError, match="cancelled"):
        digest.result()


def test_the_daemon_worker_prepares_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One completeness check and one read per file, not the worker's and convert()'s."""
    source = tmp_path / "a.npy"
    values = _npy(source)
    checks: list[Path] = []
    reads: list[Path] = []
    real_check, real_read = pipeline.check_with, pipeline.read_model

    def counted_check(reader, path):  # type: ignore[no-untyped-def]
        checks.append(path)
        return real_check(reader, path)

    def counted_read(reader, path, options):  # type: ignore[no-untyped-def]
        reads.append(path)
        return real_read(reader, path, options)

    monkeypatch.setattr(pipeline, "check_with", counted_check)
    monkeypatch.setattr(pipeline, "read_model", counted_read)
    task = worker.Task(
        1, str(source), str(tmp_path / "out" / "a.emd"), Signature.of(os.lstat(source))
    )
    result = worker.run(task)
    assert result.outcome == Outcome.DONE, result.detail
    assert (len(checks), len(reads)) == (1, 1)
    with h5py.File(tmp_path / "out" / "a.emd") as h5:
        (group,) = h5["data"].values()
        assert np.array_equal(group["data"][()].T, values)
    assert result.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
