"""The second pass: each block of a CSV file parsed into the preallocated result arrays.

Why two parsers: numpy's C parser (``np.loadtxt``) is fast, and is only given blocks
made of characters the grammar allows, where it accepts exactly the grammar (the test
suite checks this exhaustively on short cells); any other block, or one it refuses, is
parsed cell by cell in Python, which names the bad cell.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emdconvert.errors import FormatError
from emdconvert.plugins.csv_.grammar import INT64, cell_pattern, parse_float, split_cells
from emdconvert.plugins.csv_.scan import (
    BLANK_LINES,
    Layout,
    blocks,
    decode,
    has_blank_line,
    survey,
)

#: Parsed rows of one block: (column indices, their values as a 2-D array) per dtype.
Groups = list[tuple[list[int], np.ndarray]]


@functools.cache
def _plain_bytes(delimiter: str, decimal: str) -> bytes:
    """The characters of blocks ``np.loadtxt`` may parse (no quotes, nothing non-ASCII)."""
    return f"0123456789+-eEnNaAiIfFtTyY \t\r\n{decimal}{delimiter}".encode()


def _loadtxt(text: str, layout: Layout, ints: list[bool], rows: int) -> Groups | None:
    """The block parsed by numpy's C parser, or None when it refuses (a bad cell)."""
    if layout.decimal == ",":
        text = text.replace(",", ".")
    groups: Groups = []
    # The first parse reads every column: only without usecols does loadtxt insist that
    # every row has the same number of cells (a row longer than the header would
    # otherwise lose its extra cells).  Integer columns of a mixed table are parsed
    # again as int64, because float64 would round them beyond 2**53.
    floats = [j for j in range(layout.width) if not ints[j]]
    integers = [j for j in range(layout.width) if ints[j]]
    for columns, dtype in (
        (floats or integers, np.float64 if floats else np.int64),
        (integers if floats else [], np.int64),
    ):
        if not columns:
            continue
        everything = columns is floats or not floats
        try:
            values = np.loadtxt(
                io.StringIO(text),
                dtype=dtype,
                comments=None,
                ndmin=2,
                delimiter=None if layout.delimiter == " " else layout.delimiter,
                usecols=None if everything else columns,
            )
        except ValueError:
            return None
        if values.shape != (rows, layout.width if everything else len(columns)):
            return None
        groups.append(
            (columns, values[:, columns] if everything and floats and integers else values)
        )
    return groups


def _parse_cells(text: str, line: int, layout: Layout, ints: list[bool], rows: int) -> Groups:
    """The block parsed cell by cell: slow, but it names the first bad cell.

    Columns the block shows to hold a float are returned as float columns.
    """
    pattern = cell_pattern(layout.decimal)
    as_float = np.empty((rows, layout.width), np.float64)
    as_int = np.zeros((rows, layout.width), np.int64)
    is_float = [not kind for kind in ints]
    i = 0
    for k, content in enumerate(text.split("\n")[:-1]):
        content = content.removesuffix("\r")
        if not content.strip(" \t\r"):
            continue
        r = line + k
        try:
            cells = split_cells(content, layout.delimiter)
        except csv.Error as exc:
            raise FormatError(f"row {r}: {exc}") from None
        if len(cells) != layout.width:
            raise FormatError(f"row {r} has {len(cells)} cells, expected {layout.width}")
        if i == rows:
            raise FormatError("the file changed while it was read")
        for c, cell in enumerate(cells):
            match = pattern.fullmatch(cell)
            if match is None:
                raise FormatError(f"row {r}, column {c + 1}: {cell.strip()!r} is not a number")
            if match["int"] is None:
                is_float[c] = True
                as_float[i, c] = parse_float(cell, layout.decimal)
                continue
            number = int(cell)
            if not INT64.min <= number <= INT64.max:
                raise FormatError(
                    f"row {r}, column {c + 1}: {cell.strip()} does not fit a 64-bit integer"
                )
            as_int[i, c] = as_float[i, c] = number
        i += 1
    if i != rows:
        raise FormatError("the file changed while it was read")
    floats = [j for j in range(layout.width) if is_float[j]]
    integers = [j for j in range(layout.width) if not is_float[j]]
    return [
        (cols, values[:, cols]) for cols, values in ((integers, as_int), (floats, as_float)) if cols
    ]


class _Columns:
    """The preallocated result: one 2-D array for a table, one array per spectrum column.

    A spectrum column starts as int64 when its first cell is an integer and becomes
    float64 (integers converted exactly as parsing them as floats would) when a block
    shows a float in it.
    """

    def __init__(self, layout: Layout) -> None:
        rows = sum(layout.rows)
        if layout.header is None:
            self.ints = [not layout.floats] * layout.width
            dtype = np.int64 if not layout.floats else np.float64
            self.table: np.ndarray | None = np.empty((rows, layout.width), dtype)
            self.columns: list[np.ndarray] = []
        else:
            self.ints = [
                not layout.floats or (j < len(layout.first_ints) and layout.first_ints[j])
                for j in range(layout.width)
            ]
            self.table = None
            self.columns = [np.empty(rows, np.int64 if kind else np.float64) for kind in self.ints]

    def put(self, first: int, groups: Groups) -> None:
        for columns, values in groups:
            for j in columns:
                if self.ints[j] and values.dtype.kind == "f":
                    self._widen(j)
            end = first + len(values)
            if self.table is not None:
                whole = len(columns) == self.table.shape[1]
                self.table[first:end, slice(None) if whole else columns] = values
            else:
                for i, j in enumerate(columns):
                    self.columns[j][first:end] = values[:, i]

    def _widen(self, j: int) -> None:
        if self.table is not None:
            self.table = self.table.astype(np.float64)
            self.ints = [False] * len(self.ints)
        else:
            self.columns[j] = self.columns[j].astype(np.float64)
            self.ints[j] = False


def parse_table(
    path: Path, options: Mapping[str, Any] | None = None
) -> tuple[list[str] | None, np.ndarray | list[np.ndarray]]:
    """(header cells or None, values) of the CSV file at *path*, strictly.

    Values are the 2-D table when there is no header, else one 1-D array per column.
    A column (a table: all of it) is int64 when every cell in it is an integer, float64
    otherwise.
    """
    with open(path, "rb") as handle:
        layout = survey(handle, options)
        result = _Columns(layout)
        plain = _plain_bytes(layout.delimiter, layout.decimal)
        first = 0
        for (line, offset, raw), rows in zip(
            blocks(handle, layout.start, layout.line), layout.rows, strict=True
        ):
            if not rows:
                continue
            text = decode(raw, offset)
            groups = None
            if not raw.translate(None, plain):
                lines = BLANK_LINES.sub("", text) if has_blank_line(text) else text
                groups = _loadtxt(lines, layout, result.ints, rows)
            if groups is None:
                groups = _parse_cells(text, line, layout, result.ints, rows)
            result.put(first, groups)
            first += rows
    values = result.table if result.table is not None else result.columns
    return layout.header, values
