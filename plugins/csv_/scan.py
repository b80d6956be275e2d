"""The first pass over a CSV file: header, dialect, and how many rows each block holds.

The parser fills preallocated arrays, so it must know the table's shape and a dtype guess
before it parses a cell; this pass learns them by reading the file as blocks of whole
lines (the same blocks the second pass parses) without parsing any number but a sample.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import IO, Any, NamedTuple

from emdconvert.errors import FormatError
from emdconvert.plugins.csv_.grammar import (
    guess_delimiter,
    parse_number,
    parse_options,
    split_cells,
)

#: Bytes of whole lines parsed at a time.
_BLOCK_BYTES = 4 * 1024 * 1024
#: Every float spelling has one of these (besides the decimal mark); integers have none.
_FLOAT_MARKS = (b"e", b"E", b"n", b"N", b"i", b"I")
BLANK_LINES = re.compile(r"^[ \t\r]*\n", re.MULTILINE)
#: A blank line after the first (searching for a literal "\n" first is fast).
_BLANK_LATER = re.compile(r"\n[ \t\r]*\n")


def blocks(handle: IO[bytes], start: int, line: int) -> Iterator[tuple[int, int, bytes]]:
    """``(line number, byte offset, bytes)`` of runs of whole lines from *start*.

    Each run ends with a newline (one is added after a last line without it) and is
    about :data:`_BLOCK_BYTES`, longer only when a single line is.
    """
    handle.seek(start)
    carry, offset = b"", start
    while chunk := handle.read(_BLOCK_BYTES):
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield line, offset, data[:cut]
            line += data.count(b"\n", 0, cut)
            offset += cut
    if carry:
        yield line, offset, carry + b"\n"


def has_blank_line(text: str) -> bool:
    """The block holds a blank (or whitespace-only) line."""
    return bool(BLANK_LINES.match(text) or _BLANK_LATER.search(text))


def decode(raw: bytes, offset: int) -> str:
    """The block as text; a FormatError names the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {offset + exc.start})") from None


class Layout(NamedTuple):
    """What the first pass learnt: where the data are, their shape, a type guess."""

    delimiter: str
    decimal: str
    header: list[str] | None
    start: int  # byte offset of the first line after the header
    line: int  # its line number
    width: int
    rows: list[int]  # data rows in each block of the second pass
    floats: bool  # a float spelling occurs somewhere in the data
    first_ints: list[bool]  # which cells of the first data row are integers


def survey(handle: IO[bytes], options: Mapping[str, Any] | None) -> Layout:
    """First pass: the header, the delimiter, and the rows of each block."""
    delimiter, decimal, header_mode = parse_options(options)
    bom = len(b"\xef\xbb\xbf") if handle.read(3) == b"\xef\xbb\xbf" else 0
    sample: list[tuple[int, int, str]] = []  # (line number, end offset, text)
    for line, offset, raw in blocks(handle, bom, 1):
        text = decode(raw, offset)
        position = offset
        for k, content in enumerate(text.split("\n")[:-1]):
            position += len(content.encode()) + 1
            if content.strip(" \t\r"):
                sample.append((line + k, position, content.rstrip("\r")))
                if len(sample) == 20:
                    break
        if len(sample) == 20:
            break
    if not sample:
        raise FormatError("the file has no data rows")
    delimiter = delimiter or guess_delimiter([s[2] for s in sample], decimal)
    first = split_cells(sample[0][2], delimiter)
    numeric = [parse_number(cell, decimal) for cell in first]
    has_header = header_mode == "yes" or (header_mode == "auto" and any(n is None for n in numeric))
    header = [cell.strip() for cell in first] if has_header else None
    line, start = (sample[0][0] + 1, sample[0][1]) if has_header else (1, bom)
    rows, floats, first_ints = [], False, [isinstance(n, int) for n in numeric]
    if has_header and len(sample) > 1:
        first_ints = [
            isinstance(parse_number(c, decimal), int) for c in split_cells(sample[1][2], delimiter)
        ]
    marks = (*_FLOAT_MARKS, decimal.encode())
    for _, offset, raw in blocks(handle, start, line):
        text = decode(raw, offset)
        blank = len(BLANK_LINES.findall(text)) if has_blank_line(text) else 0
        rows.append(text.count("\n") - blank)
        floats = floats or any(mark in raw for mark in marks)
    if not sum(rows):
        raise FormatError(
            "the file has a header but no data rows" if has_header else "the file has no data rows"
        )
    width = len(header) if header is not None else len(first)
    return Layout(delimiter, decimal, header, start, line, width, rows, floats, first_ints)
