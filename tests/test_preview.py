"""``emdconvert preview``: the right picture for each kind, and a scale bar as long as the
calibration says.

The expectations are independent of our reader: calibrations and values come from rsciio
(HyperSpy's reader) reading the same corpus file, or from arrays the test built.  The
bar is measured in the PNG itself (its run of :data:`BAR_RGB` pixels, drawn without
anti-aliasing) and held against the data width per output pixel, so the drawing is
checked against the calibration, not against a golden PNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.units import registry
from typer.testing import CliRunner

import emdconvert
from emdconvert import Dim, EMDFile
from emdconvert.cli.app import app
from emdconvert.preview import ScaleBar
from emdconvert.preview.figures import draw_spectrum, draw_spectrum_image
from emdconvert.preview.kinds import plan
from emdconvert.preview.reductions import bright_field, mean_pattern, virtual_image
from emdconvert.preview.render import BAR_RGB
from emdconvert.preview.sampling import Reader
from emdconvert.preview.scalebar import round_below
from emdconvert.testing import fingerprint, leftovers
from emdconvert.unit_parse import parse

TIA = "wide/rs/tia/old/64x64x5_TEM_preview.emi"

# --- helpers --------------------------------------------------------------------------


def pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest horizontal run of True in a 2-D mask."""
    longest = 0
    for row in mask[mask.any(axis=1)]:
        edges = np.diff(np.concatenate(([0], row.astype(np.int8), [0])))
        longest = max(
            longest, int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
        )
    return longest


def measured_bar(image: np.ndarray, box: tuple[int, int, int, int]) -> int:
    left, top, width, height = box
    return longest_run(np.all(image[top : top + height, left : left + width] == BAR_RGB, axis=-1))


