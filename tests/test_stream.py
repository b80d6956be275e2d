"""StreamWriter: frames appended one by one become a valid, atomically published EMD file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import emdconvert
from emdconvert import Dim, StreamWriter, UsageError
from emdconvert.emd.provenance import parse_comment
from emdconvert.emd.spec import errors, validate
from emdconvert.emd.stream_file import live_path_for

SHAPE = (12, 10)  # (y, x)


def series(n: int, shape: tuple[int, ...] = SHAPE, dtype: str = "uint16") -> np.ndarray:
    rng = np.random.default_rng(n)
    return rng.integers(0, 4000, (n, *shape)).astype(dtype)


def dims(rows: int = 2) -> list[Dim]:
    return [
        Dim.uniform("time", size=rows, scale=0.5, offset=1.0, units="s"),
        Dim.uniform("y", size=SHAPE[0], scale=0.1, units="nm"),
        Dim.uniform("x", size=SHAPE[1], scale=0.25, offset=-2.0, units="nm"),
    ]


def read_back(path: Path) -> tuple[np.ndarray, tuple[Dim, ...]]:
    dataset = emdconvert.read(path).datasets[0]
    return np.asarray(dataset.data[...]), dataset.dims


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_single_frames_unknown_count_round_trip(tmp_path: Path) -> None:
    frames = series(7)
    with StreamWriter(tmp_path / "s.emd", SHAPE, "uint16", dims=dims()) as writer:
        for frame in frames:
            writer.append(frame)
        assert writer.frames == 7
    data, got = read_back(tmp_path / "s.emd")
    np.testing.assert_array_equal(data, frames)
    # extended from offset and scale:
    assert got[0] == Dim.uniform("time", size=7, scale=0.5, offset=1.0, units="s")
    assert got[1:] == tuple(dims()[1:])
    assert leftovers(tmp_path) == ["s.emd"]


def test_blocks_and_frames_mix_and_chunks_are_frame_aligned(tmp_path: Path) -> None:
    import h5py

    frames = series(9)
    with StreamWriter(tmp_path / "b.emd", SHAPE, "uint16", dims=dims(2)) as writer:
        writer.append(frames[:4])
        writer.append(frames[4])
        writer.append(frames[5:])
    np.testing.assert_array_equal(read_back(tmp_path / "b.emd")[0], frames)
    with h5py.File(tmp_path / "b.emd") as h5:
        data = h5["data/data/data"]
        assert data.shape == (10, 12, 9)  # x-first: (x, y, frame)
        assert data.chunks == (10, 12, 1) and data.maxshape == (10, 12, None)
        assert h5["data/data"].attrs["emdconvert_axis_order"] == "x-first"


def test_one_frame_gets_the_two_element_dim(tmp_path: Path) -> None:
    with StreamWriter(tmp_path / "one.emd", SHAPE, "uint16", dims=dims(2)) as writer:
        writer.append(series(1)[0])
    data, got = read_back(tmp_path / "one.emd")
    assert data.shape == (1, *SHAPE) and got[0].offset == 1.0


def test_provenance_entry_and_metadata(tmp_path: Path) -> None:
    import h5py

    with StreamWriter(
        tmp_path / "m.emd",
        SHAPE,
        "uint16",
        dims=dims(),
        microscope={"voltage_V": 300e3},
        sample={"sample_name": "Si"},
        user={"operator_name": "A. User"},
    ) as writer:
        writer.append(series(2))
    model = emdconvert.read(tmp_path / "m.emd")
    assert model.microscope["voltage_V"] == 300e3 and model.user["operator_name"] == "A. User"
    (comment,) = model.comments
    entry = parse_comment(comment.message)
    assert entry is not None and entry["tool"].startswith("emdconvert ")
    assert entry["reader"]["plugin"] == "stream"
    # The stream writer names itself and the libraries that wrote the file.
    assert entry["writer"]["plugin"] == "emd-stream"
    assert entry["writer"]["h5py"] == h5py.__version__
    assert entry["options"]["frame_shape"] == list(SHAPE)
    assert not errors(validate(tmp_path / "m.emd"))


def test_exception_inside_with_leaves_nothing(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="camera"),
        StreamWriter(tmp_path / "x.emd", SHAPE, "uint16") as writer,
    ):
        writer.append(series(3))
        raise RuntimeError("camera lost")
    assert leftovers(tmp_path) == []


def test_bad_arguments_raise_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="two"):
        StreamWriter(
            tmp_path / "a.emd",
            SHAPE,
            "uint16",
            dims=[Dim.uniform("t", size=1, scale=0.5, units="s"), *dims()[1:]],
        )
    with pytest.raises(UsageError, match="dims"):
        StreamWriter(tmp_path / "a.emd", SHAPE, "uint16", dims=dims()[1:])
    with pytest.raises(UsageError, match="length"):
        StreamWriter(
            tmp_path / "a.emd",
            SHAPE,
            "uint16",
            dims=[dims()[0], Dim.uniform("y", size=3, scale=1.0, units="nm"), dims()[2]],
        )
    with pytest.raises(UsageError, match="dtype"):
        StreamWriter(tmp_path / "a.emd", SHAPE, "object")
    with pytest.raises(UsageError, match="compression"):
        StreamWriter(tmp_path / "a.emd", SHAPE, "uint16", compression="lzma")
    writer = StreamWriter(tmp_path / "a.emd", SHAPE, "uint16")
    with pytest.raises(UsageError, match="shape"):
        writer.append(np.zeros((10, 12), np.uint16))
    with pytest.raises(UsageError, match="dtype"):
        writer.append(np.zeros(SHAPE, np.float32))
    writer.append(np.zeros(SHAPE, np.uint16))
    writer.close()
    with pytest.raises(UsageError, match="after close"):
        writer.append(np.zeros(SHAPE, np.uint16))
    assert leftovers(tmp_path) == ["a.emd"]


def test_nothing_appended_publishes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no frames"):
        StreamWriter(tmp_path / "e.emd", SHAPE, "uint16").close()
    assert leftovers(tmp_path) == []


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "o.emd"
    with StreamWriter(target, SHAPE, "uint16") as writer:
        writer.append(series(1))
    with pytest.raises(emdconvert.OutputExistsError):
        StreamWriter(target, SHAPE, "uint16")
    with StreamWriter(target, SHAPE, "uint16", overwrite=True) as writer:
        writer.append(series(3))
    assert read_back(target)[0].shape == (3, *SHAPE)


def test_several_producer_threads(tmp_path: Path) -> None:
    """Each thread appends frames filled with its id and a counter: all arrive, whole."""
    per_thread, threads = 40, 4

    def produce(writer: StreamWriter, tid: int) -> None:
        for k in range(per_thread):
            writer.append(np.full(SHAPE, tid * 1000 + k, np.uint16))

    with StreamWriter(tmp_path / "t.emd", SHAPE, "uint16", queue_size=3) as writer:
        workers = [threading.Thread(target=produce, args=(writer, t)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    data = read_back(tmp_path / "t.emd")[0]
    assert data.shape[0] == per_thread * threads
    assert all((frame == frame.flat[0]).all() for frame in data)  # no torn frames
    values = [int(frame.flat[0]) for frame in data]
    assert sorted(values) == sorted(t * 1000 + k for t in range(threads) for k in range(per_thread))
    for t in range(threads):  # each thread's frames keep their order
        mine = [v for v in values if v // 1000 == t]
        assert mine == sorted(mine)


def test_writer_failure_surfaces_on_next_append(tmp_path: Path) -> None:
    writer = StreamWriter(tmp_path / "f.emd", SHAPE, "uint16")
    writer.append(series(1))
    writer._file.close()  # the HDF5 file disappears under the writer thread
    with pytest.raises(emdconvert.EmdConvertError, match="stream writer failed"):
        for _ in range(100):
            writer.append(series(1))
            time.sleep(0.01)
    writer.abort()
    assert leftovers(tmp_path) == []


def test_4d_stem_scan_filled_in_scan_order(tmp_path: Path) -> None:
    from rsciio.emd import file_reader

    scan = np.random.default_rng(4).integers(0, 60000, (3, 4, 16, 8), dtype=np.uint16)
    axes = [
        Dim.uniform("scan_y", size=3, scale=2.0, units="nm"),
        Dim.uniform("scan_x", size=4, scale=2.0, units="nm"),
        Dim.uniform("k_y", size=16, scale=0.125, offset=-1, units="1/nm"),
        Dim.uniform("k_x", size=8, scale=0.25, offset=-1, units="1/nm"),
    ]
    path = tmp_path / "scan.emd"
    with StreamWriter(path, (16, 8), "uint16", scan_shape=(3, 4), dims=axes) as writer:
        for row in scan:
            for frame in row:
                writer.append(frame)
        with pytest.raises(UsageError, match="full"):
            writer.append(scan[0, 0])
    data, got = read_back(path)
    np.testing.assert_array_equal(data, scan)
    assert got == tuple(axes)
    signal = file_reader(str(path))[0]
    np.testing.assert_array_equal(signal["data"], scan)
    assert [a["name"] for a in signal["axes"]] == ["scan_y", "scan_x", "k_y", "k_x"]


def test_incomplete_scan_keeps_the_rows_begun(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = series(6, (4, 4))
    with StreamWriter(tmp_path / "part.emd", (4, 4), "uint16", scan_shape=(5, 4)) as writer:
        writer.append(frames)
    data = read_back(tmp_path / "part.emd")[0]
    assert data.shape == (2, 4, 4, 4)
    np.testing.assert_array_equal(data.reshape(-1, 4, 4)[:6], frames)
    assert not data[1, 2:].any()
    assert "scan incomplete: 6 of 20" in caplog.text


@pytest.mark.parametrize("compression", ["gzip", "gzip:1", "zstd"])
def test_compression_round_trip(tmp_path: Path, compression: str) -> None:
    import h5py

    frames = series(5, (64, 48), "int16")
    path = tmp_path / "c.emd"
    with StreamWriter(path, (64, 48), "int16", compression=compression, threads=2) as writer:
        writer.append(frames)
    np.testing.assert_array_equal(read_back(path)[0], frames)
    if compression.startswith("gzip"):  # standard deflate: plain h5py reads it
        with h5py.File(path) as h5:
            assert h5["data/data/data"].compression == "gzip"
            np.testing.assert_array_equal(h5["data/data/data"][()], frames.T)


def test_large_frames_are_split_into_row_chunks(tmp_path: Path) -> None:
    import h5py

    # 4.3 MiB frames: two chunks of 550 rows, not 1024 rows and an edge chunk of 76 rows
    # padded to 1024 (86 % of the second chunk empty)
    frames = series(2, (1100, 1024), "float32")
    with StreamWriter(tmp_path / "big.emd", (1100, 1024), "float32") as writer:
        writer.append(frames)
    np.testing.assert_array_equal(read_back(tmp_path / "big.emd")[0], frames)
    with h5py.File(tmp_path / "big.emd") as h5:
        assert h5["data/data/data"].chunks == (1024, 550, 1)


def test_c_order_stream(tmp_path: Path) -> None:
    from ncempy.io import emd

    frames = series(3)
    with StreamWriter(tmp_path / "c.emd", SHAPE, "uint16", axis_order="c") as writer:
        writer.append(frames)
    np.testing.assert_array_equal(read_back(tmp_path / "c.emd")[0], frames)
    with emd.fileEMD(str(tmp_path / "c.emd")) as handle:
        np.testing.assert_array_equal(handle.get_emdgroup(handle.list_emds[0])[0], frames)


def test_interop_with_ncempy_and_rsciio(tmp_path: Path) -> None:
    from ncempy.io import emd
    from rsciio.emd import file_reader

    frames = series(4)
    path = tmp_path / "i.emd"
    with StreamWriter(path, SHAPE, "uint16", dims=dims()) as writer:
        writer.append(frames)
    signal = file_reader(str(path))[0]
    np.testing.assert_array_equal(signal["data"], frames)  # numpy orientation
    for axis, dim in zip(
        signal["axes"],
        (Dim.uniform("time", size=4, scale=0.5, offset=1.0, units="s"), *dims()[1:]),
        strict=True,
    ):
        assert (axis["name"], axis["size"]) == (dim.name, dim.size)
        assert (axis["offset"], axis["scale"]) == pytest.approx((dim.offset, dim.scale))
    with emd.fileEMD(str(path)) as handle:
        stored, ndims = handle.get_emdgroup(handle.list_emds[0])
        np.testing.assert_array_equal(stored, frames.T)  # ncempy: the stored transpose
        assert [d[1] for d in ndims] == ["x", "y", "time"]
        np.testing.assert_allclose(ndims[2][0], [1.0, 1.5, 2.0, 2.5])


_KILLED_WRITER = """
import sys, numpy as np
from emdconvert import StreamWriter
live = sys.argv[2] == "live"
with StreamWriter(sys.argv[1], (64, 64), "uint16", live=live) as writer:
    for k in range(100000):
        writer.append(np.full((64, 64), k % 60000, np.uint16))
        if k == 50:
            print("appending", flush=True)
