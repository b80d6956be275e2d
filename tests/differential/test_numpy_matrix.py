"""Differential: numpy-written inputs over a grid, and byte mutants of them.

For every input, exit 0 must mean that rsciio's reading of our EMD equals numpy's reading
of the source, bit for bit; an :class:`EmdConvertError` must be one of the documented
unsupported cases below.  Byte order: we keep the source's (a ``>f4`` source gives a
``>f4`` dataset, which HDF5 records and every reader converts), so dtypes are compared
up to byte order and values through their native-order bytes.

Documented unsupported or special cases:

- 0-D arrays: EMD data need at least one dimension (README, EMD layout L3), refused with
  ``UnsupportedError``.
- Zero-length arrays: rsciio and HyperSpy cannot open an EMD dataset with a
  zero-length dimension (``IndexError``), so the EMD writer refuses them with
  ``UnsupportedError``; ``.npy`` output keeps them.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support.rsciio_oracle import rsciio_emd_arrays

import emdconvert
from emdconvert.errors import EmdConvertError, UnsupportedError

DTYPES = ["?", "i1", "u1"] + [
    f"{order}{kind}{size}"
    for kind, sizes in (("i", (2, 4, 8)), ("u", (2, 4, 8)), ("f", (2, 4, 8)), ("c", (8, 16)))
    for size in sizes
    for order in "<>"
]
#: (shape, Fortran order) per dtype: 1-D to 4-D, non-square, both memory orders.
LAYOUTS = [
    ((7,), False),
    ((3, 5), False),
    ((3, 5), True),
    ((2, 3, 4), True),
    ((2, 3, 4, 5), False),
    ((2, 3, 4, 5), True),
]


def random_array(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Every bit pattern is possible (NaNs and infinities included) except for bools."""
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype)
    count = int(np.prod(shape))
    if kind.kind == "b":
        return (rng.integers(0, 2, count) == 1).reshape(shape)
    raw = rng.integers(0, 256, count * kind.itemsize, dtype=np.uint8)
    return raw.view(kind).reshape(shape)


def native_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, array.dtype.newbyteorder("=")).tobytes()


def assert_same(found: np.ndarray, expected: np.ndarray) -> None:
    assert found.shape == expected.shape
    assert found.dtype.newbyteorder("=") == expected.dtype.newbyteorder("=")
    assert native_bytes(found) == native_bytes(expected)


