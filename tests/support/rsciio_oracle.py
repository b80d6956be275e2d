"""What rsciio (HyperSpy's reader) reads from an EMD file: the independent expectation."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def rsciio_emd_arrays(path: str | Path) -> list[np.ndarray]:
    """Every dataset of the EMD file at *path*, as rsciio (HyperSpy's reader) returns it.

    The independent expectation for "what did we write": differential tests compare it
    with another library's reading of the source, never with our own reader.
    """
    from rsciio.emd import file_reader

    return [np.asarray(signal["data"]) for signal in file_reader(str(path))]
