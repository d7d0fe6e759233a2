"""Import of resource lists: coordinators' Excel/CSV and open-data files into the registry.

Reading normalises at the edge, once:

- **encoding**: UTF-8 with BOM, UTF-8, or CP932 (Shift_JIS as Windows writes it), detected
  from the bytes; anything else raises :class:`~geo_service._errors.EncodingError`;
- **headers**: Japanese and English aliases are mapped to resource fields
  (:data:`~geo_service.registry.columns.HEADER_ALIASES`); unmapped columns are listed in
  the report, never silently dropped;
- **rows**: each is validated (:func:`~geo_service.registry.import_rows.parse_row`); every
  rejected row is reported with its row number (the spreadsheet row, header = 1), column,
  value and reason;
- **service-area text** (「○○小学校区」「市内全域」「半径500m」) is resolved against the loaded
  boundary layers; unresolved names are row problems;
- rows without coordinates are kept and flagged *needs location*; an optional
  :class:`~geo_service.registry.import_rows.Geocoder` may fill them (none is assumed: there
  is no offline geocoder).

An import is all-or-nothing by default (one transaction); ``dry_run`` only reports.
Exports (:mod:`geo_service.registry.exports`) write the same Japanese headers, so an
export imports again.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from geo_service._chars import NOT_TEXT
from geo_service._errors import InputError, sheet_row
from geo_service.i18n import current_language, msg
from geo_service.inputs.readers import decode_text
from geo_service.outputs import unquote_cell
from geo_service.registry.columns import HEADER_ALIASES, map_headers
from geo_service.registry.import_rows import (
    AreaRules,
    ImportContext,
    RowProblem,
    merge_import,
    parse_row,
)
from geo_service.registry.resources import MAX_SOURCE_CHARS, Resource, ResourceFields
from geo_service.table_limits import (
    DEFAULT_LIMITS,
    ReadLimits,
    check_workbook,
    csv_rows_allowed,
    too_many_rows,
)


@dataclass
class ImportReport:
    """What an import did or would do (dry run)."""

    file: str
    encoding: str
    rows: int
    columns: dict[str, str]
    ignored_columns: list[str]
    accepted: list[tuple[int, ResourceFields]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    needs_location: list[int] = field(default_factory=list)
    written: int = 0
    updated: int = 0
    to_update: list[int] = field(default_factory=list)  # rows that refresh an existing id
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return not self.problems

    @property
    def rejected_rows(self) -> list[int]:
        """Row numbers with at least one problem."""
        return sorted({p.row for p in self.problems})

    def summary(self, lang: str | None = None) -> str:
        """A few lines for people, in ``lang`` (default the current language): counts,
        problems, ignored columns."""
        lang = lang or current_language()
        lines = [msg("{file} ({encoding}): {rows} rows, {valid} valid, {rejected} rejected, "
                     "{unlocated} need a location", file=self.file, encoding=self.encoding,
                     rows=self.rows, valid=len(self.accepted),
                     rejected=len(self.rejected_rows), unlocated=len(self.needs_location))]
        if self.to_update:
            listed = ", ".join(map(str, self.to_update[:10])) + (
                " …" if len(self.to_update) > 10 else "")
            lines.append(msg("{n} rows update existing resources (rows {rows})",
                             n=len(self.to_update), rows=listed))
        lines.append(msg("dry run: nothing was written") if self.dry_run else
                     msg("written: {new} new, {updated} updated", new=self.written,
                         updated=self.updated))
        if self.ignored_columns:
            lines.append(msg("columns not imported: {columns}",
                             columns=", ".join(self.ignored_columns)))
        return "\n".join([*(m.text(lang) for m in lines),
                          *(f"  {p.text(lang)}" for p in self.problems)])


@dataclass(frozen=True)
class RawTable:
    """A table as read from a file: every cell a stripped string, and the encoding used."""

    frame: pd.DataFrame
    encoding: str
    file: str


def read_resource_table(path: str | Path | None = None, *, data: bytes | None = None,
                        filename: str | None = None, sheet: str | int = 0,
                        limits: ReadLimits = DEFAULT_LIMITS) -> RawTable:
    """Read a CSV or Excel (.xlsx) resource list into strings.

    Parameters
    ----------
    path
        The file; or give ``data`` (bytes) and ``filename`` (for the suffix and messages).
    sheet
        The Excel sheet (name or index).
    limits
        What the file may expand to, checked before it is (see
        :mod:`geo_service.table_limits`; :class:`~geo_service.table_limits.TableLimitError`
        when it is beyond them).
    """
    name = str(path) if path is not None else (filename or "<upload>")
    if data is None:
        if path is None:
            raise ValueError("give a path or data")
        data = Path(path).read_bytes()
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        check_workbook(data, sheet=sheet, file=name, limits=limits)
        try:
            frame = pd.read_excel(io.BytesIO(data), sheet_name=sheet, dtype=str,
                                  engine="openpyxl")
        except Exception as e:  # openpyxl raises many types for broken files
            raise InputError(msg("cannot read as an Excel workbook: {error}", error=e),
                             file=name) from None
        encoding = "xlsx"
    elif suffix in (".csv", ".txt", ".tsv", ""):
        text, encoding = decode_text(data, file=name)
        sep = "\t" if suffix == ".tsv" else ","
        most = csv_rows_allowed(text, sep=sep, file=name, limits=limits)
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep,
                                nrows=most + 1)
        except pd.errors.EmptyDataError:
            raise InputError(msg("the file is empty (no header row)"), file=name) from None
        except pd.errors.ParserError as e:
            raise InputError(msg("not a valid CSV file: {error}", error=e), file=name) from None
        if len(frame) > most:
            raise too_many_rows(len(frame.columns), file=name, limits=limits)
    else:
        raise InputError(msg("unsupported file type (use .csv or .xlsx; save .xls as .xlsx)"),
                         file=name, value=suffix)
    frame = frame.fillna("").astype(str)
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in frame.columns:  # the quote an export puts before "=…" goes (unquote_cell)
        frame[col] = frame[col].str.strip().map(unquote_cell)
    return RawTable(frame, encoding, name)


def parse_resources(table: RawTable, ctx: ImportContext | None = None) -> ImportReport:
    """Validate every row of a table; the report holds the valid resources and problems."""
    ctx = ctx or ImportContext()
    if ctx.source:
        ctx.source = source_name(ctx.source)
    columns, ignored = map_headers(table.frame.columns)
    report = ImportReport(table.file, table.encoding, len(table.frame), columns, ignored)
    if "name" not in columns:
        known = "、".join(HEADER_ALIASES["name"])
        raise InputError(msg("no name column (one of {known})", known=known), file=table.file)
    if "category" not in columns and not ctx.default_category:
        known = "、".join(HEADER_ALIASES["category"])
        raise InputError(msg("no category column (one of {known}): give the category of "
                             "every row, e.g. with --category 公共施設 (the API: "
                             "default_category)", known=known), file=table.file)
    seen: dict[str, int] = {}
    for i, cells in enumerate(table.frame.to_dict("records")):
        number = sheet_row(i)
        if not any(str(v).strip() for v in cells.values()):
            continue  # a blank line is not a row
        resource, problems = parse_row(number, cells, columns, ctx)
        rid = cells.get(columns.get("id", ""), "") if "id" in columns else ""
        if rid:
            if rid in seen:
                problems = [*problems, RowProblem(
                    number, columns["id"], rid, f"duplicate id (first on row {seen[rid]})",
                    f"ID が重複しています（最初は {seen[rid]} 行目）")]
                resource = None
            seen.setdefault(rid, number)
        if problems:
            report.problems += [replace(p, file=table.file) for p in problems]
        elif resource is not None:
            report.accepted.append((number, resource))
            if resource.needs_location:
                report.needs_location.append(number)
    return report


def import_resources(store: Any, table: RawTable, *, ctx: ImportContext | None = None,
                     dry_run: bool = False, partial: bool = False,
                     user: str | None = None, update: bool = False) -> ImportReport:
    """Validate a table and write its resources to ``store`` in one transaction.

    Parameters
    ----------
    store
        A :class:`~geo_service.registry.store.ResourceStore`.
    dry_run
        Only report what would happen.
    partial
        Write the valid rows even when others are rejected (default: all or nothing).
    update
        The yearly update round: a row whose id is already in the registry refreshes that
        resource instead of being rejected. Only the fields the file has columns for
        change (a blank cell clears the field); fields the file lacks — e.g. staff-only
        fields left out of a public export — keep their values. Deleted resources are
        restored. Every change goes to the history like any edit.
    """
    ctx = ctx or ImportContext()
    ctx.update = ctx.update or update
    if ctx.existing_ids is None:
        ctx.existing_ids = lambda rid: _exists(store, rid)
    if ctx.current is None:
        ctx.current = lambda rid: _stored(store, rid)
    if ctx.areas is None:
        ctx.areas = store
    if not ctx.layers:
        ctx.layers = store.layers
    if ctx.region_bounds is None:
        ctx.region_bounds = store.bounds
    report = parse_resources(table, ctx)
    report.dry_run = dry_run
    existing = {number for number, r in report.accepted
                if ctx.update and isinstance(r, Resource) and _exists(store, r.id)}
    report.to_update = sorted(existing)
    if dry_run or (report.problems and not partial) or not report.accepted:
        return report
    fields = set(report.columns)
    new = [r for number, r in report.accepted if number not in existing]
    changes = [(r.id, _update_by(r, fields, ctx.allowed_areas, store))
               for number, r in report.accepted if number in existing
               and isinstance(r, Resource)]
    written, updated = store.import_many(new, changes, user=user)
    report.written, report.updated = len(written), len(updated)
    return report


class StoreOpener(Protocol):
    """What opens the registry in another process
    (:class:`~geo_service.registry.store.StoreSpec`)."""

    def open(self) -> Any:
        """The store."""


def import_into(opener: StoreOpener, table: RawTable, *, ctx: ImportContext,
                dry_run: bool, partial: bool, user: str) -> tuple[ImportReport, int]:
    """:func:`import_resources` into the registry ``opener`` opens, for a process of its
    own (:func:`geo_service.isolated.run_isolated`: the server's process only waits, its
    requests answered meanwhile). The report comes back without its parsed rows, which
    only this process needs, and with their number."""
    store = opener.open()
    try:
        report = import_resources(store, table, ctx=ctx, dry_run=dry_run, partial=partial,
                                  user=user)
    finally:
        store.engine.dispose()
    return replace(report, accepted=[]), len(report.accepted)


def _update_by(row: Resource, columns: set[str], allowed: frozenset[str] | None,
               rules: AreaRules) -> Callable[[Resource], Resource]:
    """The change an update row makes to the stored resource, as the store applies it to
    the resource read under the write lock: refused (and with it the whole import) when
    that resource, or what it becomes, lies outside the importing coordinator's areas —
    e.g. moved by someone else since the rows were checked."""
    def change(before: Resource) -> Resource:
        after = merge_import(before, row, columns)
        if allowed is not None:
            from geo_service.registry.auth import PermissionDeniedError

            for area in (before.area, rules.responsible_area(after)):
                if area not in allowed:
                    raise PermissionDeniedError(msg(
                        "resource {id!r} is now in area {area!r}, not in your areas ({mine}); "
                        "nothing was imported", id=before.id, area=area,
                        mine="、".join(sorted(allowed))))
        return after
    return change


def _exists(store: Any, rid: str) -> bool:
    return _stored(store, rid) is not None


def _stored(store: Any, rid: str) -> Resource | None:
    from geo_service.registry.store import NotFoundError

    try:
        return store.get(rid, include_deleted=True)
    except NotFoundError:
        return None


def source_name(file: str) -> str:
    """What an import records as its rows' source (出典) for a file: its name without
    folders and without the characters no resource may hold, shortened in the middle
    to :data:`~geo_service.registry.resources.MAX_SOURCE_CHARS` (the suffix kept), so that a long
    file name never makes a row invalid."""
    name = re.split(r"[\\/]", file)[-1] or file
    name = re.sub(NOT_TEXT, "", "".join(c for c in name if unicodedata.category(c) != "Cc"))
    name = name.strip()
    if len(name) <= MAX_SOURCE_CHARS:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix) < 20 else ""
    return name[: MAX_SOURCE_CHARS - len(suffix) - 1] + "…" + suffix