"""


@pytest.mark.parametrize("mode", ["file", "live"])
def test_killed_mid_series_leaves_nothing_at_the_final_path(tmp_path: Path, mode: str) -> None:
    import h5py

    target = tmp_path / "k.emd"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target), mode], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "appending"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert not target.exists()
    left = leftovers(tmp_path)
    assert len(left) <= 1 and all(name.startswith(".emdconvert-") for name in left)
    if mode == "live":  # SWMR: the crash leaves a readable file of the flushed frames
        assert left == [live_path_for(target).name]
        with h5py.File(tmp_path / left[0], "r", libver="latest", swmr=True) as h5:
            data = h5["data/data/data"]
            assert data.shape[-1] > 50
            assert data[0, 0, 50] == 50


_LIVE_READER = """
import sys, time, h5py
seen = []
deadline = time.time() + 60
while time.time() < deadline and (not seen or seen[-1] < int(sys.argv[2])):
    try:
        with h5py.File(sys.argv[1], "r", libver="latest", swmr=True) as h5:
            data = h5["data/data/data"]
            while time.time() < deadline:
                data.refresh()
                n = data.shape[-1]
                if n and (not seen or n > seen[-1]):
                    assert int(data[0, 0, n - 1]) == n - 1, "frame not written yet"
                    seen.append(n)
                if n >= int(sys.argv[2]):
                    break
                time.sleep(0.01)
    except FileNotFoundError:
        time.sleep(0.01)
