"""Bounds on what an uploaded table may expand to, checked before it is expanded.

A few kilobytes of .xlsx can declare a cell at ``XFD1048576`` (and a spreadsheet reader
then builds a billion empty cells), and a 1.6 MB zip can hold gigabytes of sheet XML. So
before a table is read:

- an Excel workbook's zip directory is checked (entry count, total uncompressed size —
  which the zip reader enforces while it inflates), then its sheet's XML is streamed once
  (expat, no tree kept) and refused at the first declared range (``<dimension>``), row or
  cell reference beyond the row and column limits, or once its cells, or the rows ×
  columns of the range they span, pass the cell limit;
- a CSV file's header row is counted, and no more rows are read than the limits allow.

:class:`ReadLimits` holds the limits (the service sets them from ``GEO_SERVICE_UPLOAD_*``,
see :mod:`geo_service.config`); the reader process of the service also gets the time and
memory limits of :func:`geo_service.isolated.run_isolated`. A file over a limit raises
:class:`TableLimitError`, naming the limit and its setting, in Japanese and in English.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from xml.parsers import expat

from geo_service._errors import InputError, TooLargeError
from geo_service.i18n import Message, msg

_CHUNK = 1 << 20  # bytes of sheet XML parsed at a time
_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")


@dataclass(frozen=True)
class ReadLimits:
    """The most an uploaded table may hold or cost to read (defaults in brackets).

    Attributes
    ----------
    rows
        Data rows, the header not counted (100,000).
    columns
        Columns (200).
    cells
        Cells: the rows × columns of the range that holds data (2,000,000).
    expanded_bytes
        Total uncompressed size of an Excel workbook's parts (100 MB).
    zip_entries
        Parts of an Excel workbook (1,000; Excel writes about a dozen).
    seconds
        Time to read the file, in its reader process (60).
    memory_bytes
        Address space of the reader process (1.5 GB; about 0.4 GB are the Python
        libraries it starts with).
    """

    rows: int = 100_000
    columns: int = 200
    cells: int = 2_000_000
    expanded_bytes: int = 100_000_000
    zip_entries: int = 1_000
    seconds: float = 60.0
    memory_bytes: int = 1_500_000_000


DEFAULT_LIMITS = ReadLimits()

#: The environment variable that sets each limit (``README.md`` lists them).
SETTINGS: dict[str, str] = {name: f"GEO_SERVICE_UPLOAD_MAX_{name.upper()}" for name in (
    "rows", "columns", "cells", "expanded_bytes", "zip_entries")} | {
    "seconds": "GEO_SERVICE_UPLOAD_SECONDS", "memory_bytes": "GEO_SERVICE_UPLOAD_MEMORY_BYTES"}


class TableLimitError(TooLargeError):
    """A table goes beyond :class:`ReadLimits` (HTTP 413); ``limits`` names which."""

    def __init__(self, limits: tuple[str, ...], reason: Message, *, file: str | None = None,
                 value: object = None) -> None:
        super().__init__(reason, settings=", ".join(SETTINGS[limit] for limit in limits),
                         file=file, value=value)
        self.limits = limits


def _over_rows_or_columns(limits: ReadLimits, file: str, what: Message,
                          value: object) -> TableLimitError:
    return TableLimitError(
        ("rows", "columns"),
        msg("{what} lies beyond the limit of {rows:,} data rows and {columns:,} columns",
            what=what, rows=limits.rows, columns=limits.columns), file=file, value=value)


def _too_many_cells(limits: ReadLimits, file: str, count: int | None) -> TableLimitError:
    return TableLimitError(
        ("cells",), msg("more cells (rows × columns of the range holding data) than the limit "
                        "of {cells:,}", cells=limits.cells), file=file, value=count)


def column_number(letters: str) -> int:
    """The 1-based number of a column's letters (A → 1, Z → 26, AA → 27, XFD → 16384)."""
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - 64
    return number


def _cell(ref: str, file: str) -> tuple[int, int]:
    match = _CELL_REF.match(ref)
    if match is None:
        raise InputError(msg("not a cell reference"), file=file, value=ref[:20])
    return int(match.group(2)), column_number(match.group(1))


# --------------------------------------------------------------------------- Excel

def _not_a_workbook(error: Exception) -> Message:
    """Why bytes are not a workbook (the reader's own words for what is wrong)."""
    return msg("cannot read as an Excel workbook: {error}", error=str(error))



