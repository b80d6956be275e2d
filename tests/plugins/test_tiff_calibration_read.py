"""TIFF calibration in every unit and up to 5-D (issue 13 item 10, the read side).

Inputs come from tifffile's own ImageJ writer, never from ours; what we write is judged
by h5py and rsciio (EMD), and by tifffile and rsciio (TIFF).  rsciio's TIFF reader only
knows ImageJ's ``micron`` and never reads ``finterval``, so for ImageJ inputs the
expectation is ImageJ's own rule: x/y pixel size from X/YResolution in ``unit``, z
``spacing`` in ``zunit`` (default ``unit``), time ``finterval`` in ``tunit`` (``sec``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import tifffile

import emdconvert
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.units import to_emd

Axis = tuple[str, int, float, str, float]  # name, size, scale, units, offset


def _axes(signal: dict[str, Any]) -> list[Axis]:
    # rsciio's EMD reader spaces a quotient out ("[1/n_m]" -> "1 / nm")
    return [
        (
            a["name"],
            a["size"],
            pytest.approx(a["scale"]),
            (a["units"] or "").replace(" / ", "/"),
            pytest.approx(a["offset"], abs=1e-12),
        )
        for a in signal["axes"]
    ]


def emd_axes(path: Path, data: np.ndarray | None = None) -> list[Axis]:
    """The one dataset's axes as rsciio (HyperSpy's EMD reader) reads them; its values
    must be bit-identical to *data*."""
    from rsciio.emd import file_reader

    (signal,) = file_reader(str(path))
    if data is not None:
        assert signal["data"].dtype == data.dtype
        np.testing.assert_array_equal(signal["data"], data)
    return _axes(signal)


def emd_units(path: Path) -> list[str]:
    """The dims' raw ``units`` attributes in numpy order, as h5py reads them."""
    with h5py.File(path, "r") as f:
        (group,) = f["data"].values()
        ndim = group["data"].ndim
        units = [group[f"dim{k}"].attrs["units"] for k in range(1, ndim + 1)]
        order = group.attrs.get("emdconvert_axis_order", "x-first")
    units = [u.decode() if isinstance(u, bytes) else str(u) for u in units]
    return units[::-1] if order == "x-first" else units


def tiff_axes(path: Path) -> list[Axis]:
    from rsciio.tiff import file_reader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _axes(file_reader(str(path))[0])


def imagej_tiff(
    path: Path,
    shape: tuple[int, ...],
    metadata: dict[str, Any],
    resolution: tuple[float, float] = (0.25, 0.5),
) -> np.ndarray:
    """An ImageJ hyperstack by tifffile; *resolution* is the (x, y) pixel size."""
    data = (np.arange(np.prod(shape)) % 65521).astype(np.uint16).reshape(shape)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        metadata=metadata,
        resolution=(1 / resolution[0], 1 / resolution[1]),
    )
    return data


def convert(src: Path, tmp_path: Path) -> tuple[Path, list[Axis]]:
    """Our EMD file of *src*, and its axes by rsciio (data checked against tifffile)."""
    out = Path(emdconvert.convert(src, tmp_path / f"{src.stem}.emd"))
    return out, emd_axes(out, tifffile.imread(src))


# --- ImageJ units ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("nm", "nm"),
        ("micron", "µm"),
        ("um", "µm"),
        ("\\u00B5m", "µm"),
        ("\\u00b5m", "µm"),
        ("A", "Å"),
        ("\\u00C5", "Å"),
        ("angstrom", "Å"),
        ("pm", "pm"),
        ("mm", "mm"),
        ("cm", "cm"),
        ("m", "m"),
        ("pixel", "px"),
        ("1/nm", "1/nm"),
        ("1/A", "1/Å"),
    ],
)
def test_imagej_unit_is_kept(tmp_path: Path, unit: str, expected: str) -> None:
    """Before: every unit but ``micron`` came back as no unit at all."""
    src = tmp_path / "u.tif"
    imagej_tiff(src, (4, 5), {"unit": unit})
    out, axes = convert(src, tmp_path)
    assert axes == [("height", 4, 0.5, expected, 0.0), ("width", 5, 0.25, expected, 0.0)]
    assert emd_units(out) == [to_emd(expected)] * 2


def test_imagej_yunit_and_origins(tmp_path: Path) -> None:
    """ImageJ's ``yunit``, and ``xorigin``/``yorigin`` (pixels): offset = -origin * size."""
    src = tmp_path / "o.tif"
    imagej_tiff(src, (4, 5), {"unit": "nm", "yunit": "1/nm", "xorigin": 2.0, "yorigin": -4.0})
    assert convert(src, tmp_path)[1] == [
        ("height", 4, 0.5, "1/nm", 2.0),
        ("width", 5, 0.25, "nm", -0.5),
    ]


# --- ImageJ hyperstacks ------------------------------------------------------------------

