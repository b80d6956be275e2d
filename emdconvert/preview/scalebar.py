"""Scale-bar maths: a round length (1, 2 or 5 times a power of ten) with its unit.

The bar is at most :data:`FRACTION` of the image's width, so it is long enough to read
and never covers much.  A length is shown with the SI prefix that makes its number 1 to
999 (0.002 µm reads as 2 nm); Ångström and inverse lengths keep the unit the data have
(diffraction people think in nm⁻¹ or Å⁻¹), as does any other unit two axes share
(``mrad``).  The pixel length is rounded to whole output pixels, so a bar is exact to
half a pixel; :class:`ScaleBar` keeps the length both as labelled and in the data's
own unit so a test can hold one against the other and against the calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emdconvert.unit_parse import Unit

#: Longest bar, as a fraction of the image width.
FRACTION = 0.25
#: Prefixed metres a length bar may be labelled in, smallest first.
_METRE_PREFIXES = (("pm", 1e-12), ("nm", 1e-9), ("µm", 1e-6), ("mm", 1e-3), ("m", 1.0))

#: ``(left, top, width, height)`` in output pixels, from the image's top-left corner.
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ScaleBar:
    """A drawn scale bar.

    *length* and *unit* are the label (``5`` and ``nm``); *data_length* is the same
    length in the axis's own unit *data_unit* (``0.005`` ``µm``); *pixels* its length
    in the PNG; *panel* the box of the image it measures, in PNG pixels.
    """

    length: float
    unit: str
    data_length: float
    data_unit: str
    pixels: int
    panel: Box

    @property
    def label(self) -> str:
        return f"{self.length:g} {self.unit}"


def round_below(value: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is at most *value* (> 0)."""
    exponent = math.floor(math.log10(value))
    for mantissa in (5, 2):
        candidate = float(f"{mantissa}e{exponent}")  # exact decimal: 2e-07, not 1.99...e-07
        if candidate <= value:
            return candidate
    return float(f"1e{exponent}")


def scale_bar(unit: Unit, data_unit: str, width: float, panel: Box) -> ScaleBar | None:
    """The bar for an image *width* (in *unit*) wide, drawn in *panel* (PNG pixels).

    None when the width is not a positive finite number (nothing to measure).
    """
    if not (math.isfinite(width) and width > 0):
        return None
    target = FRACTION * width
    if unit.metres is not None and not unit.reciprocal and unit.text != "Å":
        metres = target * unit.metres
        label, factor = next(
            ((name, f) for name, f in reversed(_METRE_PREFIXES) if metres / f >= 1),
            _METRE_PREFIXES[0],
        )
        length = round_below(metres / factor)
        data_length = length * factor / unit.metres
    else:
        label, length = unit.text, round_below(target)
        data_length = length
    pixels = round(data_length / width * panel[2])
    if pixels < 1:
        return None
    return ScaleBar(length, label, data_length, data_unit, pixels, panel)
