"""The ``emd1`` writer read back by emdfile (the EMD 1.0 reference, py4DSTEM's I/O) and by
rsciio's EMD reader: data bit for bit, dims, metadata, the 4D-STEM calibration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from support.emd1_files import read_tree, root_of
from support.emd1_files import validate_written_emd as validate_written_emd
from support.units import same_units

import emdconvert
from emdconvert import Dataset, Dim, EMDFile
from emdconvert.errors import EmdConvertError, UnsupportedError, ValidationError
from emdconvert.model import Comment
from emdconvert.registry import default_registry


def rsciio_signals(path: Path) -> dict[str, dict[str, Any]]:
    """rsciio's signals of *path*, by title (rsciio returns them in name order)."""
    from rsciio.emd import file_reader

    return {s["metadata"]["General"]["title"]: s for s in file_reader(str(path))}


def write(model: EMDFile, path: Path, **options: Any) -> Path:
    return emdconvert.write(model, path, writer="emd1", **options)


CASES = [  # (shape, dtype, units of each axis)
    ((7,), np.float64, ("eV",)),
    ((5,), np.uint8, ("s",)),
    ((3, 4), np.int16, ("nm", "nm")),
    ((3, 4), np.complex64, ("µm", "µm")),
    ((2, 3, 4), np.uint16, ("s", "nm", "nm")),
    ((2, 3, 4), np.bool_, ("", "nm", "nm")),
    ((2, 2, 3, 4), np.float32, ("s", "nm", "nm", "nm")),  # 4-D, not a scan: an Array
    ((2, 2, 3, 4), np.int64, ("", "", "", "")),
]


def _model(shape: tuple[int, ...], dtype: Any, units: tuple[str, ...]) -> EMDFile:
    rng = np.random.default_rng(sum(shape))
    data = (rng.random(shape) * 200).astype(dtype)
    dims = tuple(
        Dim.uniform(f"axis{k}", size=n, scale=0.25 * (k + 1), offset=-1.5 * k, units=u)
        for k, (n, u) in enumerate(zip(shape, units, strict=True))
    )
    return EMDFile((Dataset("signal", data, dims, units="counts"),))


@pytest.mark.parametrize(("shape", "dtype", "units"), CASES)
def test_emdfile_and_rsciio_read_back(
    tmp_path: Path, shape: tuple[int, ...], dtype: Any, units: tuple[str, ...]
) -> None:
    model = _model(shape, dtype, units)
    want = model.datasets[0]
    path = write(model, tmp_path / "out.emd")

    node = read_tree(path)  # one node: emdfile returns it
    assert type(node).__name__ == "Array"
    assert node.data.dtype == want.dtype and np.array_equal(node.data, want.data)
    assert node.units == "counts"
    for k, dim in enumerate(want.dims):
        assert node.dim_names[k] == dim.name and node.dim_units[k] == dim.units
        assert node.dims[k][0] == pytest.approx(dim.offset)
        assert node.dims[k][1] - node.dims[k][0] == pytest.approx(dim.scale)

    (signal,) = rsciio_signals(path).values()
    assert signal["data"].dtype == want.dtype and np.array_equal(signal["data"], want.data)
    for axis, dim in zip(signal["axes"], want.dims, strict=True):
        assert axis["name"] == dim.name and same_units(axis["units"], dim.units)
        assert axis["size"] == dim.size
        assert axis["scale"] == pytest.approx(dim.scale)
        assert axis["offset"] == pytest.approx(dim.offset)


def test_non_uniform_dim_is_stored_whole(tmp_path: Path) -> None:
    energy = np.array([0.0, 1.0, 2.5, 4.5, 7.0])
    model = EMDFile((Dataset("eels", np.arange(5.0), (Dim("energy", "eV", energy),)),))
    node = read_tree(write(model, tmp_path / "out.emd"))
    assert np.array_equal(node.dims[0], energy)


