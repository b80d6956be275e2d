"""DM spectrum images convert to what HyperSpy gives for the DM file: signal axis last.

rsciio's DM reader returns a spectrum image in the file's order, channel axis first
(EELS_SI.dm4: ``(2048, 2, 2)``), and hands it to HyperSpy with a ``to_signal1D``
post-process when ``ImageObject.to_spectrum`` says so (``Meta Data.Format`` is
``"Spectrum image"`` or an ``spim`` tag group exists, and there are more than two
dimensions); ``hs.load`` gives ``(2, 2, 2048)``.  Our EMD output must load the same in
HyperSpy and in rsciio's EMD reader: data bit for bit, and every axis (size, scale,
offset, units, name) in the same order.

Expectations are ``hs.load`` of the source, never our reader.  Inputs: the corpus's DM
spectrum images (found through its MANIFEST.tsv files) and files nionswift-io writes: a
2-D scan of spectra, a line of spectra (which nionswift-io stores as a 3-D spectrum
image of one row), 4D-STEM (a 2-D scan of 2-D patterns, which HyperSpy leaves as it is)
and a 4-D image tagged as a spectrum image (which HyperSpy transposes).  The streaming
view (:class:`~emdconvert.plugins.dm.arrays.SignalLastArray`) is checked against
``np.moveaxis`` and for the long reads it promises.
"""

from __future__ import annotations

import csv
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.dm_files import dm_big_endian
from support.units import UNDEFINED, same_units

import emdconvert
from emdconvert.lazy import RawFileArray
from emdconvert.plugins.dm import arrays
from emdconvert.plugins.dm.arrays import NativeOrderArray, SignalLastArray


def hs_load(path: Path) -> Any:
    import hyperspy.api as hs

    logging.getLogger("hyperspy").setLevel(logging.ERROR)  # signal types 'EELS', 'CL'
    logging.getLogger("rsciio").setLevel(logging.ERROR)
    return hs.load(path)


def assert_loads_like_source(source: Path, out: Path, reference: Path | None = None) -> Any:
    """``hs.load(out)`` and ``rsciio.emd.file_reader(out)`` give the data and axes (in
    array order) of ``hs.load`` of *reference* (the source itself unless given).
    Returns that expected signal."""
    from rsciio.emd import file_reader

    emdconvert.convert(source, out)
    want = hs_load(reference or source)
    got = hs_load(out)
    where = source.name
    expected = np.asarray(want.data)
    for data in (np.asarray(got.data), np.asarray(file_reader(str(out))[0]["data"])):
        assert (data.dtype, data.shape) == (expected.dtype, expected.shape), where
        assert np.ascontiguousarray(data).tobytes() == np.ascontiguousarray(expected).tobytes()
    want_axes = [(a.name, a.size, a.scale, a.offset, a.units) for a in want.axes_manager._axes]
    got_axes = [(a.name, a.size, a.scale, a.offset, a.units) for a in got.axes_manager._axes]
    rsciio_axes = [
        (a.get("name"), a["size"], a["scale"], a["offset"], a.get("units"))
        for a in file_reader(str(out))[0]["axes"]
    ]
    for axes in (got_axes, rsciio_axes):
        assert len(axes) == len(want_axes), where
        for (name, size, scale, offset, units), theirs in zip(axes, want_axes, strict=True):
            label = f"{where}: axis {theirs[0]!r} (expected order {want_axes})"
            assert size == theirs[1], label
            if str(theirs[0]) not in UNDEFINED:
                assert name == theirs[0], label
            assert scale == pytest.approx(theirs[2], rel=1e-9), label
            assert offset == pytest.approx(theirs[3], rel=1e-9, abs=1e-12), label
            assert same_units(units, theirs[4]), f"{label}: units {units!r} != {theirs[4]!r}"
    return want


# --- the corpus --------------------------------------------------------------------


