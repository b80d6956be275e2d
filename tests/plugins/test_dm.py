"""The dm plugin: conformance suite and the DM3/DM4 corpus against rsciio's own read."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.rsciio_oracle import as_loaded

import emdconvert
from emdconvert.plugins.dm.metadata import MICROSCOPE_RULES, map_tags
from emdconvert.testing import ReaderContract, assert_valid_emd


def dm_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "dm").glob("*.dm[34]"))


class TestDMContract(ReaderContract):
    plugin_name = "dm"

    @pytest.fixture
    def sample_paths(self, corpus: Path, tmp_path: Path) -> list[Path]:
        # Copies in tmp_path (never the corpus itself) so damage tests cannot touch it.
        out = []
        for name in ("2D_test-1.dm3", "3D_test-2.dm4", "EELS_SI.dm4"):
            target = tmp_path / "src" / name
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(corpus / "dm" / name, target)
            out.append(target)
        return out


@pytest.mark.corpus
def test_every_corpus_dm_file_matches_rsciio(corpus: Path, tmp_path: Path) -> None:
    """Data bit-identical, axes equal to rsciio's (README, Axis order: from the source),
    as ``hs.load`` gives them: a spectrum image (EELS_SI.dm4) with its energy axis last."""
    from rsciio.digitalmicrograph import file_reader

    logging.getLogger("hyperspy").setLevel(logging.ERROR)  # signal_type 'EELS' unknown
    files = dm_files(corpus)
    assert len(files) >= 30
    for index, source in enumerate(files):
        out = emdconvert.convert(source, tmp_path / f"{index}.emd")
        assert_valid_emd(out)
        ours = emdconvert.read(out).datasets
        theirs = [as_loaded(signal) for signal in file_reader(str(source))]
        assert len(ours) == len(theirs), source.name
        for mine, signal in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(
                np.asarray(mine.data[...]), signal["data"], err_msg=source.name
            )
            assert mine.dtype == signal["data"].dtype, source.name
            for dim, axis in zip(mine.dims, signal["axes"], strict=True):
                assert dim.size == axis["size"], source.name
                assert dim.offset == pytest.approx(axis["offset"]), source.name
                assert dim.scale == pytest.approx(axis["scale"]), source.name
                assert dim.units == (axis["units"] or ""), source.name
        # Voltage and magnification are mapped wherever the source has them.
        model = emdconvert.read(out)
        info = theirs[0]["original_metadata"]["ImageList"]["TagGroup0"]["ImageTags"].get(
            "Microscope Info", {}
        )
        for tag, attr in (
            ("Voltage", "voltage_V"),
            ("Indicated Magnification", "indicated_magnification"),
        ):
            if isinstance(info.get(tag), (int, float)):
                assert model.microscope[attr] == info[tag], (source.name, attr)


@pytest.mark.corpus
def test_file_name_with_comma_and_units_survive(corpus: Path, tmp_path: Path) -> None:
    source = corpus / "dm" / "dmTest_3D_int16_64,65,66.dm4"
    out = emdconvert.convert(source, tmp_path / "with, comma µ.emd")
    dims = emdconvert.read(out).datasets[0].dims
    assert [d.units for d in dims] == ["um", "nm", "pm"]


@pytest.mark.corpus
def test_metadata_is_mapped_and_the_tag_tree_kept(corpus: Path, tmp_path: Path) -> None:
    out = emdconvert.convert(corpus / "dm" / "EELS_SI.dm4", tmp_path / "si.emd")
    model = emdconvert.read(out)
    assert model.microscope["voltage_V"] == 200000.0
    assert model.microscope["indicated_magnification"] == 225000.0
    assert model.microscope["stem_camera_length_mm"] == 550.0
    assert model.microscope["signal_type"] == "EELS"
    tree = json.loads(model.datasets[0].attrs["original_metadata_json"])
    tags = tree["ImageList"]["TagGroup0"]["ImageTags"]
    assert tags["Microscope Info"]["Voltage"] == 200000.0


@pytest.mark.corpus
def test_stem_image_acquisition_time_is_exact_utc(corpus: Path, tmp_path: Path) -> None:
    model = emdconvert.read(corpus / "dm" / "test_STEM_image.dm3")
    assert model.microscope["acquisition_date"] == "8/8/2016"
    assert str(model.microscope["acquisition_datetime_utc"]).startswith("2016-08-08T")
    assert model.microscope["dwell_time_us"] == 3.5


def test_empty_dm_strings_are_skipped() -> None:
    tags = {"Microscope Info": {"Name": [], "Voltage": 300000.0}}
    assert map_tags(tags, MICROSCOPE_RULES) == {"voltage_V": 300000.0}
