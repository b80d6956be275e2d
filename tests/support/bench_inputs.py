"""Benchmark inputs, generated (never committed): ``.npy``, BigTIFF stack, DM4, small DM3,
and a calibrated 4D-STEM EMD for the exporters.

All three large formats hold the same ``(frames, side, side)`` int16 stack, so rows are
comparable.  The DM files come from nionswift-io's DM writer (a third-party writer,
like the files microscopes produce; rsciio and ncempy read them); the npy is filled
frame by frame through a memmap and the others are written from it, so making an
8 GiB input never holds 8 GiB of fresh memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMATS = ("npy", "tiff", "dm4")
FRAME_BYTES_LARGE = 2048 * 2048 * 2


def _square(count: int) -> int:
    return max(1, int(count**0.5))


#: The shapes users have (issue 15), as ``.npy`` inputs of about a given size: numpy-order
#: shape and dtype.  Image stack of 512 x 1024 frames; 4D-STEM scan of 128 x 128
#: diffraction patterns; EELS spectrum image with 2048 channels; a few 8192^2 frames.
SHAPES: dict[str, tuple[Callable[[int], tuple[int, ...]], str]] = {
    "npy-stack": (lambda size: (max(1, size // (512 * 1024 * 2)), 512, 1024), "int16"),
    "npy-4dstem": (lambda size: (*(_square(size // (128 * 128 * 2)),) * 2, 128, 128), "uint16"),
    "npy-eels": (lambda size: (*(_square(size // (2048 * 4)),) * 2, 2048), "float32"),
    "npy-frames": (lambda size: (max(1, size // (8192 * 8192 * 2)), 8192, 8192), "int16"),
}


def make_shaped(path: Path, shape: tuple[int, ...], dtype: str) -> None:
    """Random counts (0-4000) in *shape*, written by numpy slab by slab (bounded memory)."""
    target = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    rng = np.random.default_rng(0)
    step = max(1, (64 << 20) // (math.prod(shape[1:]) * target.itemsize))
    for start in range(0, shape[0], step):
        part = target[start : start + step]
        part[...] = rng.integers(0, 4000, size=part.shape).astype(dtype)
    target.flush()
    del target


def shaped_input(folder: Path, name: str, size: int) -> Path:
    """Make (or reuse) the *name* input of :data:`SHAPES` of about *size* bytes."""
    shape_of, dtype = SHAPES[name]
    shape = shape_of(size)
    path = folder / f"{name}_{'x'.join(map(str, shape))}_{dtype}.npy"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        make_shaped(path, shape, dtype)
    return path


#: The exporters' input (issue 18): an EMD v0.2 4D-STEM scan, real-space scan axes and
#: reciprocal-space detector axes, so the EMD 1.0 writer makes a py4DSTEM datacube.
EMD_4DSTEM = "emd-4dstem"


def make_emd_4dstem(path: Path, npy: Path) -> None:
    """The ``npy-4dstem`` scan as a calibrated EMD, appended row by row (bounded memory)."""
    from emdconvert import Dim, StreamWriter

    source = np.load(npy, mmap_mode="r")
    scan_y, scan_x, k_y, k_x = source.shape
    dims = [
        Dim.uniform("scan_y", size=scan_y, scale=0.5, units="nm"),
        Dim.uniform("scan_x", size=scan_x, scale=0.5, units="nm"),
        Dim.uniform("k_y", size=k_y, scale=0.0625, offset=-k_y / 32, units="1/nm"),
        Dim.uniform("k_x", size=k_x, scale=0.0625, offset=-k_x / 32, units="1/nm"),
    ]
    with StreamWriter(
        path, (k_y, k_x), source.dtype, scan_shape=(scan_y, scan_x), dims=dims
    ) as out:
        for row in source:
            out.append(np.asarray(row))


def stack_shape(size: int) -> tuple[int, int, int]:
    """A ``(frames, side, side)`` int16 stack of about *size* bytes."""
    side = 2048 if size >= 16 * FRAME_BYTES_LARGE else 256
    frames = max(1, size // (side * side * 2))
    return frames, side, side


def make_npy(path: Path, shape: tuple[int, int, int]) -> None:
    """A lattice image plus a few noise frames: realistic enough for deflate ratios."""
    frames, rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols]
    lattice = (1000 + 400 * np.cos(x / 3.1) * np.cos(y / 2.7)).astype(np.int16)
    noise = np.random.default_rng(0).poisson(30, (4, rows, cols)).astype(np.int16)
    target = np.lib.format.open_memmap(path, mode="w+", dtype=np.int16, shape=shape)
    for k in range(frames):
        target[k] = lattice + noise[k % 4] + np.int16(k % 100)
    target.flush()
    del target


def make_tiff(path: Path, npy: Path) -> None:
    """An uncompressed BigTIFF stack, one page per frame."""
    import tifffile

    source = np.load(npy, mmap_mode="r")
    tifffile.imwrite(
        path,
        (np.asarray(frame) for frame in source),
        shape=source.shape,
        dtype=source.dtype,
        bigtiff=True,
        photometric="minisblack",
    )


def make_dm(path: Path, npy: Path, version: int) -> None:
    from support.dm_files import write_dm

    write_dm(path, np.load(npy, mmap_mode="r"), version)


def make_small_dm3(path: Path) -> None:
    """A ~1 MiB DM3 image (512 x 512 float32), the "small file" case."""
    from support.dm_files import write_dm

    image = np.random.default_rng(1).normal(100, 10, (512, 512)).astype(np.float32)
    write_dm(path, image, 3)


def ensure_inputs(folder: Path, size: int, formats: tuple[str, ...]) -> dict[str, Path]:
    """Make (or reuse) one input per format of about *size* bytes in *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    shape = stack_shape(size)
    tag = "x".join(map(str, shape))
    npy = folder / f"stack_{tag}.npy"
    if not npy.exists():
        make_npy(npy, shape)
    paths = {"npy": npy}
    if "tiff" in formats:
        paths["tiff"] = folder / f"stack_{tag}.tif"
        if not paths["tiff"].exists():
            make_tiff(paths["tiff"], npy)
    if "dm4" in formats:
        paths["dm4"] = folder / f"stack_{tag}.dm4"
        if not paths["dm4"].exists():
            make_dm(paths["dm4"], npy, 4)
    paths |= {name: shaped_input(folder, name, size) for name in formats if name in SHAPES}
    if EMD_4DSTEM in formats:
        scan = shaped_input(folder, "npy-4dstem", size)
        paths[EMD_4DSTEM] = scan.with_suffix(".emd")
        if not paths[EMD_4DSTEM].exists():
            make_emd_4dstem(paths[EMD_4DSTEM], scan)
    small = folder / "small.dm3"
    if not small.exists():
        make_small_dm3(small)
    paths["dm3-small"] = small
    return {name: path for name, path in paths.items() if name in formats or name == "dm3-small"}