def corpus_spectrum_images(root: Path) -> list[Path]:
    """DM files the corpus manifests list whose image rsciio's parser finds tagged as a
    spectrum image (``Meta Data.Format`` "Spectrum image" or an ``spim`` group)."""
    from rsciio.digitalmicrograph._api import DigitalMicrographReader, ImageObject

    found = []
    for manifest in sorted(root.rglob("MANIFEST.tsv")):
        with open(manifest, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                path = manifest.parent / row["file"]
                if path.suffix.lower() not in (".dm3", ".dm4") or not path.is_file():
                    continue
                with open(path, "rb") as stream:
                    reader = DigitalMicrographReader(stream)
                    reader.parse_file()
                    images = [ImageObject(d, stream) for d in reader.get_image_dictionaries()]
                if any(
                    image.imdict.get("ImageTags.Meta Data.Format") == "Spectrum image"
                    or image.imdict.get("ImageTags.spim") is not None
                    for image in images
                ):
                    found.append(path)
    return found


@pytest.mark.corpus
def test_corpus_spectrum_images_load_like_the_dm_file(corpus: Path, tmp_path: Path) -> None:
    """Every corpus spectrum image: EELS_SI.dm4 (2 x 2 x 2048 EELS) and MonarcCL
    (3 x 3 x 670 CL) were stored channel first; MonoCL_spectrum-SI (a 67 x 1336 line
    scan, two dimensions, which rsciio does not transpose) stays as it is."""
    sources = corpus_spectrum_images(corpus)
    names = {path.name for path in sources}
    if "EELS_SI.dm4" not in names:
        pytest.skip("corpus spectrum images not found")
    assert "test-MonoCL_spectrum-SI.dm4" in names or not (corpus / "wide").is_dir()
    moved = 0
    for index, source in enumerate(sources):
        want = assert_loads_like_source(source, tmp_path / f"{index}.emd")
        signal_axis = want.axes_manager.signal_axes[0]
        # The signal axis (energy, wavelength) is the last array axis, as in HyperSpy.
        assert want.axes_manager._axes[-1] is signal_axis, source.name
        moved += want.data.ndim > 2
    assert moved >= 1


# --- files nionswift-io writes -----------------------------------------------------


def write_nion(
    path: Path,
    shape: tuple[int, ...],
    collection: int,
    datum: int,
    version: int,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """nionswift-io's DM writer (independent of rsciio and of us); every axis has its
    own calibration, so an axis carrying another's calibration shows."""
    from nion.data import Calibration, DataAndMetadata
    from nionswift_plugin.DM_IO import dm3_image_utils

    data = (np.arange(np.prod(shape), dtype=np.float32) * 1.5 - 7).reshape(shape)
    calibrations = [
        Calibration.Calibration(
            offset=10.0 * (i + 1), scale=0.5 * (i + 1), units=("nm", "um", "eV", "mrad")[i % 4]
        )
        for i in range(len(shape))
    ]
    xdata = DataAndMetadata.new_data_and_metadata(
        data,
        dimensional_calibrations=calibrations,
        metadata=metadata or {},
        data_descriptor=DataAndMetadata.DataDescriptor(False, collection, datum),
    )
    with open(path, "wb") as handle:
        dm3_image_utils.save_image(xdata, handle, version)
    return path


#: name: (nionswift-io array shape, collection dims, datum dims, DM version, big-endian).
COLLECTIONS = {
    "2-D collection of spectra, DM3": ((3, 4, 5), 2, 1, 3, False),
    "2-D collection of spectra, DM4": ((4, 3, 6), 2, 1, 4, False),
    "2-D collection of spectra, big-endian": ((3, 4, 5), 2, 1, 4, True),
    "1-D collection of spectra": ((3, 5), 1, 1, 4, False),
    "1-D collection of spectra, DM3": ((6, 4), 1, 1, 3, False),
    "2-D collection of 1 x N spectra rows": ((3, 1, 7), 2, 1, 4, False),
}


@pytest.mark.parametrize("case", sorted(COLLECTIONS))
def test_nionswift_collections_of_spectra_load_like_the_dm_file(tmp_path: Path, case: str) -> None:
    """nionswift-io writes a collection of spectra channel first, tagged "Spectrum image"
    (a line of N spectra as a 1 x N scan): HyperSpy puts the channel axis last."""
    shape, collection, datum, version, big = COLLECTIONS[case]
    source = reference = write_nion(
        tmp_path / f"source.dm{version}", shape, collection, datum, version
    )
    if big:
        # rsciio reads a big-endian file's pixels little-endian: the twin's expectation
        # is its reading of the little-endian original.
        source = tmp_path / f"big.dm{version}"
        dm_big_endian(reference, source)
    want = assert_loads_like_source(source, tmp_path / "out.emd", reference)
    assert want.axes_manager.signal_dimension == 1
    assert want.data.shape == tuple(n for n in shape if n != 1)  # nionswift-io's order
    data = emdconvert.read(source).datasets[0].data
    assert isinstance(data, SignalLastArray)  # still streamed, not read whole
    assert isinstance(data.base, NativeOrderArray if big else RawFileArray)


def test_4d_stem_stays_and_a_4d_spectrum_image_moves_its_first_axis(tmp_path: Path) -> None:
    """A 2-D scan of 2-D patterns (4D-STEM) is no spectrum image: HyperSpy keeps the
    file's order.  The same file tagged "Spectrum image" is: ``to_signal1D`` moves the
    file's first numpy axis (DM's last dimension) last, the others keep their order."""
    stem = write_nion(tmp_path / "stem.dm4", (2, 3, 4, 5), 2, 2, 4)
    want = assert_loads_like_source(stem, tmp_path / "stem.emd")
    assert want.data.shape == (2, 3, 4, 5) and want.axes_manager.signal_dimension == 2
    tagged = write_nion(
        tmp_path / "si4d.dm4", (2, 3, 4, 5), 2, 2, 4, {"Meta Data": {"Format": "Spectrum image"}}
    )
    want = assert_loads_like_source(tagged, tmp_path / "si4d.emd")
    assert want.data.shape == (3, 4, 5, 2) and want.axes_manager.signal_dimension == 1
    assert [a.units for a in want.axes_manager._axes] == ["um", "eV", "mrad", "nm"]


# --- the streaming view ------------------------------------------------------------


def raw_si(tmp_path: Path, shape: tuple[int, ...], dtype: str = "<u2") -> tuple[Path, np.ndarray]:
    """A headerless channel-first array in a file, and the array itself."""
    rng = np.random.default_rng(len(shape))
    array = rng.integers(0, 60000, shape).astype(dtype)
    path = tmp_path / f"raw{len(shape)}{np.dtype(dtype).str[0]}.bin"
    path.write_bytes(b"\x07" * 13 + array.tobytes())
    return path, array


KEYS = [
    (),
    (Ellipsis,),
    (0,),
    (-1,),
    (slice(1, 3),),
    (2, slice(None), slice(3, 9)),
    (1, 4),
    (1, 4, 5),
    (-2, -1, -3),
    (slice(None), 2),
    (slice(None, None, 2),),
    (slice(None), slice(None), 4),
    (slice(0, 0),),
    (1, slice(2, 7)),
    (slice(2, 5), slice(None), slice(10, 20)),
]


@pytest.mark.parametrize("order", ["<", ">"])
def test_signal_last_view_reads_what_moveaxis_gives(tmp_path: Path, order: str) -> None:
    """Any selection, through the slab cache (tiny slabs: several, and a short last one)
    and through direct reads; both byte orders."""
    path, array = raw_si(tmp_path, (23, 5, 7), f"{order}u2")
    expected = np.moveaxis(array, 0, -1).astype("=u2")
    for slab in (None, 23 * 2 * 3, 23 * 2 * 8):
        raw = RawFileArray(path, 13, array.shape, array.dtype)
        view = SignalLastArray(raw if order == "<" else NativeOrderArray(raw), slab)
        assert view.shape == (5, 7, 23) and view.dtype == np.dtype("=u2")
        for key in KEYS:
            got = view[key]
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected[key], err_msg=f"{slab} {key}")
        if slab == 23 * 2 * 8:
            assert view.slab_pixels == 7  # whole rows (7 of the 8 pixels that fit)
        out = np.empty((2, 7, 23), np.dtype("=u2"))
        assert view.read_into((slice(1, 3), slice(0, 7), slice(0, 23)), out)
        np.testing.assert_array_equal(out, expected[1:3])
        # Not one run of pixels: the block copier reads it through __getitem__.
        assert not view.read_into(
            (slice(1, 3), slice(0, 4), slice(0, 23)), np.empty((2, 4, 23), np.dtype("=u2"))
        )
        view.close()


def test_signal_last_view_reads_long_runs_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Converting a spectrum image reads the file once, in one ``pread`` per channel per
    slab (not per block, not per element), keeps at most a few slabs, and gives
    HyperSpy's data; blocks read from several threads at once come out right."""
    source = write_nion(tmp_path / "si.dm4", (16, 32, 64), 2, 1, 4)
    slab_bytes = 64 * 4 * 64  # 64 pixels of 64 float32 channels: 8 slabs
    monkeypatch.setattr(arrays, "SLAB_BYTES", slab_bytes)
    view = emdconvert.read(source).datasets[0].data
    assert isinstance(view, SignalLastArray) and view.slab_pixels == 64
    reads: list[int] = []
    real = os.preadv

    def counting(fd: int, buffers: list[Any], offset: int) -> int:
        got = real(fd, buffers, offset)
        reads.append(got)
        return got

    monkeypatch.setattr(os, "preadv", counting)
    assert_loads_like_source(source, tmp_path / "out.emd")
    slabs = 16 * 32 // 64
    converted = reads[:]
    # The conversion's own reads (its verification may sample a few spectra more).
    assert sum(n == 64 * 4 for n in converted) >= slabs * 64
    assert sum(n == 64 * 4 for n in converted) <= 2 * slabs * 64, len(converted)
    # Concurrent readers of whole-spectra blocks, as the writer's threads read them.
    view = emdconvert.read(source).datasets[0].data
    expected = np.asarray(hs_load(source).data)
    errors: list[BaseException] = []

    def worker(rows: range) -> None:
        try:
            for y in rows:
                out = np.empty((1, 32, 64), np.float32)
                assert view.read_into((slice(y, y + 1), slice(0, 32), slice(0, 64)), out)
                np.testing.assert_array_equal(out, expected[y : y + 1])
                assert len(view._slabs) <= max(arrays.SLABS_KEPT, len(threads))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(range(k, 16, 4),)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(view._slabs) <= arrays.SLABS_KEPT and len(view._spare) <= 1
