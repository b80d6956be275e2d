"""The rsciio fallback plugin: conformance suite and SER/EMI/MRC from the corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import emdconvert
from emdconvert.detect import choose_reader
from emdconvert.testing import ReaderContract

OTHER = ["16_STOimage_1.ser", "16_STOimage.emi", "temp.mrc"]


class TestRsciioContract(ReaderContract):
    plugin_name = "rsciio"

    @pytest.fixture
    def sample_paths(self, corpus: Path, tmp_path: Path) -> list[Path]:
        (tmp_path / "src").mkdir()
        target = tmp_path / "src" / "temp.mrc"
        shutil.copyfile(corpus / "other" / "temp.mrc", target)
        return [target]


def test_dedicated_plugins_win_over_the_fallback(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros(3))
    assert choose_reader(tmp_path / "a.npy").name == "npy"


def test_unreadable_file_with_an_rsciio_extension_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "bad.msa").write_bytes(b"not an MSA file at all" * 10)
    with pytest.raises(emdconvert.FormatError, match="rsciio could not read it"):
        emdconvert.convert(tmp_path / "bad.msa", tmp_path / "bad.emd")
    (tmp_path / "bad.ser").write_bytes(b"not a SER file at all" * 10)
    with pytest.raises(emdconvert.UnknownFormatError, match="unrecognised format"):
        emdconvert.convert(tmp_path / "bad.ser", tmp_path / "bad.emd")
    assert not (tmp_path / "bad.emd").exists()


@pytest.mark.corpus
@pytest.mark.parametrize("name", OTHER)
def test_corpus_other_formats_match_rsciio(corpus: Path, tmp_path: Path, name: str) -> None:
    from rsciio.mrc import file_reader as read_mrc
    from rsciio.tia import file_reader as read_tia

    source = corpus / "other" / name
    out = emdconvert.convert(source, tmp_path / "out.emd")
    ours = emdconvert.read(out).datasets
    theirs = (read_mrc if name.endswith(".mrc") else read_tia)(str(source))
    assert len(ours) == len(theirs)
    for mine, signal in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(np.asarray(mine.data[...]), signal["data"])
        for dim, axis in zip(mine.dims, signal["axes"], strict=True):
            assert (dim.size, dim.units) == (axis["size"], axis["units"] or "")
            assert dim.offset == pytest.approx(axis["offset"])
            assert dim.scale == pytest.approx(axis["scale"])
