"""Read side of the calibration: axes, units and metadata of a TIFF's series.

Calibrations come from RosettaSciIO's TIFF reader, which knows the ImageJ,
DigitalMicrograph, FEI/Thermo, Zeiss, JEOL and Olympus tags; its own lazy path
materialises the whole array, so only its axes and metadata are used.  An ImageJ
file's own calibration wins over rsciio's (which keeps only ``micron`` and ignores
``finterval``): any ``unit``/``yunit``/``zunit``/``tunit`` in everyday notation, z
``spacing``, time ``finterval``, origins, up to TZCYX.  RGB(A) samples become a trailing
``channel`` axis.
"""

from __future__ import annotations

import gc
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.model import Dim
from emdconvert.signals import axes_to_dims


def rsciio_calibration(path: Path) -> list[dict[str, Any]]:
    """rsciio's reading of the file's tags: axes and original metadata per series."""
    from rsciio.tiff import file_reader

    # rsciio's lazy read keeps its TiffFile open inside a reference cycle of dask
    # objects; collect it here so the descriptor closes now (a watch daemon converts for
    # months) and quietly (the unclosed-file warning is rsciio's, not the user's).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        signals = file_reader(str(path), lazy=True)
        found = [
            {
                "axes": s.get("axes", []),
                "original_metadata": s.get("original_metadata", {}),
                "metadata": s.get("metadata", {}),
                "title": s.get("metadata", {}).get("General", {}).get("title", ""),
            }
            for s in signals
        ]
        del signals
        gc.collect()
    return found


def dims_for(
    shape: tuple[int, ...], calibration: dict[str, Any] | None, imagej: dict[str, Any] | None = None
) -> tuple[Dim, ...]:
    """Dims from rsciio's axes, plus a ``channel`` dim for RGB samples tifffile keeps;
    an ImageJ file's own calibration (*imagej*, from :func:`imagej_info`) wins."""
    if calibration is None:
        return ()
    axes = [{**a, "index_in_array": i} for i, a in enumerate(calibration["axes"])]
    sizes = tuple(int(a["size"]) for a in axes)
    if sizes == shape:
        return _imagej_dims(axes_to_dims(axes, shape), imagej)
    if sizes == shape[:-1] and shape[-1] in (3, 4):
        dims = _imagej_dims(axes_to_dims(axes, shape[:-1]), imagej)
        return (*dims, Dim("channel", "", np.arange(shape[-1], dtype=np.float64)))
    return ()


#: ImageJ's (and other writers') spellings of units -> emdconvert's everyday notation.
#: Words of more than two letters match in any case (``Micron``, ``Angstrom``, ``SEC``).
_SPELLINGS = {
    "micron": "µm",
    "microns": "µm",
    "um": "µm",
    "micrometer": "µm",
    "micrometre": "µm",
    "A": "Å",
    "\u212b": "Å",
    "angstrom": "Å",
    "angstroms": "Å",
    "nanometer": "nm",
    "nanometre": "nm",
    "pixel": "px",
    "pixels": "px",
    "sec": "s",
    "second": "s",
    "seconds": "s",
    "msec": "ms",
    "usec": "µs",
    "us": "µs",
    "µsec": "µs",
    "nsec": "ns",
    "minute": "min",
    "minutes": "min",
    "hour": "h",
    "hours": "h",
    "hr": "h",
}
#: ImageJ writes a non-ASCII unit as a Java escape (``\\u00B5m``, ``\\u00C5``).
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _everyday_unit(value: Any) -> str:
    """An ImageJ unit in everyday notation: ``micron``, ``um``, ``\\u00B5m`` -> ``µm``,
    ``A``, ``angstrom`` -> ``Å``, ``sec`` -> ``s``, ``pixel`` -> ``px``, ``1/A`` -> ``1/Å``;
    anything else (``nm``, ``pm``, ``mm``, ``1/nm``, ``eV``) unchanged."""
    text = _ESCAPE.sub(lambda m: chr(int(m[1], 16)), str(value)).strip()
    text = text.replace("\u03bc", "µ")  # Greek mu -> micro sign, as units.py writes it
    if text.startswith("1/") and len(text) > 2:
        return "1/" + _everyday_unit(text[2:])
    if text in _SPELLINGS:
        return _SPELLINGS[text]
    return _SPELLINGS.get(text.lower(), text) if len(text) > 2 else text


