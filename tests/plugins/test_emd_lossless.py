"""EMD -> EMD is lossless (issue 13 item 7).

Every group, dataset and attribute of a Berkeley EMD source survives the conversion:
extra groups (NCEM's ``/stage``) and extra datasets (``acquisition times`` beside
``data``) are copied verbatim, data groups keep the source's order, and a group name we
sanitise keeps its text in a ``title`` attribute.  Expectations come from walking the
source with h5py and from reading both files with rsciio and ncempy; the sources are the
corpus's Berkeley files and files written here by h5py, ncempy and HyperSpy.

What the conversion rewrites on purpose, and so is not compared verbatim: the version
attributes (integers), data groups move to ``/data/<sanitised name>``, ``data`` itself
(re-chunked, x-first), the ``dimK`` vectors and their ``name``/``units`` (full-length
float64 vectors, bracketed units, ``dimK`` for an empty name), and the data group's
``emd_group_type`` (integer 1), ``units`` and ``emdconvert_axis_order``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from support.corpus import corpus_dir

import emdconvert

#: Data-group members and attributes the writer produces from the model (see above).
_REWRITTEN_GROUP_ATTRS = {"emd_group_type", "units", "emdconvert_axis_order"}
_DIM_ATTRS = {"name", "units"}


# --- comparing two files ------------------------------------------------------------


def _data_groups(h5: h5py.File) -> list[h5py.Group]:
    from emdconvert.emd.groups import data_groups

    return data_groups(h5)


def _same(a: Any, b: Any) -> bool:
    """Equal value *and* type: ``'x'`` and ``b'x'`` differ (rsciio shows them apart)."""
    if isinstance(a, h5py.Empty) or isinstance(b, h5py.Empty):
        return isinstance(a, h5py.Empty) and isinstance(b, h5py.Empty) and a.dtype == b.dtype
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    return type(a) is type(b) and bool(a == b)


def _attr_losses(
    where: str, src: h5py.HLObject, out: h5py.HLObject | None, skip: set[str] = frozenset()
) -> list[str]:  # type: ignore[assignment]
    if out is None:
        return [f"{where}: missing"]
    lost = []
    for key in src.attrs:
        if key in skip:
            continue
        if key not in out.attrs:
            lost.append(f"{where}@{key}: missing")
        elif not _same(src.attrs[key], out.attrs[key]):
            lost.append(f"{where}@{key}: {src.attrs[key]!r} -> {out.attrs[key]!r}")
        elif src.attrs.get_id(key).dtype != out.attrs.get_id(key).dtype:
            lost.append(
                f"{where}@{key}: type {src.attrs.get_id(key).dtype} -> "
                f"{out.attrs.get_id(key).dtype}"
            )
    return lost


def _verbatim_losses(where: str, src: Any, out: Any) -> list[str]:
    """*out* is a verbatim copy of *src* (group or dataset, recursively)."""
    if out is None:
        return [f"{where}: missing"]
    if isinstance(src, h5py.Dataset):
        if not isinstance(out, h5py.Dataset):
            return [f"{where}: not a dataset"]
        if (src.dtype, src.shape) != (out.dtype, out.shape):
            return [f"{where}: {src.dtype}{src.shape} -> {out.dtype}{out.shape}"]
        lost = _attr_losses(where, src, out)
        if src.shape is not None and src.size < 2**22 and not np.array_equal(src[()], out[()]):
            lost.append(f"{where}: values differ")
        return lost
    if not isinstance(out, h5py.Group):
        return [f"{where}: not a group"]
    lost = _attr_losses(where, src, out)
    if list(src) != list(out):
        lost.append(f"{where}: members {list(src)} -> {list(out)}")
    for key in src:
        if isinstance(src.get(key, getlink=True), h5py.SoftLink):
            if src.get(key, getlink=True).path != getattr(out.get(key, getlink=True), "path", None):
                lost.append(f"{where}/{key}: soft link lost")
            continue
        lost += _verbatim_losses(f"{where}/{key}", src[key], out.get(key))
    return lost


def losses(source: Path, output: Path) -> list[str]:
    """Everything of *source* that is missing or changed in *output*, as text lines.

    Data groups are paired in order (the output's order must be the source's); outside
    them every object must be at the same path, verbatim.
    """
    lost: list[str] = []
    with h5py.File(source, "r") as src, h5py.File(output, "r") as out:
        src_groups, out_groups = _data_groups(src), _data_groups(out)
        src_names = [g.name for g in src_groups]
        if len(src_groups) != len(out_groups):
            return [f"data groups {src_names} -> {[g.name for g in out_groups]}"]
        lost += _attr_losses("/", src, out, {"version_major", "version_minor"})
        for sg, og in zip(src_groups, out_groups, strict=True):
            lost += _data_group_losses(sg, og)
        # Outside the data groups: the same path, verbatim.
        data_paths = set(src_names)

        def visit(name: str, obj: Any) -> None:
            path = "/" + name
            if any(path == p or path.startswith(p + "/") for p in data_paths):
                return
            target = out.get(path)
            if isinstance(obj, h5py.Dataset):
                lost.extend(_verbatim_losses(path, obj, target))
            elif "data" in obj:
                lost.extend(_attr_losses(path, obj, target))
            else:  # rsciio's /signals says emd_group_type 1 but holds no data (rule 2)
                lost.extend(_attr_losses(path, obj, target, {"emd_group_type"}))

        src.visititems(visit)
    return lost


def _data_group_losses(sg: h5py.Group, og: h5py.Group) -> list[str]:
    where = f"{sg.name} -> {og.name}"
    lost = _attr_losses(where, sg, og, _REWRITTEN_GROUP_ATTRS)
    name = sg.name.rsplit("/", 1)[-1]
    if (
        og.name.rsplit("/", 1)[-1] != name
        and og.attrs.get("title", sg.attrs.get("title")) != name
        and "title" not in sg.attrs
    ):
        lost.append(f"{where}: title {name!r} lost")
    ndim = sg["data"].ndim
    lost += _attr_losses(f"{where}/data", sg["data"], og["data"])
    # dimK follow their physical axis: compare extra attributes by axis name.
    src_dims = {k: sg[f"dim{k}"] for k in range(1, ndim + 1)}
    for k, dim in src_dims.items():
        extra = set(dim.attrs) - _DIM_ATTRS
        if extra:
            matches = [
                og[f"dim{j}"]
                for j in range(1, ndim + 1)
                if og[f"dim{j}"].attrs.get("name") == dim.attrs.get("name")
            ]
            lost += _attr_losses(
                f"{where}/dim{k}", dim, matches[0] if matches else None, _DIM_ATTRS
            )
    modelled = {"data", *(f"dim{k}" for k in range(1, ndim + 1))}
    for key in sg:
        if key not in modelled:
            lost += _verbatim_losses(f"{where}/{key}", sg[key], og.get(key))
    return lost


# --- reading both files with rsciio and ncempy ---------------------------------------


def rsciio_view(path: Path) -> list[dict[str, Any]]:
    from rsciio.emd import file_reader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signals = file_reader(str(path))
    out = []
    for s in signals:
        # Ours: the version (integers), the appended comment, and the metadata groups
        # we always write (empty when the source has none).
        om = {
            k: v
            for k, v in s["original_metadata"].items()
            if k not in ("EMD_version", "comments") and v != {}
        }
        out.append(
            {
                "data": np.asarray(s["data"]),
                "axes": [(a["size"], a["offset"], a["scale"]) for a in s["axes"]],
                "om": om,
            }
        )
    return out


def assert_same_rsciio(source: Path, output: Path) -> None:
    before, after = rsciio_view(source), rsciio_view(output)
    assert len(before) == len(after)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a["data"], b["data"])
        assert len(a["axes"]) == len(b["axes"])
        for mine, theirs in zip(a["axes"], b["axes"], strict=True):  # (size, offset, scale)
            assert mine == pytest.approx(theirs)
        assert a["om"] == b["om"]


def ncempy_view(path: Path) -> list[tuple[str, np.ndarray, list[Any]]]:
    from ncempy.io.emd import fileEMD

    with fileEMD(path) as emd:
        out = []
        for group in emd.list_emds:
            data, dims = emd.get_emdgroup(group)
            out.append((group.name, data, [len(d[0]) for d in dims]))
        return out


# --- sources --------------------------------------------------------------------------


def _berkeley_corpus_files() -> list[str]:
    root = corpus_dir()
    found = []
    for manifest in (root / "MANIFEST.tsv", root / "wide" / "MANIFEST.tsv"):
        if not manifest.is_file():
            continue
        with open(manifest, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t"):
                name = row[0] if manifest.parent == root else f"wide/{row[0]}"
                path = root / name
                if path.suffix not in (".emd", ".h5") or not path.is_file():
                    continue
                try:
                    with h5py.File(path, "r") as h5:
                        version = h5.attrs.get("version_major"), h5.attrs.get("version_minor")
                except OSError:
                    continue
                if [str(v) for v in version] == ["0", "2"]:
                    found.append(name)
    return found


def ncem_like(path: Path, *, big: int = 0) -> Path:
    """A NCEM acquisition-style file: ``/stage``, ``acquisition times``, spaced titles.

    Written x-first (dims not named Y/X), so rsciio reads source and output alike.
    """
    rng = np.random.default_rng(7)
    with h5py.File(path, "w") as h5:
        h5.attrs["version_major"] = 0
        h5.attrs["version_minor"] = 2
        h5.attrs["software"] = "TEAM acquisition 3.1"
        data = h5.create_group("data")
        data.attrs["note"] = np.bytes_(b"acquired in order")
        group = data.create_group("HAADF frames 1")
        group.attrs["emd_group_type"] = np.int32(1)
        group.attrs["detector"] = "HAADF"
        stored = group.create_dataset("data", data=rng.integers(0, 9, (6, 5, 3), dtype=np.uint16))
        stored.attrs["signal"] = "counts"
        for k, (name, units, n) in enumerate(
            [("u", "[n_m]", 6), ("v", "[n_m]", 5), ("frame", "[s]", 3)], start=1
        ):
            dim = group.create_dataset(f"dim{k}", data=np.arange(n) * 0.5)
            dim.attrs["name"] = np.bytes_(name.encode())
            dim.attrs["units"] = np.bytes_(units.encode())
            if name == "frame":
                dim.attrs["origin"] = "scan start"
        times = group.create_dataset(
            "acquisition times", data=np.array([0.0, 0.25, 0.5]), chunks=(1,), compression="gzip"
        )
        times.attrs["units"] = "s"
        stage = h5.create_group("stage")
        stage.attrs["x"], stage.attrs["tilt"] = 12.5, np.float32(-3.0)
        stage.attrs["label"] = np.bytes_(b"holder 2")
        stage.attrs["nothing"] = h5py.Empty("f8")
        stage.attrs["xyz"] = np.array([1.0, 2.0, 3.0])
        stage.create_dataset("positions", data=rng.normal(size=(3, 4)))
        h5["last stage"] = h5py.SoftLink("/stage")
        group["stage"] = h5py.SoftLink("/stage/positions")
        if big:  # written, not fill values: HDF5 copies no unallocated chunks
            raw = stage.create_dataset(
                "raw", shape=(big // 2**20, 2**18), dtype="f4", chunks=(1, 2**18)
            )
            for row in range(raw.shape[0]):
                raw[row] = np.full(2**18, row + 0.5, dtype="f4")
        scope = h5.create_group("microscope")
        scope.attrs["voltage"] = 300e3
        scope.attrs["name"] = "TEAM I"
        scope.create_dataset("aberrations", data=np.array([1.0, -2.0]))
        h5.create_group("sample").attrs["material"] = "Au"
        h5.create_group("user").attrs["operator"] = np.bytes_(b"ercius")
        comments = h5.create_group("comments")
        comments.attrs["2020-01-02 03:04:05 (UTC)"] = "acquired"
        comments.attrs["2020-01-02 03:05:00 (UTC)"] = np.bytes_(b"drift corrected")
    return path


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """Sources from other writers live under ``invalid``: the autouse validator holds
    them to our rules (integer versions, ...), which they need not meet."""
    folder = tmp_path / "invalid"
    folder.mkdir()
    return folder


# --- tests ------------------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize("name", _berkeley_corpus_files() or ["<corpus missing>"])
def test_corpus_berkeley_file_loses_nothing(corpus: Path, tmp_path: Path, name: str) -> None:
    source = corpus / name
    with h5py.File(source, "r") as h5:
        object_data = any(g["data"].dtype.kind == "O" for g in _data_groups(h5))
    if object_data:  # example_object_dtype_data.emd: refused, not EMD data (README, EMD layout L13)
        with pytest.raises(emdconvert.UnsupportedError):
            emdconvert.convert(source, tmp_path / "out.emd")
        return
    out = emdconvert.convert(source, tmp_path / "out.emd")
    assert losses(source, out) == []
    assert_same_rsciio(source, out)


@pytest.mark.corpus
def test_corpus_spaced_title_is_kept(corpus: Path, tmp_path: Path) -> None:
    """rsciio's example_metadata.emd: ``/signals/This is a test!`` keeps its text."""
    source = corpus / "emd" / "example_metadata.emd"
    if not source.is_file():
        pytest.skip("example_metadata.emd not in the corpus")
    out = emdconvert.convert(source, tmp_path / "out.emd")
    with h5py.File(out, "r") as h5:
        (group,) = _data_groups(h5)
        assert group.attrs["title"] == "This is a test!"
        assert h5["comments"].attrs["comment"] == "Test"  # str stays str


