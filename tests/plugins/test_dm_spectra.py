"""DM spectra stay spectra (issue 13, item 8).

rsciio's DM reader hands every image to HyperSpy with a ``squeeze`` post-process, so a
spectrum DigitalMicrograph stores as 1 x N (CL spectra from a PMT), a single-spectrum
"spectrum image" of 1 x 1 x N, or an image with a length-1 axis reads as fewer
dimensions than its ``Dimensions`` tag lists.  Our EMD output must read the same in
rsciio and HyperSpy: the same shape, the same axes (each with its own calibration, not
the dropped axis's) and the same bytes.

The expectation is rsciio's own reading with its own post-processes applied by HyperSpy
(:func:`squeezed_reading`: a spectrum image's ``to_signal1D``, which puts its channel
axis last, then the squeeze), never our reader.  Inputs are the shared corpus and files
nionswift-io writes.  Left as it is (EMD v0.2 cannot say it, see the report of item 8):
rsciio's EMD reader makes every axis a signal axis, so a line of spectra or a spectrum
image comes back as Signal2D / BaseSignal (tests/plugins/test_dm_spectrum_images.py
covers the axis order of spectrum images).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.corpus import corpus_dir
from support.dm_files import dm_big_endian, dm_patch
from support.units import UNDEFINED, same_units

import emdconvert
from emdconvert.lazy import RawFileArray
from emdconvert.plugins.dm.arrays import NativeOrderArray, SignalLastArray


def corpus_dm_files() -> list[str]:
    root = corpus_dir()
    found = [*root.glob("dm/*.dm[34]"), *root.glob("wide/**/*.dm[34]")]
    return sorted(str(path.relative_to(root)) for path in found) or ["<corpus missing>"]


def squeezed_reading(source: Path) -> list[Any]:
    """rsciio's eager reading of a DM file as HyperSpy signals, with rsciio's own
    post-processes applied as ``hs.load`` applies them: a spectrum image's
    ``to_signal1D`` (its channel axis last), then the ``squeeze``."""
    from hyperspy.io import dict2signal
    from rsciio.digitalmicrograph import file_reader

    return [dict2signal(signal) for signal in file_reader(str(source), lazy=False)]


def channels_last(array: np.ndarray) -> np.ndarray:
    """Structured RGB(A) as the trailing channel axis our EMD stores (README, EMD layout L13)."""
    if array.dtype.names is None:
        return array
    return np.stack([array[name] for name in array.dtype.names], axis=-1)


def hs_load(path: Path) -> Any:
    import hyperspy.api as hs

    logging.getLogger("hyperspy").setLevel(logging.ERROR)  # unknown signal types ('CL')
    return hs.load(path)


def assert_reads_like_rsciio(
    source: Path, out: Path, reference: Path | None = None
) -> list[dict[str, Any]]:
    """Convert *source*; rsciio reads the output with the shape, bytes and axes of its
    squeezed reading of *reference* (the source itself unless given).  Returns rsciio's
    reading of the output."""
    from rsciio.emd import file_reader

    emdconvert.convert(source, out)
    theirs = squeezed_reading(reference or source)
    ours = file_reader(str(out), lazy=False)
    assert len(ours) == len(theirs), source.name
    for signal, mine in zip(theirs, ours, strict=True):
        expected, got = channels_last(np.asarray(signal.data)), np.asarray(mine["data"])
        assert (got.dtype, got.shape) == (expected.dtype, expected.shape), source.name
        assert got.tobytes() == expected.tobytes(), source.name
        axes = signal.axes_manager._axes  # in array order
        assert len(mine["axes"]) == len(axes) + (signal.data.dtype.names is not None)
        for axis, dim in zip(axes, mine["axes"], strict=False):
            where = f"{source.name}: axis {axis.name!r}"
            assert dim["size"] == axis.size, where
            if str(axis.name) not in UNDEFINED:
                assert dim["name"] == axis.name, where
            assert dim["scale"] == pytest.approx(axis.scale, rel=1e-9), where
            assert dim["offset"] == pytest.approx(axis.offset, rel=1e-9, abs=1e-12), where
            assert same_units(dim["units"], axis.units), (
                f"{where}: units {dim['units']!r} != {axis.units!r}"
            )
    return ours


@pytest.mark.corpus
@pytest.mark.parametrize("name", corpus_dm_files())
def test_corpus_dm_file_reads_with_rsciio_s_shape_and_axes(
    corpus: Path, tmp_path: Path, name: str
) -> None:
    """Every corpus DM file; the two PMT CL spectra (1 x N in the file) were 2-D."""
    logging.getLogger("rsciio").setLevel(logging.ERROR)
    assert_reads_like_rsciio(corpus / name, tmp_path / "out.emd")


SPECTRA = [
    "wide/rs/digitalmicrograph/1D/test-MonarcCL_spectrum-pmt.dm4",
    "wide/rs/digitalmicrograph/1D/test-MonoCL_spectrum-pmt.dm4",
    "wide/rs/digitalmicrograph/1D/test-MonoCL_spectrum-ccd.dm4",
    "dm/1D_test-1.dm3",
    "dm/1D_test-12.dm4",
]


@pytest.mark.corpus
@pytest.mark.parametrize("name", SPECTRA)
def test_corpus_spectrum_loads_as_signal1d_in_hyperspy(
    corpus: Path, tmp_path: Path, name: str
) -> None:
    """hs.load of our EMD is a Signal1D, as hs.load of the DM is (the PMT spectra were
    Signal2D of 1 x N), with the spectrum's own axis."""
    source = corpus / name
    if not source.is_file():
        pytest.skip(f"corpus file {name} not found")
    out = emdconvert.convert(source, tmp_path / "spectrum.emd")
    dm, emd = hs_load(source), hs_load(out)
    assert dm.axes_manager.signal_dimension == 1 and dm.axes_manager.navigation_dimension == 0
    assert emd.axes_manager.signal_dimension == 1, type(emd).__name__
    assert emd.data.shape == dm.data.shape
    np.testing.assert_array_equal(emd.data, dm.data)
    (want,), (got,) = dm.axes_manager.signal_axes, emd.axes_manager.signal_axes
    assert (got.name, got.size, got.units) == (want.name, want.size, want.units)
    assert (got.scale, got.offset) == pytest.approx((want.scale, want.offset))


