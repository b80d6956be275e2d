"""Drawing with matplotlib: images, scale bars, captions and line plots at exact pixels.

matplotlib is imported here, inside :class:`Canvas`, and nowhere else: importing
emdconvert or converting a file never pays for it (``tests/test_import_cost.py``).  The
canvas is a bare ``Figure`` on the Agg backend, never pyplot, so no GUI backend is
chosen and no global figure state is left behind (the watch daemon may preview for
months).

Boxes are ``(left, top, width, height)`` in output pixels from the top-left corner.  An
image fills its box exactly, so a scale bar of *n* pixels in the PNG measures *n* times
the box's data width over its pixel width; the bar is drawn without anti-aliasing in
:data:`BAR_RGB`, a colour no grey level has, so it can be found and measured in the PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emdconvert.preview.scalebar import Box, ScaleBar

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Text

DPI = 100
#: The scale bar's colour (amber), as 8-bit RGB.
BAR_RGB = (255, 204, 0)
#: Where an image has NaN or inf.
BAD_COLOUR = "#ff00ff"
_PANEL_TEXT: dict[str, Any] = {"color": "white"}
_BACKING: dict[str, Any] = {"facecolor": "black", "alpha": 0.55, "edgecolor": "none"}


def points(pixels: float) -> float:
    """A font size in points for text *pixels* high at :data:`DPI`."""
    return pixels * 72 / DPI


class Canvas:
    """A *width* x *height* pixel picture being drawn."""

    def __init__(self, width: int, height: int, *, background: str = "white") -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.width, self.height = width, height
        # Agg truncates the figure's size in pixels (682.99999 -> 682); half a pixel
        # more makes the PNG exactly width x height, and boxes below are placed in
        # pixels on that renderer.
        self.figure = Figure(
            figsize=((width + 0.5) / DPI, (height + 0.5) / DPI), dpi=DPI, facecolor=background
        )
        FigureCanvasAgg(self.figure)
        #: Text height in pixels: readable at 1024 px, still legible at 256.
        self.font = max(9, round(max(width, height) / 45))

    def _axes(self, box: Box) -> Axes:
        left, top, width, height = box
        w, h = self.width + 0.5, self.height + 0.5
        return self.figure.add_axes(
            (left / w, (self.height - top - height) / h, width / w, height / h)
        )

    def image(self, box: Box, values: np.ndarray, low: float = 0.0, high: float = 1.0) -> None:
        """*values* (2-D grey levels between *low* and *high*, or RGB in 0-1) filling *box*;
        framed by a grey line just outside it unless it fills the canvas."""
        from matplotlib import colormaps
        from matplotlib.patches import Rectangle
        from matplotlib.transforms import IdentityTransform

        axes = self._axes(box)
        axes.set_axis_off()
        grey = colormaps["gray"].with_extremes(bad=BAD_COLOUR)
        axes.imshow(
            values, cmap=grey, vmin=low, vmax=high, aspect="auto", interpolation="antialiased"
        )
        left, top, width, height = box
        if (width, height) != (self.width, self.height):
            bottom = self.height - top - height
            # A one-pixel line in the pixels just outside the box.  Agg draws an aliased
            # 1-pixel stroke at x = c in column c, at y = c in the row below c.
            frame = Rectangle(
                (left - 1, bottom),
                width + 1,
                height + 1,
                fill=False,
                edgecolor="#808080",
                linewidth=points(1),
                antialiased=False,
            )
            frame.set_transform(IdentityTransform())
            self.figure.add_artist(frame)

    def scale_bar(self, bar: ScaleBar) -> None:
        """*bar* in the bottom-left corner of its panel, labelled above, on a dark backing."""
        from matplotlib.patches import Rectangle
        from matplotlib.transforms import IdentityTransform

        left, top, width, height = bar.panel
        pad = max(3, round(self.font / 3))
        thick = max(2, round(width / 160))
        x0 = left + 2 * pad
        y0 = self.height - (top + height) + 2 * pad  # matplotlib counts pixels from the bottom
        label = self.figure.text(
            x0 + bar.pixels / 2,
            y0 + thick + pad,
            bar.label,
            ha="center",
            va="bottom",
            fontsize=points(self.font),
            transform=IdentityTransform(),
            **_PANEL_TEXT,
        )
        renderer = self.figure.canvas.get_renderer()  # type: ignore[attr-defined]
        text = label.get_window_extent(renderer)
        if text.width > bar.pixels:  # a label wider than its bar starts where the bar does
            label.set_horizontalalignment("left")
            label.set_x(x0)
            text = label.get_window_extent(renderer)
        right = max(x0 + bar.pixels, text.x1)
        x_start = min(x0, text.x0)
        for patch in (
            Rectangle(
                (x_start - pad, y0 - pad),
                right - x_start + 2 * pad,
                text.y1 - y0 + 2 * pad,
                **_BACKING,
            ),
            Rectangle(
                (x0, y0),
                bar.pixels,
                thick,
                facecolor=tuple(c / 255 for c in BAR_RGB),
                edgecolor="none",
                antialiased=False,
            ),
        ):
            patch.set_transform(IdentityTransform())
            self.figure.add_artist(patch)

    def caption(self, box: Box, text: str) -> None:
        """*text* over the top-left corner of *box* (an image's name, its frame)."""
        pad = max(3, round(self.font / 3))
        label = self.figure.text(
            (box[0] + pad) / (self.width + 0.5),
            1 - (box[1] + pad) / (self.height + 0.5),
            text,
            ha="left",
            va="top",
            fontsize=points(self.font),
            bbox={**_BACKING, "boxstyle": f"square,pad={pad / self.font:.2f}"},
            **_PANEL_TEXT,
        )
        self._shrink_to(label, box[2] - 3 * pad)

    def title(self, box: Box, text: str) -> None:
        """*text* centred above *box*."""
        label = self.figure.text(
            (box[0] + box[2] / 2) / (self.width + 0.5),
            1 - (box[1] - self.font / 2) / (self.height + 0.5),
            text,
            ha="center",
            va="bottom",
            fontsize=points(self.font),
        )
        self._shrink_to(label, box[2])

    def _shrink_to(self, label: Text, width: float) -> None:
        """A smaller font for *label* if it is wider than *width* pixels (small previews
        of long names), never below six pixels."""
        drawn = label.get_window_extent(self.figure.canvas.get_renderer()).width  # type: ignore[attr-defined]
        if drawn > width > 0:
            label.set_fontsize(max(points(6), points(self.font) * width / drawn))

    def plot(self, box: Box, x: np.ndarray, y: np.ndarray, *, xlabel: str, ylabel: str) -> None:
        """A line plot of *y* against *x* in *box* (the frame; tick labels go outside)."""
        axes = self._axes(box)
        axes.plot(x, y, linewidth=max(1.0, self.font / 12), color="#1f4e9c")
        finite = x[np.isfinite(x)]
        if finite.size > 1:
            axes.set_xlim(float(finite.min()), float(finite.max()))
        axes.set_xlabel(xlabel, fontsize=points(self.font))
        axes.set_ylabel(ylabel, fontsize=points(self.font))
        axes.tick_params(labelsize=points(self.font * 0.85))
        axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        axes.yaxis.get_offset_text().set_fontsize(points(self.font * 0.85))

    def save(self, path: Path) -> None:
        """Write the PNG to *path* (a temporary name: the caller publishes it)."""
        self.figure.savefig(path, format="png", dpi=DPI, facecolor=self.figure.get_facecolor())
