"""The CSV dialect: the strict number grammar, cell splitting, delimiter sniffing, options.

Reader, writer and ``sniff`` must agree on what a number and a cell are, so these rules
live in one place; ``parse_options`` is the one check of the ``delimiter``, ``decimal``
and ``header`` format options.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emdconvert.errors import UsageError

_HEADER_UNITS = re.compile(r"^\s*(?P<name>.*?)\s*[\[(](?P<units>[^\])]*)[\])]\s*$")
_DELIMITERS = ",;\t "
#: Characters of numbers and line ends, which can therefore never be delimiters.
_NUMBER_CHARS = frozenset('0123456789+-.eEnNaAiIfFtTyY"\r\n')
INT64 = np.iinfo(np.int64)


@functools.cache
def cell_pattern(decimal: str) -> re.Pattern[str]:
    """A number cell; group ``int`` is set when it is an integer."""
    d = re.escape(decimal)
    return re.compile(
        rf"[ \t]*(?:(?P<int>[+-]?\d+)|[+-]?(?:(?:\d+(?:{d}\d*)?|{d}\d+)"
        rf"(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity)))[ \t]*",
        re.ASCII,
    )


def split_header(cell: str) -> tuple[str, str]:
    """``"energy [eV]"`` / ``"energy (eV)"`` -> ``("energy", "eV")``."""
    match = _HEADER_UNITS.match(cell)
    if match:
        return match["name"] or "value", match["units"].strip()
    return cell.strip() or "value", ""


def parse_options(options: Mapping[str, Any] | None) -> tuple[str | None, str, str]:
    """``(delimiter or None to sniff, decimal mark, header mode)``, checked."""
    opts = dict(options or {})
    delimiter = opts.get("delimiter")
    if delimiter in ("tab", "\\t"):
        delimiter = "\t"
    decimal = opts.get("decimal", ".")
    header = opts.get("header", "auto")
    if delimiter is not None and len(delimiter) != 1:
        raise UsageError(f"CSV delimiter must be one character, got {delimiter!r}")
    if decimal not in (".", ","):
        raise UsageError(f"CSV decimal must be '.' or ',', got {decimal!r}")
    if header not in ("auto", "yes", "no"):
        raise UsageError(f"CSV header must be auto, yes or no, got {header!r}")
    if delimiter == decimal:
        raise UsageError("CSV delimiter and decimal separator must differ")
    if delimiter is not None and delimiter in _NUMBER_CHARS:
        raise UsageError(f"CSV delimiter {delimiter!r} can be part of a number")
    return delimiter, decimal, header


def guess_delimiter(lines: Sequence[str], decimal: str) -> str:
    """The delimiter that splits every sample line into the same number (> 1) of cells."""
    candidates = [d for d in _DELIMITERS if d != decimal]
    for delimiter in candidates:
        counts = {len(split_cells(line, delimiter)) for line in lines if line.strip()}
        if len(counts) == 1 and counts.pop() > 1:
            return delimiter
    return candidates[0]


def split_cells(line: str, delimiter: str) -> list[str]:
    """The cells of one line (runs of spaces and tabs for a space delimiter)."""
    if delimiter == " ":
        return re.split(r"[ \t]+", line.strip(" \t"))
    if '"' not in line:
        return line.split(delimiter)
    return next(csv.reader([line], delimiter=delimiter))


def parse_number(cell: str, decimal: str) -> float | int | None:
    """The cell's value if it is a number of the strict grammar, else None."""
    match = cell_pattern(decimal).fullmatch(cell)
    if match is None:
        return None
    return int(cell) if match["int"] is not None else parse_float(cell, decimal)


def parse_float(cell: str, decimal: str) -> float:
    """A cell the grammar accepts as a float (``float()`` ignores the padding)."""
    return float(cell.replace(",", ".") if decimal == "," else cell)