def _descriptors() -> dict[str, Any]:
    from nion.data import DataAndMetadata

    d = DataAndMetadata.DataDescriptor
    return {
        "image": d(False, 0, 2),
        "spectra": d(False, 1, 1),
        "si": d(False, 2, 1),
        "images": d(True, 0, 2),
        "spectrum": None,
    }


#: name: (array shape, nionswift data descriptor, DM version, big-endian twin).  Every
#: axis has its own calibration (offset 10, 20, 30; scale 0.5, 1, 1.5; nm, um, eV), so a
#: kept axis carrying a dropped axis's calibration shows.
NION = {
    "image 1x7": ((1, 7), "image", 3, False),
    "image 7x1 (keeps y's calibration)": ((7, 1), "image", 4, False),
    "image 7x1, big-endian": ((7, 1), "image", 3, True),
    "collection of 1 spectrum": ((1, 7), "spectra", 4, False),
    "spectrum image 1x1": ((1, 1, 7), "si", 3, False),
    "spectrum image 3x1": ((3, 1, 7), "si", 4, False),
    "spectrum image of 1-channel spectra": ((2, 3, 1), "si", 3, False),
    "sequence of 1 image": ((1, 5, 7), "images", 4, False),
    "sequence of 1x7 images": ((3, 1, 7), "images", 3, False),
    # Guards: nothing to drop, or a genuine length-1 axis that rsciio's reading keeps.
    "spectrum": ((7,), "spectrum", 3, False),
    "1-channel spectrum (kept)": ((1,), "spectrum", 4, False),
    "1x1 image (x kept)": ((1, 1), "image", 3, False),
    "image 5x7": ((5, 7), "image", 4, False),
}


def write_nion(path: Path, shape: tuple[int, ...], descriptor: str, version: int) -> Path:
    from nion.data import Calibration, DataAndMetadata
    from nionswift_plugin.DM_IO import dm3_image_utils

    data = (np.arange(np.prod(shape), dtype=np.float32) * 1.5 - 7).reshape(shape)
    calibrations = [
        Calibration.Calibration(
            offset=10.0 * (i + 1), scale=0.5 * (i + 1), units=("nm", "um", "eV")[i % 3]
        )
        for i in range(len(shape))
    ]
    xdata = DataAndMetadata.new_data_and_metadata(
        data, dimensional_calibrations=calibrations, data_descriptor=_descriptors()[descriptor]
    )
    with open(path, "wb") as handle:
        dm3_image_utils.save_image(xdata, handle, version)
    return path


@pytest.mark.parametrize("case", sorted(NION))
def test_nionswift_length_1_axes_read_like_rsciio(tmp_path: Path, case: str) -> None:
    shape, descriptor, version, big = NION[case]
    source = reference = write_nion(tmp_path / f"source.dm{version}", shape, descriptor, version)
    if big:
        # rsciio reads a big-endian file's tags big-endian but its pixels little-endian:
        # the twin's expectation is its reading of the little-endian original.
        source = tmp_path / f"big.dm{version}"
        dm_big_endian(reference, source)
    # Plain data still stream through pread, in the squeezed shape (a spectrum image's
    # through the view that puts its channel axis last).
    data = emdconvert.read(source).datasets[0].data
    if isinstance(data, SignalLastArray):
        data = data.base
    assert isinstance(data, NativeOrderArray if big else RawFileArray)
    ours = assert_reads_like_rsciio(source, tmp_path / "out.emd", reference)
    dm, emd = hs_load(source), hs_load(tmp_path / "out.emd")
    if dm.axes_manager.navigation_dimension == 0:
        # Nothing for EMD to say about navigation: HyperSpy sees the same signal.
        assert emd.data.shape == dm.data.shape
        assert emd.axes_manager.signal_dimension == dm.axes_manager.signal_dimension
    got = np.shape(ours[0]["data"])
    assert len(got) == (sum(n != 1 for n in shape) or 1) and (1 not in got or got == (1,))


@pytest.mark.parametrize("version", [3, 4])
def test_rgb_and_packed_complex_with_a_length_1_axis(tmp_path: Path, version: int) -> None:
    """The eagerly read (RGB) and rsciio-lazy (packed complex) paths drop it too."""
    rgb_base = write_nion(tmp_path / f"u32.dm{version}", (1, 7), "image", version)
    # A float32 1 x 8 image holds 1 x (6 / 2 + 1) complex values: a 1 x 6 packed image.
    packed_base = tmp_path / f"f32.dm{version}"
    write_nion(packed_base, (1, 8), "image", version)
    rgb = tmp_path / f"rgb.dm{version}"
    dm_patch(rgb_base, rgb, {"ImageData/DataType": 23})
    packed = tmp_path / f"packed.dm{version}"
    dm_patch(packed_base, packed, {"ImageData/DataType": 27, "ImageData/Dimensions/0": 6})
    got = assert_reads_like_rsciio(rgb, tmp_path / "rgb.emd")
    assert np.shape(got[0]["data"]) == (7, 4)
    got = assert_reads_like_rsciio(packed, tmp_path / "packed.emd")
    assert np.shape(got[0]["data"]) == (6,)
