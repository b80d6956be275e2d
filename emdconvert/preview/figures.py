"""One picture per kind: which values are read, and how they are laid out.

Each ``draw_*`` function takes a :class:`~emdconvert.preview.kinds.Plan`, a
:class:`~emdconvert.preview.sampling.Reader` and the byte budget, reads what it needs
through the reader (see :mod:`emdconvert.preview.sampling` for how reads stay within
the budget) and returns a :class:`Drawing`.

- image, stack, complex: the picture fills the PNG (long edge ``size``), shaped like
  the data's physical extent; caption top-left, scale bar bottom-left; a half FFT is
  shifted along its full axis (zero frequency on the middle row);
- spectrum: a line plot with calibrated, labelled axes;
- line of spectra: the spectra as an image, one row each, beside their sum;
- spectrum image: the summed image (each pixel the sum of its spectrum) beside the sum
  of the spectra;
- 4D-STEM: the mean diffraction pattern (log scale) beside a virtual bright-field
  image, the sum inside the bright-field disk found in that pattern.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from emdconvert.model import Dim
from emdconvert.preview.calibration import shared_unit
from emdconvert.preview.contrast import bin_down, limits, log_scale, real
from emdconvert.preview.kinds import (
    COMPLEX,
    FOUR_D,
    IMAGE,
    SPECTRUM,
    SPECTRUM_IMAGE,
    SPECTRUM_LINE,
    STACK,
    Plan,
)
from emdconvert.preview.reductions import (
    bright_field,
    mean_pattern,
    spectrum_image_sums,
    virtual_image,
)
from emdconvert.preview.render import Canvas
from emdconvert.preview.sampling import Reader, ordinal, read_plane, smallest_step
from emdconvert.preview.scalebar import Box, ScaleBar, scale_bar
from emdconvert.unit_parse import parse

#: Most extreme width:height an image is drawn with (a 10 x 1024 strip is stretched).
MAX_ASPECT = 8.0
#: A 4D-STEM preview spends 1/PATTERN_SHARE of its budget on the mean pattern.
PATTERN_SHARE = 4


@dataclass(frozen=True)
class Drawing:
    """A finished canvas and the facts about it a :class:`~emdconvert.preview.Preview`
    reports."""

    canvas: Canvas
    bars: tuple[ScaleBar, ...] = ()
    log_scale: bool = False


@dataclass(frozen=True)
class Panel:
    """2-D values ready to show, the source pixels they cover (binning and strides
    undone) and the data width and height that is (in the dims' units)."""

    values: np.ndarray
    low: float
    high: float
    covered: tuple[int, int]
    unit_dims: tuple[Dim, Dim]

    @property
    def width(self) -> float:
        return self.covered[1] * abs(self.unit_dims[1].scale)

    @property
    def aspect(self) -> float:
        """Height over width: physical when both axes share a unit, else in pixels."""
        rows, cols = self.covered
        aspect = rows / cols
        if shared_unit(*self.unit_dims) is not None:
            aspect *= abs(self.unit_dims[0].scale / self.unit_dims[1].scale)
        return min(max(aspect, 1 / MAX_ASPECT), MAX_ASPECT)

    def bar(self, box: Box) -> ScaleBar | None:
        unit = shared_unit(*self.unit_dims)
        return None if unit is None else scale_bar(unit, self.unit_dims[1].units, self.width, box)


def panel(values: np.ndarray, dims: tuple[Dim, Dim], step: int, size: int, *, log: bool) -> Panel:
    """*values* (read every *step* th pixel of *dims*) binned to at most twice *size*
    along each axis and stretched; *log* first for reciprocal space."""
    factors = (math.ceil(values.shape[0] / (2 * size)), math.ceil(values.shape[1] / (2 * size)))
    shown = bin_down(log_scale(values) if log else values, factors)
    covered = (shown.shape[0] * step * factors[0], shown.shape[1] * step * factors[1])
    return Panel(shown, *limits(shown), covered, dims)


def fit(aspect: float, width: int, height: int) -> tuple[int, int]:
    """The largest ``(width, height)`` of this *aspect* (height/width) inside a box."""
    if height >= width * aspect:
        return width, max(1, round(width * aspect))
    return max(1, round(height / aspect)), height


def show(canvas: Canvas, area: Box, shown: Panel, caption: str) -> ScaleBar | None:
    """*shown* as large as fits in *area* (centred under its title), its caption over
    the top-left corner and its scale bar, if calibrated, in the bottom-left one."""
    width, height = fit(shown.aspect, area[2], area[3])
    box = (area[0] + (area[2] - width) // 2, area[1], width, height)
    canvas.image(box, shown.values, shown.low, shown.high)
    bar = shown.bar(box)
    if bar is not None:
        canvas.scale_bar(bar)
    canvas.caption(box, caption)
    return bar


def axis_label(dim: Dim) -> str:
    unit = parse(dim.units).text
    return f"{dim.name} ({unit})" if unit else dim.name


def draw_picture(plan: Plan, read: Reader, budget: int, size: int, frame: int | None) -> Drawing:
    """An image, one frame of a stack, or the magnitude of complex data."""
    dim_y, dim_x = plan.image_dims
    lead = () if frame is None else (frame,)
    values, step = read_plane(read, lead, dim_y.size, dim_x.size, budget)
    log = plan.reciprocal or (plan.kind == COMPLEX and "fft" in plan.name.lower())
    if plan.colour:
        shown = panel(_unit_range(values), (dim_y, dim_x), step, size, log=False)
        shown = dataclasses.replace(shown, values=np.clip(shown.values, 0, 1), low=0, high=1)
    else:
        values = real(values)
        if plan.half_fft:  # zero frequency from row 0 to the middle row
            values = np.fft.fftshift(values, axes=0)
        shown = panel(values, (dim_y, dim_x), step, size, log=log)
    width, height = fit(shown.aspect, size, size)
    canvas = Canvas(width, height, background="black")
    notes = [plan.name]
    if frame is not None and plan.frames is not None:
        notes.append(f"frame {frame} of {plan.frames} (0-{plan.frames - 1})")
    if plan.kind == COMPLEX:
        notes.append(f"magnitude, shifted along {dim_y.name}" if plan.half_fft else "magnitude")
    if log:
        notes.append("log scale")
    if step > 1:
        notes.append(f"every {ordinal(step)} pixel")
    bar = show(canvas, (0, 0, width, height), shown, " · ".join(notes))
    return Drawing(canvas, () if bar is None else (bar,), log)


def draw_spectrum(plan: Plan, read: Reader, budget: int, size: int, frame: int | None) -> Drawing:
    """A line plot against the calibrated axis."""
    dim = plan.dims[0]
    first = math.ceil(dim.size * np.dtype(plan.data.dtype).itemsize / budget)
    step = smallest_step(lambda s: read.cost((slice(None, None, s),)), budget, dim.size, first)
    values = real(read((slice(None, None, step),)))
    canvas = Canvas(size, round(size * 0.6))
    font = canvas.font
    box = (6 * font, 2 * font, size - 7 * font, canvas.height - 6 * font)
    canvas.plot(
        box,
        dim.values_at(slice(None, None, step)),
        values,
        xlabel=axis_label(dim),
        ylabel=_y_label(plan),
    )
    canvas.title(box, plan.name)
    return Drawing(canvas)


def draw_spectrum_image(
    plan: Plan, read: Reader, budget: int, size: int, frame: int | None
) -> Drawing:
    """The summed image beside the summed spectrum."""
    dim_y, dim_x, energy = plan.dims
    scan = (dim_y.size, dim_x.size)
    image, spectrum, sampled, count = spectrum_image_sums(read, scan, energy.size, budget)
    canvas, left, right = _two_panels(size)
    caption = " · ".join(part for part in (plan.name, sampled.note) if part)
    shown = panel(image, (dim_y, dim_x), sampled.step, size, log=False)
    bar = show(canvas, left, shown, caption)
    font = canvas.font
    plot_box = (right[0] + 5 * font, right[1], right[2] - 5 * font, right[3] - 3 * font)
    ylabel = f"sum of {count} spectra" + ("" if count == math.prod(scan) else " (a subset)")
    canvas.plot(plot_box, energy.values, spectrum, xlabel=axis_label(energy), ylabel=ylabel)
    canvas.title(left, "summed image")
    canvas.title(plot_box, "summed spectrum")
    return Drawing(canvas, () if bar is None else (bar,))


def draw_spectrum_line(
    plan: Plan, read: Reader, budget: int, size: int, frame: int | None
) -> Drawing:
    """A line of spectra ``(position, E)``: the spectra as an image (one row each)
    beside their sum; every ``s``-th spectrum, whole, when they do not all fit."""
    along, energy = plan.dims
    step = smallest_step(lambda s: read.cost((slice(None, None, s),)), budget, along.size)
    values = real(read((slice(None, None, step),)))
    canvas, left, right = _two_panels(size)
    shown = panel(values, (along, energy), 1, size, log=False)
    shown = dataclasses.replace(shown, covered=(left[3], left[2]))  # no shared unit: fill the area
    every = "" if step == 1 else f" · every {ordinal(step)} spectrum"
    show(canvas, left, shown, f"{plan.name}{every}")
    font = canvas.font
    plot_box = (right[0] + 5 * font, right[1], right[2] - 5 * font, right[3] - 3 * font)
    spectrum = np.asarray(np.nansum(values, axis=0, dtype=np.float64))
    ylabel = f"sum of {len(values)} spectra"
    canvas.plot(plot_box, energy.values, spectrum, xlabel=axis_label(energy), ylabel=ylabel)
    canvas.title(left, f"spectra along {along.name} (rows) by {energy.name}")
    canvas.title(plot_box, "summed spectrum")
    return Drawing(canvas)


def draw_4d(plan: Plan, read: Reader, budget: int, size: int, frame: int | None) -> Drawing:
    """Mean diffraction pattern (log) from up to :data:`PATTERN_SHARE` of the budget,
    beside a virtual bright-field image from the rest."""
    scan_y, scan_x, det_y, det_x = plan.dims
    scan = (scan_y.size, scan_x.size)
    mean, count = mean_pattern(read, scan, (det_y.size, det_x.size), budget // PATTERN_SHARE)
    disk, radius = bright_field(mean)
    vbf, sampled = virtual_image(read, scan, disk, max(budget - read.bytes_read, 1))
    canvas, left, right = _two_panels(size)
    positions = math.prod(scan)
    of = "" if count == positions else f" · {count} of {positions} positions"
    note = f" · {sampled.note}" if sampled.note else ""
    bars = (
        show(canvas, left, panel(mean, (det_y, det_x), 1, size, log=True), plan.name + of),
        show(
            canvas,
            right,
            panel(vbf, (scan_y, scan_x), sampled.step, size, log=False),
            f"disk r = {radius:.1f} px{note}",
        ),
    )
    canvas.title(left, "mean diffraction pattern (log)")
    canvas.title(right, "virtual bright field")
    return Drawing(canvas, tuple(bar for bar in bars if bar is not None), log_scale=True)


DRAW = {
    IMAGE: draw_picture,
    STACK: draw_picture,
    COMPLEX: draw_picture,
    SPECTRUM: draw_spectrum,
    SPECTRUM_LINE: draw_spectrum_line,
    SPECTRUM_IMAGE: draw_spectrum_image,
    FOUR_D: draw_4d,
}


def _two_panels(size: int) -> tuple[Canvas, Box, Box]:
    """A canvas *size* wide with two panel areas side by side, room above for titles."""
    canvas = Canvas(size, round(size * 0.55))
    font = canvas.font
    half = size // 2
    top, bottom = 3 * font, font
    height = canvas.height - top - bottom
    return canvas, (font, top, half - 2 * font, height), (half + font, top, half - 2 * font, height)


def _unit_range(values: np.ndarray) -> np.ndarray:
    """Colour values scaled to 0-1 (8-bit and 16-bit by their type's maximum)."""
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32) / np.iinfo(values.dtype).max
    return values.astype(np.float32)


def _y_label(plan: Plan) -> str:
    what = "|value|" if np.dtype(plan.data.dtype).kind == "c" else "intensity"
    return f"{what} ({plan.units})" if plan.units else what
