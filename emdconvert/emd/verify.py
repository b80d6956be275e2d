"""The one check every EMD output passes before it is published, batch or stream.

A written file must satisfy the spec's MUST rules (:mod:`emdconvert.emd.spec`); when
the data it was written from are still at hand (a conversion, not a stream), the
start, middle and end of every dataset are read back and compared with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.emd.groups import data_groups
from emdconvert.emd.reader import read_group
from emdconvert.errors import ValidationError
from emdconvert.lazy import LazyArray
from emdconvert.model import Dataset, EMDFile


def check_spec(path: Path, *, what: str = "written file") -> None:
    """Raise :class:`ValidationError` naming the first MUST rule *path* breaks."""
    from emdconvert.emd.spec import errors, validate

    broken = errors(validate(path))
    if broken:
        raise ValidationError(f"{what} breaks {broken[0]}")


def check_written(
    path: Path, wanted: list[tuple[tuple[int, ...], np.dtype[Any]]], *, what: str = "written file"
) -> None:
    """:func:`check_spec`, and the data groups have the *wanted* shapes and dtypes."""
    import h5py

    from emdconvert.emd.reader import dataset_infos

    check_spec(path, what=what)
    with h5py.File(path, "r") as h5:
        found = [(d.shape, d.dtype) for d in dataset_infos(h5)]
    if found != wanted:
        raise ValidationError(f"{what} failed verification: wrote {found}, expected {wanted}")


def compare_samples(model: EMDFile, path: Path) -> None:
    """The start, middle and end of every dataset read back equal to the source.

    After a failed or interrupted write HDF5 happily returns fill-value zeros for
    chunks that never arrived (README, Safety rules R3); comparing a few blocks per
    dataset catches that at the cost of reading a few MB.
    """
    import h5py

    with h5py.File(path, "r") as h5:
        for group, wanted in zip(data_groups(h5), model.datasets, strict=True):
            compare_sample_blocks(wanted, read_group(group).data, group.name)


def compare_sample_blocks(wanted: Dataset, written: LazyArray, where: str) -> None:
    """The start, middle and end of *written* (stored at *where*) equal *wanted*'s data;
    shared by every HDF5 layout we write."""
    from emdconvert.lazy import sample_keys

    for key in sample_keys(wanted.shape, wanted.dtype.itemsize):
        expected = np.asarray(wanted.data[key])
        found = np.asarray(written[key])
        if not np.array_equal(expected, found, equal_nan=expected.dtype.kind in "fc"):
            raise ValidationError(f"written data differ from the source in {where} at {key}")
