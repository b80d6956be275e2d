"""``Dim``'s constructors check their arguments and name the one at fault (issue 17, 8).

``Dim.uniform("x", 512, 0.02)`` used to be accepted with ``units=512`` and fail much
later with "dim 'x' has 0 values"; now the mistake is a ``TypeError`` at the call.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emdconvert import Dataset, Dim


def test_uniform_keywords() -> None:
    dim = Dim.uniform("x", size=4, scale=0.5, offset=1.0, units="nm")
    np.testing.assert_array_equal(dim.values, np.linspace(1.0, 2.5, 4))
    assert (dim.name, dim.units, dim.size, dim.offset, dim.scale) == ("x", "nm", 4, 1.0, 0.5)
    assert dim.is_uniform
    assert dim == Dim("x", "nm", np.array([1.0, 1.5, 2.0, 2.5]))
    assert dim != Dim.uniform("x", size=4, scale=0.5, offset=1.0, units="µm")


def test_the_issue_example_names_units() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(TypeError, match="units must be a str, got int 512"):
            Dim.uniform("x", 512, 0.02)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 4.0, "scale": 1.0}, "size must be an int, got float"),
        ({"size": True, "scale": 1.0}, "size must be an int, got bool"),
        ({"size": -1, "scale": 1.0}, "size must be >= 0"),
        ({"size": 4, "scale": "0.1"}, "scale must be a real number, got str"),
        ({"size": 4, "scale": 0.1, "offset": None}, "offset must be a real number"),
        ({"size": 4, "scale": 0.1, "units": None}, "units must be a str, got NoneType"),
        ({"scale": 0.1}, "size must be given"),
        ({"size": 4}, "scale must be given"),
    ],
)
def test_bad_uniform_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        Dim.uniform("x", **kwargs)  # type: ignore[arg-type]


def test_bad_explicit_arguments() -> None:
    with pytest.raises(TypeError, match="units must be a str, got int"):
        Dim("x", 512, np.arange(3.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be a str"):
        Dim(3, "nm", np.arange(3.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scale must be a real number"):
        Dim("x", "nm", np.arange(1.0), "0.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D numeric"):
        Dim("x", "nm", np.zeros((2, 2)))


def test_numpy_numbers_are_accepted() -> None:
    dim = Dim.uniform("x", size=np.int64(3), scale=np.float32(0.5), units="nm")
    assert dim.size == 3 and dim.scale == 0.5


def test_old_positional_form_still_works_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"Dim.uniform\(name, size=\.\.\."):
        old = Dim.uniform("x", "nm", 4, 1.0, 0.5)
    assert old == Dim.uniform("x", size=4, scale=0.5, offset=1.0, units="nm")


def test_dims_are_immutable_and_repr_round_trips() -> None:
    dim = Dim.uniform("x", size=3, scale=0.25, units="nm")
    with pytest.raises(AttributeError, match="immutable"):
        dim.units = "µm"  # type: ignore[misc]
    assert eval(repr(dim), {"Dim": Dim}) == dim


def test_a_dataset_with_the_wrong_axis_length_names_the_dim() -> None:
    with pytest.raises(ValueError, match="dim 'x' has 5 values but axis 1 has length 4"):
        Dataset(
            "d",
            np.zeros((3, 4)),
            (Dim.uniform("y", size=3, scale=1.0), Dim.uniform("x", size=5, scale=1.0)),
        )


def test_dataset_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="Dataset: name must be a str, got int"):
        Dataset(3, np.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="data must be an array-like, got list"):
        Dataset("d", [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Dataset: units must be a str"):
        Dataset("d", np.zeros(2), units=None)  # type: ignore[arg-type]


def test_dims_pickle_and_copy() -> None:
    """Models cross process boundaries (batch workers, Dask): dims must survive it."""
    import copy
    import pickle

    for dim in (
        Dim.uniform("x", size=3, scale=0.5, offset=-1.0, units="nm", attrs={"k": 1}),
        Dim("e", "eV", np.array([0.0, 1.0, 3.0])),
        Dim("t", "s", np.array([2.0]), 0.25),
    ):
        for twin in (pickle.loads(pickle.dumps(dim)), copy.deepcopy(dim)):
            assert twin == dim and twin.is_uniform == dim.is_uniform
            assert twin.scale == dim.scale and dict(twin.attrs) == dict(dim.attrs)
