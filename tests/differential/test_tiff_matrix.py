"""Differential matrix: tifffile writes a TIFF, we convert it, rsciio reads our EMD back.

Every pair of values of the factors below (sample type, strips or tiles, compression,
photometric, planar configuration, byte order, container, page count) appears in at
least one case; the full product would be ~10 000 files.  For each case the EMD, read
by rsciio, must equal ``tifffile.imread`` of the source bit for bit, with the same
dtype and the same axes (tifffile's layout: RGB samples last when contiguous, in front
of the image when separate).  No case is refused on purpose: every one of these is a
file tifffile reads, so refusing it is a failure.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from support.rsciio_oracle import rsciio_emd_arrays

import emdconvert
from emdconvert.errors import EmdConvertError

#: sample type -> (numpy dtype, BitsPerSample tifffile is asked to pack to, or None)
SAMPLES: dict[str, tuple[str, int | None]] = {
    "b1": ("?", None),
    "u1": ("u1", None),
    "i1": ("i1", None),
    "u12": ("u2", 12),
    "u2": ("u2", None),
    "i2": ("i2", None),
    "f2": ("f2", None),
    "u4": ("u4", None),
    "i4": ("i4", None),
    "f4": ("f4", None),
    "u8": ("u8", None),
    "i8": ("i8", None),
    "f8": ("f8", None),
    "c8": ("c8", None),
    "c16": ("c16", None),
}

FACTORS: dict[str, list[Any]] = {
    "sample": list(SAMPLES),
    "layout": ["strips", "tiles"],
    "compression": ["none", "zlib", "lzw", "zstd", "packbits", "lzma", "zlib+predictor"],
    "photometric": ["gray", "rgb", "rgba"],
    "planar": ["contig", "separate"],
    "byteorder": ["<", ">"],
    "container": ["plain", "bigtiff", "imagej", "ome"],
    "pages": [1, 3],
}

HEIGHT, WIDTH = 24, 40  # not square, and not a whole number of 16 x 16 tiles


def writable(case: dict[str, Any]) -> bool:
    """Whether tifffile writes this combination (its own refusals, not ours)."""
    sample, colour = case["sample"], case["photometric"] != "gray"
    if case["planar"] == "separate" and not colour:
        return False  # one sample per pixel: planar configuration means nothing
    if colour and sample not in ("u1", "u2", "u12", "f4"):
        return False
    if sample == "u12" and case["compression"] != "none":
        return False  # tifffile packs bits for uncompressed data only
    if case["compression"] == "zlib+predictor" and sample in ("b1", "u8", "i8", "c8", "c16"):
        return False
    if case["container"] == "ome" and sample in ("f2", "u8", "i8"):
        return False
    if case["container"] == "imagej":
        gray = ("u1", "u2", "u12", "f4")
        return case["planar"] == "contig" and sample in (gray if not colour else ("u1",))
    return True


def covering_cases() -> list[dict[str, Any]]:
    """A greedy pairwise covering array over the writable part of the product.

    Each step takes the combination covering the most value pairs not yet covered, so
    every pair that occurs in some writable file occurs in a case.  Deterministic.
    """
    names = list(FACTORS)
    grid = np.indices([len(values) for values in FACTORS.values()]).reshape(len(names), -1).T
    cases, rows = [], []
    for row in grid:
        case = {name: FACTORS[name][level] for name, level in zip(names, row, strict=True)}
        if writable(case):
            cases.append(case)
            rows.append(row)
    levels = np.array(rows)
    columns, base = [], 0
    for i, j in itertools.combinations(range(len(names)), 2):
        columns.append(base + levels[:, i] * len(FACTORS[names[j]]) + levels[:, j])
        base += len(FACTORS[names[i]]) * len(FACTORS[names[j]])
    pairs = np.stack(columns, axis=1)
    uncovered = np.zeros(base, bool)
    uncovered[pairs.ravel()] = True
    chosen = []
    while uncovered.any():
        best = int(np.argmax(uncovered[pairs].sum(axis=1)))
        uncovered[pairs[best]] = False
        chosen.append(cases[best])
    return chosen


CASES = covering_cases()


def case_id(case: dict[str, Any]) -> str:
    return "-".join(str(case[name]) for name in FACTORS).replace("<", "le").replace(">", "be")


def sample_data(case: dict[str, Any], seed: int) -> np.ndarray:
    """Values over the type's whole range (floats with NaN, infinities and -0.0)."""
    dtype, bits = SAMPLES[case["sample"]]
    samples = {"gray": 1, "rgb": 3, "rgba": 4}[case["photometric"]]
    image: tuple[int, ...] = (HEIGHT, WIDTH)
    if samples > 1:
        image = (samples, *image) if case["planar"] == "separate" else (*image, samples)
    shape = image if case["pages"] == 1 else (case["pages"], *image)
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).kind
    if kind in "iu":
        top = 2**bits - 1 if bits else np.iinfo(dtype).max
        return rng.integers(np.iinfo(dtype).min, top, shape, dtype=dtype, endpoint=True)
    if kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    values = rng.normal(0, 1e3, shape if kind == "f" else (*shape, 2))
    if kind == "c":
        values = values[..., 0] + 1j * values[..., 1]
    data = values.astype(dtype)
    data.flat[:5] = [np.nan, np.inf, -np.inf, -0.0, np.finfo(dtype).smallest_subnormal]
    return data


def write_case(path: Path, case: dict[str, Any], data: np.ndarray) -> None:
    """*data* to *path* with tifffile, as *case* says."""
    compression, _, predictor = case["compression"].partition("+")
    options: dict[str, Any] = {
        "byteorder": case["byteorder"],
        "compression": None if compression == "none" else compression,
        "predictor": bool(predictor) or None,
        "photometric": "minisblack" if case["photometric"] == "gray" else "rgb",
        "bigtiff": case["container"] == "bigtiff",
        "imagej": case["container"] == "imagej",
        "ome": case["container"] == "ome",
    }
    if case["layout"] == "tiles":
        options["tile"] = (16, 16)
    else:
        options["rowsperstrip"] = 5  # several strips, the last one short
    if case["photometric"] != "gray":
        options["planarconfig"] = case["planar"]
    if case["photometric"] == "rgba":
        options["extrasamples"] = ("unassalpha",)
    if SAMPLES[case["sample"]][1]:
        options["bitspersample"] = SAMPLES[case["sample"]][1]
    if case["container"] == "plain":
        options["metadata"] = None  # no shaped-series description: tifffile's generic series
    tifffile.imwrite(path, data, **options)


def bits(array: np.ndarray) -> bytes:
    """The values' bytes in one byte order (byte order is layout, not data)."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def test_the_matrix_covers_every_factor_value() -> None:
    assert 60 <= len(CASES) <= 120, len(CASES)
    for name, values in FACTORS.items():
        assert {case[name] for case in CASES} == set(values), name


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_tifffile_written_tiff_converts_exactly(tmp_path: Path, case: dict[str, Any]) -> None:
    src, out = tmp_path / "in.tif", tmp_path / "out.emd"
    data = sample_data(case, CASES.index(case))
    write_case(src, case, data)
    expected = tifffile.imread(src)
    try:
        emdconvert.convert(src, out)
    except EmdConvertError as error:
        pytest.fail(
            f"tifffile reads this file ({expected.shape} {expected.dtype}) but "
            f"emdconvert refused it: {error}"
        )
    (ours,) = rsciio_emd_arrays(out)
    assert ours.shape == expected.shape
    assert ours.dtype.newbyteorder("=") == expected.dtype.newbyteorder("=")
    assert bits(ours) == bits(expected)