print(len(seen), seen[-1])
"""


@pytest.mark.slow
def test_live_reader_sees_frames_while_they_arrive(tmp_path: Path) -> None:
    target = tmp_path / "live.emd"
    total = 40
    reader = subprocess.Popen(
        [sys.executable, "-c", _LIVE_READER, str(live_path_for(target)), str(total)],
        stdout=subprocess.PIPE,
        text=True,
    )
    with StreamWriter(target, (32, 32), "uint16", live=True) as writer:
        assert writer.live_path == live_path_for(target)
        for k in range(total):
            writer.append(np.full((32, 32), k, np.uint16))
            time.sleep(0.05)
        out, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0
    updates, last = map(int, out.split())
    assert last == total and updates > 5  # it saw the series grow, not only the end
    np.testing.assert_array_equal(read_back(target)[0][:, 0, 0], np.arange(total))
    assert leftovers(tmp_path) == ["live.emd"]


def test_live_path_only_in_live_mode(tmp_path: Path) -> None:
    writer = StreamWriter(tmp_path / "n.emd", SHAPE, "uint16")
    with pytest.raises(UsageError, match="live"):
        _ = writer.live_path
    writer.abort()


def test_provenance_is_json_with_options(tmp_path: Path) -> None:
    import h5py

    with StreamWriter(
        tmp_path / "p.emd", SHAPE, "uint16", compression="gzip", scan_shape=(None, 2)
    ) as writer:
        writer.append(series(4))
    with h5py.File(tmp_path / "p.emd") as h5:
        (message,) = h5["comments"].attrs.values()
    options = json.loads(message)["options"]
    assert options["compression"] == "gzip:4" and options["scan_shape"] == [None, 2]
    assert read_back(tmp_path / "p.emd")[0].shape == (2, 2, *SHAPE)
    assert os.listdir(tmp_path) == ["p.emd"]
