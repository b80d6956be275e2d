"""The csv plugin: conformance suite, spectra and tables, strict parsing, options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import emdconvert
from emdconvert.errors import FormatError, UnsupportedError, UsageError
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.plugins.csv_.grammar import split_header
from emdconvert.testing import ReaderContract, WriterContract

SPECTRUM = "energy [eV],counts,background (counts)\n100.0,5,1.5\n100.5,7,1.25\n101.0,9,1e-3\n"


class TestCSVContract(ReaderContract, WriterContract):
    plugin_name = "csv"
    suffix = ".csv"

    @pytest.fixture
    def roundtrip_model(self) -> EMDFile:
        return EMDFile.from_array(np.arange(12, dtype=np.int64).reshape(3, 4))

    @pytest.fixture
    def sample_paths(self, tmp_path: Path) -> list[Path]:
        (tmp_path / "src").mkdir()
        spectrum = tmp_path / "src" / "spectrum.csv"
        spectrum.write_text(SPECTRUM)
        table = tmp_path / "src" / "table.csv"
        table.write_text("1,2,3\n4,5,6\n")
        return [spectrum, table]

    def test_failed_write_leaves_nothing(self, tmp_path: Path) -> None:
        """CSV holds 1-D/2-D data: fail mid-write on a 2-D table instead."""
        from emdconvert.testing import FailingArray, leftovers

        model = EMDFile((Dataset("bad", FailingArray((200_000, 40))),))
        with pytest.raises(emdconvert.EmdConvertError):
            emdconvert.write(model, tmp_path / "fail.csv")
        assert not (tmp_path / "fail.csv").exists() and not leftovers(tmp_path)


def test_spectrum_columns_become_datasets_on_the_coordinate_axis(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(SPECTRUM)
    model = emdconvert.read(tmp_path / "s.csv")
    assert [d.name for d in model.datasets] == ["counts", "background"]
    counts, background = model.datasets
    assert counts.dtype == np.int64 and background.dtype == np.float64
    assert background.units == "counts"
    assert counts.dims[0].name == "energy" and counts.dims[0].units == "eV"
    np.testing.assert_array_equal(counts.dims[0].values, [100.0, 100.5, 101.0])


def test_csv_emd_csv_round_trip_is_exact(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(SPECTRUM)
    emdconvert.convert(tmp_path / "s.csv", tmp_path / "s.emd")
    emdconvert.convert(tmp_path / "s.emd", tmp_path / "t.csv")
    first, second = emdconvert.read(tmp_path / "s.csv"), emdconvert.read(tmp_path / "t.csv")
    for a, b in zip(first.datasets, second.datasets, strict=True):
        np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))
        assert (a.name, a.units, a.dtype, a.dims) == (b.name, b.units, b.dtype, b.dims)


def test_table_round_trip_and_decimal_comma(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("\ufeff1;2,5;3\n4;5;6,25\n")
    options = {"delimiter": ";", "decimal": ","}
    emdconvert.convert(tmp_path / "t.csv", tmp_path / "t.emd", options=options)
    data = np.asarray(emdconvert.read(tmp_path / "t.emd").datasets[0].data[...])
    np.testing.assert_array_equal(data, [[1.0, 2.5, 3.0], [4.0, 5.0, 6.25]])
    emdconvert.convert(tmp_path / "t.emd", tmp_path / "u.csv", options=options)
    assert (tmp_path / "u.csv").read_text() == "1,0;2,5;3,0\n4,0;5,0;6,25\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,x\n", "row 2, column 2: 'x' is not a number"),
        ("1,2\n3\n", "row 2 has 1 cells, expected 2"),
        ("energy [eV],counts\n", "header but no data rows"),
        ("\n\n", "no data rows"),
    ],
)
def test_strict_parsing_names_row_and_column(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(FormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        emdconvert.convert(tmp_path / "bad.csv", tmp_path / "bad.emd")
    assert not (tmp_path / "bad.emd").exists()


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("1,2\n")
    with pytest.raises(UsageError):
        emdconvert.read(tmp_path / "t.csv", options={"decimal": ";"})


def test_what_csv_cannot_hold_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError, match="CSV holds"):
        emdconvert.write(EMDFile.from_array(np.zeros((2, 3, 4))), tmp_path / "x.csv")
    with pytest.raises(UnsupportedError, match="cannot be written as CSV"):
        emdconvert.write(EMDFile.from_array(np.zeros(3, np.complex64)), tmp_path / "y.csv")
    assert not list(tmp_path.iterdir())


def test_header_units_forms() -> None:
    assert split_header("energy [eV]") == ("energy", "eV")
    assert split_header("q (1/nm)") == ("q", "1/nm")
    assert split_header("counts") == ("counts", "")


def test_spectrum_from_any_format_exports(tmp_path: Path) -> None:
    dims = (Dim.uniform("energy loss", size=4, scale=0.5, offset=280.0, units="eV"),)
    model = EMDFile((Dataset("eels", np.array([1.5, 2.0, 2.5, 3.0]), dims),))
    emdconvert.write(model, tmp_path / "e.emd")
    emdconvert.convert(tmp_path / "e.emd", tmp_path / "e.csv")
    assert (tmp_path / "e.csv").read_text().splitlines()[0] == "energy loss [eV],eels"
