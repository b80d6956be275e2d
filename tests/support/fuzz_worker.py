"""A long-lived child that converts the fuzzer's files, one request per line.

Property tests send thousands of mutated files; a fresh interpreter per file would spend
0.3-0.5 s importing h5py, tifffile and rsciio each time.  This
worker imports once and runs each conversion exactly as the library does, under the
address-space limit the parent sets.  A crash (segfault, abort) kills only the worker,
and the parent reports the file that did it.

Protocol: a JSON line ``{"source": ..., "output": ...}`` in, a JSON line out:
``{"code": exit code, "error": message, "checked": detail}``.  Exit code 0 means the
output was written, reopened, its shapes equal what reading the source reported, and
its data (read back by rsciio) equal what an independent eager reader of the source
returns: tifffile, numpy, rsciio (DM, SER, MRC, EMD) or ``numpy.loadtxt``.  A mutant we
converted that the independent reader refuses (code 95) or reads differently (code 94)
is a failure: "exit 0" must mean "the same data another implementation sees".
"""

from __future__ import annotations

import gc
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

import emdconvert
from emdconvert.testing import assert_valid_emd, leftovers
from support.rsciio_oracle import as_loaded, rsciio_emd_arrays


def independent_arrays(source: Path) -> list[np.ndarray]:
    """The source's arrays as another implementation reads them, eagerly and whole."""
    suffix = source.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(source) as tif:
            return [series.asarray() for series in tif.series]
    if suffix == ".npy":
        return [np.load(source, allow_pickle=False)]
    if suffix == ".npz":
        with np.load(source, allow_pickle=False) as archive:
            return [archive[name] for name in archive.files]
    if suffix == ".csv":
        # The layout rules (README): a first row that is not all numbers is a header;
        # under a header, one column is one dataset, else the first is the coordinate.
        with open(source, encoding="utf-8") as handle:
            first = handle.readline()
        header = not all(_is_number(cell) for cell in first.split(","))
        table = np.loadtxt(source, delimiter=",", skiprows=int(header), ndmin=2)
        if not header:
            return [table]
        if table.shape[1] == 1:
            return [table[:, 0]]
        return [table[:, k] for k in range(1, table.shape[1])]
    from rsciio import digitalmicrograph, emd, mrc, tia

    reader = {
        ".dm3": digitalmicrograph,
        ".dm4": digitalmicrograph,
        ".emd": emd,
        ".ser": tia,
        ".mrc": mrc,
    }[suffix]
    return [
        np.asarray(as_loaded(signal)["data"])
        for signal in reader.file_reader(str(source), lazy=False)
    ]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _canonical(arrays: list[np.ndarray], as_float: bool) -> list[tuple[Any, ...]]:
    """Order-free, byte-order-free fingerprints: (shape, dtype, bytes) sorted."""
    out = []
    for array in arrays:
        array = np.asarray(array)
        array = array.astype(np.float64 if as_float else array.dtype.newbyteorder("="))
        out.append((array.shape, array.dtype.str, np.ascontiguousarray(array).tobytes()))
    return sorted(out)


def same_data(source: Path, output: Path) -> dict[str, Any] | None:
    """None when our output holds the data the independent reader sees, else a reply."""
    try:
        expected = independent_arrays(source)
    except Exception as exc:
        return {
            "code": 95,
            "error": f"converted, but the independent reader refuses the "
            f"source: {type(exc).__name__}: {exc}"[:2000],
        }
    written = rsciio_emd_arrays(output)
    as_float = source.suffix.lower() == ".csv"  # loadtxt gives floats, we keep int columns
    if _canonical(written, as_float) != _canonical(expected, as_float):
        found = [(a.shape, str(a.dtype)) for a in written]
        wanted = [(np.shape(a), str(np.asarray(a).dtype)) for a in expected]
        return {
            "code": 94,
            "error": f"converted data differ from the independent reader's: "
            f"wrote {found}, it reads {wanted}",
        }
    return None


def convert_one(source: Path, output: Path) -> dict[str, Any]:
    try:
        emdconvert.convert(source, output)
    except emdconvert.EmdConvertError as exc:
        if output.exists() or leftovers(output.parent):
            return {"code": 99, "error": f"left a file behind after: {exc}"}
        return {"code": exc.exit_code, "error": str(exc)}
    except BaseException as exc:  # a raw exception escaping the library is a bug
        return {"code": 98, "error": "".join(traceback.format_exception(exc))}
    try:
        assert_valid_emd(output)
        # Shapes only: the models (and the files their lazy arrays hold open) go at once.
        written = [(d.shape, str(d.dtype)) for d in emdconvert.read(output).datasets]
        reported = [(d.shape, str(d.dtype)) for d in emdconvert.read(source).datasets]
        gc.collect()
        if written != reported:
            return {"code": 97, "error": f"wrote {written}, the source reads as {reported}"}
        differs = same_data(source, output)
        gc.collect()
        if differs is not None:
            return differs
    except BaseException as exc:
        return {"code": 96, "error": "".join(traceback.format_exception(exc))}
    finally:
        output.unlink(missing_ok=True)
    return {"code": 0, "error": "", "checked": str(written)}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        reply = convert_one(Path(request["source"]), Path(request["output"]))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
