r"""CSV text tables: 1-D spectra and 2-D tables/images, read and write.

Shapes understood on reading:

- **Spectrum**: a header row of names with units (``energy [eV],counts``; also
  ``energy (eV)``), then numeric rows.  The first column is the coordinate (it may be
  non-uniform) and every further column becomes its own 1-D dataset on that axis.
- **Table/image**: numeric rows without a header, read as one 2-D dataset (row, column).

Parsing is strict (README, Safety rules R10; issue 12): a number is plain decimal or
scientific notation in ASCII digits, ``[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?`` with
the chosen decimal mark, optionally padded with spaces or tabs and optionally in double
quotes, or one of the words ``nan``, ``inf`` and ``infinity`` (any case, optional sign),
which numpy.loadtxt and pandas accept too.  Python's wider ``float()``/``int()`` syntax
is refused: ``1_000``, non-ASCII digits (Arabic-Indic, fullwidth), hex.  Integers must fit
int64.  Every row must have the same number of cells, an empty file is an error, and the
message names the line ("row", counted in the file, blank lines included) and column of
the first bad cell.  Lines end with ``\n`` or ``\r\n``; blank lines are skipped.
Options: ``delimiter`` (default: sniffed among ``, ; tab space``; never a character a
number can contain), ``decimal`` (``.`` or ``,`` for decimal commas), and ``header``
(``auto``, ``yes``, ``no``).  A UTF-8 byte-order mark is ignored.  Every integer and
float16/32/64 dtype is written, floats with the shortest text of their own precision,
and the written file is read back and compared value by value; complex, boolean and
uint64 values beyond int64 are refused (the reader makes int64 and float64 columns).

Reading streams: a first pass over blocks of lines counts the rows (and sees whether any
float spelling occurs), the second parses each block with numpy's C parser
(``np.loadtxt``) straight into the preallocated arrays, so the peak memory is the parsed
arrays plus a few blocks, whatever the file size.  ``np.loadtxt`` is only given blocks
made of characters the grammar allows, where it accepts exactly the grammar (the test
suite checks this exhaustively on short cells); any other block, or one it refuses, is
parsed cell by cell in Python, which names the bad cell.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar, NamedTuple

import numpy as np

from emdconvert.errors import FormatError, UnsupportedError, UsageError, ValidationError
from emdconvert.lazy import iter_blocks
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.plugin import BasePlugin

_HEADER_UNITS = re.compile(r"^\s*(?P<name>.*?)\s*[\[(](?P<units>[^\])]*)[\])]\s*$")
_DELIMITERS = ",;\t "
_MAX_BYTES = 512 * 1024 * 1024  # a text table larger than this belongs in another format
#: Bytes of whole lines parsed at a time.
_BLOCK_BYTES = 4 * 1024 * 1024
#: Characters of numbers and line ends, which can therefore never be delimiters.
_NUMBER_CHARS = frozenset('0123456789+-.eEnNaAiIfFtTyY"\r\n')
#: Every float spelling has one of these (besides the decimal mark); integers have none.
_FLOAT_MARKS = (b"e", b"E", b"n", b"N", b"i", b"I")
_BLANK_LINES = re.compile(r"^[ \t\r]*\n", re.MULTILINE)
#: A blank line after the first (searching for a literal "\n" first is fast).
_BLANK_LATER = re.compile(r"\n[ \t\r]*\n")
_INT64 = np.iinfo(np.int64)


@functools.cache
def _cell_pattern(decimal: str) -> re.Pattern[str]:
    """A number cell; group ``int`` is set when it is an integer."""
    d = re.escape(decimal)
    return re.compile(rf"[ \t]*(?:(?P<int>[+-]?\d+)|[+-]?(?:(?:\d+(?:{d}\d*)?|{d}\d+)"
                      rf"(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity)))[ \t]*", re.ASCII)


@functools.cache
def _plain_bytes(delimiter: str, decimal: str) -> bytes:
    """The characters of blocks ``np.loadtxt`` may parse (no quotes, nothing non-ASCII)."""
    return f"0123456789+-eEnNaAiIfFtTyY \t\r\n{decimal}{delimiter}".encode()


def split_header(cell: str) -> tuple[str, str]:
    """``"energy [eV]"`` / ``"energy (eV)"`` -> ``("energy", "eV")``."""
    match = _HEADER_UNITS.match(cell)
    if match:
        return match["name"] or "value", match["units"].strip()
    return cell.strip() or "value", ""


def _options(options: Mapping[str, Any] | None) -> tuple[str | None, str, str]:
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


def _guess_delimiter(lines: Sequence[str], decimal: str) -> str:
    """The delimiter that splits every sample line into the same number (> 1) of cells."""
    candidates = [d for d in _DELIMITERS if d != decimal]
    for delimiter in candidates:
        counts = {len(_split(line, delimiter)) for line in lines if line.strip()}
        if len(counts) == 1 and counts.pop() > 1:
            return delimiter
    return candidates[0]


def _split(line: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return re.split(r"[ \t]+", line.strip(" \t"))
    if '"' not in line:
        return line.split(delimiter)
    return next(csv.reader([line], delimiter=delimiter))


def _number(cell: str, decimal: str) -> float | int | None:
    """The cell's value if it is a number of the strict grammar, else None."""
    match = _cell_pattern(decimal).fullmatch(cell)
    if match is None:
        return None
    return int(cell) if match["int"] is not None else _float(cell, decimal)