def test_ncem_stage_and_acquisition_times_survive(sources: Path, tmp_path: Path) -> None:
    source = ncem_like(sources / "ncem.emd")
    out = emdconvert.convert(source, tmp_path / "out.emd")
    assert losses(source, out) == []
    with h5py.File(out, "r") as h5:
        assert h5["stage"].attrs["label"] == b"holder 2"
        assert isinstance(h5["stage"].attrs["nothing"], h5py.Empty)
        np.testing.assert_array_equal(h5["data/HAADF_frames_1/acquisition times"], [0.0, 0.25, 0.5])
        assert h5["data/HAADF_frames_1/acquisition times"].compression == "gzip"
        assert h5["data/HAADF_frames_1"].attrs["title"] == "HAADF frames 1"
        assert h5["data"].attrs["note"] == b"acquired in order"
        assert h5.attrs["software"] == "TEAM acquisition 3.1"
        assert h5.attrs["version_major"] == 0 and h5.attrs["version_minor"] == 2
        assert h5.get("last stage", getlink=True).path == "/stage"
        assert h5.get("data/HAADF_frames_1/stage", getlink=True).path == "/stage/positions"
        comments = h5["comments"].attrs
        assert comments["2020-01-02 03:04:05 (UTC)"] == "acquired"
        assert len(comments) == 3  # the source's two, then ours
    assert_same_rsciio(source, out)
    [(_, before, dims_before)] = ncempy_view(source)
    [(_, after, dims_after)] = ncempy_view(out)
    np.testing.assert_array_equal(after, before)
    assert dims_after == dims_before


