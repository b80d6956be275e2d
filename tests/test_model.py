"""The canonical model: construction checks, uniform dims, comments, from_array."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from emdconvert.errors import UnsupportedError
from emdconvert.model import Comment, Dataset, Dim, EMDFile, default_dims


def test_uniform_dim_values_and_properties() -> None:
    dim = Dim.uniform("x", size=4, scale=0.5, offset=1.0, units="nm")
    np.testing.assert_array_equal(dim.values, [1.0, 1.5, 2.0, 2.5])
    assert (dim.size, dim.offset, dim.scale) == (4, 1.0, 0.5)


def test_dims_must_match_the_array() -> None:
    with pytest.raises(UnsupportedError, match="2 dims for a 3-D"):
        Dataset(
            "a",
            np.zeros((2, 3, 4)),
            (Dim.uniform("y", size=3, scale=1.0), Dim.uniform("x", size=4, scale=1.0)),
        )
    with pytest.raises(UnsupportedError, match="has 5 values but axis 1"):
        Dataset(
            "a",
            np.zeros((2, 4)),
            (Dim.uniform("y", size=2, scale=1.0), Dim.uniform("x", size=5, scale=1.0)),
        )


@pytest.mark.parametrize("data", [np.array(["a", "b"]), np.array([object()]), np.float32(1)])
def test_non_numeric_or_scalar_data_is_refused(data: np.ndarray) -> None:
    with pytest.raises(UnsupportedError):
        Dataset("a", data)


def test_default_dims_name_x_last() -> None:
    assert [d.name for d in default_dims((2, 3, 4, 5))] == ["dim0", "z", "y", "x"]


def test_model_never_reads_the_array() -> None:
    class Untouchable:
        shape = (10**6, 10**6)
        dtype = np.dtype(np.uint8)

        def __getitem__(self, key: object) -> np.ndarray:
            raise AssertionError("the model must not read data")

    model = EMDFile.from_array(Untouchable())
    assert model.datasets[0].shape == (10**6, 10**6)


def test_from_array_carries_metadata_groups() -> None:
    with pytest.warns(UserWarning, match=r"microscope\.skip is None: not written"):
        model = EMDFile.from_array(
            np.zeros(3),
            microscope={"voltage_V": 3e5, "skip": None},
            sample={"sample_name": "Si"},
            user={"operator_name": "me"},
        )
    assert model.microscope == {"voltage_V": 3e5}
    assert model.metadata("sample") == {"sample_name": "Si"}
    with pytest.raises(KeyError):
        model.metadata("bogus")


def test_with_comment_appends_and_keys_are_iso_utc() -> None:
    stamp = dt.datetime(2026, 11, 23, 22, 41, 7, 123456, tzinfo=dt.timezone.utc)
    model = EMDFile.from_array(np.zeros(3)).with_comment(Comment(stamp, "made"))
    assert model.comments[0].key == "2026-11-23T22:41:07.123456Z"
    with pytest.raises(UnsupportedError):
        Comment(dt.datetime(2026, 1, 1), "naive")


def test_an_emd_file_needs_a_dataset() -> None:
    with pytest.raises(UnsupportedError):
        EMDFile(())
