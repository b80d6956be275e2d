"""Writing ``.npy`` (one array) and ``.npz`` (one stored member per dataset).

Arrays are streamed block by block behind a header written first, so writing needs no
more memory than a block, whatever the dataset's size.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from emdconvert.errors import UnsupportedError
from emdconvert.lazy import DEFAULT_BLOCK_BYTES, iter_blocks
from emdconvert.model import Dataset, EMDFile


def write_npy(model: EMDFile, path: Path, options: Mapping[str, Any] | None) -> None:
    """The model as ``.npy`` or, when the target's suffix says so, ``.npz``."""
    options = options or {}
    progress = options.get("progress")
    # *path* is a temp name; the core says which extension the output will have.
    if options.get("target_suffix", path.suffix) == ".npz":
        _write_npz(model, path, progress)
        return
    if len(model.datasets) != 1:
        names = ", ".join(d.name for d in model.datasets)
        raise UnsupportedError(
            f".npy holds one array but the input has "
            f"{len(model.datasets)} ({names}); write .npz instead"
        )
    with open(path, "wb") as handle:
        _stream_npy(model.datasets[0], handle, progress)


def _write_npz(model: EMDFile, path: Path, progress: Any) -> None:
    from emdconvert.emd.writer import group_names

    names = group_names([d.name for d in model.datasets])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, dataset in zip(names, model.datasets, strict=True):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                _stream_npy(dataset, member, progress)


def _stream_npy(dataset: Dataset, handle: IO[bytes], progress: Any) -> None:
    """Header, then the array in C order, block by block."""
    from numpy.lib import format as npformat

    header = {
        "descr": npformat.dtype_to_descr(dataset.dtype),
        "fortran_order": False,
        "shape": dataset.shape,
    }
    npformat.write_array_header_2_0(handle, header) if _needs_v2(
        header
    ) else npformat.write_array_header_1_0(handle, header)
    for _, block in iter_blocks(dataset.data, DEFAULT_BLOCK_BYTES):
        handle.write(np.ascontiguousarray(block, dtype=dataset.dtype).data)
        if progress is not None:
            progress(block.nbytes)


def _needs_v2(header: dict[str, Any]) -> bool:
    return len(repr(header)) > 65000