def test_rewriting_our_output_loses_nothing(sources: Path, tmp_path: Path) -> None:
    """The output is a source too: a second pass keeps the first pass's titles."""
    first = emdconvert.convert(ncem_like(sources / "ncem.emd"), tmp_path / "one.emd")
    second = emdconvert.convert(first, tmp_path / "two.emd")
    assert losses(first, second) == []


def test_ncempy_written_file_loses_nothing(sources: Path, tmp_path: Path) -> None:
    from ncempy.io.emd import fileEMD

    source = sources / "ncempy.emd"
    rng = np.random.default_rng(3)
    with fileEMD(source, readonly=False) as emd:
        for label in ("tilt series", "reference"):
            data = rng.normal(size=(4, 3)).astype(np.float32)
            dims = [(np.arange(4) * 0.1, "a", "[n_m]"), (np.arange(3) * 0.2, "b", "[n_m]")]
            group = emd.put_emdgroup(label, data, dims)
            group.create_dataset("acquisition times", data=np.arange(4.0))
        emd.put_comment("written by ncempy")
        emd.microscope.attrs["voltage"] = 200
        emd.file_hdl.create_group("stage").attrs["alpha"] = 10.0
    out = emdconvert.convert(source, tmp_path / "out.emd")
    assert losses(source, out) == []
    assert_same_rsciio(source, out)
    before, after = ncempy_view(source), ncempy_view(out)
    assert [b[1].tolist() for b in before] == [a[1].tolist() for a in after]