def _float(cell: str, decimal: str) -> float:
    """A cell the grammar accepts as a float (``float()`` ignores the padding)."""
    return float(cell.replace(",", ".") if decimal == "," else cell)


def _blocks(handle: IO[bytes], start: int, line: int) -> Iterator[tuple[int, int, bytes]]:
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


def _has_blank_line(text: str) -> bool:
    return bool(_BLANK_LINES.match(text) or _BLANK_LATER.search(text))


def _decode(raw: bytes, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text (byte {offset + exc.start})") from None


class _Layout(NamedTuple):
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


def _survey(handle: IO[bytes], options: Mapping[str, Any] | None) -> _Layout:
    """First pass: the header, the delimiter, and the rows of each block."""
    delimiter, decimal, header_mode = _options(options)
    bom = len(b"\xef\xbb\xbf") if handle.read(3) == b"\xef\xbb\xbf" else 0
    sample: list[tuple[int, int, str]] = []  # (line number, end offset, text)
    for line, offset, raw in _blocks(handle, bom, 1):
        text = _decode(raw, offset)
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
    delimiter = delimiter or _guess_delimiter([s[2] for s in sample], decimal)
    first = _split(sample[0][2], delimiter)
    numeric = [_number(cell, decimal) for cell in first]
    has_header = header_mode == "yes" or (
        header_mode == "auto" and any(n is None for n in numeric))
    header = [cell.strip() for cell in first] if has_header else None
    line, start = (sample[0][0] + 1, sample[0][1]) if has_header else (1, bom)
    rows, floats, first_ints = [], False, [isinstance(n, int) for n in numeric]
    if has_header and len(sample) > 1:
        first_ints = [isinstance(_number(c, decimal), int)
                      for c in _split(sample[1][2], delimiter)]
    marks = (*_FLOAT_MARKS, decimal.encode())
    for _, offset, raw in _blocks(handle, start, line):
        text = _decode(raw, offset)
        blank = len(_BLANK_LINES.findall(text)) if _has_blank_line(text) else 0
        rows.append(text.count("\n") - blank)
        floats = floats or any(mark in raw for mark in marks)
    if not sum(rows):
        raise FormatError("the file has a header but no data rows" if has_header
                          else "the file has no data rows")
    width = len(header) if header is not None else len(first)
    return _Layout(delimiter, decimal, header, start, line, width, rows, floats, first_ints)


#: Parsed rows of one block: (column indices, their values as a 2-D array) per dtype.
Groups = list[tuple[list[int], np.ndarray]]


def _loadtxt(text: str, layout: _Layout, ints: list[bool], rows: int) -> Groups | None:
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
    for columns, dtype in ((floats or integers, np.float64 if floats else np.int64),
                           (integers if floats else [], np.int64)):
        if not columns:
            continue
        everything = columns is floats or not floats
        try:
            values = np.loadtxt(io.StringIO(text), dtype=dtype, comments=None, ndmin=2,
                                delimiter=None if layout.delimiter == " " else layout.delimiter,
                                usecols=None if everything else columns)
        except ValueError:
            return None
        if values.shape != (rows, layout.width if everything else len(columns)):
            return None
        groups.append((columns, values[:, columns] if everything and floats and integers
                       else values))
    return groups


def _parse_cells(text: str, line: int, layout: _Layout, ints: list[bool],
                 rows: int) -> Groups:
    """The block parsed cell by cell: slow, but it names the first bad cell.

    Columns the block shows to hold a float are returned as float columns.
    """
    pattern = _cell_pattern(layout.decimal)
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
            cells = _split(content, layout.delimiter)
        except csv.Error as exc:
            raise FormatError(f"row {r}: {exc}") from None
        if len(cells) != layout.width:
            raise FormatError(f"row {r} has {len(cells)} cells, expected {layout.width}")
        if i == rows:
            raise FormatError("the file changed while it was read")
        for c, cell in enumerate(cells):
            match = pattern.fullmatch(cell)
            if match is None:
                raise FormatError(f"row {r}, column {c + 1}: {cell.strip()!r} is "
                                  "not a number")
            if match["int"] is None:
                is_float[c] = True
                as_float[i, c] = _float(cell, layout.decimal)
                continue
            number = int(cell)
            if not _INT64.min <= number <= _INT64.max:
                raise FormatError(f"row {r}, column {c + 1}: {cell.strip()} does not fit "
                                  "a 64-bit integer")
            as_int[i, c] = as_float[i, c] = number
        i += 1
    if i != rows:
        raise FormatError("the file changed while it was read")
    floats = [j for j in range(layout.width) if is_float[j]]
    integers = [j for j in range(layout.width) if not is_float[j]]
    return [(cols, values[:, cols]) for cols, values in
            ((integers, as_int), (floats, as_float)) if cols]


class _Columns:
    """The preallocated result: one 2-D array for a table, one array per spectrum column.

    A spectrum column starts as int64 when its first cell is an integer and becomes
    float64 (integers converted exactly as parsing them as floats would) when a block
    shows a float in it.
    """

    def __init__(self, layout: _Layout) -> None:
        rows = sum(layout.rows)
        if layout.header is None:
            self.ints = [not layout.floats] * layout.width
            dtype = np.int64 if not layout.floats else np.float64
            self.table: np.ndarray | None = np.empty((rows, layout.width), dtype)
            self.columns: list[np.ndarray] = []
        else:
            self.ints = [not layout.floats or (j < len(layout.first_ints)
                                               and layout.first_ints[j])
                         for j in range(layout.width)]
            self.table = None
            self.columns = [np.empty(rows, np.int64 if kind else np.float64)
                            for kind in self.ints]

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


def parse_table(path: Path, options: Mapping[str, Any] | None = None
                ) -> tuple[list[str] | None, np.ndarray | list[np.ndarray]]:
    """(header cells or None, values) of the CSV file at *path*, strictly.

    Values are the 2-D table when there is no header, else one 1-D array per column.
    A column (a table: all of it) is int64 when every cell in it is an integer, float64
    otherwise.
    """
    with open(path, "rb") as handle:
        layout = _survey(handle, options)
        result = _Columns(layout)
        plain = _plain_bytes(layout.delimiter, layout.decimal)
        first = 0
        for (line, offset, raw), rows in zip(_blocks(handle, layout.start, layout.line),
                                             layout.rows, strict=True):
            if not rows:
                continue
            text = _decode(raw, offset)
            groups = None
            if not raw.translate(None, plain):
                lines = _BLANK_LINES.sub("", text) if _has_blank_line(text) else text
                groups = _loadtxt(lines, layout, result.ints, rows)
            if groups is None:
                groups = _parse_cells(text, line, layout, result.ints, rows)
            result.put(first, groups)
            first += rows
    values = result.table if result.table is not None else result.columns
    return layout.header, values


class CSVPlugin(BasePlugin):
    """CSV/TSV text: 1-D spectra with a coordinate column, or 2-D tables."""

    name: ClassVar[str] = "csv"
    description: ClassVar[str] = "CSV/TSV text: 1-D spectra (coordinate column) and 2-D tables"
    extensions: ClassVar[tuple[str, ...]] = (".csv", ".tsv")
    priority: ClassVar[int] = 10
    can_read: ClassVar[bool] = True
    can_write: ClassVar[bool] = True
    #: Text must be parsed to know its shape, so a table is read whole (size-capped).
    lazy_reads: ClassVar[bool] = False

    def sniff(self, path: Path, head: bytes) -> bool:
        """CSV has no magic: text with a CSV extension, or numeric rows under any name.

        A ``.csv`` file is claimed whenever it is text with a delimiter or a line break,
        so that a bad cell is reported by row and column, not as an unknown format --
        except an instrument log that one of rsciio's readers owns (Protochips, Impulse).
        """
        from emdconvert.plugins.rsciio_ import instrument_log

        if not head or b"\0" in head or instrument_log(head) is not None:
            return False
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                return False  # not UTF-8 text
            text = head[: exc.start].decode("utf-8")  # a multi-byte char cut at 4096
        if path.suffix.lower() in self.extensions and any(c in text for c in ",;\t\n"):
            return True
        lines = [line for line in text.lstrip("\ufeff").splitlines()[:-1] if line.strip()]
        lines = lines or [text.strip()]
        for decimal in (".", ","):
            delimiter = _guess_delimiter(lines[:10], decimal)
            for line in lines[:2]:
                cells = _split(line, delimiter)
                if len(cells) > 0 and all(_number(c, decimal) is not None for c in cells):
                    return True
        return False

    def read(self, path: Path, *, options: Mapping[str, Any] | None = None) -> EMDFile:
        size = path.stat().st_size
        if size == 0:
            raise FormatError("the file is empty", path=path)
        if size > _MAX_BYTES:
            raise FormatError(f"{size} bytes is too large for a CSV table", path=path)
        header, values = parse_table(path, options)
        if header is None or isinstance(values, np.ndarray):
            table = np.asarray(values)
            return EMDFile((Dataset(path.stem, table,
                                    (Dim.uniform("row", "", table.shape[0]),
                                     Dim.uniform("column", "", table.shape[1]))),))
        if len(values) == 1:
            name, units = split_header(header[0])
            return EMDFile((Dataset(name, values[0], units=units),))
        axis_name, axis_units = split_header(header[0])
        axis = Dim(axis_name, axis_units, values[0].astype(np.float64))
        datasets = []
        for cell, column in zip(header[1:], values[1:], strict=True):
            name, units = split_header(cell)
            datasets.append(Dataset(name, column, (axis,), units=units))
        return EMDFile(tuple(datasets))

    def write(self, model: EMDFile, path: Path, *,
              options: Mapping[str, Any] | None = None) -> None:
        delimiter, decimal, _ = _options(options)
        delimiter = delimiter or ("\t" if (options or {}).get("target_suffix") == ".tsv"
                                  else ",")
        shapes = {d.shape for d in model.datasets}
        ndim = {len(s) for s in shapes}
        spectra = ndim == {1} and len(shapes) == 1
        if not spectra and not (ndim == {2} and len(model.datasets) == 1):
            described = ", ".join(f"{d.name} {d.shape}" for d in model.datasets)
            raise UnsupportedError("CSV holds 1-D spectra of one length or a single 2-D "
                                   f"table; the input has {described}")
        for dataset in model.datasets:
            _check_writable(dataset.name, dataset.dtype)
        if spectra:
            axis = model.datasets[0].dims[0]
            _check_writable(f"{model.datasets[0].name} axis {axis.name}", axis.values.dtype)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            if spectra:
                _write_spectra(model.datasets, handle, delimiter, decimal)
            else:
                _write_table(model.datasets[0], handle, delimiter, decimal)

    def verify(self, model: EMDFile, path: Path, *,
               options: Mapping[str, Any] | None = None) -> None:
        """Read the file back with the strict parser and compare every value exactly.

        The parser gives int64 and float64 columns whatever was written, so values are
        compared in the written dtype (a float32 cell read as float64 must round back to
        the same float32), not dtypes.
        """
        delimiter, decimal, _ = _options(options)
        delimiter = delimiter or ("\t" if (options or {}).get("target_suffix") == ".tsv"
                                  else ",")
        _, values = parse_table(path, {"delimiter": delimiter, "decimal": decimal,
                                       "header": "yes" if len(model.datasets[0].shape) == 1
                                       else "no"})
        if isinstance(values, np.ndarray):
            pairs = [(model.datasets[0].name, values, model.datasets[0].data[...])]
        elif len(values) != len(model.datasets) + 1:
            raise ValidationError(f"written file failed verification: {len(values)} "
                                  f"columns, expected {len(model.datasets) + 1}")
        else:
            axis = model.datasets[0].dims[0]
            pairs = [(f"axis {axis.name}", values[0], axis.values)]
            pairs += [(d.name, column, d.data[...])
                      for d, column in zip(model.datasets, values[1:], strict=True)]
        for name, found, wanted in pairs:
            if not _same_values(np.asarray(found), np.asarray(wanted)):
                raise ValidationError(f"written file failed verification: {name}: the "
                                      "values read back differ from those written")


def _check_writable(name: str, dtype: np.dtype[Any]) -> None:
    """Refuse, before anything is written, a dtype whose values CSV cannot give back.

    The reader makes int64 and float64 columns: every integer and float16/32/64 value
    survives that exactly, but complex numbers have no cell syntax, booleans would come
    back as integers, and extended-precision floats would be rounded to float64.
    """
    if dtype.kind in "iu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        return
    hint = {"c": "; write its real and imaginary parts as two datasets, or use .npy/.emd",
            "b": "; convert it to integers (0/1) first, or use .npy/.emd"}.get(dtype.kind, "")
    raise UnsupportedError(f"{name}: {dtype} data cannot be written as CSV{hint}")


def _same_values(found: np.ndarray, wanted: np.ndarray) -> bool:
    """*found* (int64 or float64, as parsed) equals *wanted* exactly, in *wanted*'s dtype."""
    if found.shape != wanted.shape:
        return False
    if wanted.dtype.kind in "iu":
        # Compared as Python-exact int64: numpy compares int64 with uint64 as float64.
        return found.dtype.kind == "i" and bool(np.all(found == wanted.astype(np.int64)))
    back = found.astype(wanted.dtype)
    return (bool(np.array_equal(back, wanted, equal_nan=True))
            and bool(np.all(np.signbit(back) == np.signbit(wanted))))


def _cells(values: np.ndarray, decimal: str) -> list[str]:
    """Cells for a 1-D run of *values*: the shortest text giving each value back exactly.

    Integers are written in full; floats with the shortest representation *of their own
    precision* (``0.1`` for float32 0.1, not float64's ``0.10000000149011612``), which
    numpy's ``str`` gives.  uint64 values above int64's range are refused, because the
    reader (and pandas' default) read integer columns as int64.
    """
    if values.dtype.kind == "u" and values.dtype.itemsize == 8 and values.size \
            and values.max() > _INT64.max:
        raise UnsupportedError(f"the value {int(values.max())} does not fit a 64-bit signed "
                               "integer, which CSV readers parse integers as; use .npy/.emd")
    if values.dtype.kind in "iu":
        return [str(v) for v in values.tolist()]
    texts = ([repr(v) for v in values.tolist()] if values.dtype.itemsize == 8
             else [str(v) for v in values])
    return [t.replace(".", ",") for t in texts] if decimal == "," else texts


def _label(name: str, units: str) -> str:
    return f"{name} [{units}]" if units else name


def _write_spectra(datasets: Sequence[Dataset], handle: IO[str], delimiter: str,
                   decimal: str) -> None:
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    axis = datasets[0].dims[0]
    writer.writerow([_label(axis.name, axis.units)]
                    + [_label(d.name, d.units) for d in datasets])
    columns = [_cells(axis.values, decimal)]
    columns += [_cells(np.asarray(d.data[...]), decimal) for d in datasets]
    writer.writerows(zip(*columns, strict=True))


def _write_table(dataset: Dataset, handle: IO[str], delimiter: str, decimal: str) -> None:
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    for _, block in iter_blocks(dataset.data):
        writer.writerows(_cells(row, decimal) for row in block)
