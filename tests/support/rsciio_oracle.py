"""What rsciio (HyperSpy's reader) reads from an EMD file: the independent expectation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np


def rsciio_emd_arrays(path: str | Path) -> list[np.ndarray]:
    """Every dataset of the EMD file at *path*, as rsciio (HyperSpy's reader) returns it.

    The independent expectation for "what did we write": differential tests compare it
    with another library's reading of the source, never with our own reader.
    """
    from rsciio.emd import file_reader

    return [np.asarray(signal["data"]) for signal in file_reader(str(path))]


def as_loaded(signal: dict[str, Any]) -> dict[str, Any]:
    """rsciio's *signal* after the ``post_process`` steps ``hs.load`` applies to it (DM:
    a spectrum image's ``to_signal1D``, then ``squeeze``): data and axes in array order.

    rsciio's ``file_reader`` returns the raw layout; what users see, and what our
    conversion must give, is HyperSpy's loaded signal.
    """
    if not signal.get("post_process"):
        return signal
    from hyperspy.io import dict2signal

    logging.disable(logging.WARNING)  # "signal_type 'EELS' not understood", on stdout
    try:
        loaded = dict2signal(signal, lazy=False)
    finally:
        logging.disable(logging.NOTSET)
    axes = [axis.get_axis_dictionary() for axis in loaded.axes_manager._axes]
    return {**signal, "data": loaded.data, "axes": axes}
