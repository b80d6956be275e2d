"""Shared fixtures: the real-file corpus, and validation of every EMD file a test writes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# Hypothesis keeps a cache beside the tests unless told otherwise; the project's tool
# caches live under .ci/cache (layout rule: nothing new at the top level).
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY",
    str(Path(__file__).resolve().parents[1] / ".ci" / "cache" / "hypothesis"),
)

import pytest
from support.corpus import corpus_dir

from emdconvert.testing import assert_valid_emd


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus folder; skipped when absent locally, but a failure in CI."""
    path = corpus_dir()
    if not (path / "MANIFEST.tsv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"corpus not found at {path} (set EMDCONVERT_CORPUS)")
        pytest.skip(f"corpus not found at {path} (set EMDCONVERT_CORPUS)")
    return path


@pytest.fixture(autouse=True)
def library_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the library's spelling of remedies: a CLI test run in
    process (CliRunner) switches it to flags for the rest of the process otherwise."""
    from emdconvert.remedies import ENV

    monkeypatch.setenv(ENV, "library")


@pytest.fixture(autouse=True)
def validate_written_emd(tmp_path: Path) -> Iterator[None]:
    """After each test, every ``.emd`` file it left in tmp_path must pass the validator.

    Files a test deliberately breaks live under a folder named ``invalid``.
    """
    yield
    for path in tmp_path.rglob("*.emd"):
        if "invalid" not in path.parts and path.is_file():
            assert_valid_emd(path)