def check_workbook(data: bytes, *, sheet: str | int = 0, file: str = "<upload>",
                   limits: ReadLimits = DEFAULT_LIMITS) -> tuple[int, int]:
    """Check an .xlsx workbook's size before it is read; return the (rows, columns) its
    ``sheet`` (name or 0-based index) spans, the header included.

    Raises
    ------
    TableLimitError
        When the workbook or the sheet is beyond ``limits``.
    InputError
        When it is not a workbook, or its sheet is malformed.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as e:
        raise InputError(_not_a_workbook(e), file=file) from None
    with archive:
        parts = archive.infolist()
        if len(parts) > limits.zip_entries:
            raise TableLimitError(
                ("zip_entries",), msg("the workbook holds more parts than the limit of {n:,}",
                                      n=limits.zip_entries), file=file, value=len(parts))
        expanded = sum(p.file_size for p in parts)
        if expanded > limits.expanded_bytes:
            raise TableLimitError(
                ("expanded_bytes",), msg("the workbook expands to {n:,} bytes, over the limit "
                                         "of {limit:,} bytes", n=expanded,
                                         limit=limits.expanded_bytes),
                file=file, value=expanded)
        scan = _SheetScan(limits, file)
        try:
            with archive.open(_sheet_part(archive, sheet, file)) as xml:
                while chunk := xml.read(_CHUNK):
                    scan.parser.Parse(chunk, False)
                scan.parser.Parse(b"", True)
        except (expat.ExpatError, zipfile.BadZipFile, EOFError, KeyError, RuntimeError,
                NotImplementedError) as e:  # a part missing, encrypted, of unknown method
            raise InputError(_not_a_workbook(e), file=file) from None
    return scan.rows, scan.columns


def _sheet_part(archive: zipfile.ZipFile, sheet: str | int, file: str) -> str:
    """The zip path of a sheet, by name or 0-based index (the workbook's own order)."""
    try:
        book = _attributes(archive, "xl/workbook.xml", "sheet")
        rels = {r.get("Id"): r.get("Target", "") for r in
                _attributes(archive, "xl/_rels/workbook.xml.rels", "Relationship")}
    except (KeyError, expat.ExpatError) as e:
        raise InputError(_not_a_workbook(e), file=file) from None
    chosen = (book[sheet] if isinstance(sheet, int) and 0 <= sheet < len(book) else next(
        (s for s in book if s.get("name") == sheet), None))
    if chosen is None:
        raise InputError(msg("no such sheet"), file=file, value=sheet)
    rid = next((v for k, v in chosen.items() if k.endswith(" id")), None)
    target = rels.get(rid, "")
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(
        posixpath.join("xl", target))


def _attributes(archive: zipfile.ZipFile, part: str, element: str) -> list[dict[str, str]]:
    """The attributes of every ``element`` of a small XML part (namespaced attribute
    names as ``"namespace name"``)."""
    found: list[dict[str, str]] = []
    parser = _parser()
    parser.StartElementHandler = lambda name, attrs: (
        found.append(attrs) if name.rpartition(" ")[2] == element else None)
    parser.Parse(archive.read(part), True)
    return found


def _parser() -> expat.XMLParserType:
    """An expat parser that refuses document type declarations (so, entities)."""
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse(*_: object) -> None:
        raise expat.ExpatError("document type declarations are not allowed")

    parser.StartDoctypeDeclHandler = refuse
    return parser


class _SheetScan:
    """One pass over a sheet's XML, refusing what is beyond the limits as it comes."""

    def __init__(self, limits: ReadLimits, file: str) -> None:
        self.limits, self.file = limits, file
        self.max_row, self.max_column = limits.rows + 1, limits.columns  # + the header
        self.rows = self.columns = self.cells = 0
        self.row = self.column = 0  # of the current cell
        self.parser = _parser()
        self.parser.StartElementHandler = self.start

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = name.rpartition(" ")[2]
        if tag == "c":
            ref = attrs.get("r")
            row, self.column = _cell(ref, self.file) if ref else (self.row, self.column + 1)
            self.cells += 1
            where = ref or f"{self.row}:{self.column}"
            self.check(max(row, 1), self.column, msg("cell {where}", where=where), where)
        elif tag == "row":
            ref = attrs.get("r")
            self.row, self.column = (int(ref) if ref and ref.isdigit() else self.row + 1), 0
            self.check(self.row, 1, msg("row {row}", row=self.row), self.row)
        elif tag == "dimension" and attrs.get("ref"):
            ref = attrs["ref"]
            last_row, last_column = _cell(ref.rpartition(":")[2], self.file)
            if last_row > self.max_row or last_column > self.max_column:
                raise _over_rows_or_columns(self.limits, self.file,
                                            msg("the sheet's declared range"), ref)

    def check(self, row: int, column: int, what: Message, value: object) -> None:
        """Refuse a row or cell beyond the limits, or one cell too many."""
        if row > self.max_row or column > self.max_column:
            raise _over_rows_or_columns(self.limits, self.file, what, value)
        self.rows, self.columns = max(self.rows, row), max(self.columns, column)
        if max(self.cells, self.rows * self.columns) > self.limits.cells:
            raise _too_many_cells(self.limits, self.file,
                                  max(self.cells, self.rows * self.columns))


# --------------------------------------------------------------------------- CSV


def csv_rows_allowed(text: str, *, sep: str = ",", file: str = "<upload>",
                     limits: ReadLimits = DEFAULT_LIMITS) -> int:
    """The data rows a CSV text's reader may read: the header's columns checked against
    the column limit, the rows bounded by the row and the cell limits. A reader that finds
    more (read one more row to see) calls :func:`too_many_rows`."""
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    except csv.Error as e:
        raise InputError(msg("not a valid CSV file: {error}", error=str(e)), file=file) from None
    if len(header) > limits.columns:
        raise TableLimitError(("columns",), msg("{n:,} columns, over the limit of {limit:,}",
                                                n=len(header), limit=limits.columns),
                              file=file, value=len(header))
    return min(limits.rows, limits.cells // max(len(header), 1))


def too_many_rows(columns: int, *, file: str = "<upload>",
                  limits: ReadLimits = DEFAULT_LIMITS) -> TableLimitError:
    """The error of a CSV file with more rows than :func:`csv_rows_allowed`."""
    if min(limits.rows, limits.cells // max(columns, 1)) < limits.rows:
        return _too_many_cells(limits, file, None)  # the count of a row more is not known
    return TableLimitError(("rows",), msg("more rows than the limit of {n:,}", n=limits.rows),
                           file=file)