HYPERSTACKS = {
    "z-stack": (
        (3, 4, 5),
        {"axes": "ZYX", "unit": "nm", "spacing": 2.5, "zorigin": 2.0},
        [("depth", 3, 2.5, "nm", -5.0)],
    ),
    "time-series": (
        (3, 4, 5),
        {"axes": "TYX", "unit": "nm", "finterval": 0.5},
        [("time", 3, 0.5, "s", 0.0)],
    ),
    "time-in-minutes": (
        (3, 4, 5),
        {"axes": "TYX", "unit": "um", "finterval": 2.0, "tunit": "min"},
        [("time", 3, 2.0, "min", 0.0)],
    ),
    "tilt-series": (
        (3, 4, 5),
        {"axes": "ZYX", "unit": "nm", "spacing": 2.0, "zunit": "deg"},
        [("depth", 3, 2.0, "deg", 0.0)],
    ),
    "4-D TZ": (
        (2, 3, 4, 5),
        {"axes": "TZYX", "unit": "A", "finterval": 0.5, "spacing": 2.5},
        [("time", 2, 0.5, "s", 0.0), ("depth", 3, 2.5, "Å", 0.0)],
    ),
    "4-D TZ, no finterval": (
        (2, 3, 4, 5),
        {"axes": "TZYX", "unit": "nm", "spacing": 2.5},
        [("time", 2, 1.0, "", 0.0), ("depth", 3, 2.5, "nm", 0.0)],
    ),
    "4-D ZC": (
        (3, 2, 4, 5),
        {"axes": "ZCYX", "unit": "nm", "spacing": 2.5},
        [("depth", 3, 2.5, "nm", 0.0), ("channel", 2, 1.0, "", 0.0)],
    ),
    "5-D TZC": (
        (2, 3, 2, 4, 5),
        {"axes": "TZCYX", "unit": "nm", "finterval": 0.5, "spacing": 2.5},
        [("time", 2, 0.5, "s", 0.0), ("depth", 3, 2.5, "nm", 0.0), ("channel", 2, 1.0, "", 0.0)],
    ),
}


@pytest.mark.parametrize("case", HYPERSTACKS)
def test_imagej_hyperstack_calibration(tmp_path: Path, case: str) -> None:
    """Before: z had no unit, time never got ``finterval`` (1.0, or in 4-D and 5-D the z
    ``spacing``), a channel axis was named ``color|em-wavelength|channel``."""
    shape, metadata, lead = HYPERSTACKS[case]
    src = tmp_path / "h.tif"
    imagej_tiff(src, shape, metadata)
    unit = {"A": "Å", "um": "µm"}.get(metadata["unit"], metadata["unit"])
    expected = [*lead, ("height", 4, 0.5, unit, 0.0), ("width", 5, 0.25, unit, 0.0)]
    out, axes = convert(src, tmp_path)
    assert axes == expected
    assert emd_units(out) == [to_emd(axis[3]) for axis in expected]