def numpy_members(path: Path) -> list[np.ndarray]:
    """numpy's reading of every member, in directory order, once zipfile's CRC check
    passed; opened by ZipInfo so members sharing a name are all read."""
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return [
            np.lib.format.read_array(archive.open(info), allow_pickle=False)
            for info in archive.infolist()
        ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_npy_grid_converts_bit_exact(tmp_path: Path, dtype: str) -> None:
    for k, (shape, fortran) in enumerate(LAYOUTS):
        array = random_array(dtype, shape, seed=k)
        src = tmp_path / f"a{k}.npy"
        np.save(src, np.asfortranarray(array) if fortran else array)
        emdconvert.convert(src, tmp_path / f"a{k}.emd")
        (found,) = rsciio_emd_arrays(tmp_path / f"a{k}.emd")
        assert_same(found, np.load(src))


@pytest.mark.parametrize("dtype", ["u1", ">f8", "c8"])
def test_documented_special_cases(tmp_path: Path, dtype: str) -> None:
    np.save(tmp_path / "scalar.npy", random_array(dtype, ()))
    with pytest.raises(UnsupportedError, match="at least one dimension"):
        emdconvert.convert(tmp_path / "scalar.npy", tmp_path / "scalar.emd")
    np.save(tmp_path / "empty.npy", np.zeros((0, 3), dtype))
    with pytest.raises(UnsupportedError, match="no elements"):
        emdconvert.convert(tmp_path / "empty.npy", tmp_path / "empty.emd")
    assert not (tmp_path / "empty.emd").exists()
    emdconvert.convert(tmp_path / "empty.npy", tmp_path / "copy.npy")
    copy = np.load(tmp_path / "copy.npy")
    assert copy.shape == (0, 3) and copy.dtype == np.dtype(dtype)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_members_of_different_dtypes_convert_bit_exact(tmp_path: Path, save: object) -> None:
    # rsciio lists groups by name: these names sort in member order.
    members = {
        f"m{k}": random_array(dtype, shape, seed=k)
        for k, (dtype, shape) in enumerate(
            [
                ("<u2", (4, 6)),
                (">f4", (3, 2, 5)),
                ("c16", (9,)),
                ("?", (2, 2)),
                ("<i8", (5, 3)),
                (">f2", (2, 3, 2, 2)),
            ]
        )
    }
    members["m6"] = np.asfortranarray(random_array("f8", (6, 7), seed=6))
    src = tmp_path / "m.npz"
    save(src, **members)  # type: ignore[operator]
    emdconvert.convert(src, tmp_path / "m.emd")
    found = rsciio_emd_arrays(tmp_path / "m.emd")
    expected = numpy_members(src)
    assert len(found) == len(expected) == len(members)
    for got, want in zip(found, expected, strict=True):
        assert_same(got, want)


def _csv_text(values: np.ndarray, delimiter: str, decimal: str) -> str:
    cells = [[repr(v.item()) for v in row] for row in values]
    if decimal == ",":
        cells = [[c.replace(".", ",") for c in row] for row in cells]
    return "".join(delimiter.join(row) + "\n" for row in cells)


@pytest.mark.parametrize(
    ("delimiter", "decimal"), [(",", "."), (";", ","), ("\t", "."), (" ", ",")]
)
def test_csv_tables_agree_with_genfromtxt(tmp_path: Path, delimiter: str, decimal: str) -> None:
    """Floats (with nan/inf and extremes) and integers, in both decimal marks; numpy's
    genfromtxt reads the same numbers written with a decimal point."""
    rng = np.random.default_rng(5)
    floats = rng.normal(0, 1e3, (300, 7)) * 10.0 ** rng.integers(-300, 300, (300, 7))
    floats[0, :3] = [np.nan, np.inf, -np.inf]
    floats[1, :3] = [5e-324, -0.0, 1.7976931348623157e308]
    ints = rng.integers(-(2**63), 2**63 - 1, (200, 4), dtype=np.int64)
    for name, values in (("floats", floats), ("ints", ints)):
        src = tmp_path / f"{name}.csv"
        src.write_text(_csv_text(values, delimiter, decimal))
        reference = tmp_path / f"{name}_point.csv"
        reference.write_text(_csv_text(values, ",", "."))
        expected = np.genfromtxt(reference, delimiter=",", dtype=values.dtype)
        emdconvert.convert(
            src, tmp_path / f"{name}.emd", options={"delimiter": delimiter, "decimal": decimal}
        )
        (found,) = rsciio_emd_arrays(tmp_path / f"{name}.emd")
        assert_same(found, expected)


def test_csv_spectrum_columns_agree_with_genfromtxt(tmp_path: Path) -> None:
    energy = np.round(np.linspace(100, 400, 2000), 3)
    counts = np.random.default_rng(2).poisson(50, 2000)
    src = tmp_path / "s.csv"
    src.write_text(
        "energy [eV],counts\n"
        + "".join(f"{e!r},{c}\n" for e, c in zip(energy.tolist(), counts.tolist(), strict=True))
    )
    expected = np.genfromtxt(src, delimiter=",", skip_header=1, dtype=None)
    emdconvert.convert(src, tmp_path / "s.emd")
    (found,) = rsciio_emd_arrays(tmp_path / "s.emd")
    assert_same(found, expected["f1"].astype(np.int64))


def _mutants(data: bytes, count: int, seed: int) -> list[bytes]:
    """Deterministic single-byte changes (xor, 0x00, 0xff) and truncations of *data*."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        raw = bytearray(data)
        where = int(rng.integers(0, len(raw)))
        if k % 10 == 9:
            out.append(bytes(raw[:where]))
            continue
        raw[where] = (raw[where] ^ int(rng.integers(1, 256)), 0, 0xFF)[k % 3]
        out.append(bytes(raw))
    return out


def _sources() -> dict[str, bytes]:
    def npz(save: object, **arrays: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        save(buffer, **arrays)  # type: ignore[operator]
        return buffer.getvalue()

    buffer = io.BytesIO()
    np.save(buffer, random_array("<f4", (3, 5), seed=1))
    # "a" is larger than zipfile's 4 KiB read-ahead, which checks the CRC of smaller members
    # as a side effect of reading their header.
    members = {"a": random_array("<i2", (64, 64), seed=2), "b": random_array(">f8", (5,), 3)}
    return {
        "npy": buffer.getvalue(),
        "npz": npz(np.savez, **members),
        "npz_compressed": npz(np.savez_compressed, **members),
    }


@pytest.mark.parametrize("kind", ["npy", "npz", "npz_lazy", "npz_compressed"])
def test_byte_mutants_convert_only_when_numpy_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """~60 mutants per file: whenever emdconvert succeeds, numpy (after zipfile's CRC
    check, for archives) reads the same arrays from the mutant.  ``npz_lazy`` checks
    even small stored members the way large ones are (CRC summed as the writer reads)."""
    from emdconvert.plugins.npy import npz

    if kind == "npz_lazy":
        monkeypatch.setattr(npz, "_EAGER_CRC_BYTES", 0)
    source = _sources()[kind.replace("_lazy", "")]
    suffix = ".npy" if kind == "npy" else ".npz"
    wrong = []
    for k, mutant in enumerate(_mutants(source, 60, seed=len(kind))):
        src = tmp_path / f"m{k}{suffix}"
        src.write_bytes(mutant)
        dst = tmp_path / f"m{k}.emd"
        try:
            emdconvert.convert(src, dst)
        except EmdConvertError:
            continue
        try:
            expected = [np.load(src)] if kind == "npy" else numpy_members(src)
        except Exception as exc:
            wrong.append((k, f"converted, but numpy refuses: {type(exc).__name__}: {exc}"))
            continue
        found = rsciio_emd_arrays(dst)
        if len(found) != len(expected) or not all(
            native_bytes(f) == native_bytes(e) and f.shape == e.shape
            for f, e in zip(found, expected, strict=False)
        ):
            wrong.append((k, "converted, but the data differ from numpy's"))
    assert not wrong, wrong