def test_several_datasets_and_names(tmp_path: Path) -> None:
    """Prefix names ("img", "img_2") would be stacked by rsciio: they get suffixes."""
    sets = [
        Dataset("img", np.zeros((3, 4), np.uint8)),
        Dataset("img_2", np.ones((5, 6), np.float32)),
        Dataset("metadatabundle", np.arange(4)),
    ]
    path = write(EMDFile(tuple(sets)), tmp_path / "out.emd")
    root = read_tree(path)
    nodes = [root.tree(name) for name in root._branch.keys()]
    assert [n.data.shape for n in nodes] == [d.shape for d in sets]  # model order
    titles = rsciio_signals(path)
    assert sorted(s["data"].shape for s in titles.values()) == sorted(d.shape for d in sets)


def test_metadata_as_emdfile_metadata(tmp_path: Path) -> None:
    model = EMDFile(
        (Dataset("img", np.zeros((2, 2)), attrs={"original": '{"a": 1}', "gain": 2.5}),),
        microscope={"voltage_V": 300e3, "stage": {"alpha_deg": 10.0}, "name": "Titan"},
        sample={"elements": ["Si", "O"], "thickness_nm": 30},
        user={"operator_name": "A. User", "data_rate": 5.0},
    )
    path = write(model, tmp_path / "out.emd")
    root = root_of(path)
    meta = {name: md._params for name, md in root.metadata.items()}
    assert meta["microscope"] == {
        "voltage_V": 300e3,
        "stage": {"alpha_deg": 10.0},
        "name": "Titan",
    }
    assert meta["sample"]["elements"] == ["Si", "O"] and meta["sample"]["thickness_nm"] == 30
    # rsciio takes a top-level item named data* for a signal and fails on it: escaped.
    assert meta["user"] == {"operator_name": "A. User", "_data_rate": 5.0}
    node = root.tree("img")
    assert node.metadata["attributes"]._params == {"original": '{"a": 1}', "gain": 2.5}
    assert len(rsciio_signals(path)) == 1
    (entry,) = meta["comments"].values()  # the core's provenance record
    assert json.loads(entry)["writer"]["plugin"] == "emd1"


def _scan(q_units: str = "1/nm", q_scale: float = 0.1, **kwargs: Any) -> EMDFile:
    data = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)
    dims = (
        Dim.uniform("scan_y", size=2, scale=0.5, units="nm"),
        Dim.uniform("scan_x", size=3, scale=0.5, units="nm"),
        Dim.uniform("ky", size=4, scale=q_scale, offset=-2 * q_scale, units=q_units),
        Dim.uniform("kx", size=5, scale=kwargs.get("kx_scale", q_scale), units=q_units),
    )
    return EMDFile((Dataset("scan", data, dims),))


@pytest.mark.parametrize(
    ("q_units", "q_scale", "stored_units", "stored_scale", "rsciio_units"),
    [
        ("1/nm", 0.1, "A^-1", 0.01, "1/Å"),
        ("1 / Å", 0.02, "A^-1", 0.02, "1/Å"),
        ("rad", 0.002, "mrad", 2.0, "mrad"),
    ],
)
def test_4dstem_scan_is_a_calibrated_datacube(
    tmp_path: Path,
    q_units: str,
    q_scale: float,
    stored_units: str,
    stored_scale: float,
    rsciio_units: str,
) -> None:
    model = _scan(q_units, q_scale)
    path = write(model, tmp_path / "scan.emd")
    root = root_of(path)
    cube = root.tree("scan")
    assert type(cube).__name__ == "DataCube"
    assert np.array_equal(cube.data, model.datasets[0].data)
    calibration = root.metadata["calibration"]
    assert type(calibration).__name__ == "Calibration"
    assert calibration._params == {
        "Q_pixel_size": pytest.approx(stored_scale),
        "R_pixel_size": 0.5,
        "Q_pixel_units": stored_units,
        "R_pixel_units": "nm",
        "QR_flip": False,
        "_root_treepath": "",
        "_target_paths": ["/scan"],
    }
    (signal,) = rsciio_signals(path).values()
    assert signal["original_metadata"]["calibration"]["Q_pixel_size"] == pytest.approx(stored_scale)
    axes = signal["axes"]
    assert [a["scale"] for a in axes] == pytest.approx([0.5, 0.5, stored_scale, stored_scale])
    assert axes[2]["offset"] == pytest.approx(-2 * stored_scale)
    assert all(same_units(a["units"], "nm") for a in axes[:2])
    assert axes[2]["units"].replace(" ", "") == rsciio_units


