"""Nested metadata and units with ``_``, checked with readers independent of ours.

Expectations come from h5py (the groups and attributes exactly), rsciio (HyperSpy's
EMD reader) and ncempy, plus our own reader for the round trip (README, EMD layout L6
and L15).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import emdconvert
from emdconvert import Dataset, Dim, EMDFile
from emdconvert.emd.spec import validate

STAGE = {"x_mm": 1.5, "tilt": {"alpha_deg": 10.0, "beta_deg": -2}, "labels": ["a", "bc"]}
MICROSCOPE = {"voltage_V": 3e5, "microscope_name": "Titan", "stage": STAGE, "apertures": [10, 20]}
SAMPLE = {"sample_name": "Si", "preparation": {"method": "FIB", "steps": {}}}
UNITS = ["test_units", "e_per_A2"]


def plain(value: Any) -> Any:
    """Attribute values as Python values, so nested dicts compare with ``==``."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (np.ndarray, list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode()
    return value.item() if isinstance(value, np.generic) else value


def image() -> np.ndarray:
    return np.arange(12, dtype=np.float32).reshape(3, 4)


def write_nested(path: Path) -> Path:
    return emdconvert.write(
        EMDFile((Dataset("img", image()),), MICROSCOPE, SAMPLE, {"operator_name": "me"}), path
    )


def test_nested_dicts_are_nested_groups_with_attributes(tmp_path: Path) -> None:
    with h5py.File(write_nested(tmp_path / "n.emd"), "r") as h5:
        microscope = h5["microscope"]
        assert set(microscope.attrs) == {"voltage_V", "microscope_name", "apertures"}
        assert list(microscope) == ["stage"]
        stage = microscope["stage"]
        assert isinstance(stage, h5py.Group)
        assert dict(stage.attrs)["x_mm"] == 1.5
        assert list(stage) == ["tilt"]
        assert plain(dict(stage["tilt"].attrs)) == {"alpha_deg": 10.0, "beta_deg": -2}
        assert isinstance(h5["sample/preparation/steps"], h5py.Group)
        assert plain(dict(h5["sample/preparation"].attrs)) == {"method": "FIB"}
        # Lists are array attributes, not their repr.
        assert microscope.attrs["apertures"].dtype.kind == "i"
        assert plain(microscope.attrs["apertures"]) == [10, 20]
        assert plain(stage.attrs["labels"]) == ["a", "bc"]


def test_our_reader_gives_the_nested_dict_back(tmp_path: Path) -> None:
    with emdconvert.read(write_nested(tmp_path / "n.emd")) as model:
        assert plain(model.microscope) == MICROSCOPE
        assert plain(model.sample) == SAMPLE
        # The sub-groups are in the model, not copied again as extras.
        assert not [e for e in model.extras if e.path.startswith(("/microscope", "/sample"))]
        again = emdconvert.write(model, tmp_path / "again.emd")  # EMD -> EMD
    with emdconvert.read(again) as model:
        assert plain(model.microscope) == MICROSCOPE


def test_other_writers_groups_under_microscope_are_still_copied(tmp_path: Path) -> None:
    source = write_nested(tmp_path / "n.emd")
    with h5py.File(source, "a") as h5:
        h5["microscope/stage"].create_dataset("track", data=np.arange(3))
    with emdconvert.read(source) as model:
        assert "stage" not in model.microscope  # it holds a dataset: not metadata of ours
        out = emdconvert.write(model, tmp_path / "out.emd")
    with h5py.File(out, "r") as h5:
        np.testing.assert_array_equal(h5["microscope/stage/track"][()], np.arange(3))
        assert h5["microscope/stage/tilt"].attrs["alpha_deg"] == 10.0


def test_rsciio_reads_the_data_and_only_top_level_attributes(tmp_path: Path) -> None:
    from rsciio.emd import file_reader

    signal = file_reader(str(write_nested(tmp_path / "n.emd")))[0]
    np.testing.assert_array_equal(signal["data"], image())
    microscope = signal["original_metadata"]["microscope"]
    # rsciio's _parse_original_metadata takes group.attrs only: sub-groups are not seen.
    assert plain(microscope) == {
        "voltage_V": 3e5,
        "microscope_name": "Titan",
        "apertures": [10, 20],
    }