def _finite(value: Any) -> float | None:
    """A calibration number from ImageJ's description, or None when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def imagej_info(tif: Any, series: Any) -> dict[str, Any] | None:
    """An ImageJ series' calibration as its file states it, for :func:`_imagej_dims`.

    rsciio reads only ``micron`` from an ImageJ description (``nm``, ``Å``, ``1/nm``
    all came back without a unit), never ``finterval``, and gives a 4-D hyperstack's
    time axis the z ``spacing``; ImageJ's own rules are simple enough to follow here.
    """
    metadata = tif.imagej_metadata if getattr(series, "kind", "") == "imagej" else None
    if not metadata:
        return None
    pixel: dict[str, float] = {}
    for letter, tag_name in (("X", "XResolution"), ("Y", "YResolution")):
        tag = series.keyframe.tags.get(tag_name)
        value = tag.value if tag is not None else None
        if isinstance(value, tuple) and len(value) == 2 and value[0] and value[1]:
            pixel[letter] = float(value[1]) / float(value[0])  # pixels per unit -> size
    return {"metadata": dict(metadata), "axes": str(series.axes).replace("S", ""), "pixel": pixel}


def _imagej_dims(dims: tuple[Dim, ...], imagej: dict[str, Any] | None) -> tuple[Dim, ...]:
    """*dims* (rsciio's) with ImageJ's calibration: x/y size from X/YResolution in
    ``unit`` (``yunit``), z ``spacing`` in ``zunit`` (default ``unit``), time
    ``finterval`` in ``tunit`` (default ``sec``), origins in pixels; ``channel`` named.

    What ImageJ does not state is kept from rsciio (DigitalMicrograph tags), except
    where rsciio gives a z tag to both the z and the time axis of a hyperstack.
    """
    if imagej is None or len(imagej["axes"]) != len(dims):
        return dims
    metadata, pixel = imagej["metadata"], imagej["pixel"]
    unit = _everyday_unit(metadata["unit"]) if "unit" in metadata else None
    letters = imagej["axes"]
    both = "T" in letters and any(letter in letters for letter in "ZI")
    out = []
    for letter, dim in zip(letters, dims, strict=True):
        name, units, scale, offset = dim.name, dim.units, dim.scale, dim.offset
        origin = None
        if letter in "XY" and unit is not None:
            key = "yunit" if letter == "Y" and "yunit" in metadata else "unit"
            units = _everyday_unit(metadata[key])
            scale = pixel.get(letter, scale)
            origin = _finite(metadata.get(f"{letter.lower()}origin"))
        elif letter in "ZI":
            spacing = _finite(metadata.get("spacing"))
            if spacing is not None:
                scale = spacing
                zunit = metadata.get("zunit", metadata.get("unit"))
                units = "" if zunit is None else _everyday_unit(zunit)
            origin = _finite(metadata.get("zorigin"))
        elif letter == "T":
            interval = _finite(metadata.get("finterval"))
            if interval is not None and interval > 0:
                scale, units = interval, _everyday_unit(metadata.get("tunit", "sec"))
            elif both:  # rsciio's z values, not the time axis'
                scale, units = 1.0, ""
            if both:
                offset = 0.0
        elif letter == "C":
            name = "channel"
        if origin is not None:
            offset = -origin * scale
        if (name, units, scale, offset) != (dim.name, dim.units, dim.scale, dim.offset):
            dim = Dim.uniform(name, size=dim.size, scale=scale, offset=offset, units=units)
        out.append(dim)
    return tuple(out)
