"""Large 4D-STEM test files made without emdconvert: an EMD file written with h5py in
the layout our writer uses, and an ``.npy`` written by numpy.

Every diffraction pattern is the same bright disk plus Poisson-like noise, so the mean
of any subset of patterns is the mean of all of them up to the noise; the disk is
dimmer over a square in the scan (the object), which a virtual bright-field image must
show at the right place.  Built row by row, so making a 512 MiB file needs a few MiB
of memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: Detector centre and radius of the disk; its brightness off and on the object.
DISK = (60, 68, 12)
BRIGHT, DIM = 200, 80


def disk(detector: int) -> np.ndarray:
    yy, xx = np.mgrid[:detector, :detector]
    cy, cx, r = DISK
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def object_mask(scan: tuple[int, int]) -> np.ndarray:
    """The object: a square from 1/4 to 1/2 of the scan along y, 1/2 to 3/4 along x."""
    mask = np.zeros(scan, bool)
    mask[scan[0] // 4 : scan[0] // 2, scan[1] // 2 : 3 * scan[1] // 4] = True
    return mask


def rows(scan: tuple[int, int], detector: int) -> Iterator[np.ndarray]:
    """The scan rows ``(scan_x, det_y, det_x)`` in order, uint16."""
    rng = np.random.default_rng(7)
    beam = disk(detector)
    obj = object_mask(scan)
    for i in range(scan[0]):
        row = rng.integers(0, 9, (scan[1], detector, detector), dtype=np.uint16)  # noise
        row += (beam * np.where(obj[i], DIM, BRIGHT)[:, None, None]).astype(np.uint16)
        yield row


def write_emd(path: Path, scan: tuple[int, int], detector: int) -> None:
    """An EMD 0.2 file, x-first like ours, chunks of 128 patterns along scan_x (4 MiB
    for 128 x 128 uint16 patterns), uncompressed."""
    import h5py

    stored = (detector, detector, scan[1], scan[0])
    per_chunk = max(1, min(scan[1], (4 << 20) // (detector * detector * 2)))
    with h5py.File(path, "w") as h5:
        h5.attrs["version_major"], h5.attrs["version_minor"] = 0, 2
        group = h5.create_group("data").create_group("scan")
        group.attrs["emd_group_type"] = 1
        data = group.create_dataset(
            "data", shape=stored, dtype=np.uint16, chunks=(detector, detector, per_chunk, 1)
        )
        for i, row in enumerate(rows(scan, detector)):
            data[:, :, :, i] = row.T
        axes = [
            ("kx", "1/nm", detector, 0.1),
            ("ky", "1/nm", detector, 0.1),
            ("scan_x", "nm", scan[1], 0.5),
            ("scan_y", "nm", scan[0], 0.5),
        ]
        for k, (name, units, n, step) in enumerate(axes, start=1):
            dim = group.create_dataset(f"dim{k}", data=np.arange(n) * step)
            dim.attrs["name"], dim.attrs["units"] = name.encode(), units.encode()


def write_npy(path: Path, scan: tuple[int, int], detector: int) -> None:
    """The same scan as a C-order ``.npy`` (numpy's own header, then the rows)."""
    shape = (*scan, detector, detector)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=shape)
    for i, row in enumerate(rows(scan, detector)):
        out[i] = row
    out.flush()
    del out