def _ordered_source(path: Path, *, track: bool) -> Path:
    with h5py.File(path, "w") as h5:
        h5.attrs["version_major"], h5.attrs["version_minor"] = 0, 2
        data = h5.create_group("data", track_order=track)
        for value, name in enumerate(["zeta", "alpha", "mu"]):
            group = data.create_group(name)
            group.attrs["emd_group_type"] = 1
            group.create_dataset("data", data=np.full((2, 3), value, dtype=np.int8))
            for k, n in ((1, 2), (2, 3)):
                dim = group.create_dataset(f"dim{k}", data=np.arange(n, dtype=float))
                dim.attrs["name"], dim.attrs["units"] = f"d{k}", "[px]"
    return path


@pytest.mark.parametrize("track", [True, False], ids=["creation-order", "name-order"])
def test_data_groups_keep_the_source_order(sources: Path, tmp_path: Path, track: bool) -> None:
    """Creation order where the source tracks it, else name order: every reader sees the
    same order in both files (rsciio visits by name, ncempy and we iterate)."""
    source = _ordered_source(sources / "ordered.emd", track=track)
    out = emdconvert.convert(source, tmp_path / "out.emd")
    assert losses(source, out) == []
    expected = ["zeta", "alpha", "mu"] if track else ["alpha", "mu", "zeta"]
    with emdconvert.read(out) as model:
        assert [d.name for d in model.datasets] == expected
    assert [n.rsplit("/", 1)[-1] for n, _, _ in ncempy_view(out)] == expected
    assert [n for n, _, _ in ncempy_view(out)] == [n for n, _, _ in ncempy_view(source)]
    before, after = rsciio_view(source), rsciio_view(out)
    assert [int(s["data"].flat[0]) for s in after] == [int(s["data"].flat[0]) for s in before]