def test_ncempy_reads_the_data_and_top_level_attributes(tmp_path: Path) -> None:
    from ncempy.io import emd

    with emd.fileEMD(str(write_nested(tmp_path / "n.emd"))) as handle:
        data, dims = handle.get_emdgroup(handle.list_emds[0])
        np.testing.assert_array_equal(np.asarray(data), image().T)  # stored x first
        assert [d[1] for d in dims] == ["x", "y"]
        metadata = handle.getMetadata(handle.list_emds[0])
    assert metadata["voltage_V"] == 3e5 and metadata["sample_name"] == "Si"
    assert "stage" not in metadata


def test_none_is_dropped_with_a_warning_naming_the_key_path(tmp_path: Path) -> None:
    microscope = {"voltage_V": 3e5, "stage": {"tilt_a": 1.0, "tilt_b": None}}
    with pytest.warns(UserWarning, match=r"^microscope\.stage\.tilt_b is None: not written$"):
        model = EMDFile.from_array(image(), microscope=microscope)
    with h5py.File(emdconvert.write(model, tmp_path / "none.emd"), "r") as h5:
        assert set(h5["microscope/stage"].attrs) == {"tilt_a"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), r"microscope\.stage\.when: a object cannot be stored"),
        ({1, 2}, r"microscope\.stage\.when: a set cannot be stored"),
        ([1, "a"], r"microscope\.stage\.when: a list must hold only numbers or only strings"),
        ([1, None], r"microscope\.stage\.when: a list must hold"),
        ([[1, 2], [3]], r"microscope\.stage\.when: a list must hold"),
    ],
    ids=["object", "set", "mixed-list", "list-with-none", "ragged"],
)
def test_an_unsupported_value_is_a_type_error_naming_the_key(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        EMDFile.from_array(image(), microscope={"stage": {"when": value}})


def test_a_nested_key_that_cannot_name_a_group_is_refused() -> None:
    with pytest.raises(ValueError, match=r"sample\.a/b: a nested mapping's key"):
        EMDFile.from_array(image(), sample={"a/b": {"c": 1}})


def units_file(path: Path, unit: str) -> Path:
    dims = (Dim("y", unit, np.arange(3.0)), Dim("x", unit, 0.5 * np.arange(4.0)))
    return emdconvert.write(EMDFile((Dataset("img", image(), dims, units=unit),)), path)


@pytest.mark.parametrize("unit", UNITS)
def test_a_unit_with_underscore_is_stored_as_it_is(tmp_path: Path, unit: str) -> None:
    path = units_file(tmp_path / "u.emd", unit)
    with h5py.File(path, "r") as h5:
        group = h5["data/img"]
        for name in ("dim1", "dim2"):
            assert group[name].attrs["units"] == unit.encode()
        assert group.attrs["units"] == unit.encode()
    assert validate(path) == []  # not even a SHOULD about brackets


@pytest.mark.parametrize("unit", UNITS)
def test_every_reader_gives_a_unit_with_underscore_back_unchanged(
    tmp_path: Path, unit: str
) -> None:
    from ncempy.io import emd
    from rsciio.emd import file_reader

    path = units_file(tmp_path / "u.emd", unit)
    axes = file_reader(str(path))[0]["axes"]
    assert [(a["name"], a["units"]) for a in axes] == [("y", unit), ("x", unit)]
    with emd.fileEMD(str(path)) as handle:
        _, dims = handle.get_emdgroup(handle.list_emds[0])
    assert [(d[1], d[2]) for d in dims] == [("x", unit), ("y", unit)]
    with emdconvert.read(path) as model:
        dataset = model.datasets[0]
        assert [dim.units for dim in dataset.dims] == [unit, unit]
        assert dataset.units == unit


def test_bracketed_underscores_are_what_readers_strip(tmp_path: Path) -> None:
    """Why units with ``_`` are not bracketed: every reader but ncempy drops the ``_``
    inside brackets (rsciio's ``_parse_attribute``), so ``[test_units]`` is lost."""
    from rsciio.emd import file_reader

    path = units_file(tmp_path / "u.emd", "nm")
    with h5py.File(path, "a") as h5:
        h5["data/img/dim1"].attrs["units"] = np.bytes_(b"[test_units]")
    assert file_reader(str(path))[0]["axes"][1]["units"] == "testunits"
    with emdconvert.read(path) as model:
        assert model.datasets[0].dims[1].units == "testunits"  # we agree with rsciio


def test_rsciio_renames_units_pint_knows_by_an_underscored_name(tmp_path: Path) -> None:
    """rsciio passes every unit through pint: one pint knows comes back as its symbol."""
    from rsciio.emd import file_reader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        axes = file_reader(str(units_file(tmp_path / "u.emd", "electron_volt")))[0]["axes"]
    assert axes[0]["units"] == "eV"
