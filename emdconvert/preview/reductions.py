"""Sums over a scan: a spectrum image's summed image and spectrum, a 4D-STEM file's mean
diffraction pattern and virtual bright-field image.

Each visits the scan through :func:`~emdconvert.preview.sampling.scan_blocks`, so it
reads every position when the data fit the budget and every ``s``-th row and column
otherwise; sums are NaN-safe and accumulated in float64.
"""

from __future__ import annotations

import math

import numpy as np

from emdconvert.preview.contrast import real
from emdconvert.preview.sampling import Reader, scan_blocks


def _grid(scan: tuple[int, int], step: int) -> np.ndarray:
    """The strided scan grid, NaN until filled."""
    return np.full((math.ceil(scan[0] / step), math.ceil(scan[1] / step)), np.nan)


def spectrum_image_sums(
    read: Reader, scan: tuple[int, int], channels: int, budget: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(summed image, summed spectrum, stride)`` of a ``(y, x, E)`` cube."""
    step, blocks = scan_blocks(read, scan, budget)
    image, spectrum = _grid(scan, step), np.zeros(channels)
    for row, cols, block in blocks:
        values = real(block)
        image[row, cols] = np.nansum(values, axis=-1, dtype=np.float64)
        spectrum += np.nansum(values, axis=0, dtype=np.float64)
    return image, spectrum, step


def mean_pattern(
    read: Reader, scan: tuple[int, int], detector: tuple[int, int], budget: int
) -> tuple[np.ndarray, int]:
    """``(mean diffraction pattern, positions averaged)`` of a 4D-STEM scan."""
    _, blocks = scan_blocks(read, scan, budget)
    total, count = np.zeros(detector), 0
    for _, _, block in blocks:
        total += np.nansum(real(block), axis=0, dtype=np.float64)
        count += len(block)
    return total / count, count


def virtual_image(
    read: Reader, scan: tuple[int, int], detector: np.ndarray, budget: int
) -> tuple[np.ndarray, int]:
    """``(image, stride)``: at each position, the sum over the *detector* mask.

    Only the mask's bounding box is read (and counted against *budget*), so a small
    bright-field disk on a large detector costs a fraction of each frame.
    """
    rows, cols = np.nonzero(detector)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    inside = detector[box]
    step, blocks = scan_blocks(read, scan, budget, box)
    image = _grid(scan, step)
    for row, columns, block in blocks:
        image[row, columns] = np.nansum(real(block[:, inside]), axis=-1, dtype=np.float64)
    return image, step


def bright_field(mean: np.ndarray) -> tuple[np.ndarray, float]:
    """The bright-field disk of a mean diffraction pattern: ``(mask, radius in pixels)``.

    The pixels above half-way from the median to the maximum are the direct beam; the
    disk has their intensity-weighted centre and their area.  A pattern with no such
    pixels (flat, or all NaN) gets the whole detector.
    """
    finite = np.isfinite(mean)
    if finite.any():
        base, peak = float(np.median(mean[finite])), float(mean[finite].max())
        above = finite & (mean > base + 0.5 * (peak - base))
        if above.any():
            ys, xs = np.nonzero(above)
            weights = mean[above] - base
            cy, cx = np.average(ys, weights=weights), np.average(xs, weights=weights)
            radius = max(1.0, math.sqrt(above.sum() / math.pi))
            yy, xx = np.ogrid[: mean.shape[0], : mean.shape[1]]
            return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2, radius
    return np.ones(mean.shape, bool), math.hypot(*mean.shape) / 2