def test_scan_read_from_a_v02_file_is_a_datacube(tmp_path: Path) -> None:
    """Dims read from a file are coordinate vectors, not Dim.uniform: evenly spaced ones
    count as calibrated axes."""
    v02 = emdconvert.write(_scan(), tmp_path / "v02.emd")
    out = emdconvert.convert(v02, tmp_path / "out.emd", writer="emd1")
    root = root_of(out)
    assert type(root.tree("scan")).__name__ == "DataCube"
    assert root.metadata["calibration"]["Q_pixel_size"] == pytest.approx(0.01)


@pytest.mark.parametrize(
    "model",
    [
        _scan(kx_scale=0.2),  # two diffraction pixel sizes: no one calibration holds them
        _scan("nm"),  # a length on the diffraction axes: not a scan
        EMDFile((Dataset("cube", np.zeros((2, 3, 4, 5), np.uint8)),)),  # uncalibrated
    ],
)
def test_other_4d_data_stay_arrays(tmp_path: Path, model: EMDFile) -> None:
    path = write(model, tmp_path / "out.emd")
    assert type(read_tree(path)).__name__ == "Array"
    assert "calibration" not in root_of(path).metadata


def test_uncalibrated_scan_named_like_py4dstem(tmp_path: Path) -> None:
    dims = tuple(
        Dim.uniform(n, size=s, scale=1.0)
        for n, s in zip("Rx Ry Qx Qy".split(), (2, 3, 4, 5), strict=True)
    )
    model = EMDFile((Dataset("datacube", np.zeros((2, 3, 4, 5), np.uint8), dims),))
    root = root_of(write(model, tmp_path / "out.emd"))
    assert type(root.tree("datacube")).__name__ == "DataCube"
    assert root.metadata["calibration"]["Q_pixel_units"] == "pixels"


def test_layout_matches_emdfiles_own_writer(tmp_path: Path) -> None:
    """Every group, dataset and attribute emdfile writes for the same content is in our
    file with the same kind of value (names, dtypes' kinds, attribute types)."""
    import emdfile

    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    root = emdfile.Root(name="img_root")
    array = emdfile.Array(
        data,
        name="img",
        units="counts",
        dims=[[0, 0.5], [1.0, 1.25]],
        dim_names=["y", "x"],
        dim_units=["nm", "nm"],
    )
    root.tree(array)
    for name in ("microscope", "sample", "user"):
        root.metadata = emdfile.Metadata(
            name=name, data={"voltage_V": 3e5, "name": "T", "d": {"a": 1}}
        )
    reference = tmp_path / "reference.h5"
    emdfile.save(str(reference), root)
    dims = (
        Dim.uniform("y", size=3, scale=0.5, units="nm"),
        Dim.uniform("x", size=4, scale=0.25, offset=1.0, units="nm"),
    )
    meta = {"voltage_V": 3e5, "name": "T", "d": {"a": 1}}
    model = EMDFile((Dataset("img", data, dims, units="counts"),), meta, meta, meta)
    ours = write(model, tmp_path / "ours.emd")

    def shape_of(path: Path) -> dict[str, Any]:
        found: dict[str, Any] = {}
        with h5py.File(path, "r") as h5:

            def visit(name: str, obj: Any) -> None:
                kind = obj.dtype.kind if isinstance(obj, h5py.Dataset) else "group"
                attrs = {k: type(v).__name__ for k, v in obj.attrs.items() if k != "UUID"}
                found[name] = (kind, attrs)

            found["/"] = ("group", {k: type(v).__name__ for k, v in h5.attrs.items()})
            h5.visititems(visit)
        return found

    theirs, mine = shape_of(reference), shape_of(ours)
    missing = {k: v for k, v in theirs.items() if mine.get(k) != v}
    assert not missing, (missing, {k: mine.get(k) for k in missing})


