"""The alternatives a user would reach for, each run as its own process by the harness.

``python anchors.py TOOL IN OUT``.  Each reads the way its library documents:

- ``h5py``: read the whole array (numpy, tifffile or rsciio), write it in one call,
  contiguous, C order, no EMD metadata: the lower bound of "read all, write once".
- ``h5py-gzip``: the same through h5py's own gzip filter (level 1), with the chunk
  shape emdconvert would use in C order, for the compression comparison.
- ``ncempy``: ncempy's DM reader (numpy/tifffile for the others) and its EMD writer.
- ``hyperspy`` / ``hyperspy-lazy``: ``hs.load(IN).save(OUT)`` (npy wrapped in a
  ``Signal2D``), eager and ``lazy=True``.
- ``nionswift-dm4``: the exporters' reference (issue 18), the only other DM writer:
  rsciio reads the EMD whole, nionswift-io's ``save_image`` writes the DM4 with the
  calibrations.
- ``emdfile``: rsciio reads the EMD whole, emdfile (py4DSTEM's I/O) saves an ``Array``
  with its dim vectors as EMD 1.0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def read_all(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path)
    if suffix in (".tif", ".tiff"):
        import tifffile

        return tifffile.imread(path)
    from rsciio.digitalmicrograph import file_reader

    return file_reader(str(path))[0]["data"]


def h5py_plain(src: Path, dst: Path, gzip: bool = False) -> None:
    import h5py

    from emdconvert.emd.blockcopy import source_chunk

    data = read_all(src)
    with h5py.File(dst, "w") as h5:
        if gzip:
            chunks = source_chunk(data.shape, data.itemsize, False)
            h5.create_dataset(
                "data", data=data, chunks=chunks, compression="gzip", compression_opts=1
            )
        else:
            h5.create_dataset("data", data=data)


def ncempy_convert(src: Path, dst: Path) -> None:
    from ncempy.io import dm, emd

    if src.suffix.lower() in (".dm3", ".dm4"):
        with dm.fileDM(src) as handle:
            data = handle.getDataset(0)["data"]
    else:
        data = read_all(src)
    with emd.fileEMD(dst, readonly=False) as out:
        out.put_emdgroup("data", data, emd.defaultDims(data))


def hyperspy_convert(src: Path, dst: Path, lazy: bool) -> None:
    import hyperspy.api as hs

    if src.suffix.lower() == ".npy":
        data = np.load(src, mmap_mode="r" if lazy else None)
        signal = hs.signals.Signal2D(data)
        if lazy:
            signal = signal.as_lazy()
    else:
        signal = hs.load(src, lazy=lazy)
    signal.save(dst, overwrite=True)


def rsciio_signal(path: Path) -> dict:
    """The first signal of an EMD (or any rsciio format), read whole, axes included."""
    if path.suffix.lower() == ".emd":
        from rsciio.emd import file_reader
    else:
        from rsciio.digitalmicrograph import file_reader
    return file_reader(str(path))[0]


def nionswift_dm4(src: Path, dst: Path) -> None:
    from nion.data import Calibration, DataAndMetadata
    from nionswift_plugin.DM_IO import dm3_image_utils

    signal = rsciio_signal(src)
    data = signal["data"]
    calibrations = [
        Calibration.Calibration(
            axis.get("offset", 0.0), axis.get("scale", 1.0), axis.get("units") or ""
        )
        for axis in signal["axes"]
    ]
    descriptor = DataAndMetadata.DataDescriptor(False, 2, 2) if data.ndim == 4 else None
    xdata = DataAndMetadata.new_data_and_metadata(
        data, dimensional_calibrations=calibrations, data_descriptor=descriptor
    )
    with open(dst, "wb") as handle:
        dm3_image_utils.save_image(xdata, handle, 4)


def emdfile_save(src: Path, dst: Path) -> None:
    import emdfile

    signal = rsciio_signal(src)
    dims = [
        [axis.get("offset", 0.0), axis.get("offset", 0.0) + axis.get("scale", 1.0)]
        for axis in signal["axes"]
    ]
    units = [axis.get("units") or "pixels" for axis in signal["axes"]]
    names = [axis.get("name") or f"dim{i}" for i, axis in enumerate(signal["axes"])]
    array = emdfile.Array(
        data=signal["data"], name=src.stem, dims=dims, dim_units=units, dim_names=names
    )
    emdfile.save(str(dst), array, mode="o")


def main(argv: list[str]) -> None:
    tool, src, dst = argv[0], Path(argv[1]), Path(argv[2])
    if tool == "h5py":
        h5py_plain(src, dst)
    elif tool == "h5py-gzip":
        h5py_plain(src, dst, gzip=True)
    elif tool == "ncempy":
        ncempy_convert(src, dst)
    elif tool in ("hyperspy", "hyperspy-lazy"):
        hyperspy_convert(src, dst, lazy=tool == "hyperspy-lazy")
    elif tool == "nionswift-dm4":
        nionswift_dm4(src, dst)
    elif tool == "emdfile":
        emdfile_save(src, dst)
    else:
        raise SystemExit(f"unknown anchor {tool!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
