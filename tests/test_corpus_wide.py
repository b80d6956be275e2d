"""Every file of the wide corpus (32 rsciio formats) converts to exactly what rsciio reads.

The expectation is rsciio's own *eager* reading of the source, independent of our lazy
conversion path; what we wrote is read back by rsciio's EMD reader (dim vectors of
non-uniform axes by h5py).  Data must match bit for bit in the same dtype, and every
axis its size, scale, offset, units and name, in array order.  Where rsciio cannot read
a file, we must refuse it with an EmdConvertError and leave no output.  Files we do
not yet convert faithfully are listed in :data:`KNOWN` as strict xfails: CI stays green
and the list stays honest (a file that starts passing fails the run until removed).
"""

from __future__ import annotations

import csv
import importlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from support.corpus import corpus_dir
from support.rsciio_oracle import as_loaded
from support.units import registry, same_units

import emdconvert
from emdconvert.errors import EmdConvertError, UnsupportedError

WIDE = "wide"
_UNDEFINED = (None, "", "<undefined>", "Undefined")

#: Files not (yet) converted faithfully, and why.
KNOWN = {}

#: Files rsciio reads that hold nothing EMD can store: refused cleanly, by the spec.
NOT_EMD_DATA = {
    "rs/emd/example_object_dtype_data.emd": "object dtype data are not EMD data (README L13)",
}


def wide_entries() -> list[tuple[str, str]]:
    """(file, rsciio format) for every line of ``wide/MANIFEST.tsv``."""
    path = corpus_dir() / WIDE / "MANIFEST.tsv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [(row["file"], row["format"]) for row in csv.DictReader(handle, delimiter="\t")]


def _params() -> Iterator[Any]:
    for name, fmt in wide_entries() or [("<corpus missing>", "")]:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[name])] if name in KNOWN else []
        yield pytest.param(name, fmt, id=name, marks=marks)


def rsciio_eager(fmt: str, source: Path) -> list[dict[str, Any]]:
    """rsciio's own reading of *source*, into memory, by the reader the manifest names,
    as ``hs.load`` gives it (:func:`as_loaded`)."""
    signals = importlib.import_module(f"rsciio.{fmt}").file_reader(str(source), lazy=False)
    return [as_loaded(signal) for signal in signals]


def _title(signal: Mapping[str, Any]) -> str:
    return str(signal.get("metadata", {}).get("General", {}).get("title", ""))


