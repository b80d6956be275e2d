"""The validator: each rule of README's EMD layout (L1-L8) is detected, and our own files pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import emdconvert
from emdconvert.emd.spec import MUST, SHOULD, errors, validate


def good_file(path: Path) -> Path:
    """A minimal compliant file written by hand, independently of our writer."""
    with h5py.File(path, "w") as h5:
        h5.attrs["version_major"] = 0
        h5.attrs["version_minor"] = 2
        group = h5.create_group("data/img")
        group.attrs["emd_group_type"] = 1
        group.create_dataset("data", data=np.zeros((4, 3), np.uint16))
        for k, (n, name) in enumerate([(4, "x"), (3, "y")], start=1):
            dim = group.create_dataset(f"dim{k}", data=np.arange(n, dtype=float))
            dim.attrs["name"] = np.bytes_(name.encode())
            dim.attrs["units"] = np.bytes_(b"[n_m]")
        for name in ("microscope", "sample", "user"):
            h5.create_group(name)
        h5.create_group("comments").attrs["2026-01-01T00:00:00.000000Z"] = np.bytes_(b"made")
    return path


def rules(path: Path, level: str = MUST) -> set[int]:
    return {v.rule for v in validate(path) if v.level == level}


def test_hand_written_compliant_file_passes(tmp_path: Path) -> None:
    assert validate(good_file(tmp_path / "ok.emd")) == []


def test_our_writer_passes_without_warnings(tmp_path: Path) -> None:
    model = emdconvert.EMDFile.from_array(np.zeros((1, 3, 4), np.float32))
    emdconvert.write(model, tmp_path / "ours.emd")
    assert validate(tmp_path / "ours.emd") == []


def _mutate(path: Path, change: Callable[[h5py.File], None]) -> Path:
    good_file(path)
    with h5py.File(path, "r+") as h5:
        change(h5)
    return path


def _external_link(h5: h5py.File) -> None:
    del h5["data/img/data"]
    h5["data/img/data"] = h5py.ExternalLink("/etc/other.h5", "/x")


def _virtual(h5: h5py.File) -> None:
    layout = h5py.VirtualLayout(shape=(4, 3), dtype=np.uint16)
    layout[:] = h5py.VirtualSource("/etc/other.h5", "/x", shape=(4, 3))
    del h5["data/img/data"]
    h5["data/img"].create_virtual_dataset("data", layout)


def _external_storage(h5: h5py.File) -> None:
    del h5["data/img/data"]
    h5["data/img"].create_dataset(
        "data", shape=(4, 3), dtype=np.uint16, external=[("/etc/hostname", 0, 24)]
    )


CASES: dict[str, tuple[Callable[[h5py.File], None], int]] = {
    "string version": (lambda h5: h5.attrs.__setitem__("version_major", "0"), 1),
    "wrong minor": (lambda h5: h5.attrs.__setitem__("version_minor", 3), 1),
    "no data group": (lambda h5: h5["data/img"].attrs.__setitem__("emd_group_type", 2), 2),
    "group without data": (lambda h5: h5["data/img"].move("data", "values"), 2),
    "string data": (
        lambda h5: (
            h5["data/img"].__delitem__("data"),
            h5["data/img"].create_dataset("data", data=np.array([b"a", b"b", b"c", b"d"])),
            h5["data/img"].__delitem__("dim2"),
        ),
        3,
    ),
    "missing dim2": (lambda h5: h5["data/img"].__delitem__("dim2"), 4),
    "has dim0": (lambda h5: h5["data/img"].create_dataset("dim0", data=[0.0]), 4),
    "extra dim3": (lambda h5: h5["data/img"].create_dataset("dim3", data=[0.0]), 4),
    "wrong dim length": (
        lambda h5: (
            h5["data/img"].__delitem__("dim1"),
            h5["data/img"]
            .create_dataset("dim1", data=np.arange(7.0))
            .attrs.update({"name": "x", "units": "[n_m]"}),
        ),
        5,
    ),
    "2-D dim": (
        lambda h5: (
            h5["data/img"].__delitem__("dim1"),
            h5["data/img"]
            .create_dataset("dim1", data=np.zeros((4, 2)))
            .attrs.update({"name": "x", "units": ""}),
        ),
        5,
    ),
    "no units": (lambda h5: h5["data/img/dim1"].attrs.__delitem__("units"), 6),
    "external link": (_external_link, 8),
    "virtual dataset": (_virtual, 8),
    "external storage": (_external_storage, 8),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_must_rule_is_detected(tmp_path: Path, case: str) -> None:
    change, rule = CASES[case]
    (tmp_path / "invalid").mkdir()
    path = _mutate(tmp_path / "invalid" / f"{case.replace(' ', '_')}.emd", change)
    assert rule in rules(path), validate(path)


def test_should_rules_warn_but_do_not_fail(tmp_path: Path) -> None:
    (tmp_path / "invalid").mkdir()
    path = _mutate(
        tmp_path / "invalid" / "loose.emd",
        lambda h5: (h5["data/img/dim1"].attrs.__setitem__("units", "nm"), h5.__delitem__("user")),
    )
    assert rules(path, SHOULD) == {6, 7}
    assert errors(validate(path)) == []


def test_n1_dims_and_two_element_dims_are_accepted(tmp_path: Path) -> None:
    def change(h5: h5py.File) -> None:
        group = h5["data/img"]
        del group["dim1"], group["dim2"]
        group.create_dataset("dim1", data=np.arange(4.0).reshape(4, 1)).attrs.update(
            {"name": "x", "units": "[n_m]"}
        )
        group.create_dataset("dim2", data=[0.0, 0.5]).attrs.update({"name": "y", "units": "[n_m]"})

    (tmp_path / "invalid").mkdir()
    path = _mutate(tmp_path / "invalid" / "quirks.emd", change)
    assert errors(validate(path)) == []


def test_not_hdf5_is_a_rule_1_violation(tmp_path: Path) -> None:
    (tmp_path / "invalid").mkdir()
    path = tmp_path / "invalid" / "text.emd"
    path.write_text("hello")
    assert rules(path) == {1}
