"""Real inputs converted with ``--to emd1`` / ``writer="emd1"``, checked against what
rsciio reads from the *source* (the independent expectation), and the shared writer
conformance suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from support.emd1_files import read_tree, root_of
from support.emd1_files import validate_written_emd as validate_written_emd
from support.rsciio_oracle import as_loaded
from support.units import same_units

import emdconvert
from emdconvert.testing import WriterContract

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "spectrum_image.emd"


def _axes_equal(ours: list[dict], theirs: list[dict]) -> None:
    assert len(ours) == len(theirs)
    for mine, ref in zip(ours, theirs, strict=True):
        assert mine["size"] == ref["size"] and mine["name"] == ref["name"]
        assert same_units(mine["units"], ref["units"])
        assert mine["scale"] == pytest.approx(ref["scale"], rel=1e-9)
        assert mine["offset"] == pytest.approx(ref["offset"], rel=1e-9, abs=1e-12)


def _only_signal(path: Path) -> dict:
    from rsciio.emd import file_reader

    (signal,) = file_reader(str(path))
    return signal


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["EELS_SI.dm4", "2D_test-2.dm4"])
def test_dm4_converts_as_rsciio_reads_it(corpus: Path, tmp_path: Path, name: str) -> None:
    from rsciio.digitalmicrograph import file_reader

    source = corpus / "dm" / name
    out = emdconvert.convert(source, tmp_path / "out.emd", writer="emd1")
    reference = as_loaded(file_reader(str(source))[0])
    node = read_tree(out)
    assert node.data.dtype == reference["data"].dtype
    assert np.array_equal(node.data, reference["data"])
    back = _only_signal(out)
    assert np.array_equal(back["data"], reference["data"])
    _axes_equal(back["axes"], reference["axes"])


@pytest.mark.corpus
def test_py4dstem_file_keeps_its_calibration(corpus: Path, tmp_path: Path) -> None:
    """A real py4DSTEM file through the model and back: the same DataCube and calibration."""
    source = corpus / "emd" / "py4DSTEM_emd1_size2x3x4x5.h5"
    out = emdconvert.convert(source, tmp_path / "again.emd", writer="emd1")
    with h5py.File(source, "r") as h5:
        data = h5["datacube_root/datacube/data"][()]
        calibration = h5["datacube_root/metadatabundle/calibration"]
        wanted = {k: calibration[k][()] for k in ("Q_pixel_size", "R_pixel_size")}
        units = {k: calibration[k][()].decode() for k in ("Q_pixel_units", "R_pixel_units")}
    root = root_of(out)
    cube = root.tree("datacube")
    assert type(cube).__name__ == "DataCube" and np.array_equal(cube.data, data)
    got = root.metadata["calibration"]._params
    assert {k: got[k] for k in wanted} == pytest.approx(wanted)
    assert {k: got[k] for k in units} == units


def test_cli_sample_emd_to_emd1(tmp_path: Path) -> None:
    out = tmp_path / "si_py4dstem.emd"
    result = subprocess.run(
        [sys.executable, "-m", "emdconvert", str(SAMPLE), str(out), "--to", "emd1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    reference = _only_signal(SAMPLE)
    back = _only_signal(out)
    assert np.array_equal(back["data"], reference["data"])
    _axes_equal(back["axes"], reference["axes"])
    with h5py.File(out, "r") as h5:
        assert h5.attrs["emd_group_type"] == "file" and int(h5.attrs["version_major"]) == 1
    with h5py.File(SAMPLE, "r") as h5:
        logged = [
            bytes(v).decode() if isinstance(v, bytes) else v for v in h5["comments"].attrs.values()
        ]
    kept = list(root_of(out).metadata["comments"]._params.values())
    assert logged and kept[: len(logged)] == logged  # the source's log, then this write's
    assert len(kept) == len(logged) + 1


def test_cli_refuses_unhonoured_option(tmp_path: Path) -> None:
    out = tmp_path / "x.emd"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emdconvert",
            str(SAMPLE),
            str(out),
            "--to",
            "emd1",
            "--axis-order",
            "c",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "emd1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


class TestEMD1Writer(WriterContract):
    plugin_name = "emd1"
    suffix = ".emd"
