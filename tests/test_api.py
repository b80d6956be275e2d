"""The library facade acquisition software calls: read, write, convert, from_array."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import emdconvert
from emdconvert import Dim, EMDFile, OutputExistsError, UsageError
from emdconvert.testing import FailingArray, leftovers


def test_from_array_write_read(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 2**12, (4, 32, 48), dtype=np.uint16)
    model = EMDFile.from_array(
        frames,
        dims=[
            Dim.uniform("frame", size=4, scale=0.05, units="s"),
            Dim.uniform("y", size=32, scale=0.02, units="nm"),
            Dim.uniform("x", size=48, scale=0.02, units="nm"),
        ],
        microscope={"voltage_V": 3e5},
        sample={"sample_name": "SrTiO3"},
        user={"operator_name": "me"},
    )
    path = emdconvert.write(model, tmp_path / "acq.emd")
    assert path == tmp_path / "acq.emd"
    back = emdconvert.read(path)
    np.testing.assert_array_equal(back.datasets[0].data[...], frames)
    assert back.datasets[0].dims == model.datasets[0].dims
    assert back.microscope == {"voltage_V": 3e5}
    assert json.loads(back.comments[-1].message)["event"] == "write"


def test_provenance_records_source_hash_versions_and_options(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.arange(1000, dtype=np.float32))
    emdconvert.convert(tmp_path / "s.npy", tmp_path / "s.emd", compression="gzip:6")
    entry = json.loads(emdconvert.read(tmp_path / "s.emd").comments[-1].message)
    raw = (tmp_path / "s.npy").read_bytes()
    assert entry["source"] == {
        "name": "s.npy",
        "size": len(raw),
        "mtime_ns": (tmp_path / "s.npy").stat().st_mtime_ns,
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    assert entry["tool"] == f"emdconvert {emdconvert.__version__}"
    assert entry["reader"]["plugin"] == "npy" and "numpy" in entry["reader"]
    assert entry["writer"]["plugin"] == "emd" and "h5py" in entry["writer"]
    assert entry["options"]["compression"] == "gzip:6"


def test_plugins_given_as_objects_are_recorded_and_their_declared_defaults_used(
    tmp_path: Path,
) -> None:
    from emdconvert.plugins.emd import EMDPlugin
    from emdconvert.plugins.npy import NPYPlugin

    np.save(tmp_path / "s.npy", np.arange(10, dtype=np.int8))
    emdconvert.convert(tmp_path / "s.npy", tmp_path / "s.emd", reader=NPYPlugin, writer=EMDPlugin())
    entry = json.loads(emdconvert.read(tmp_path / "s.emd").comments[-1].message)
    assert entry["options"]["source_plugin"] == "emdconvert.plugins.npy:NPYPlugin"
    assert entry["options"]["target_plugin"] == "emdconvert.plugins.emd:EMDPlugin"
    # NPYPlugin declares no compressions (BasePlugin's default): refused before a read.
    with pytest.raises(UsageError, match="the npy format cannot be compressed"):
        emdconvert.convert(
            tmp_path / "s.emd", tmp_path / "o.npy", writer=NPYPlugin, compression="gzip"
        )
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("spec", ["gzip", "gzip:1", "gzip:9"])
def test_gzip_is_standard_deflate_and_bit_identical(tmp_path: Path, spec: str) -> None:
    data = np.random.default_rng(1).integers(0, 50, (6, 300, 400), dtype=np.int32)
    emdconvert.write(EMDFile.from_array(data), tmp_path / "z.emd", compression=spec)
    with h5py.File(tmp_path / "z.emd") as h5:
        stored = h5["data/data/data"]
        assert stored.compression == "gzip"
        np.testing.assert_array_equal(stored[()], data.T)


def test_failure_mid_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(emdconvert.EmdConvertError):
        emdconvert.write(EMDFile.from_array(FailingArray((200, 256, 256))), tmp_path / "f.emd")
    assert list(tmp_path.iterdir()) == [] and not leftovers(tmp_path)


def test_existing_output_is_refused_then_replaced_with_overwrite(tmp_path: Path) -> None:
    model = EMDFile.from_array(np.zeros(3))
    emdconvert.write(model, tmp_path / "o.emd")
    with pytest.raises(OutputExistsError):
        emdconvert.write(model, tmp_path / "o.emd")
    emdconvert.write(EMDFile.from_array(np.ones(3)), tmp_path / "o.emd", overwrite=True)
    np.testing.assert_array_equal(
        emdconvert.read(tmp_path / "o.emd").datasets[0].data[...], np.ones(3)
    )


def test_same_input_and_output_is_refused(tmp_path: Path) -> None:
    emdconvert.write(EMDFile.from_array(np.zeros(3)), tmp_path / "s.emd")
    with pytest.raises(emdconvert.UsageError, match="same file"):
        emdconvert.convert(tmp_path / "s.emd", tmp_path / "s.emd", overwrite=True)


def test_a_model_used_as_a_context_manager_closes_its_files(tmp_path: Path) -> None:
    """Long-running callers (the daemon, acquisition software) release files at once."""
    import tifffile

    emd = emdconvert.write(EMDFile.from_array(np.arange(12.0).reshape(3, 4)), tmp_path / "a.emd")
    tif = tmp_path / "s.tif"
    tifffile.imwrite(tif, np.zeros((3, 16, 16), np.uint8), compression="zlib")
    open_before = len(os.listdir("/proc/self/fd"))
    models = []
    for path in (emd, tif):
        with emdconvert.read(path) as model:
            assert model.datasets[0].data[0].shape[-1] in (4, 16)
        models.append(model)  # still referenced: only close() can have released them
    assert len(os.listdir("/proc/self/fd")) <= open_before
    with pytest.raises(OSError):
        models[0].datasets[0].data[0]  # the h5py file is closed
