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

Reading streams in two passes (:mod:`~emdconvert.plugins.csv_.scan`, then
:mod:`~emdconvert.plugins.csv_.parse`), so the peak memory is the parsed arrays plus a
few blocks, whatever the file size.

Modules: ``grammar`` (the number grammar, cell splitting, delimiter sniffing, option
checks), ``scan`` (the first pass: header, dialect, rows per block), ``parse`` (the
second pass into preallocated arrays), ``writer`` (writing and read-back verification).
:class:`CSVPlugin`, the contract's shell (``sniff``, and the datasets built from a parsed
table), is defined here, so that its ``module:Class`` label (provenance, the registry)
stays ``emdconvert.plugins.csv_:CSVPlugin``, the entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from emdconvert.errors import FormatError
from emdconvert.model import Dataset, Dim, EMDFile
from emdconvert.plugin import BasePlugin
from emdconvert.plugins.csv_.grammar import (
    guess_delimiter,
    parse_number,
    split_cells,
    split_header,
)
from emdconvert.plugins.csv_.parse import parse_table
from emdconvert.plugins.csv_.writer import verify_csv, write_csv

_MAX_BYTES = 512 * 1024 * 1024  # a text table larger than this belongs in another format


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
    read_options: ClassVar[tuple[str, ...]] = ("delimiter", "decimal", "header")
    write_options: ClassVar[tuple[str, ...]] = ("delimiter", "decimal")

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
            delimiter = guess_delimiter(lines[:10], decimal)
            for line in lines[:2]:
                cells = split_cells(line, delimiter)
                if len(cells) > 0 and all(parse_number(c, decimal) is not None for c in cells):
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
            return EMDFile(
                (
                    Dataset(
                        path.stem,
                        table,
                        (
                            Dim.uniform("row", size=table.shape[0], scale=1.0),
                            Dim.uniform("column", size=table.shape[1], scale=1.0),
                        ),
                    ),
                )
            )
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

    def write(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        write_csv(model, path, options)

    def verify(
        self, model: EMDFile, path: Path, *, options: Mapping[str, Any] | None = None
    ) -> None:
        """Read the file back with the strict parser and compare every value exactly."""
        verify_csv(model, path, options)