def test_hyperspy_length1_axis_reads(sources: Path, tmp_path: Path) -> None:
    """HyperSpy/rsciio writes a length-1 axis as ``[offset, offset + scale]``."""
    hs = pytest.importorskip("hyperspy.api")
    signal = hs.signals.Signal1D(np.arange(10, dtype=np.float32).reshape(1, 10))
    signal.axes_manager[0].scale, signal.axes_manager[0].offset = 0.5, 2.0
    signal.axes_manager[1].scale = 0.25
    signal.metadata.General.title = "point spectrum 1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signal.save(sources / "x.emd")
    with h5py.File(sources / "x.emd", "r") as h5:
        (group,) = _data_groups(h5)
        assert [group[f"dim{k}"].shape for k in (1, 2)] == [(2,), (2,)]
    with emdconvert.read(sources / "x.emd") as model:
        (dataset,) = model.datasets
        assert dataset.shape == (1, 10)
        assert (dataset.dims[0].size, dataset.dims[0].offset, dataset.dims[0].scale) == (
            1,
            2.0,
            0.5,
        )
        assert dataset.dims[1].scale == 0.25
    out = emdconvert.convert(sources / "x.emd", tmp_path / "out.emd")
    assert losses(sources / "x.emd", out) == []
    with h5py.File(out, "r") as h5:
        (group,) = _data_groups(h5)
        assert group.attrs["title"] == "point spectrum 1"
    assert_same_rsciio(sources / "x.emd", out)


def test_large_extra_dataset_is_copied_in_bounded_memory(tmp_path: Path) -> None:
    """A 256 MiB ``/stage/raw`` is copied by HDF5 chunk by chunk, never loaded whole."""
    folder = tmp_path / "invalid"
    folder.mkdir()
    source = ncem_like(folder / "big.emd", big=256 * 2**20)
    script = textwrap.dedent(f"""
        import resource, emdconvert
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        emdconvert.convert({str(source)!r}, {str(tmp_path / "out.emd")!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) * 1024)
    """)
    # The imports the conversion needs, before the baseline is taken:
    script = "import h5py, numpy, rsciio, emdconvert.plugins.emd\n" + script
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ},
    )
    grown = int(result.stdout.split()[-1])
    assert grown < 96 * 2**20, f"peak RSS grew by {grown / 2**20:.0f} MiB"
    with h5py.File(tmp_path / "out.emd", "r") as h5:
        raw = h5["stage/raw"]
        assert raw.shape == (256, 2**18) and raw.chunks == (1, 2**18)
        assert float(raw[255, -1]) == 255.5
        assert raw.id.get_storage_size() == 256 * 2**20


def test_extra_in_data_folder_keeps_its_name(sources: Path, tmp_path: Path) -> None:
    """A non-EMD dataset ``/data/img`` beside a data group ``/signals/img``: both kept."""
    source = sources / "clash.emd"
    with h5py.File(source, "w") as h5:
        h5.attrs["version_major"], h5.attrs["version_minor"] = 0, 2
        h5.create_group("data").create_dataset("img", data=np.arange(3))
        group = h5.create_group("signals").create_group("img")
        group.attrs["emd_group_type"] = 1
        group.create_dataset("data", data=np.ones((2, 2), dtype=np.float32))
        for k in (1, 2):
            dim = group.create_dataset(f"dim{k}", data=np.arange(2.0))
            dim.attrs["name"], dim.attrs["units"] = f"d{k}", ""
    out = emdconvert.convert(source, tmp_path / "out.emd")
    assert losses(source, out) == []
    with h5py.File(out, "r") as h5:
        np.testing.assert_array_equal(h5["data/img"], np.arange(3))
        (group,) = _data_groups(h5)
        assert group.attrs["title"] == "img"
    assert_same_rsciio(source, out)
