"""The lazy page array: a TIFF stack indexed like numpy, read a page at a time.

A stack can be far larger than memory, so nothing is read until the array is indexed;
the leading axes then select whole pages and only those are decoded.
:class:`PagedArray` holds the indexing, shared with the folder-of-frames stack;
:class:`TiffSeriesArray` reads one tifffile series of a file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.errors import FormatError
from emdconvert.lazy import ArrayLike


def _split_key(key: Any, shape: tuple[int, ...], lead: int) -> tuple[list[Any], tuple[Any, ...]]:
    """Normalise *key* and split it into per-axis leading keys and the in-page rest."""
    from emdconvert.lazy import expand_index

    keys, _ = expand_index(key, shape)
    return keys[:lead], tuple(keys[lead:])


def _gather(
    lead_keys: list[Any], lead_shape: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, ...], list[bool]]:
    """Flat page numbers selected by *lead_keys*, their grid shape, and dropped axes."""
    ranges = [np.arange(n)[k] for k, n in zip(lead_keys, lead_shape, strict=True)]
    dropped = [np.ndim(r) == 0 for r in ranges]
    grids = [np.atleast_1d(r) for r in ranges]
    mesh = np.meshgrid(*grids, indexing="ij") if grids else []
    flat = (
        np.ravel_multi_index([m.ravel() for m in mesh], lead_shape)
        if grids
        else np.zeros(1, np.intp)
    )
    return flat, tuple(len(g) for g in grids), dropped


class PagedArray(ArrayLike):
    """Common lazy indexing: leading axes select pages, the rest index inside a page."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    page_shape: tuple[int, ...]

    def _read_pages(self, flat: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> np.ndarray:
        lead = len(self.shape) - len(self.page_shape)
        lead_keys, inner = _split_key(key, self.shape, lead)
        flat, grid, dropped = _gather(lead_keys, self.shape[:lead])
        pages = self._read_pages(flat).reshape(*grid, *self.page_shape)
        pages = pages[(slice(None),) * lead + inner]
        drop = tuple(0 if d else slice(None) for d in dropped)
        return np.asarray(pages[drop]) if any(dropped) else np.asarray(pages)


class TiffSeriesArray(PagedArray):
    """One tifffile series, read a page at a time (the file stays open, like h5py)."""

    def __init__(self, path: Path, series: int) -> None:
        import tifffile

        self._tif = tifffile.TiffFile(path)
        self._series = series
        found = self._tif.series[series]
        self.shape = tuple(int(n) for n in found.shape)
        self.dtype = np.dtype(found.dtype)
        self.page_shape = tuple(int(n) for n in found.keyframe.shape)
        if math.prod(self.shape[: len(self.shape) - len(self.page_shape)]) != len(found) and len(
            self.shape
        ) > len(self.page_shape):
            raise FormatError(
                f"series {series} declares {self.shape} but holds {len(found)} pages (truncated?)"
            )

    def close(self) -> None:
        """Close the TIFF file (the series cannot be read after)."""
        tif = getattr(self, "_tif", None)
        if tif is not None:
            tif.close()

    def __del__(self) -> None:
        self.close()

    def _read_pages(self, flat: np.ndarray) -> np.ndarray:
        if len(self.shape) == len(self.page_shape):
            return np.asarray(self._tif.series[self._series].asarray())
        return np.asarray(self._tif.asarray(key=[int(i) for i in flat], series=self._series))