def paired(
    theirs: Sequence[dict[str, Any]], ours: Sequence[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Match each source signal with one output dataset of its shape (EMD groups come
    back in name order, not the source's): among several of the same shape (Phenom and
    Velox files hold many), the one holding its data, else the one named like it.  Each
    output is used once, so a dataset written twice or lost still fails."""
    left = list(range(len(ours)))
    pairs = []
    for signal in theirs:
        shape = np.shape(signal["data"])[: len(signal["axes"]) or None]
        same = [i for i in left if np.shape(ours[i]["data"])[: len(shape)] == shape] or left
        expected = expected_array(signal["data"])
        holding = [
            i
            for i in same
            if len(same) > 1
            and np.shape(ours[i]["data"]) == expected.shape
            and np.array_equal(np.asarray(ours[i]["data"]), expected)
        ]
        named = [i for i in same if _title(ours[i]).startswith(_title(signal))]
        chosen = (holding or named or same)[0]
        left.remove(chosen)
        pairs.append((signal, ours[chosen]))
    return pairs


def expected_array(data: Any) -> np.ndarray:
    """Structured RGB(A) is stored as a trailing channel axis of the fields' type."""
    array = np.asarray(data)
    if array.dtype.names:
        return np.stack([array[name] for name in array.dtype.names], axis=-1)
    return array


def assert_stored_equal(group: h5py.Group, expected: np.ndarray) -> None:
    """The output's data, read with h5py, equal *expected* bit for bit.

    Large arrays are compared chunk by chunk: reading a 1 GiB x-first JEOL map whole,
    as rsciio's eager EMD read does, scatters every chunk and takes half a minute."""
    stored = group["data"]
    wanted = expected.T if group.attrs.get("emdconvert_axis_order") == "x-first" else expected
    if stored.chunks is None or stored.nbytes < 1 << 26:
        np.testing.assert_array_equal(stored[()], wanted)
        return
    for where in stored.iter_chunks():
        np.testing.assert_array_equal(stored[where], wanted[where])


def vector_step_precision(offset: float, scale: float, size: int) -> float:
    """How exactly a step can be read back from an EMD dim vector (rsciio takes the mean
    of its differences): float64 coordinates far from zero hold a small step only to
    their own spacing.  TIA writes offsets like -1.1e10 1/nm beside a 0.17 step, which
    no coordinate vector can carry to 1e-9."""
    largest = max(abs(offset), abs(offset + scale * max(size - 1, 0)))
    return 4 * np.finfo(np.float64).eps * largest / max(size - 1, 1)


def assert_axes_match(theirs: dict[str, Any], ours: dict[str, Any], group: h5py.Group) -> None:
    shape = np.shape(ours["data"])
    for i, size in enumerate(shape):
        axis = theirs["axes"][i] if i < len(theirs["axes"]) else {}
        mine = ours["axes"][i]
        where = f"axis {i} of {_title(theirs)!r}"
        assert mine["size"] == size, where
        if axis.get("name") not in _UNDEFINED:
            assert mine["name"] == axis["name"], where
        assert same_units(mine.get("units"), axis.get("units")), (
            f"{where}: units {mine.get('units')!r} != {axis.get('units')!r}"
        )
        if axis.get("axis") is not None:
            x_first = group.attrs.get("emdconvert_axis_order") == "x-first"
            vector = group[f"dim{len(shape) - i if x_first else i + 1}"][()]
            np.testing.assert_allclose(vector, np.asarray(axis["axis"], float), rtol=1e-12)
            continue
        scale, offset = axis.get("scale", 1.0), axis.get("offset", 0.0)
        assert mine.get("scale", 1.0) == pytest.approx(
            scale, rel=1e-9, abs=vector_step_precision(offset, scale, size)
        ), where
        assert mine.get("offset", 0.0) == pytest.approx(
            axis.get("offset", 0.0), rel=1e-9, abs=1e-12
        ), where


@pytest.mark.corpus
@pytest.mark.parametrize(("name", "fmt"), _params())
def test_wide_corpus_file_matches_rsciio(corpus: Path, tmp_path: Path, name: str, fmt: str) -> None:
    from rsciio.emd import file_reader as read_emd

    logging.getLogger("rsciio").setLevel(logging.CRITICAL + 1)  # readers' chatter
    source = corpus / WIDE / name
    out = tmp_path / "out.emd"
    try:
        theirs = rsciio_eager(fmt, source)
    except Exception:  # rsciio cannot read it: neither may we
        with pytest.raises(EmdConvertError):
            emdconvert.convert(source, out)
        assert not out.exists()
        return
    if name in NOT_EMD_DATA:
        with pytest.raises(UnsupportedError, match="not EMD data"):
            emdconvert.convert(source, out)
        assert not out.exists()
        return
    emdconvert.convert(source, out)
    ours = read_emd(str(out), lazy=True)
    is_text = [np.asarray(signal["data"]).dtype.kind in "SUO" for signal in theirs]
    text = [signal for signal, t in zip(theirs, is_text, strict=True) if t]
    theirs = [signal for signal, t in zip(theirs, is_text, strict=True) if not t]
    assert len(ours) == len(theirs)
    with h5py.File(out, "r") as h5:
        assert_text_signals_kept(text, h5)
    with h5py.File(out, "r") as h5:
        for signal, mine in paired(theirs, ours):
            expected, got = expected_array(signal["data"]), mine["data"]
            assert got.dtype.newbyteorder("=") == expected.dtype.newbyteorder("=")
            assert got.shape == expected.shape
            assert_stored_equal(h5["data"][_title(mine)], expected)
            assert_axes_match(signal, mine, h5["data"][_title(mine)])
        assert_key_metadata_readable(theirs, h5)


def assert_text_signals_kept(text: Sequence[dict[str, Any]], h5: h5py.File) -> None:
    """A text signal (NeXus) is a JSON attribute of the first dataset, and the output's
    provenance names it (issue 13, item 5)."""
    if not text:
        return
    first = next(iter(h5["data"].values()))
    log = " ".join(str(v) for v in h5["comments"].attrs.values())
    for signal in text:
        key = f"text_signal:{_title(signal)}"
        values = np.asarray(signal["data"]).astype(str).tolist()
        assert json.loads(first.attrs[key]) == values
        assert key in log


#: Key items of rsciio's metadata tree (under Acquisition_instrument.TEM/SEM), the
#: readable microscope attribute each must become, HyperSpy's unit for it (used when
#: the tree gives none) and the unit in the attribute's name.
KEY_ITEMS = {
    "beam_energy": ("voltage_V", "kV", "V"),  # electrons of E keV: accelerated by E kV
    "magnification": ("indicated_magnification", "", ""),  # a number, given as text too
    "beam_current": ("probe_current_nA", "nA", "nA"),
    "camera_length": ("camera_length_mm", "mm", "mm"),
    "convergence_angle": ("convergence_angle_mrad", "mrad", "mrad"),
    "dwell_time": ("dwell_time_us", "s", "us"),
    "exposure": ("exposure_s", "s", "s"),
    "microscope": ("microscope_name", None, None),
}
#: How the trees spell units pint reads otherwise (``mR`` is not milliroentgen here).
_TREE_UNITS = {"mR": "mrad", "eV": "V", "keV": "kV", "MeV": "MV"}


def expected_value(value: Any, given: str | None, default: str | None, target: str | None) -> Any:
    """*value* of the tree in the unit the attribute's name states (pint, not ours)."""
    if target is None:
        return value
    source = _TREE_UNITS.get(given or default or "", given or default)
    return pytest.approx(registry().Quantity(float(value), source).to(target).magnitude)


def assert_key_metadata_readable(theirs: Sequence[dict[str, Any]], h5: h5py.File) -> None:
    """Beam energy, magnification, camera length, convergence angle, dwell time,
    exposure, microscope, date and time that rsciio exposes are readable attributes of
    the output's ``microscope`` group, with the same value in the unit of the name,
    whichever unit the tree gave (issue 13, item 6)."""
    microscope = dict(h5["microscope"].attrs)
    metadata = theirs[0].get("metadata", {})
    for family in ("TEM", "SEM"):
        branch = metadata.get("Acquisition_instrument", {}).get(family, {})
        for key, (name, default, target) in KEY_ITEMS.items():
            value = branch.get(key)
            if value in _UNDEFINED:
                continue
            assert name in microscope, f"{family}.{key} = {value!r} is not readable"
            wanted = expected_value(value, branch.get(f"{key}_units"), default, target)
            found = microscope[name]
            assert (found.decode() if isinstance(found, bytes) else found) == wanted
    for key in ("date", "time"):
        value = metadata.get("General", {}).get(key)
        if value not in _UNDEFINED:
            found = microscope[f"acquisition_{key}"]
            assert (found.decode() if isinstance(found, bytes) else found) == str(value)


@pytest.mark.corpus
def test_reader_without_lazy_support_is_read_eagerly_within_budget(
    corpus: Path, tmp_path: Path
) -> None:
    """MSA cannot be read lazily: it is read into memory, which the output records, and
    only when the file fits the caller's ``max_bytes``."""
    from emdconvert.errors import PolicyError

    source = corpus / WIDE / "rs" / "msa" / "example1.msa"
    with pytest.raises(PolicyError, match="cannot read lazily"):
        emdconvert.convert(source, tmp_path / "refused.emd", max_bytes=100)
    assert not (tmp_path / "refused.emd").exists()
    out = emdconvert.convert(source, tmp_path / "out.emd")
    with h5py.File(out, "r") as h5:
        assert [g.attrs["emdconvert_read"] for g in h5["data"].values()] == ["eager"]


@pytest.mark.corpus
def test_velox_spectrum_streams_are_decoded_once(corpus: Path, tmp_path: Path) -> None:
    """rsciio's lazy Velox reader decodes the spectrum stream again for every block
    pulled (170 s for this 6.7 MB file, against 1.6 s for its eager read): within the
    memory budget the file is read eagerly, and the output says so."""
    from emdconvert.emd.reader import velox_stream_bytes

    source = corpus / WIDE / "rs" / "emd" / "unzipped" / "example_velox_EELS_EDS.emd"
    with h5py.File(source, "r") as h5:
        assert velox_stream_bytes(h5) == 6 * 128 * 128 * 4096 * 2  # six uint16 streams
    out = emdconvert.convert(source, tmp_path / "out.emd")
    with h5py.File(out, "r") as h5:
        assert {g.attrs["emdconvert_read"] for g in h5["data"].values()} == {"eager"}
