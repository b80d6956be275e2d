"""Issue 12, CSV slice: only plain decimal/scientific numbers are numbers, and a large
table is parsed in blocks into preallocated arrays (bounded memory).

The expectation for every cell comes from Python's own ``float()``/``int()`` restricted
to what the documented grammar allows (ASCII, no ``_``), not from our regex; tables are
written as plain text here.
"""

from __future__ import annotations

import itertools
import math
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import emdconvert
from emdconvert.errors import FormatError, UsageError
from emdconvert.plugins.csv_ import scan
from emdconvert.plugins.csv_.parse import parse_table


@pytest.mark.parametrize(
    ("cell", "decimal"),
    [
        ("1_000", "."),
        ("1_0.5", "."),
        ("1_0,5", ","),
        ("\u0661\u0662\u0663", "."),
        ("\uff11\uff12", "."),
        ("\u0663.\u0661", "."),
        ("\uff11,\uff15", ","),
    ],
)
def test_numbers_python_accepts_but_the_grammar_does_not_are_refused(
    tmp_path: Path, cell: str, decimal: str
) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(f"a;b\n1;2\n3;{cell}\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"row 3, column 2: .* is not a number") as caught:
        emdconvert.convert(src, tmp_path / "bad.emd", options={"decimal": decimal})
    assert caught.value.exit_code == 3 and not (tmp_path / "bad.emd").exists()


#: Cell characters: the grammar's, and some it refuses (``_``, ``x``, ``,``, ``\r``); all
#: strings of up to three of the first ones, a seeded sample of longer ones from all.
SHORT = "1.eE+-naif_x ,\r"
ALPHABET = SHORT + "0NItyF\t"
#: Longer spellings of the words and of the extremes.
EXTRA = [
    "Infinity",
    "-Infinity",
    "INFINITY",
    "NaN",
    "-nan",
    "+inf",
    "infinit",
    "nann",
    "1e308",
    "1e309",
    "-1e309",
    "4.9e-324",
    "1e-400",
    "00012",
    "1.5e+03",
    "+.5",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
]


def _expected(cell: str) -> float | int | None:
    """Python's reading of *cell* where the documented grammar has one, else None."""
    text = cell.removesuffix("\r")  # a CRLF line end
    if not text.isascii() or any(c in text for c in "_\r,"):
        return None
    try:
        value: float | int = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
    return None if isinstance(value, int) and not -(2**63) <= value < 2**63 else value


def _cells(seed: int = 7, count: int = 1500) -> list[str]:
    short = ["".join(p) for n in (1, 2, 3) for p in itertools.product(SHORT, repeat=n)]
    rng = np.random.default_rng(seed)
    weighted = list("0123456789.eE+-") * 3 + list(ALPHABET)
    longer = ["".join(rng.choice(weighted, size=rng.integers(4, 9))) for _ in range(count)]
    return short + longer + EXTRA


def test_every_short_cell_is_read_as_python_reads_it_or_refused(tmp_path: Path) -> None:
    """Exhaustive over cells of up to 3 characters (plus a seeded sample of longer ones):
    accepted exactly when Python's float()/int() accept it under the grammar's limits,
    and then with Python's value, bit for bit; refused with the row and column."""
    src = tmp_path / "cell.csv"
    src.touch()
    wrong = []
    fd = os.open(src, os.O_WRONLY)  # rewritten in place: opening/truncating cost more
    try:
        for cell in _cells():
            line = f"1;{cell}\n".encode()
            os.pwrite(fd, line.ljust(32, b"\n"), 0)  # padded with (skipped) blank lines
            _check_cell(src, cell, wrong)
    finally:
        os.close(fd)
    assert not wrong, wrong[:20]


def _check_cell(src: Path, cell: str, wrong: list[tuple[str, object, str]]) -> None:
    """Append to *wrong* unless the file ``1;<cell>`` reads as :func:`_expected` says."""
    expected = _expected(cell)
    try:
        _, table = parse_table(src, {"delimiter": ";", "header": "no"})
    except FormatError as exc:
        if expected is not None or "row 1, column 2" not in str(exc):
            wrong.append((cell, expected, str(exc)))
        return
    assert isinstance(table, np.ndarray)
    got = table[0, 1]
    if expected is None or table.dtype.kind != ("i" if isinstance(expected, int) else "f"):
        wrong.append((cell, expected, repr(got)))
    elif isinstance(expected, float) and math.isnan(expected):
        if not math.isnan(got):
            wrong.append((cell, expected, repr(got)))
    elif np.array(got).tobytes() != np.array(expected, table.dtype).tobytes():
        wrong.append((cell, expected, repr(got)))


def test_integers_beyond_int64_are_refused_by_cell(tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    src.write_text("-9223372036854775808,1\n9223372036854775807,2\n9223372036854775808,3\n")
    with pytest.raises(FormatError, match=r"row 3, column 1: .* 64-bit integer"):
        emdconvert.read(src)


@pytest.mark.parametrize(
    ("delimiter", "decimal"), [("-", "."), ("e", "."), ("1", "."), ("N", ","), (".", ",")]
)
def test_delimiters_that_numbers_contain_are_usage_errors(
    tmp_path: Path, delimiter: str, decimal: str
) -> None:
    src = tmp_path / "t.csv"
    src.write_text("1,2\n")
    with pytest.raises(UsageError, match="part of a number"):
        emdconvert.read(src, options={"delimiter": delimiter, "decimal": decimal})


SPECTRUM = (
    '\ufeffenergy [eV];"counts";other\r\n'
    "\r\n"
    "100;5;1\r\n"
    "   \t\r\n"
    '100,5;"7";2\r\n'
    "101;9;3\r\n"
    "\n"
    "101,5;11;4,25\r\n"
    "102;-3;NaN"
)


@pytest.mark.parametrize("block", [7, 40, 4 * 1024 * 1024])
def test_block_size_does_not_change_what_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """BOM, CRLF, blank and whitespace-only lines, quotes, no final newline, and a column
    that turns out to hold floats only after its first block: cut anywhere, read alike."""
    monkeypatch.setattr(scan, "_BLOCK_BYTES", block)
    src = tmp_path / "s.csv"
    src.write_text(SPECTRUM, encoding="utf-8", newline="")
    model = emdconvert.read(src, options={"decimal": ","})
    counts, other = model.datasets
    assert counts.dtype == np.int64 and other.dtype == np.float64
    np.testing.assert_array_equal(counts.data, [5, 7, 9, 11, -3])
    np.testing.assert_array_equal(other.data, [1, 2, 3, 4.25, np.nan])
    np.testing.assert_array_equal(counts.dims[0].values, [100, 100.5, 101, 101.5, 102])


@pytest.mark.parametrize("block", [16, 4 * 1024 * 1024])
def test_bad_cell_far_into_the_file_is_named_by_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(scan, "_BLOCK_BYTES", block)
    lines = [f"{i},{i * 0.5}" for i in range(30_000)]
    lines[2] = ""
    lines[25_000] = "25000,1_0"
    src = tmp_path / "t.csv"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"row 25001, column 2: '1_0' is not a number"):
        emdconvert.read(src)


def test_peak_memory_is_the_parsed_array_plus_a_few_blocks(tmp_path: Path) -> None:
    """~9 MB of text, 8 MB of float64: reading it into Python objects first peaked near
    200 MB; blocks into a preallocated array stay within the array + 40 MB."""
    rng = np.random.default_rng(0)
    values = rng.random((200_000, 5))
    src = tmp_path / "t.csv"
    np.savetxt(src, values, fmt="%.6f", delimiter=",")
    tracemalloc.start()
    try:
        _, table = parse_table(src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(table, np.ndarray) and table.shape == values.shape
    rows = rng.choice(len(values), 2000)
    expected = [[float(f"{v:.6f}") for v in values[r]] for r in rows]
    np.testing.assert_array_equal(table[rows], expected)
    assert peak <= table.nbytes + 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(
    "rows",
    [
        "100.0,0,0\n100.5,1,1\n",  # mixed float/int columns: loadtxt picks columns
        "100.0,0.5,0\n100.5,1.5,1\n",  # mixed again, the other way round
        "1,2,3\n4,5,6\n",  # all integers
        "1.5,2.5,3.5\n4.5,5.5,6.5\n",  # all floats
    ],
)
def test_rows_wider_than_the_header_are_refused(tmp_path: Path, rows: str) -> None:
    """Found by the fuzzer's differential oracle: a two-name header over three-cell rows
    converted to one dataset, dropping a column, where numpy.loadtxt reads three."""
    path = tmp_path / "wide.csv"
    path.write_text("counts,background\n" + rows)
    assert np.loadtxt(path, delimiter=",", skiprows=1).shape == (2, 3)
    with pytest.raises(FormatError, match="has 3 cells, expected 2"):
        emdconvert.convert(path, tmp_path / "out.emd")
    assert not (tmp_path / "out.emd").exists()
