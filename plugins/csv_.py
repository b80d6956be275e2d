"""CSV text tables: 1-D spectra and 2-D tables/images, read and write.

Shapes understood on reading:

- **Spectrum**: a header row of names with units (``energy [eV],counts``; also
  ``energy (eV)``), then numeric rows.  The first column is the coordinate (it may be
  non-uniform) and every further column becomes its own 1-D dataset on that axis.
- **Table/image**: numeric rows without a header, read as one 2-D dataset (row, column).

Parsing is strict (reliability.md rule 11): every cell must be a number, rows must all
have the same length, an empty file is an error, and the message names the row and
column of the first bad cell.  Options: ``delimiter`` (default: sniffed among ``, ; tab
space``), ``decimal`` (``.`` or ``,`` for decimal commas), and ``header`` (``auto``,
``yes``, ``no``).  A UTF-8 byte-order mark is ignored.  Floats are written with Python's
shortest round-trip representation, so CSV -> EMD -> CSV is exact.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from emdconvert.errors import FormatError, UnsupportedError, UsageError
from emdconvert.lazy import iter_blocks
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.plugin import BasePlugin

_HEADER_UNITS = re.compile(r"^\s*(?P<name>.*?)\s*[\[(](?P<units>[^\])]*)[\])]\s*$")
_DELIMITERS = ",;\t "
_MAX_BYTES = 512 * 1024 * 1024  # a text table larger than this belongs in another format


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
        return line.split()
    return next(csv.reader([line], delimiter=delimiter))


def _number(cell: str, decimal: str) -> float | int | None:
    text = cell.strip()
    if decimal == ",":
        text = text.replace(",", ".")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def parse_table(text: str, options: Mapping[str, Any] | None = None
                ) -> tuple[list[str] | None, list[np.ndarray]]:
    """(header cells or None, one array per column) of a CSV text, strictly.

    A column is int64 when every cell in it is an integer, float64 otherwise.
    """
    delimiter, decimal, header_mode = _options(options)
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines:
        raise FormatError("the file has no data rows")
    delimiter = delimiter or _guess_delimiter(lines[:20], decimal)
    rows = [_split(line, delimiter) for line in lines]
    first_numeric = all(_number(c, decimal) is not None for c in rows[0])
    has_header = header_mode == "yes" or (header_mode == "auto" and not first_numeric)
    header = [c.strip() for c in rows[0]] if has_header else None
    body = rows[1:] if has_header else rows
    if not body:
        raise FormatError("the file has a header but no data rows")
    width = len(header) if header else len(body[0])
    values: list[list[float | int]] = []
    for r, row in enumerate(body, start=2 if has_header else 1):
        if len(row) != width:
            raise FormatError(f"row {r} has {len(row)} cells, expected {width}")
        parsed = []
        for c, cell in enumerate(row, start=1):
            number = _number(cell, decimal)
            if number is None:
                raise FormatError(f"row {r}, column {c}: {cell.strip()!r} is "
                                  "not a number")
            parsed.append(number)
        values.append(parsed)
    columns = [np.array(column, dtype=np.int64 if all(isinstance(v, int) for v in column)
                        else np.float64) for column in zip(*values, strict=True)]
    return header, columns


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
        so that a bad cell is reported by row and column, not as an unknown format.
        """
        if not head or b"\0" in head:
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
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"not UTF-8 text (byte {exc.start})", path=path) from None
        header, columns = parse_table(text, options)
        if header is None:
            table = np.stack(columns, axis=1)
            return EMDFile((Dataset(path.stem, table,
                                    (Dim.uniform("row", "", table.shape[0]),
                                     Dim.uniform("column", "", table.shape[1]))),))
        if len(columns) == 1:
            name, units = split_header(header[0])
            return EMDFile((Dataset(name, columns[0], units=units),))
        axis_name, axis_units = split_header(header[0])
        axis = Dim(axis_name, axis_units, columns[0].astype(np.float64))
        datasets = []
        for cell, column in zip(header[1:], columns[1:], strict=True):
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
        if ndim == {1} and len(shapes) == 1:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                _write_spectra(model.datasets, handle, delimiter, decimal)
            return
        if ndim == {2} and len(model.datasets) == 1:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                _write_table(model.datasets[0], handle, delimiter, decimal)
            return
        described = ", ".join(f"{d.name} {d.shape}" for d in model.datasets)
        raise UnsupportedError("CSV holds 1-D spectra of one length or a single 2-D "
                               f"table; the input has {described}")


def _cell(value: Any, decimal: str) -> str:
    text = repr(value.item()) if isinstance(value, np.generic) else repr(value)
    return text.replace(".", ",") if decimal == "," else text


def _label(name: str, units: str) -> str:
    return f"{name} [{units}]" if units else name


def _write_spectra(datasets: Sequence[Dataset], handle: IO[str], delimiter: str,
                   decimal: str) -> None:
    for dataset in datasets:
        if dataset.dtype.kind not in "iuf":
            raise UnsupportedError(f"{dataset.name}: {dataset.dtype} data cannot be "
                                   "written as CSV")
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    axis = datasets[0].dims[0]
    writer.writerow([_label(axis.name, axis.units)]
                    + [_label(d.name, d.units) for d in datasets])
    columns = [np.asarray(d.data[...]) for d in datasets]
    for i, coordinate in enumerate(axis.values):
        writer.writerow([_cell(coordinate, decimal)]
                        + [_cell(column[i], decimal) for column in columns])


def _write_table(dataset: Dataset, handle: IO[str], delimiter: str, decimal: str) -> None:
    if dataset.dtype.kind not in "iuf":
        raise UnsupportedError(f"{dataset.name}: {dataset.dtype} data cannot be written "
                               "as CSV")
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    for _, block in iter_blocks(dataset.data):
        for row in block:
            writer.writerow([_cell(v, decimal) for v in row])

