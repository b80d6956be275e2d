"""Turning data values into grey levels: magnitude, log scale, a robust stretch, binning.

A microscope image has hot pixels, dead pixels, NaN where a detector saw nothing and a
diffraction pattern's central beam a thousand times brighter than its Bragg spots, so
``vmin=min, vmax=max`` shows most images as black.  The stretch runs from the
:data:`LOW` th to the :data:`HIGH` th percentile of the finite values instead (NaN and
inf are left out, and drawn in the colour map's "bad" colour); reciprocal-space images
are shown on a log scale first.
"""

from __future__ import annotations

import numpy as np

#: Percentiles the grey scale runs between.
LOW, HIGH = 0.5, 99.5
#: Values a percentile is estimated from (an even sample of a larger image).
PERCENTILE_SAMPLES = 1 << 20


def real(values: np.ndarray) -> np.ndarray:
    """Values a grey level can show: the magnitude of complex data, as float32."""
    values = np.asarray(values)
    return np.abs(values) if np.iscomplexobj(values) else values.astype(np.float32, copy=False)


def log_scale(values: np.ndarray) -> np.ndarray:
    """``log10`` of the values above their minimum, floored at the 1st percentile of the
    positive ones (so zeros do not become -inf and an image's scale does not matter)."""
    finite = np.isfinite(values)
    if not finite.any():
        return values
    shifted = values - np.min(values[finite])
    positive = shifted[finite & (shifted > 0)]
    floor = np.percentile(_sample(positive), 1) if positive.size else 1.0
    with np.errstate(invalid="ignore"):  # NaN stays NaN
        return np.log10(shifted + floor)


def limits(values: np.ndarray) -> tuple[float, float]:
    """The ``(low, high)`` grey-scale limits of the finite *values*; ``(0, 1)`` if none."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(_sample(finite), (LOW, HIGH)))
    if high <= low:  # a flat image, or one dominated by a single value
        low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 0.5, low + 0.5)


def bin_down(values: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """Means of ``factors[0] x factors[1]`` blocks of the first two axes (NaN ignored,
    edge rows and columns cut).

    A preview never shows more than about twice its pixels, and averaging (unlike
    dropping pixels) keeps noise from aliasing into the picture.
    """
    down, across = factors
    if down == across == 1:
        return values
    rows, cols = values.shape[0] // down * down, values.shape[1] // across * across
    blocks = values[:rows, :cols].reshape(rows // down, down, cols // across, across, -1)
    finite = np.isfinite(blocks)
    total = np.where(finite, blocks, 0).sum(axis=(1, 3), dtype=np.float64)
    count = finite.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (total / count).astype(np.float32)
    return means.reshape(means.shape[:2] + values.shape[2:])


def _sample(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(-1)
    step = max(1, flat.size // PERCENTILE_SAMPLES)
    return flat[::step]
