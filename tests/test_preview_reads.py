"""A preview reads a bounded number of bytes *from disk*, and still draws the right thing.

The budget test measures what the kernel read from the file (page cache dropped before,
resident pages counted after: :mod:`support.pagecache`), not what the code asked for,
on files written by h5py and numpy (:mod:`support.big_scans`).  The other tests check
the data handed to the renderer (the spectra and images a picture is drawn from), not
golden pixels.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import big_scans
from support.pagecache import drop, resident_bytes
from typer.testing import CliRunner

import emdconvert
from emdconvert import Dim, EMDFile
from emdconvert.cli.app import app
from emdconvert.lazy import RawFileArray, TransposedArray
from emdconvert.preview import Preview
from emdconvert.preview.contrast import log_scale
from emdconvert.preview.figures import PATTERN_SHARE
from emdconvert.preview.kinds import plan
from emdconvert.preview.reductions import bright_field, mean_pattern, virtual_image
from emdconvert.preview.render import Canvas
from emdconvert.preview.sampling import Reader
from emdconvert.preview.storage import read_cost, storage_chunks

MiB = 1 << 20
#: The budget the large-file test gives, and what the disk may read beyond it: the
#: kernel's readahead past a block (``read_ahead_kb`` is 8 MiB on our machines) and
#: HDF5's metadata.
BUDGET, MARGIN = 64 * MiB, 8 * MiB


def truth(scan: tuple[int, int], detector: int) -> tuple[np.ndarray, np.ndarray]:
    """numpy's mean pattern and per-position disk sum over the whole scan."""
    mask = big_scans.disk(detector)
    total, vbf = np.zeros((detector, detector)), np.zeros(scan)
    for i, row in enumerate(big_scans.rows(scan, detector)):
        total += row.sum(axis=0, dtype=np.float64)
        vbf[i] = row[:, mask].sum(axis=-1, dtype=np.float64)
    return total / (scan[0] * scan[1]), vbf


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".emd", ".npy"])
def test_a_256_mib_scan_reads_at_most_its_budget_from_disk(tmp_path: Path, suffix: str) -> None:
    scan, detector = (64, 128), 128  # 8192 patterns of 32 KiB: 256 MiB
    path = tmp_path / f"scan{suffix}"
    write = big_scans.write_emd if suffix == ".emd" else big_scans.write_npy
    write(path, scan, detector)
    try:
        assert path.stat().st_size >= 256 * MiB
        # A first preview imports matplotlib and loads fonts; not what is measured.
        emdconvert.preview(EMDFile.from_array(np.zeros((8, 8))), tmp_path / "warm.png")
        if not drop(path):
            pytest.skip("this file system keeps the file cached (no posix_fadvise)")
        result = emdconvert.preview(path, tmp_path / "scan.png", max_read_bytes=BUDGET)
        from_disk = resident_bytes(path)
        assert result.kind == "4d-stem"
        assert result.bytes_read <= BUDGET
        assert from_disk <= BUDGET + MARGIN, f"{from_disk / MiB:.1f} MiB read from disk"

        # The same reads, made directly, give the right pictures (and read as little).
        assert drop(path)
        with emdconvert.read(path) as model:
            read = Reader(plan(model.datasets[0]).data)
            mean, count = mean_pattern(read, scan, (detector, detector), BUDGET // PATTERN_SHARE)
            disk, radius = bright_field(mean)
            vbf, sampled = virtual_image(read, scan, disk, BUDGET - read.bytes_read)
        assert resident_bytes(path) <= BUDGET + MARGIN
    finally:
        path.unlink()
    full_mean, full_vbf = truth(scan, detector)
    assert 0 < count < scan[0] * scan[1]  # a subset...
    # ...whose mean is the whole scan's (the object changes the disk by a few %).
    np.testing.assert_allclose(mean, full_mean, atol=0.05 * full_mean.max())
    ys, xs = np.nonzero(disk)
    assert (ys.mean(), xs.mean(), radius) == pytest.approx(big_scans.DISK, abs=0.5)
    # The virtual bright field is a subsampled map with the object where it is.
    step = sampled.step
    assert step > 1 and vbf.shape == (-(-scan[0] // step), -(-scan[1] // step))
    centre = [
        np.minimum(np.arange(m) * step + step // 2, n - 1)
        for m, n in zip(vbf.shape, scan, strict=True)
    ]
    obj = big_scans.object_mask(scan)
    inside = obj[np.ix_(*centre)]  # is each pixel's centre on the object?
    middle = (full_vbf[obj].mean() + full_vbf[~obj].mean()) / 2
    edge = np.zeros_like(inside)  # pixels whose square crosses the object's edge
    for axis in (0, 1):
        edge |= np.roll(inside, 1, axis) != inside
        edge |= np.roll(inside, -1, axis) != inside
    assert (vbf[inside & ~edge] < middle).all() and (vbf[~inside & ~edge] > middle).all()
    assert np.isfinite(vbf).all()


def test_storage_blocks_are_found_through_the_layers(tmp_path: Path) -> None:
    import h5py

    with h5py.File(tmp_path / "c.h5", "w") as h5:
        data = h5.create_dataset(
            "d", shape=(128, 128, 40, 30), dtype="u2", chunks=(128, 128, 16, 1)
        )
        assert storage_chunks(TransposedArray(data)) == (1, 16, 128, 128)
        assert storage_chunks(h5.create_dataset("e", shape=(10, 20), dtype="u1")) == (10, 20)
    np.save(tmp_path / "a.npy", np.zeros((30, 40, 64, 64), np.uint16))  # 8 KiB frames
    raw = RawFileArray(tmp_path / "a.npy", 128, (30, 40, 64, 64), np.uint16)
    assert storage_chunks(raw) == (10, 40, 64, 64)  # 320 KiB rows: 4 MiB-ish runs of them
    assert storage_chunks(np.zeros((4, 4))) is None  # in memory: no blocks


def test_scattered_positions_cost_every_chunk_they_touch() -> None:
    shape, chunks = (128, 128, 128, 128), (1, 128, 128, 128)  # our EMD layout: 4 MiB rows
    assert read_cost((5, slice(0, 128, 3)), shape, 2, chunks) == 4 * MiB  # not 1.3 MiB
    assert read_cost((slice(0, 128, 3), 7, slice(60, 70)), shape, 2, chunks) == 43 * 4 * MiB
    assert read_cost((slice(0, 128, 3), 7, slice(60, 70)), shape, 2, None) == 43 * 10 * 128 * 2


def test_max_read_flag_reaches_the_preview(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake(*args: Any, **kwargs: Any) -> Preview:
        seen.update(kwargs)
        return Preview(Path("x.png"), "image", "data", 64, 64)

    monkeypatch.setattr(sys.modules["emdconvert.preview"], "preview", fake)
    runner = CliRunner()
    assert runner.invoke(app, ["preview", "x.npy", "--max-read", "3"]).exit_code == 0
    assert seen["max_read_bytes"] == 3 * MiB
    assert runner.invoke(app, ["preview", "x.npy"]).exit_code == 0
    assert seen["max_read_bytes"] == 256 * MiB
    assert runner.invoke(app, ["preview", "x.npy", "--max-read", "0"]).exit_code == 2
    assert "256" in runner.invoke(app, ["preview", "--help"], terminal_width=200).output


class Recorded:
    """What a preview handed the renderer: every image's values, every plot's data."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.images: list[np.ndarray] = []
        self.plots: list[tuple[np.ndarray, np.ndarray]] = []
        image, plot = Canvas.image, Canvas.plot

        def record_image(canvas: Canvas, box: Any, values: np.ndarray, *args: Any) -> None:
            self.images.append(np.array(values))
            image(canvas, box, values, *args)

        def record_plot(canvas: Canvas, box: Any, x: np.ndarray, y: np.ndarray, **kw: Any) -> None:
            self.plots.append((np.array(x), np.array(y)))
            plot(canvas, box, x, y, **kw)

        monkeypatch.setattr(Canvas, "image", record_image)
        monkeypatch.setattr(Canvas, "plot", record_plot)


def test_a_line_of_spectra_is_their_image_beside_their_sum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    lines = rng.random((50, 300), np.float32)
    lines[20:30, 100:110] += 5  # a peak along part of the line
    dims = [
        Dim.uniform("x", size=50, scale=2.0, units="nm"),
        Dim.uniform("Energy", size=300, scale=0.5, offset=100, units="eV"),
    ]
    shown = Recorded(monkeypatch)
    result = emdconvert.preview(EMDFile.from_array(lines, dims=dims), tmp_path / "line.png")
    assert result.kind == "spectrum-line" and result.bars == ()
    (image,) = shown.images
    np.testing.assert_allclose(image, lines)  # one row per spectrum
    ((energy, spectrum),) = shown.plots
    np.testing.assert_allclose(energy, 100 + 0.5 * np.arange(300))
    np.testing.assert_allclose(spectrum, lines.sum(axis=0, dtype=np.float64), rtol=1e-6)


def test_a_line_of_spectra_over_its_budget_keeps_whole_spectra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = np.arange(200 * 100, dtype=np.float32).reshape(200, 100)
    dims = [
        Dim.uniform("x", size=200, scale=1.0, units="nm"),
        Dim.uniform("E", size=100, scale=0.01, units="keV"),
    ]
    shown = Recorded(monkeypatch)
    emdconvert.preview(
        EMDFile.from_array(lines, dims=dims), tmp_path / "l.png", max_read_bytes=20_000
    )
    ((_, spectrum),) = shown.plots
    np.testing.assert_allclose(spectrum, lines[::4].sum(axis=0))  # 50 of 200 spectra


def half_fft(rows: int = 64, cols: int = 48) -> EMDFile:
    yy = np.mgrid[:rows, :cols][0]
    image = np.cos(2 * np.pi * 5 * yy / rows) + 3  # a DC peak and one frequency along y
    spectrum = np.fft.rfft2(image).astype(np.complex64)  # (64, 25)
    dims = [
        Dim.uniform("y", size=rows, scale=0.1, units="1/nm"),
        Dim.uniform("x", size=spectrum.shape[1], scale=0.1, units="1/nm"),
    ]
    return EMDFile.from_array(spectrum, dims=dims, name="Half FFT")


def test_a_half_fft_is_shifted_along_its_full_axis_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = half_fft()
    values = np.abs(np.asarray(model.datasets[0].data))
    shown = Recorded(monkeypatch)
    result = emdconvert.preview(model, tmp_path / "half.png")
    assert (result.kind, result.log_scale) == ("complex", True)
    (drawn,) = shown.images
    expected = log_scale(np.fft.fftshift(values, axes=0))
    np.testing.assert_allclose(drawn, expected, rtol=1e-5, atol=1e-5)
    assert np.unravel_index(np.argmax(drawn), drawn.shape) == (32, 0)  # zero frequency
    square = np.fft.rfft2(np.ones((32, 32))).astype(np.complex64)  # (32, 17): a half too
    inverse = [
        Dim.uniform(axis, size=n, scale=0.1, units="1/nm") for axis, n in (("y", 32), ("x", 17))
    ]
    assert plan(EMDFile.from_array(square, name="data", dims=inverse).datasets[0]).half_fft
    # A full FFT of the same name pattern is drawn as stored (only halves are shifted).
    full = np.fft.fft2(np.ones((64, 64)) + np.eye(64)).astype(np.complex64)
    dims = [
        Dim.uniform("y", size=64, scale=0.1, units="1/nm"),
        Dim.uniform("x", size=64, scale=0.1, units="1/nm"),
    ]
    emdconvert.preview(EMDFile.from_array(full, dims=dims, name="FFT"), tmp_path / "full.png")
    np.testing.assert_allclose(shown.images[-1], log_scale(np.abs(full)), rtol=1e-5, atol=1e-5)
