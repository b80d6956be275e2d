"""Which array axes of a DM image ``hs.load`` keeps, and in which order.

rsciio hands each DM image to HyperSpy with post-processes (``to_signal1D`` for spectrum
images, then ``squeeze``) that HyperSpy, not rsciio, applies; the output must have the
axes HyperSpy shows, so those post-processes are reproduced here on shapes and axis
dicts, before any data are read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def kept_axes(shape: Sequence[int]) -> tuple[int, ...]:
    """The array axes of a DM image that survive rsciio's reading: all but length-1 ones.

    rsciio's DM reader hands every image to HyperSpy with a ``squeeze`` post-process
    (``hs.load`` applies it), so a spectrum DigitalMicrograph stores as N x 1, or a
    single-spectrum "spectrum image" of 1 x 1 x N, is read as 1-D of length N; keeping
    the dummy axes would make our output a 2-D (or 3-D) image in HyperSpy.  Each kept
    axis keeps its own calibration.  When every axis has length 1, one stays (HyperSpy
    never makes a 0-d signal): the last, x, which is what it keeps of a 1-pixel
    spectrum or image.
    """
    keep = tuple(i for i, size in enumerate(shape) if size != 1)
    return keep or tuple(range(len(shape)))[-1:]


def hyperspy_axes(shape: Sequence[int], *, spectrum_image: bool) -> tuple[int, ...]:
    """The array axes of a DM image as ``hs.load`` gives them, in that order.

    rsciio's reader marks an image as a spectrum image (``ImageObject.to_spectrum``:
    ``Meta Data.Format`` is ``"Spectrum image"`` or an ``spim`` tag group exists, and
    it has more than two calibrated dimensions) and then hands it to HyperSpy with
    ``to_signal1D`` before ``squeeze``.  DigitalMicrograph stores the channel axis
    last in its own x, y, z order, so first in numpy order: ``to_signal1D``
    (``as_signal1D(0 + 3j)``, array axis 0 as the signal axis) moves that axis last
    and keeps the others in order, ``(E, y, x) -> (y, x, E)`` and
    ``(E, a, b, c) -> (a, b, c, E)``; the squeeze then drops length-1 axes
    (:func:`kept_axes`), the channel axis too when it has length 1.
    """
    keep = kept_axes(shape)
    if not spectrum_image:
        return keep
    return tuple(i for i in (*range(1, len(shape)), 0) if i in keep)


def kept_axes_dicts(
    axes: Sequence[Mapping[str, Any]], order: tuple[int, ...], *, spectrum_image: bool = False
) -> list[dict[str, Any]]:
    """rsciio's axis dicts of the kept axes in *order* (one per array axis), renumbered;
    after ``to_signal1D`` only the channel axis (axis 0 in the file) is a signal axis."""
    out = []
    for index, i in enumerate(order):
        axis = {**axes[i], "index_in_array": index}
        if spectrum_image:
            axis["navigate"] = i != 0
        out.append(axis)
    return out
