"""What a dataset is, for a preview: image, stack, spectrum, spectrum image, 4D-STEM.

Decided from the shape (length-1 axes dropped first), the dims' units and names, and
the dtype, never by reading data:

========  ====================================================  ==================
 ndim      axes (numpy order)                                    kind
========  ====================================================  ==================
 1         (E,)                                                  spectrum
 2         (position, E) when the last axis is an energy          spectrum-line
 2         (y, x) otherwise                                      image (complex)
 3         (y, x, E) when the last axis is an energy             spectrum-image
 3         (frame, y, x) otherwise                               stack (complex)
 4         (scan_y, scan_x, det_y, det_x)                        4d-stem
========  ====================================================  ==================

A trailing ``channel`` axis of 3 or 4 (RGB, RGBA) is colour, not an axis: ``(y, x,
channel)`` is a colour image, ``(frame, y, x, channel)`` a colour stack.  Complex
images and stacks are the kind ``complex`` (shown as their magnitude).  Images
whose axes are inverse lengths (diffraction patterns, FFTs) are shown on a log scale;
a half FFT (an ``rfft``: complex, named "half" or ``n // 2 + 1`` columns for ``n``
rows) is shifted along its full axis only, so zero frequency is on the middle row of
the left edge (:attr:`Plan.half_fft`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emdconvert.errors import UnsupportedError, UsageError
from emdconvert.lazy import LazyArray
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.preview.calibration import is_energy, shared_unit
from emdconvert.preview.sampling import Squeezed

IMAGE = "image"
STACK = "stack"
SPECTRUM = "spectrum"
SPECTRUM_IMAGE = "spectrum-image"
FOUR_D = "4d-stem"
COMPLEX = "complex"
SPECTRUM_LINE = "spectrum-line"
#: Every kind, in the order the README describes them.
KINDS = (IMAGE, STACK, SPECTRUM, SPECTRUM_LINE, SPECTRUM_IMAGE, FOUR_D, COMPLEX)


@dataclass(frozen=True)
class Plan:
    """A dataset seen as one kind: its squeezed data and dims, and how to show them."""

    kind: str
    name: str
    data: LazyArray
    dims: tuple[Dim, ...]
    units: str = ""
    colour: bool = False

    @property
    def frames(self) -> int | None:
        """Frames of a stack (a complex one too), else None."""
        return self.data.shape[0] if len(self.dims) == 3 and self.kind in (STACK, COMPLEX) else None

    @property
    def image_dims(self) -> tuple[Dim, Dim]:
        """The (y, x) dims of the picture (for 4D-STEM: of the detector)."""
        return self.dims[-2], self.dims[-1]

    @property
    def half_fft(self) -> bool:
        """Complex reciprocal-space data holding one half of an FFT (``rfft`` output)."""
        if self.kind != COMPLEX or not (self.reciprocal or "fft" in self.name.lower()):
            return False
        rows, cols = (dim.size for dim in self.image_dims)
        return "half" in self.name.lower() or cols == rows // 2 + 1

    @property
    def reciprocal(self) -> bool:
        """Image axes in an inverse length: a diffraction pattern or an FFT (log scale)."""
        unit = shared_unit(*self.image_dims) if len(self.dims) >= 2 else None
        return unit is not None and unit.reciprocal


def choose_dataset(model: EMDFile, which: str | int | None) -> Dataset:
    """The dataset named or numbered *which* (0-based); the first when None."""
    names = [d.name for d in model.datasets]
    if which is None:
        return model.datasets[0]
    if isinstance(which, int) or which.isdigit():
        index = int(which)
        if 0 <= index < len(names):
            return model.datasets[index]
    elif which in names:
        return model.datasets[names.index(which)]
    listing = ", ".join(f"{i}: {name!r}" for i, name in enumerate(names))
    raise UsageError(f"no dataset {which!r}; the file holds {listing}")


def plan(dataset: Dataset) -> Plan:
    """Classify *dataset* (see the module docstring)."""
    data = Squeezed(dataset.data)
    dims = tuple(dataset.dims[axis] for axis in data.kept)
    complex_ = np.dtype(dataset.dtype).kind == "c"
    colour = (
        len(dims) in (3, 4)
        and dims[-1].name == "channel"
        and dims[-1].size in (3, 4)
        and not complex_
    )
    if colour:  # RGB(A) as a trailing axis (README, EMD layout L13): drawn in colour
        dims = dims[:-1]
    ndim = len(dims)
    if ndim == 1:
        kind = SPECTRUM
    elif ndim == 2 and not colour and not complex_ and is_energy(dims[-1]):
        kind = SPECTRUM_LINE
    elif ndim == 2:
        kind = COMPLEX if complex_ else IMAGE
    elif ndim == 3 and not colour and is_energy(dims[-1]):
        kind = SPECTRUM_IMAGE
    elif ndim == 3:
        kind = COMPLEX if complex_ else STACK
    elif ndim == 4:
        kind = FOUR_D
    else:
        shape = " x ".join(str(n) for n in dataset.shape) or "a single value"
        raise UnsupportedError(
            f"dataset {dataset.name!r} ({shape}): a preview draws data of 1 to 4 axes longer than 1"
        )
    return Plan(kind, dataset.name, data, dims, dataset.units, colour)
