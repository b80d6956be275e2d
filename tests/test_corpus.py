"""Every file of the shared real-file corpus converts to a valid EMD file.

Per-format tests (tests/plugins/) compare data and axes with rsciio's own reading; this
one guarantees that nothing listed in MANIFEST.tsv is left out, including files added
to the corpus later.  The source is never modified.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from support.corpus import corpus_dir

import emdconvert
from emdconvert.testing import assert_valid_emd, fingerprint


def manifest() -> list[str]:
    path = corpus_dir() / "MANIFEST.tsv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [row["file"] for row in csv.DictReader(handle, delimiter="\t")]


@pytest.mark.corpus
@pytest.mark.parametrize("name", manifest() or ["<corpus missing>"])
def test_corpus_file_converts_to_valid_emd(corpus: Path, tmp_path: Path, name: str) -> None:
    source = corpus / name
    before = fingerprint(source)
    out = emdconvert.convert(source, tmp_path / "out.emd")
    assert_valid_emd(out)
    model = emdconvert.read(out)
    assert model.datasets and all(d.shape for d in model.datasets)
    assert fingerprint(source) == before