def test_folder_of_imagej_frames_keeps_the_unit(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        imagej_tiff(frames / f"f{i}.tif", (4, 5), {"unit": "nm"})
    out = emdconvert.convert(frames, tmp_path / "frames.emd")
    assert emd_axes(out)[1:] == [("height", 4, 0.5, "nm", 0.0), ("width", 5, 0.25, "nm", 0.0)]


@pytest.mark.corpus
def test_corpus_imagej_stack_z_is_in_the_image_unit(corpus: Path, tmp_path: Path) -> None:
    """A stack ImageJ itself saved: ``spacing`` is in ``unit`` (micron), which rsciio drops."""
    src = corpus / "tiff" / "imagej_stack.tif"
    model = emdconvert.read(src)
    dims = model.datasets[0].dims
    assert [(d.name, d.units) for d in dims] == [("depth", "µm"), ("height", "µm"), ("width", "µm")]
    assert dims[0].scale == pytest.approx(2.5)
    assert dims[2].scale == pytest.approx(1 / 5.928571)


# --- EMD -> TIFF -> EMD ------------------------------------------------------------------


def U(name: str, units: str, size: int, offset: float = 0.0, scale: float = 1.0) -> Dim:
    """A uniform dim in the order these tables read: name, units, size, offset, scale."""
    return Dim.uniform(name, size=size, scale=scale, offset=offset, units=units)


YX_NM = (U("y", "nm", 4, 0.0, 0.5), U("x", "nm", 5, 0.0, 0.25))
ROUND_TRIPS: dict[str, tuple[tuple[Dim, ...], list[Axis], dict[str, Any]]] = {
    "x in Å, y in nm": (
        (U("y", "nm", 4, 0.0, 0.5), U("x", "Å", 5, 10.0, 2.5)),
        [("height", 4, 0.5, "nm", 0.0), ("width", 5, 0.25, "nm", 1.0)],
        {"unit": "nm"},
    ),
    "nm with offsets": (
        (U("y", "nm", 4, 1.0, 0.5), U("x", "nm", 5, -2.0, 0.25)),
        [("height", 4, 0.5, "nm", 1.0), ("width", 5, 0.25, "nm", -2.0)],
        {"unit": "nm", "xorigin": 8.0, "yorigin": -2.0},
    ),
    "diffraction 1/nm": (
        (U("ky", "1/nm", 4, -0.2, 0.1), U("kx", "1/nm", 5, -0.2, 0.1)),
        [("height", 4, 0.1, "1/nm", -0.2), ("width", 5, 0.1, "1/nm", -0.2)],
        {"unit": "1/nm"},
    ),
    "1/nm and 1/Å": (
        (U("ky", "1/Å", 4, 0.0, 0.01), U("kx", "1/nm", 5, 0.0, 0.1)),
        [("height", 4, 0.1, "1/nm", 0.0), ("width", 5, 0.1, "1/nm", 0.0)],
        {"unit": "1/nm"},
    ),
    "µm": (
        (U("y", "µm", 4, 0.0, 0.5), U("x", "µm", 5, 0.0, 0.5)),
        [("height", 4, 0.5, "µm", 0.0), ("width", 5, 0.5, "µm", 0.0)],
        {"unit": "micron"},
    ),
    "pm": (
        (U("y", "pm", 4, 0.0, 50.0), U("x", "pm", 5, 0.0, 50.0)),
        [("height", 4, 50.0, "pm", 0.0), ("width", 5, 50.0, "pm", 0.0)],
        {"unit": "pm"},
    ),
    "3-D time (s)": (
        (U("time", "s", 3, 0.5, 0.2), *YX_NM),
        [("time", 3, 0.2, "s", 0.5)],
        {"frames": 3, "finterval": 0.2},
    ),
    "3-D z (nm)": (
        (U("z", "nm", 3, 10.0, 2.0), *YX_NM),
        [("depth", 3, 2.0, "nm", 10.0)],
        {"slices": 3, "spacing": 2.0},
    ),
    "3-D tilt (deg)": (
        (U("tilt", "deg", 3, -60.0, 2.0), *YX_NM),
        [("depth", 3, 2.0, "deg", -60.0)],
        {"spacing": 2.0, "zunit": "deg"},
    ),
    "4-D t (ms), z (nm)": (
        (U("time", "ms", 2, 0.0, 40.0), U("z", "nm", 3, 5.0, 2.0), *YX_NM),
        [("time", 2, 0.04, "s", 0.0), ("depth", 3, 2.0, "nm", 5.0)],
        {"frames": 2, "slices": 3, "finterval": 0.04, "zorigin": -2.5},
    ),
    "4-D z, channel": (
        (U("z", "nm", 3, 0.0, 2.0), U("channel", "", 2), *YX_NM),
        [("depth", 3, 2.0, "nm", 0.0), ("channel", 2, 1.0, "", 0.0)],
        {"slices": 3, "channels": 2, "spacing": 2.0},
    ),
    "5-D t, z, channel": (
        (U("time", "s", 2, 0.0, 0.5), U("z", "nm", 3, 0.0, 2.0), U("channel", "", 2), *YX_NM),
        [("time", 2, 0.5, "s", 0.0), ("depth", 3, 2.0, "nm", 0.0), ("channel", 2, 1.0, "", 0.0)],
        {"frames": 2, "slices": 3, "channels": 2, "finterval": 0.5},
    ),
}
YX_NM_AXES = [("height", 4, 0.5, "nm", 0.0), ("width", 5, 0.25, "nm", 0.0)]


@pytest.mark.parametrize(
    ("case", "dtype"),
    [
        *((case, "uint16") for case in ROUND_TRIPS),
        # int32: not an ImageJ dtype, a TIFF stack with the same ImageJ description
        ("4-D t (ms), z (nm)", "int32"),
        ("1/nm and 1/Å", "int32"),
    ],
)
def test_emd_tiff_emd_keeps_every_calibration(tmp_path: Path, case: str, dtype: str) -> None:
    """Before: 1/Å and 1/nm were not put in one unit; a 4-D file's time axis came back
    with the z step, its z offset was lost; (z, channel) was written as time and z."""
    dims, expected, imagej = ROUND_TRIPS[case]
    if len(expected) < len(dims):
        expected = [*expected, *YX_NM_AXES]
    shape = tuple(d.size for d in dims)
    data = (np.arange(np.prod(shape)) * 7 % 1000).astype(dtype).reshape(shape)
    tif = tmp_path / "mid.tif"
    emdconvert.write(EMDFile((Dataset("s", data, dims),)), tif)
    with tifffile.TiffFile(tif) as t:
        assert t.is_imagej
        metadata = t.imagej_metadata or {}
        xres = t.pages[0].tags["XResolution"].value
        np.testing.assert_array_equal(t.asarray(), data)
    assert {key: metadata.get(key) for key in imagej} == pytest.approx(imagej)
    assert xres[1] / xres[0] == pytest.approx(expected[-1][2])
    # rsciio's TIFF reader (the yardstick HyperSpy users see) for what it reads at all:
    # x and y always, the third axis of a 3-D stack (its time and z share one value).
    theirs = tiff_axes(tif)
    assert theirs[-2:] == expected[-2:]
    if len(dims) == 3:
        assert theirs[0] == expected[0]
    back = tmp_path / "back.emd"
    emdconvert.convert(tif, back)
    assert emd_axes(back, data) == expected