def measured_panel_width(image: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """The width of an image panel, from the grey frame line drawn just below it."""
    left, top, width, height = box
    if (width, height) == image.shape[1::-1]:
        return width  # the picture is the whole PNG
    row = np.all(image[top + height] == (128, 128, 128), axis=-1)
    run = np.flatnonzero(~row[left - 1 :])
    return int(run[0] if run.size else row.size - left + 1) - 2


def data_units(length: float, unit: str, target: str) -> float:
    """*length* in *unit* (a bar's label, e.g. ``nm⁻¹``) converted to *target* by pint."""
    spelled = unit.replace("⁻¹", "^-1").replace("Å", "angstrom")
    quantity = registry().Quantity(length, spelled)
    return float(quantity.to(target.replace("Å", "angstrom")).magnitude)


def check_bar(path: Path, bar: ScaleBar, axis: dict[str, Any]) -> None:
    """The bar, measured in the PNG, times the data per output pixel (from rsciio's
    calibration of *axis*, the image's x axis) is the length on its label."""
    image = pixels(path)
    width = measured_panel_width(image, bar.panel)
    assert width == bar.panel[2]
    extent = int(axis["size"]) * abs(float(axis["scale"]))
    per_pixel = extent / width
    labelled = data_units(bar.length, bar.unit, str(axis["units"]))
    length = measured_bar(image, bar.panel)
    assert length == bar.pixels
    assert abs(length * per_pixel - labelled) <= 1.5 * per_pixel, (length, per_pixel, labelled)
    assert bar.label == f"{bar.length:g} {bar.unit}"
    assert float(f"{bar.length:e}".split("e")[0]) in (1.0, 2.0, 5.0)  # a round length
    assert 0.09 < labelled / extent <= 0.25 + 1e-9  # long enough to read, never a quarter more


def rsciio_signals(path: Path) -> list[dict[str, Any]]:
    """rsciio's reading of *path*: the independent expectation."""
    import importlib

    module = {
        ".ser": "tia",
        ".emi": "tia",
        ".dm3": "digitalmicrograph",
        ".dm4": "digitalmicrograph",
        ".emd": "emd",
        ".msa": "msa",
        ".xml": "empad",
    }[path.suffix]
    reader = importlib.import_module(f"rsciio.{module}").file_reader
    return list(reader(str(path)))


def axis(signal: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in signal["axes"] if a.get("name") == name)


# --- one picture per kind, from the corpus --------------------------------------------


@pytest.mark.corpus
def test_image_scale_bar_matches_the_calibration(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "other/16_STOimage_1.ser"
    result = emdconvert.preview(src, tmp_path / "sto.png", size=512)
    assert result.kind == "image"
    assert pixels(result.path).shape == (512, 512, 3)
    assert result.scale_bar is not None and result.scale_bar.unit == "nm"
    check_bar(result.path, result.scale_bar, axis(rsciio_signals(src)[0], "x"))


@pytest.mark.corpus
def test_diffraction_pattern_gets_a_reciprocal_bar_and_log_scale(
    corpus: Path, tmp_path: Path
) -> None:
    src = corpus / "dm/test_diffraction_pattern.dm3"
    result = emdconvert.preview(src, tmp_path / "dp.png", size=512)
    assert (result.kind, result.log_scale) == ("image", True)
    assert result.scale_bar is not None and result.scale_bar.unit == "nm⁻¹"
    check_bar(result.path, result.scale_bar, axis(rsciio_signals(src)[0], "x"))


@pytest.mark.corpus
def test_stack_shows_the_middle_frame_or_the_chosen_one(corpus: Path, tmp_path: Path) -> None:
    src = corpus / TIA
    frames = rsciio_signals(src)[0]["data"]
    middle = emdconvert.preview(src, tmp_path / "middle.png")
    assert (middle.kind, middle.frame, middle.frames) == ("stack", len(frames) // 2, len(frames))
    assert middle.scale_bar is not None
    check_bar(middle.path, middle.scale_bar, axis(rsciio_signals(src)[0], "x"))
    first = emdconvert.preview(src, tmp_path / "first.png", frame=0)
    assert (first.frame, first.frames) == (0, len(frames))


@pytest.mark.corpus
def test_spectrum_is_a_line_plot_on_calibrated_labelled_axes(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "wide/rs/msa/example1.msa"
    result = emdconvert.preview(src, tmp_path / "spectrum.png")
    assert (result.kind, result.bars) == ("spectrum", ())
    assert pixels(result.path).shape == (result.height, result.width, 3) == (614, 1024, 3)
    signal = rsciio_signals(src)[0]
    energy = axis(signal, "Energy")
    with emdconvert.read(src) as model:
        drawing = draw_spectrum(
            plan(model.datasets[0]), Reader(model.datasets[0].data), 1 << 20, 512, None
        )
    (plot,) = drawing.canvas.figure.axes
    first = float(energy["offset"])
    last = first + float(energy["scale"]) * (int(energy["size"]) - 1)
    assert plot.get_xlim() == pytest.approx((first, last))
    assert plot.get_xlabel() == "Energy (eV)"
    np.testing.assert_allclose(plot.lines[0].get_ydata(), signal["data"], rtol=1e-6)


@pytest.mark.corpus
def test_spectrum_image_is_summed_image_beside_summed_spectrum(
    corpus: Path, tmp_path: Path
) -> None:
    src = corpus / "dm/EELS_SI.dm4"
    result = emdconvert.preview(src, tmp_path / "si.png")
    assert result.kind == "spectrum-image"
    (signal,) = rsciio_signals(src)
    assert result.scale_bar is not None
    check_bar(result.path, result.scale_bar, axis(signal, "x"))
    # The summed spectrum, as rsciio's cube (energy first in its raw layout) sums it.
    energy_axis = [a.get("name") for a in signal["axes"]].index("Energy loss")
    expected = np.asarray(signal["data"], np.float64).sum(
        axis=tuple(i for i in range(3) if i != energy_axis)
    )
    with emdconvert.read(src) as model:
        seen = plan(model.datasets[0])
        drawing = draw_spectrum_image(seen, Reader(seen.data), 1 << 26, 512, None)
    plot = next(a for a in drawing.canvas.figure.axes if a.lines)
    np.testing.assert_allclose(plot.lines[0].get_ydata(), expected, rtol=1e-5)


@pytest.mark.corpus
def test_4d_stem_is_mean_pattern_beside_virtual_bright_field(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "wide/rs/empad/map4x4.xml"
    result = emdconvert.preview(src, tmp_path / "4d.png")
    assert (result.kind, result.log_scale) == ("4d-stem", True)
    (signal,) = rsciio_signals(src)
    pattern, scan = result.bars
    assert (pattern.unit, scan.unit) == ("nm⁻¹", "µm")
    check_bar(result.path, pattern, axis(signal, "width"))
    check_bar(result.path, scan, axis(signal, "scan_x"))
    with emdconvert.read(src) as model:
        data = model.datasets[0].data
        mean, count = mean_pattern(Reader(data), data.shape[:2], data.shape[2:], 1 << 26)
    assert count == 16
    np.testing.assert_allclose(
        mean, np.asarray(signal["data"], np.float64).mean(axis=(0, 1)), rtol=1e-5
    )


@pytest.mark.corpus
def test_complex_fft_is_its_log_magnitude(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "wide/rs/emd/FFTComplexOdd.emd"
    result = emdconvert.preview(src, tmp_path / "fft.png", dataset="Half FFT")
    assert (result.kind, result.log_scale, result.dataset) == ("complex", True, "Half FFT")
    signal = next(s for s in rsciio_signals(src) if s["metadata"]["General"]["title"] == "Half FFT")
    x, y = axis(signal, "x"), axis(signal, "y")
    # Drawn with its physical aspect: height/width as the calibration says.
    aspect = y["size"] * y["scale"] / (x["size"] * x["scale"])
    assert result.height == 1024 and result.width == round(1024 / aspect)
    assert result.scale_bar is not None and result.scale_bar.unit == "µm⁻¹"
    check_bar(result.path, result.scale_bar, x)


@pytest.mark.corpus
def test_colour_image_keeps_its_colours(corpus: Path, tmp_path: Path) -> None:
    from PIL import Image

    src = corpus / "wide/ncem/ManyElements2bin.png"
    result = emdconvert.preview(src, tmp_path / "colour.png", size=400)
    with Image.open(src) as original:
        width, height = original.size
    assert (result.kind, result.bars) == ("image", ())
    assert result.width == 400 and abs(result.height - 400 * height / width) <= 1
    drawn = pixels(result.path).astype(int)
    assert (abs(drawn[..., 0] - drawn[..., 1]) > 100).mean() > 0.01  # red and green areas


@pytest.mark.corpus
def test_colour_stack_is_a_stack_of_colour_frames(corpus: Path, tmp_path: Path) -> None:
    result = emdconvert.preview(corpus / "wide/rs/hspy/test_rgba16.hdf5", tmp_path / "rgba.png")
    assert (result.kind, result.frame, result.frames) == ("stack", 1, 3)
    drawn = pixels(result.path).astype(int)
    assert (abs(drawn[..., 0] - drawn[..., 2]) > 200).mean() > 0.05  # pure red or blue areas


# --- calibration, NaN, budgets --------------------------------------------------------


def test_uncalibrated_image_has_no_bar(tmp_path: Path) -> None:
    np.save(tmp_path / "plain.npy", np.arange(64 * 80, dtype=np.uint16).reshape(64, 80))
    result = emdconvert.preview(tmp_path / "plain.npy")
    assert result.path == tmp_path / "plain.png"
    assert result.bars == ()
    assert not np.all(pixels(result.path) == BAR_RGB, axis=-1).any()


def test_image_with_nan_is_drawn_with_its_bar(tmp_path: Path) -> None:
    values = np.random.default_rng(1).normal(size=(100, 100)).astype(np.float32)
    values[20:40, 20:40] = np.nan
    dims = [
        Dim.uniform("y", size=100, scale=0.3, units="nm"),
        Dim.uniform("x", size=100, scale=0.3, units="nm"),
    ]
    result = emdconvert.preview(EMDFile.from_array(values, dims=dims), tmp_path / "nan.png")
    assert result.scale_bar is not None
    check_bar(result.path, result.scale_bar, {"size": 100, "scale": 0.3, "units": "nm"})
    assert np.all(pixels(result.path) == (255, 0, 255), axis=-1).sum() > 100  # NaN shown


class CountingArray:
    """A lazy array that counts the bytes of every read (the test's own measurement)."""

    def __init__(self, base: np.ndarray) -> None:
        self.base, self.shape, self.dtype, self.read = base, base.shape, base.dtype, 0

    def __getitem__(self, key: Any) -> np.ndarray:
        block = np.asarray(self.base[key])
        self.read += block.nbytes
        return block


def four_d(scan: tuple[int, int] = (40, 60), detector: int = 64) -> np.ndarray:
    """A scan whose bright-field disk (centre 30, 34; radius 8) dims over an object."""
    yy, xx = np.mgrid[:detector, :detector]
    disk = (yy - 30) ** 2 + (xx - 34) ** 2 <= 8**2
    data = np.random.default_rng(0).poisson(2, (*scan, detector, detector)).astype(np.uint16)
    obj = np.zeros(scan)
    obj[10:30, 15:40] = 1
    data += (disk * (100 - 60 * obj)[:, :, None, None]).astype(np.uint16)
    return data


def test_4d_stem_preview_reads_within_its_budget(tmp_path: Path) -> None:
    data = CountingArray(four_d())
    dims = [
        Dim.uniform("scan_y", size=40, scale=0.5, units="nm"),
        Dim.uniform("scan_x", size=60, scale=0.5, units="nm"),
        Dim.uniform("ky", size=64, scale=0.1, units="1/nm"),
        Dim.uniform("kx", size=64, scale=0.1, units="1/nm"),
    ]
    budget = 1_000_000  # a twentieth of the data
    result = emdconvert.preview(
        EMDFile.from_array(data, dims=dims), tmp_path / "4d.png", max_read_bytes=budget
    )
    assert data.read == result.bytes_read <= budget
    pattern, scan = result.bars
    check_bar(result.path, pattern, {"size": 64, "scale": 0.1, "units": "1/nm"})
    check_bar(result.path, scan, {"size": 60, "scale": 0.5, "units": "nm"})


class SyntheticScan:
    """A 4D-STEM scan that exists only as its reads (every frame one bright disk), so a
    "34 GB" file costs nothing to make; counts what is read."""

    def __init__(self, shape: tuple[int, int, int, int]) -> None:
        self.shape, self.dtype, self.read = shape, np.dtype(np.uint16), 0
        yy, xx = np.ogrid[: shape[2], : shape[3]]
        disk = (yy - shape[2] // 2) ** 2 + (xx - shape[3] // 2) ** 2 <= 20**2
        self.frame = (disk * 100).astype(np.uint16)

    def __getitem__(self, key: tuple[Any, ...]) -> np.ndarray:
        rows, cols, *signal = key
        assert isinstance(rows, slice) and isinstance(cols, slice)  # a block of the scan
        frame = self.frame[tuple(signal)]
        count = [
            len(range(*k.indices(n))) for k, n in zip((rows, cols), self.shape[:2], strict=True)
        ]
        assert count[0] * count[1] * frame.nbytes <= 64 << 20  # bounded memory too
        block = np.broadcast_to(frame, (*count, *frame.shape)).copy()
        self.read += block.nbytes
        return block


def test_a_34_gb_scan_reads_at_most_256_mib(tmp_path: Path) -> None:
    scan = SyntheticScan((512, 512, 256, 256))
    assert math.prod(scan.shape) * 2 > 34e9
    result = emdconvert.preview(EMDFile.from_array(scan), tmp_path / "huge.png")
    assert scan.read == result.bytes_read <= 256 * 1024 * 1024
    assert result.kind == "4d-stem"


def test_a_budget_smaller_than_a_frame_still_draws(tmp_path: Path) -> None:
    data = CountingArray(four_d())
    result = emdconvert.preview(EMDFile.from_array(data), tmp_path / "tiny.png", max_read_bytes=1)
    frame = 64 * 64 * 2
    assert result.kind == "4d-stem" and 0 < data.read <= 2 * frame


def test_virtual_bright_field_finds_the_disk_and_the_object() -> None:
    data = four_d()
    mean, _ = mean_pattern(Reader(data), (40, 60), (64, 64), 1 << 30)
    disk, radius = bright_field(mean)
    rows, cols = np.nonzero(disk)
    assert (rows.mean(), cols.mean(), radius) == pytest.approx((30, 34, 8), abs=0.5)
    image, whole = virtual_image(Reader(data), (40, 60), disk, 1 << 30)
    assert whole.step == 1
    np.testing.assert_allclose(image, data[..., disk].sum(axis=-1, dtype=np.float64))
    sampled, plan = virtual_image(Reader(data), (40, 60), disk, 100_000)
    step, y0, x0 = plan.step, plan.first(0), plan.first(1)
    assert step > 1 and plan.whole == (False, False)  # in memory: every step-th position
    np.testing.assert_allclose(sampled, image[y0::step, x0::step])
    assert sampled[20 // step, 25 // step] < 0.7 * sampled[0, 0]  # the object is darker


def test_large_image_is_read_strided_and_its_bar_still_measures(tmp_path: Path) -> None:
    values = CountingArray(np.random.default_rng(2).random((2000, 3000), np.float32))
    dims = [
        Dim.uniform("y", size=2000, scale=0.002, units="µm"),
        Dim.uniform("x", size=3000, scale=0.002, units="µm"),
    ]
    budget = 1 << 20  # 24 MB of data: every 5th row and column
    result = emdconvert.preview(
        EMDFile.from_array(values, dims=dims), tmp_path / "big.png", max_read_bytes=budget
    )
    assert values.read == result.bytes_read <= budget
    assert (result.width, result.height) == (1024, 683)
    assert result.scale_bar is not None and result.scale_bar.label == "1 µm"
    check_bar(result.path, result.scale_bar, {"size": 3000, "scale": 0.002, "units": "µm"})


def test_a_file_that_is_not_the_png_drawn_is_never_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emdconvert.errors import ValidationError
    from emdconvert.preview.render import Canvas

    monkeypatch.setattr(Canvas, "save", lambda self, path: path.write_bytes(b"\x89PNG half"))
    with pytest.raises(ValidationError):
        emdconvert.preview(EMDFile.from_array(np.zeros((8, 8))), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists() and not leftovers(tmp_path)


def test_a_line_of_spectra_is_binned_along_its_long_axis_only(tmp_path: Path) -> None:
    lines = np.random.default_rng(3).random((5, 4000), np.float32)  # 5 spectra of 4000
    result = emdconvert.preview(EMDFile.from_array(lines), tmp_path / "line.png", size=256)
    assert (result.kind, result.width, result.height) == ("image", 256, 32)  # at most 8:1


@pytest.mark.parametrize(
    ("units", "text", "reciprocal"),
    [
        ("nm", "nm", False),
        ("[n_m]", "nm", False),
        ("um", "µm", False),
        ("μm", "µm", False),
        ("1/nm", "nm⁻¹", True),
        ("1 / nm", "nm⁻¹", True),
        ("nm^-1", "nm⁻¹", True),
        ("1 / Å", "Å⁻¹", True),
        ("mrad", "mrad", False),
    ],
)
def test_unit_spellings(units: str, text: str, reciprocal: bool) -> None:
    unit = parse(units)
    assert (unit.text, unit.reciprocal) == (text, reciprocal)


@pytest.mark.parametrize(
    ("value", "rounded"), [(4.68, 2.0), (0.797, 0.5), (1.0, 1.0), (9.99, 5.0), (2e-7, 2e-7)]
)
def test_round_below(value: float, rounded: float) -> None:
    assert round_below(value) == rounded


# --- the command line -----------------------------------------------------------------


def cli(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["preview", *map(str, args)])


@pytest.mark.corpus
def test_cli_writes_in_png_beside_the_input_and_refuses_to_overwrite(
    corpus: Path, tmp_path: Path
) -> None:
    src = tmp_path / "scan.dm3"
    src.write_bytes((corpus / "dm/test_STEM_image.dm3").read_bytes())
    done = cli(src, "--size", "300")
    assert done.exit_code == 0, done.output
    out = tmp_path / "scan.png"
    assert done.stdout.startswith(f"{out}: image 'test_STEM_image', 300 x 300, scale bar ")
    assert pixels(out).shape == (300, 300, 3)
    before = fingerprint(out)
    again = cli(src)
    assert again.exit_code == 4
    assert (
        again.stderr.strip() == f"emdconvert: error: {out}: output exists (--overwrite replaces it)"
    )
    assert fingerprint(out) == before
    assert cli(src, "--overwrite", "--size", "200").exit_code == 0
    assert pixels(out).shape == (200, 200, 3)


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--frame", "5"), "frame 5 is out of range: 'dataset_0' has 5 frames (0-4)"),
        (("--frame", "-1"), "frame -1 is out of range"),
        (("--size", "10"), "must be 64 to 8192 pixels"),
        (("--dataset", "nope"), "no dataset 'nope'; the file holds 0: 'dataset_0'"),
    ],
)
def test_cli_bad_options_fail_cleanly(
    corpus: Path, tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    out = tmp_path / "out.png"
    result = cli(corpus / TIA, out, *args)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("emdconvert: error: ") and needle in line
    assert not out.exists() and not leftovers(tmp_path)


def test_cli_frame_of_an_image_and_bad_input_fail_cleanly(tmp_path: Path) -> None:
    np.save(tmp_path / "image.npy", np.zeros((8, 8), np.float32))
    refused = cli(tmp_path / "image.npy", tmp_path / "x.png", "--frame", "0")
    assert refused.exit_code == 2
    assert "frame 0: 'image' is not a stack (it is image)" in refused.stderr
    (tmp_path / "bad.dm4").write_bytes(b"\x00\x00\x00\x04" + b"\xff" * 60)
    bad = cli(tmp_path / "bad.dm4")
    assert bad.exit_code == 3, bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad.png").exists() and not (tmp_path / "x.png").exists()
    assert not leftovers(tmp_path)