def test_compression_and_progress(tmp_path: Path) -> None:
    plugin = default_registry().get("emd1")
    data = np.arange(256 * 128 * 256, dtype=np.uint32).reshape(256, 128, 256)  # 32 MiB
    seen: list[int] = []
    path = tmp_path / "out.emd"
    plugin.write(
        EMDFile((Dataset("stack", data),)),
        path,
        options={"compression": "gzip:1", "progress": seen.append},
    )
    assert sum(seen) == data.nbytes and len(seen) > 1  # block by block
    with h5py.File(path, "r") as h5:
        stored = h5["stack_root/stack/data"]
        assert stored.compression == "gzip" and stored.chunks is not None
    assert np.array_equal(read_tree(path).data, data)


class _Blocks:
    """A 256 MiB source that is never read whole: records the largest block asked for."""

    shape = (256, 1024, 512)
    dtype = np.dtype(np.uint16)

    def __init__(self) -> None:
        self.largest = 0

    def __getitem__(self, key: Any) -> np.ndarray:
        block = np.zeros(self.shape, self.dtype)[key]  # a view of zero pages: no memory
        self.largest = max(self.largest, block.nbytes)
        return np.ascontiguousarray(block)


def test_streams_in_bounded_blocks(tmp_path: Path) -> None:
    source = _Blocks()
    write(EMDFile((Dataset("big", source),)), tmp_path / "big.emd")  # type: ignore[arg-type]
    assert 0 < source.largest <= 8 * 1024 * 1024


def test_empty_dataset_is_refused_cleanly(tmp_path: Path) -> None:
    model = EMDFile((Dataset("none", np.zeros((0, 4))),))
    with pytest.raises(UnsupportedError, match="no elements"):
        write(model, tmp_path / "out.emd")
    assert list(tmp_path.iterdir()) == []


def test_axis_order_is_not_an_emd1_option(tmp_path: Path) -> None:
    with pytest.raises(EmdConvertError, match="axis"):
        write(EMDFile.from_array(np.zeros((2, 2))), tmp_path / "out.emd", axis_order="c")
    assert list(tmp_path.iterdir()) == []


def test_emd_stays_the_default_writer(tmp_path: Path) -> None:
    path = emdconvert.write(EMDFile.from_array(np.zeros((2, 2))), tmp_path / "out.emd")
    with h5py.File(path, "r") as h5:
        assert int(h5.attrs["version_major"]) == 0


def test_verify_vetoes_a_file_that_differs(tmp_path: Path) -> None:
    plugin = default_registry().get("emd1")
    model = EMDFile.from_array(np.arange(12.0).reshape(3, 4))
    path = tmp_path / "invalid" / "out.emd"
    path.parent.mkdir()
    plugin.write(model, path)
    plugin.verify(model, path)
    with pytest.raises(ValidationError, match="differ"):
        plugin.verify(EMDFile.from_array(np.arange(12.0).reshape(3, 4) + 1), path)
    with pytest.raises(ValidationError, match="expected"):
        plugin.verify(EMDFile.from_array(np.zeros((4, 3))), path)


def test_append_comment_never_overwrites(tmp_path: Path) -> None:
    plugin = default_registry().get("emd1")
    path = tmp_path / "out.emd"
    plugin.write(EMDFile.from_array(np.zeros((2, 2))), path)
    stamp = Comment.now("first")
    plugin.append_comment(path, stamp)
    plugin.append_comment(path, Comment(stamp.timestamp, "second"))
    log = root_of(path).metadata["comments"]._params
    assert sorted(log.values()) == ["first", "second"] and len(log) == 2
