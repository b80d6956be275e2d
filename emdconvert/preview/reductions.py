"""Sums over a scan: a spectrum image's summed image and spectrum, a 4D-STEM file's mean
diffraction pattern and virtual bright-field image.

The maps visit the scan through :func:`~emdconvert.preview.sampling.scan_rows` (every
position when the data fit the budget, else every ``k``-th row and column, or whole
storage blocks averaged ``k`` to a pixel); the mean pattern averages whole storage
blocks of positions spread over the scan (:func:`~emdconvert.preview.sampling.scan_tiles`).
Sums are NaN-safe and accumulated in float64.
"""

from __future__ import annotations

import math

import numpy as np

from emdconvert.preview.contrast import real
from emdconvert.preview.sampling import Grid, Reader, ScanPlan, scan_rows, scan_tiles


def spectrum_image_sums(
    read: Reader, scan: tuple[int, int], channels: int, budget: int
) -> tuple[np.ndarray, np.ndarray, ScanPlan, int]:
    """``(summed image, summed spectrum, plan, spectra summed)`` of a ``(y, x, E)`` cube:
    each pixel of the image the sum of a spectrum (the mean of those it stands for), the
    spectrum the sum of every spectrum read."""
    plan, blocks = scan_rows(read, scan, budget)
    grid, spectrum, count = Grid(plan), np.zeros(channels), 0
    for rows, cols, block in blocks:
        values = real(block)
        grid.add(rows, cols, np.asarray(np.nansum(values, axis=-1, dtype=np.float64)))
        spectrum += np.nansum(values, axis=(0, 1), dtype=np.float64)
        count += len(rows) * len(cols)
    return grid.image(), spectrum, plan, count


def mean_pattern(
    read: Reader, scan: tuple[int, int], detector: tuple[int, int], budget: int
) -> tuple[np.ndarray, int]:
    """``(mean diffraction pattern, positions averaged)`` of a 4D-STEM scan."""
    total, count = np.zeros(detector), 0
    for block in scan_tiles(read, scan, budget):
        total += np.nansum(real(block), axis=(0, 1), dtype=np.float64)
        count += block.shape[0] * block.shape[1]
    return total / count, count


def virtual_image(
    read: Reader, scan: tuple[int, int], detector: np.ndarray, budget: int
) -> tuple[np.ndarray, ScanPlan]:
    """``(image, plan)``: at each position, the sum over the *detector* mask.

    Only the mask's bounding box is read (widened to whole storage blocks, which is what
    the budget is charged), so a small bright-field disk on a large detector stored in
    small blocks costs a fraction of each frame.
    """
    rows, cols = np.nonzero(detector)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    inside = detector[box]
    plan, blocks = scan_rows(read, scan, budget, box)
    grid = Grid(plan)
    for scan_y, scan_x, block in blocks:
        sums = np.nansum(real(block[:, :, inside]), axis=-1, dtype=np.float64)
        grid.add(scan_y, scan_x, np.asarray(sums))
    return grid.image(), plan


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
