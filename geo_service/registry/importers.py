"""Import and export of resource lists: coordinators' Excel/CSV and open-data files.

Reading normalises at the edge, once:

- **encoding**: UTF-8 with BOM, UTF-8, or CP932 (Shift_JIS as Windows writes it), detected
  from the bytes; anything else raises :class:`~geo_service._errors.EncodingError`;
- **headers**: Japanese and English aliases (事業者名, 住所, 電話, 対応エリア, サービス内容, 料金,
  定休日 …, and the columns of デジタル庁 公共施設一覧 / 介護サービス事業所一覧 and the
  介護サービス情報公表システム CSV) are mapped to resource fields (:data:`HEADER_ALIASES`);
  unmapped columns are listed in the report, never silently dropped;
- **rows**: each is validated; every rejected row is reported with its row number (the
  spreadsheet row, header = 1), column, value and reason;
- **service-area text** (「○○小学校区」「市内全域」「半径500m」) is resolved against the loaded
  boundary layers; unresolved names are row problems;
- rows without coordinates are kept and flagged *needs location*; an optional
  :class:`Geocoder` may fill them (none is assumed: there is no offline geocoder).

An import is all-or-nothing by default (one transaction); ``dry_run`` only reports.
Exports (CSV, Excel, GeoJSON) write the same Japanese headers, so an export imports again.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd

from geo_service._chars import NOT_TEXT
from geo_service._errors import InputError, sheet_row
from geo_service.inputs.boundaries import AreaLayer
from geo_service.inputs.readers import decode_text
from geo_service.layers import load_vocabulary
from geo_service.outputs import spreadsheet_safe, unquote_cell
from geo_service.registry.resources import (
    MAX_SOURCE_CHARS,
    SENSITIVE_FIELDS,
    WEEKDAY_JA,
    WEEKDAYS,
    Resource,
    ResourceFields,
    ResourceValidationError,
    check_in_region,
    check_lonlat,
    normalise_time,
    parse_service_area_text,
    parse_weekdays,
    public_view,
    validate_resource,
)
from geo_service.table_limits import (
    DEFAULT_LIMITS,
    ReadLimits,
    check_workbook,
    csv_rows_allowed,
    too_many_rows,
)

# Resource field → accepted headers (after NFKC, case-insensitive). The first is the one
# exports write. A header is claimed by the first field (in this order) that lists it.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("ID", "資源ID", "管理番号", "事業所番号"),
    "name": ("名称", "name", "資源名", "事業所名", "施設名", "サービス名", "事業者名"),
    "kana": ("名称_カナ", "カナ", "名称カナ", "事業所名カナ", "フリガナ", "ふりがな", "kana"),
    "category": ("カテゴリ", "カテゴリー", "分類", "種別", "サービス種別", "サービスの種類",
                 "category"),
    "description": ("サービス内容", "内容", "活動概要", "活動内容", "説明", "実施サービス",
                    "description"),
    "operator": ("運営主体", "運営者", "法人名", "法人の名称", "団体名", "事業者名", "operator"),
    "operator_type": ("運営主体の種別", "運営主体種別", "団体種別", "operator_type"),
    "address": ("住所", "所在地", "所在地_連結表記", "事業所住所", "address"),
    "lat": ("緯度", "lat", "latitude"),
    "lon": ("経度", "lon", "lng", "longitude"),
    "tel": ("電話番号", "電話", "TEL", "連絡先電話番号", "事業所電話番号", "tel"),
    "fax": ("FAX番号", "FAX", "ファックス", "fax"),
    "email": ("メールアドレス", "メール", "連絡先メールアドレス", "email", "e-mail"),
    "url": ("URL", "ホームページ", "HP", "連絡先FormURL", "url"),
    "service_area": ("対応エリア", "対象エリア", "利用できるエリア", "サービス提供地域",
                     "サービス提供エリア", "service_area"),
    "service_area_geojson": ("対応エリア_GeoJSON", "service_area_geojson"),
    "fee": ("料金", "参加費", "利用料", "利用料金", "fee"),
    "weekdays": ("利用可能曜日", "開催曜日", "営業曜日", "曜日", "weekdays"),
    "closed_days": ("定休日", "休業日", "closed_days"),
    "start": ("開始時間", "開始時刻", "start"),
    "end": ("終了時間", "終了時刻", "end"),
    "hours": ("営業時間", "開催時間", "利用可能時間", "hours"),
    "frequency": ("頻度", "開催頻度", "frequency"),
    "schedule_note": ("日程備考", "利用可能日時特記事項", "利用可能時間特記事項",
                      "利用可能曜日特記事項", "開催日時", "schedule_note"),
    "stops": ("停留所", "移動販売停留所", "stops"),
    "target_users": ("対象者", "対象", "target_users"),
    "how_to_apply": ("申し込み方法", "申込方法", "申込み方法", "how_to_apply"),
    "payment_methods": ("支払い方法", "支払方法", "payment_methods"),
    "notes": ("備考", "notes"),
    "visibility": ("公開区分", "公開", "visibility"),
    "staff_fields": ("非公開項目", "staff_fields"),
    "last_verified": ("最終確認日", "確認日", "last_verified"),
    "coordinator": ("担当", "担当者", "担当コーディネーター", "coordinator"),
    "area": ("担当圏域", "圏域", "area"),
    "source": ("出典", "source"),
    "staff_notes": ("職員メモ", "staff_notes"),
}

# デジタル庁 公共施設一覧's barrier-free columns: kept in ``notes`` as
# 「バリアフリー: 車椅子可 有、授乳室 有」 (read as columns ``barrier_free:<header>``).
BARRIER_FREE_COLUMNS: tuple[str, ...] = (
    "バリアフリー情報", "車椅子可", "車椅子貸出", "ツエ貸出", "バリアフリートイレ",
    "スロープ、エレベータ、エスカレータ", "点字ブロック等の移動支援", "点字や読上による支援",
    "盲導犬・介助犬、聴導犬同伴", "字幕", "筆談対応", "優先駐車場", "オストメイト対応トイレ",
    "授乳室", "おむつ替えコーナー", "ベビーカー貸出", "ベビーカー利用")

STAFF_FIELD_LABELS: dict[str, str] = {
    "address": "住所", "location": "位置", "operator": "運営主体", "contact.tel": "電話",
    "contact.fax": "FAX", "contact.email": "メール", "contact.url": "URL",
    "schedule": "日程", "fee": "料金", "target_users": "対象者", "how_to_apply": "申し込み方法",
    "payment_methods": "支払い方法", "notes": "備考",
}
assert set(STAFF_FIELD_LABELS) == set(SENSITIVE_FIELDS)

_EXPORT_STAFF_ONLY = ("visibility", "staff_fields", "coordinator", "source", "staff_notes")
_SPLIT = re.compile(r"[、,，・/／\s]+")
_HOURS = re.compile(r"(\d{1,2}[:：時]\d{0,2}分?)\s*[～〜~\-－ーから]+\s*(\d{1,2}[:：時]\d{0,2}分?)")


class Geocoder(Protocol):
    """A pluggable geocoder: address → (lon, lat), or None when it cannot place it."""

    def __call__(self, address: str) -> tuple[float, float] | None: ...


class AreaRules(Protocol):
    """How a resource's responsible area is found: the store's rules, which every single
    edit follows too (:class:`~geo_service.registry.store.ResourceStore`)."""

    def responsible_area(self, r: ResourceFields) -> str | None: ...

    def resolve_area(self, text: str, *, column: str = "area") -> str: ...

    def area_names(self) -> dict[str, str]: ...


#: The row problems about areas, worded for people: code → (Japanese, English) templates,
#: filled from the problem. The page shows the wording of its language.
AREA_WORDING: dict[str, tuple[str, str]] = {
    "area_unknown": ("「{given}」という圏域はありません。圏域: {known}",
                     "no such area; the areas are {known}"),
    "area_disagrees": ("担当圏域「{given}」は所在地と合いません。所在地は {area} にあります"
                       "（圏域は所在地から決まります。空欄にするか {area} と書いてください）",
                       "the area {given!r} does not agree with the location, which lies in "
                       "{area} (the area comes from the location: leave the cell empty or "
                       "write {area})"),
    "outside_areas": ("所在地がどの圏域にも入りません（担当圏域「{given}」）",
                      "the location lies in none of the areas (the row gives {given!r})"),
    "not_yours": ("{area} の資源です。取り込めるのは自分の担当圏域（{mine}）の資源だけです",
                  "this resource is in {area}, not in your areas ({mine}); you may import "
                  "resources of your own areas only"),
    "no_area": ("圏域が決まりません（所在地・移動販売の停留所・担当圏域のどれもないか、所在地が"
                "どの圏域にも入りません）。取り込めるのは自分の担当圏域（{mine}）の資源だけです",
                "the row has no area (no location, 移動販売 stop or 担当圏域, or a location "
                "in none of the areas); you may import resources of your own areas ({mine}) "
                "only"),
    "stored_not_yours": ("この ID の資源は {area} の資源です。更新できるのは自分の担当圏域"
                         "（{mine}）の資源だけです",
                         "the resource with this id is in {area}, not in your areas "
                         "({mine}); you may update resources of your own areas only"),
}


@dataclass(frozen=True)
class RowProblem:
    """Why one row was rejected: row (header = 1), column as in the file, value, reason
    (English), the reason in Japanese where it is worded so, and the file."""

    row: int
    column: str | None
    value: Any
    reason: str
    reason_ja: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = [self.file] if self.file else []
        where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        if self.value not in (None, ""):
            where.append(f"value {self.value!r}")
        reason = f"{self.reason_ja} ({self.reason})" if self.reason_ja else self.reason
        return f"{', '.join(where)}: {reason}"


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

    def summary(self) -> str:
        """A few lines for people: counts, problems, ignored columns."""
        lines = [
            f"{self.file} ({self.encoding}): {self.rows} rows, {len(self.accepted)} valid, "
            f"{len(self.rejected_rows)} rejected, {len(self.needs_location)} need a location",
        ]
        if self.to_update:
            lines.append(f"{len(self.to_update)} rows update existing resources (rows "
                         + ", ".join(map(str, self.to_update[:10]))
                         + (" …" if len(self.to_update) > 10 else "") + ")")
        if self.dry_run:
            lines.append("dry run: nothing was written")
        else:
            lines.append(f"written: {self.written} new, {self.updated} updated")
        if self.ignored_columns:
            lines.append("columns not imported: " + ", ".join(self.ignored_columns))
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


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
            raise InputError(f"cannot read as an Excel workbook: {e}", file=name) from None
        encoding = "xlsx"
    elif suffix in (".csv", ".txt", ".tsv", ""):
        text, encoding = decode_text(data, file=name)
        sep = "\t" if suffix == ".tsv" else ","
        most = csv_rows_allowed(text, sep=sep, file=name, limits=limits)
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep,
                                nrows=most + 1)
        except pd.errors.EmptyDataError:
            raise InputError("the file is empty (no header row)", file=name) from None
        except pd.errors.ParserError as e:
            raise InputError(f"not a valid CSV file: {e}", file=name) from None
        if len(frame) > most:
            raise too_many_rows(len(frame.columns), file=name, limits=limits)
    else:
        raise InputError("unsupported file type (use .csv or .xlsx; save .xls as .xlsx)",
                         file=name, value=suffix)
    frame = frame.fillna("").astype(str)
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in frame.columns:  # the quote an export puts before "=…" goes (unquote_cell)
        frame[col] = frame[col].str.strip().map(unquote_cell)
    return RawTable(frame, encoding, name)


def _key(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def map_headers(columns: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Map file headers to fields: ({field: header}, [unmapped headers])."""
    by_key: dict[str, str] = {}
    for c in columns:
        by_key.setdefault(_key(c), c)
    mapping: dict[str, str] = {}
    claimed: set[str] = set()
    aliases_of = {**HEADER_ALIASES, **{f"barrier_free:{c}": (c,) for c in BARRIER_FREE_COLUMNS}}
    for fld, aliases in aliases_of.items():
        for alias in aliases:
            header = by_key.get(_key(alias))
            if header is not None and header not in claimed:
                mapping[fld] = header
                claimed.add(header)
                break
    return mapping, [c for c in columns if c not in claimed]


# --------------------------------------------------------------------------- cell parsers


def parse_fee(text: str) -> dict[str, Any]:
    """「無料」→ free; 「300円」「1回300円」→ paid 300; 「実費」「有料」→ paid; kept as text."""
    t = unicodedata.normalize("NFKC", text).strip()
    if not t:
        return {"kind": "unknown"}
    if t in ("無料", "無償", "なし", "0円", "0", "free"):
        return {"kind": "free", "amount_yen": 0, "text": text}
    amounts = [int(a.replace(",", "")) for a in re.findall(r"(\d[\d,]*)\s*円", t)]
    if amounts:
        return {"kind": "paid", "amount_yen": min(amounts), "text": text}
    if any(w in t for w in ("有料", "有償", "実費", "円")):
        return {"kind": "paid", "text": text}
    if "無料" in t:
        return {"kind": "free", "text": text}
    return {"kind": "unknown", "text": text}


_ERA = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988}


def parse_date(text: str, *, column: str = "last_verified") -> date | None:
    """「2025/4/1」「2025-04-01」「令和7年4月1日」「R7.4.1」 (and Excel's timestamps)."""
    t = unicodedata.normalize("NFKC", text).strip()
    if not t:
        return None
    m = re.match(r"^(令和|平成|R|H)\s*(\d{1,2}|元)[年./\-](\d{1,2})[月./\-](\d{1,2})日?$", t)
    if m:
        year = _ERA[m.group(1)] + (1 if m.group(2) == "元" else int(m.group(2)))
        parts = (year, int(m.group(3)), int(m.group(4)))
    else:
        m = re.match(r"^(\d{4})[年./\-](\d{1,2})[月./\-](\d{1,2})日?(?:[ T]00:00:00)?$", t)
        if not m:
            raise InputError("not a date (use 2025-04-01 or 令和7年4月1日)", column=column,
                             value=text,
                             reason_ja="日付として読めません（2025-04-01 や 令和7年4月1日 と"
                                       "書いてください）")
        parts = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    try:
        return date(*parts)
    except ValueError:
        raise InputError("impossible date", column=column, value=text,
                         reason_ja="ありえない日付です") from None


def parse_json(text: str, *, column: str) -> Any:
    """A JSON value from a cell (GeoJSON polygons, stop lists); raise naming the column."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise InputError(f"not valid JSON: {e}", column=column, value=text[:80],
                         reason_ja=f"JSON として読めません（{e}）") from None


def parse_number(text: str, *, column: str) -> float | None:
    """A float from a cell (full-width digits allowed); None when empty."""
    t = unicodedata.normalize("NFKC", text).strip()
    if not t:
        return None
    try:
        return float(t)
    except ValueError:
        raise InputError("not a number", column=column, value=text,
                         reason_ja="数値ではありません") from None


def _visibility(text: str) -> str:
    t = _key(text)
    if t in ("", "公開", "public", "一般公開"):
        return "public"
    if t in ("非公開", "職員のみ", "関係者のみ", "staff", "内部"):
        return "staff"
    raise InputError("unknown visibility (公開 or 非公開)", column="visibility", value=text,
                     reason_ja="公開区分は「公開」か「非公開」です")


def _staff_fields(text: str) -> list[str]:
    by_label = {_key(v): k for k, v in STAFF_FIELD_LABELS.items()} | {
        _key(k): k for k in STAFF_FIELD_LABELS}
    out = []
    for tok in (p for p in _SPLIT.split(unicodedata.normalize("NFKC", text)) if p):
        if _key(tok) not in by_label:
            fields = "、".join(STAFF_FIELD_LABELS.values())
            raise InputError(f"unknown field; staff-only fields may be {fields}",
                             column="staff_fields", value=tok,
                             reason_ja=f"非公開にできる項目ではありません。項目: {fields}")
        out.append(by_label[_key(tok)])
    return out


# --------------------------------------------------------------------------- rows


@dataclass
class ImportContext:
    """What rows are checked against while parsing."""

    layers: Mapping[str, AreaLayer] = field(default_factory=dict)
    default_category: str | None = None
    region_bounds: tuple[float, float, float, float] | None = None
    geocoder: Geocoder | None = None
    existing_ids: Callable[[str], bool] | None = None
    source: str | None = None
    allowed_areas: frozenset[str] | None = None  # a coordinator imports their areas only
    update: bool = False  # rows whose id exists update that resource (the yearly round)
    #: the store's area rules: each row's area is found as for a single edit (without
    #: them, a row's area is its 担当圏域 cell as written)
    areas: AreaRules | None = None
    #: the stored resource of an id (deleted ones too), or None: what an update row changes
    current: Callable[[str], Resource | None] | None = None


class _Row:
    """One row being parsed: cell access by field, problems collected per column."""

    def __init__(self, number: int, cells: Mapping[str, str], columns: Mapping[str, str]):
        self.number, self.cells, self.columns = number, cells, columns
        self.problems: list[RowProblem] = []

    def get(self, fld: str) -> str:
        header = self.columns.get(fld)
        return self.cells.get(header, "") if header else ""

    def parse(self, fld: str, parser: Callable[[str], Any], default: Any = None) -> Any:
        text = self.get(fld)
        if not text:
            return default
        try:
            return parser(text)
        except InputError as e:
            self.failed(fld, text, e)
            return default

    def problem(self, fld: str | None, value: Any, reason: str,
                reason_ja: str | None = None) -> None:
        """Record a problem of column ``fld`` (English, and Japanese where worded so)."""
        column = self.columns.get(fld, fld) if fld else None
        self.problems.append(RowProblem(self.number, column, value, reason, reason_ja))

    def failed(self, fld: str, value: Any, error: InputError) -> None:
        """Record why a value of column ``fld`` was refused."""
        self.problem(fld, value, error.reason, error.reason_ja)

    def invalid(self, error: ResourceValidationError) -> None:
        """Record every problem of a resource that failed validation, by column."""
        for (loc, value, reason), ja in zip(error.errors, error.reasons_ja, strict=True):
            self.problem(_field_of(loc),
                         value if isinstance(value, str | int | float) else None, reason, ja)

    def explain(self, fld: str, value: Any, code: str, **params: str) -> None:
        """Record a problem worded in Japanese and English (:data:`AREA_WORDING`); a
        column the file lacks is named by its Japanese header."""
        ja, en = AREA_WORDING[code]
        column = self.columns.get(fld) or HEADER_ALIASES[fld][0]
        self.problems.append(RowProblem(self.number, column, value, en.format(**params),
                                        ja.format(**params)))


def _schedule(row: _Row, region_bounds: tuple[float, float, float, float] | None
              ) -> dict[str, Any]:
    weekdays = row.parse("weekdays", parse_weekdays, [])
    notes = [t for t in (row.get("schedule_note"),) if t]
    closed = row.get("closed_days")
    if closed:
        try:
            days = parse_weekdays(closed, column="closed_days")
            if not row.get("weekdays"):
                weekdays = [d for d in WEEKDAYS if d not in days]
        except InputError:
            pass  # 「年末年始」 and the like: kept as text below
        notes.append(f"定休日: {closed}")
    start = row.parse("start", lambda t: normalise_time(t, column="start"))
    end = row.parse("end", lambda t: normalise_time(t, column="end"))
    hours = row.get("hours")
    if hours:
        m = _HOURS.search(unicodedata.normalize("NFKC", hours))
        if m and not start and not end:
            try:
                start = normalise_time(m.group(1), column="hours")
                end = normalise_time(m.group(2), column="hours")
            except InputError as e:
                row.failed("hours", hours, e)
        notes.append(f"時間: {hours}")
    stops = row.parse("stops", lambda t: parse_json(t, column="stops"), [])
    for k, stop in enumerate(stops if isinstance(stops, list) else []):
        lon, lat = (stop.get("lon"), stop.get("lat")) if isinstance(stop, dict) else (None, None)
        if isinstance(lon, int | float) and isinstance(lat, int | float):
            try:
                check_in_region(float(lon), float(lat), region_bounds, column="stops")
            except InputError as e:
                row.failed("stops", f"stop {k + 1}: {lat}, {lon}", e)
    return {"weekdays": weekdays, "start": start, "end": end, "stops": stops,
            "frequency": row.get("frequency") or None, "text": " / ".join(notes) or None}


def parse_row(number: int, cells: Mapping[str, str], columns: Mapping[str, str],
              ctx: ImportContext) -> tuple[ResourceFields | None, list[RowProblem]]:
    """Parse and validate one row; return the resource (or None) and its problems."""
    row = _Row(number, cells, columns)
    vocab = load_vocabulary()
    category_text = row.get("category") or ctx.default_category
    category = None
    if not category_text:
        row.problem("category", "", "category missing (no column or empty cell, and no "
                                    "default category given)",
                    "カテゴリがありません（列がないか空欄で、既定のカテゴリも指定されていません）")
    else:
        try:
            category = vocab.category_key(category_text)
        except InputError as e:
            row.failed("category", category_text, e)
    lon = row.parse("lon", lambda t: parse_number(t, column="lon"))
    lat = row.parse("lat", lambda t: parse_number(t, column="lat"))
    if lon is not None and lat is not None:
        try:
            check_lonlat(lon, lat)
            check_in_region(lon, lat, ctx.region_bounds)
        except InputError as e:
            row.failed("lat", f"{lat}, {lon}", e)
            lon = lat = None
    elif (lon is None) != (lat is None):
        row.problem("lat" if lat is None else "lon", "", "latitude and longitude must both "
                    "be given, or neither", "緯度と経度は両方書くか、両方空欄にしてください")
    elif ctx.geocoder is not None and row.get("address"):
        found = ctx.geocoder(row.get("address"))
        if found is not None:
            lon, lat = found
    area_text = row.get("service_area")
    service_area: dict[str, Any] = {}
    if row.get("service_area_geojson"):
        geometry = row.parse("service_area_geojson",
                             lambda t: parse_json(t, column="service_area_geojson"))
        service_area = {"kind": "polygon", "geometry": geometry, "text": area_text or None}
    elif area_text:
        try:
            service_area = parse_service_area_text(area_text, ctx.layers).model_dump()
        except InputError as e:
            row.failed("service_area", area_text, e)
    rid = row.get("id") or None
    if rid and not ctx.update and ctx.existing_ids is not None and ctx.existing_ids(rid):
        row.problem("id", rid, "a resource with this id already exists in the registry "
                               "(use update mode to refresh existing resources)",
                    "この ID の資源はすでに登録されています（登録済みの資源を更新するときは"
                    "更新モードで取り込んでください）")
    data: dict[str, Any] = {
        "name": row.get("name"),
        "kana": unicodedata.normalize("NFKC", row.get("kana")).strip() or None,
        "category": category or "",
        "description": row.get("description") or None,
        "operator": row.get("operator") or None,
        "operator_type": row.get("operator_type") or None,
        "address": row.get("address") or None,
        "lon": lon, "lat": lat,
        "service_area": service_area,
        "schedule": _schedule(row, ctx.region_bounds),
        "fee": parse_fee(row.get("fee")),
        "target_users": row.get("target_users") or None,
        "how_to_apply": row.get("how_to_apply") or None,
        "contact": {k: row.get(k) or None for k in ("tel", "fax", "email", "url")},
        "payment_methods": [p for p in _SPLIT.split(row.get("payment_methods")) if p],
        "notes": _notes(row),
        "visibility": row.parse("visibility", _visibility, "public"),
        "staff_fields": row.parse("staff_fields", _staff_fields, []),
        "last_verified": row.parse("last_verified", parse_date),
        "coordinator": row.get("coordinator") or None,
        "area": row.get("area") or None,
        "source": row.get("source") or ctx.source,
        "staff_notes": row.get("staff_notes") or None,
    }
    if rid:
        data["id"] = rid
    if row.problems:
        return None, row.problems
    try:
        resource = validate_resource(data, Resource if rid else ResourceFields)
    except ResourceValidationError as e:
        row.invalid(e)
        return None, row.problems
    resource = _with_area(row, resource, ctx)
    return (None, row.problems) if row.problems else (resource, [])


def _with_area(row: _Row, resource: ResourceFields, ctx: ImportContext) -> ResourceFields:
    """``resource`` with its responsible area found as a single edit finds it (the
    location, else the first 移動販売 stop, else the 担当圏域 cell, id or name), after
    checking that the cell agrees and that the importing coordinator may write it there;
    an update row is judged as the resource it would become."""
    before = _current(ctx, resource)
    try:
        subject = resource if before is None else merge_import(before, resource, row.columns)
    except ResourceValidationError as e:
        row.invalid(e)
        return resource
    area = subject.area if ctx.areas is None else _derived_area(row, subject, ctx.areas)
    if not row.problems and ctx.allowed_areas is not None:
        _check_allowed(row, subject, area, before, ctx)
    return resource.model_copy(update={"area": area})


def _current(ctx: ImportContext, resource: ResourceFields) -> Resource | None:
    """The stored resource an update row changes (None for a new one)."""
    if not ctx.update or ctx.current is None or not isinstance(resource, Resource):
        return None
    return ctx.current(resource.id)


def _placed(r: ResourceFields) -> bool:
    return r.lon is not None or bool(r.schedule.stops)


def _derived_area(row: _Row, r: ResourceFields, rules: AreaRules) -> str | None:
    """The area of ``r`` by ``rules``; a row problem when its 担当圏域 is unknown or does
    not agree with where the resource is."""
    given = row.get("area")
    names = rules.area_names()
    try:
        area = rules.responsible_area(r)  # resolves r.area when r has no place
        wanted = rules.resolve_area(given) if given else area
    except InputError:
        row.explain("area", given, "area_unknown", given=given,
                    known="、".join(_area_label(names, a) for a in names))
        return None
    if wanted != area and _placed(r):
        if area is None:
            row.explain("area", given, "outside_areas", given=given)
        else:
            row.explain("area", given, "area_disagrees", given=given,
                        area=_area_label(names, area))
        return None
    return area


def _check_allowed(row: _Row, r: ResourceFields, area: str | None, before: Resource | None,
                   ctx: ImportContext) -> None:
    """A row problem unless the importing coordinator may write ``r`` into ``area`` (and,
    for an update, may edit the stored resource ``before``)."""
    allowed = ctx.allowed_areas or frozenset()
    names = ctx.areas.area_names() if ctx.areas is not None else {}
    mine = "、".join(_area_label(names, a) for a in sorted(allowed)) or "—"
    if before is not None and before.area not in allowed:
        row.explain("id", before.id, "stored_not_yours", mine=mine,
                    area=_area_label(names, before.area))
    elif area is None:
        row.explain(*_area_evidence(row, r), "no_area", mine=mine)
    elif area not in allowed:
        row.explain(*_area_evidence(row, r), "not_yours", mine=mine,
                    area=_area_label(names, area))


def _area_evidence(row: _Row, r: ResourceFields) -> tuple[str, Any]:
    """The column (field) and value that put the row's resource in its area."""
    if row.get("area"):
        return "area", row.get("area")
    if r.lon is not None and row.get("lat"):
        return "lat", f"{r.lat}, {r.lon}"
    if r.lon is None and r.schedule.stops and row.get("stops"):
        stop = r.schedule.stops[0]
        return "stops", f"stop 1: {stop.lat}, {stop.lon}"
    return "area", ""


def _area_label(names: Mapping[str, str], area: str | None) -> str:
    """「西小学校 (W)」: an area's name and id (the id alone where no name is known)."""
    if area is None:
        return "—"
    return f"{names[area]} ({area})" if area in names else area


def _field_of(loc: str) -> str:
    head = loc.split(".")[0]
    if head == "contact" and "." in loc:
        return loc.split(".")[1]
    if head == "schedule" and "." in loc:
        part = loc.split(".")[1]
        return {"text": "schedule_note"}.get(part, part if part in (
            "start", "end", "stops", "frequency") else "weekdays")
    if loc.startswith("service_area.geometry"):
        return "service_area_geojson"
    return {"location": "lat"}.get(head, head)


def _notes(row: _Row) -> str | None:
    """備考, and the barrier-free columns' values (「バリアフリー: 車椅子可 有、…」)."""
    facts = [f"{c} {v}" for c in BARRIER_FREE_COLUMNS if (v := row.get(f"barrier_free:{c}"))]
    parts = [row.get("notes"), "バリアフリー: " + "、".join(facts) if facts else ""]
    return "\n".join(p for p in parts if p) or None


def parse_resources(table: RawTable, ctx: ImportContext | None = None) -> ImportReport:
    """Validate every row of a table; the report holds the valid resources and problems."""
    ctx = ctx or ImportContext()
    if ctx.source:
        ctx.source = source_name(ctx.source)
    columns, ignored = map_headers(table.frame.columns)
    report = ImportReport(table.file, table.encoding, len(table.frame), columns, ignored)
    if "name" not in columns:
        known = "、".join(HEADER_ALIASES["name"])
        raise InputError(f"no name column (one of {known})", file=table.file,
                         reason_ja=f"名称の列がありません（{known} のどれか）")
    if "category" not in columns and not ctx.default_category:
        known = "、".join(HEADER_ALIASES["category"])
        raise InputError(f"no category column (one of {known}): give the category of every "
                         "row, e.g. with --category 公共施設 (the API: default_category)",
                         file=table.file,
                         reason_ja=f"カテゴリの列がありません（{known} のどれか）。全行の"
                                   "カテゴリを指定してください（例: --category 公共施設、"
                                   "API では default_category）")
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
                    raise PermissionDeniedError(
                        f"resource {before.id!r} is now in area {area!r}, not in your areas "
                        f"({'、'.join(sorted(allowed))}); nothing was imported")
        return after
    return change


# The resource fields that each file column (canonical name) carries.
_COLUMN_FIELDS: dict[str, tuple[str, ...]] = {
    "lat": ("lon", "lat"), "lon": ("lon", "lat"),
    "tel": ("contact.tel",), "fax": ("contact.fax",), "email": ("contact.email",),
    "url": ("contact.url",),
    "service_area_geojson": ("service_area",),
    **{f"barrier_free:{c}": ("notes",) for c in BARRIER_FREE_COLUMNS},
    **{c: ("schedule",) for c in ("weekdays", "closed_days", "start", "end", "hours",
                                  "frequency", "schedule_note", "stops")},
}


def merge_import(before: Resource, row: ResourceFields, columns: Iterable[str]) -> Resource:
    """``before`` with the fields of ``row`` that the imported file has columns for.

    A column the file lacks leaves its field as it was; a blank cell clears it — except
    in a field the resource keeps staff-only, which a public export leaves blank: there a
    blank cell keeps the stored value. The result is restored if it was deleted, and
    validated again.
    """
    data = before.model_dump()
    new = row.model_dump()
    hidden = {f for s in before.staff_fields
              for f in (("lon", "lat") if s == "location" else (s,))}
    for column in columns:
        for fld in _COLUMN_FIELDS.get(column, (column,)):
            head, _, sub = fld.partition(".")
            if head not in new or head == "id":
                continue
            value = new[head][sub] if sub else new[head]
            if fld in hidden and value in (None, "", [], {}):
                continue
            if sub:
                data[head][sub] = new[head][sub]
            else:
                data[head] = new[head]
    data["deleted"] = False
    return validate_resource(data, Resource)


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


# --------------------------------------------------------------------------- export


def _service_area_text(r: Mapping[str, Any], layers: Mapping[str, AreaLayer]) -> str:
    sa = r["service_area"]
    if sa.get("text"):
        return sa["text"]
    kind = sa["kind"]
    if kind == "municipality":
        return "市内全域"
    if kind == "radius":
        return f"半径{sa['radius_m']:g}m"
    if kind == "walk":
        return f"徒歩{sa['minutes']:g}分"
    if kind == "areas":
        layer = layers.get(sa.get("layer") or "")
        names = dict(zip(layer.ids, layer.names, strict=True)) if layer else {}
        return "、".join(names.get(a, a) for a in sa["area_ids"])
    return ""


def export_rows(resources: Iterable[Resource], *, public: bool = True,
                layers: Mapping[str, AreaLayer] | None = None) -> list[dict[str, Any]]:
    """Rows with the importer's Japanese headers; ``public`` applies the public view."""
    vocab = load_vocabulary()
    layers = layers or {}
    rows = []
    for res in resources:
        r = public_view(res) if public else res.model_dump(mode="json")
        if r is None:
            continue
        sched, fee, contact = r["schedule"], r["fee"], r["contact"]
        values: dict[str, Any] = {
            "id": res.id, "name": r["name"], "kana": r["kana"],
            "category": vocab.by_id[r["category"]].label,
            "description": r["description"], "operator": r["operator"],
            "operator_type": vocab.operator_types.get(r["operator_type"] or "", None),
            "address": r["address"], "lat": r["lat"], "lon": r["lon"],
            "tel": contact["tel"], "fax": contact["fax"], "email": contact["email"],
            "url": contact["url"],
            "service_area": _service_area_text(r, layers),
            "service_area_geojson": json.dumps(r["service_area"]["geometry"], ensure_ascii=False)
            if r["service_area"]["kind"] == "polygon" else None,
            "fee": fee["text"] or {"free": "無料", "paid": "有料"}.get(fee["kind"]),
            "weekdays": "・".join(WEEKDAY_JA[d] for d in sched["weekdays"]),
            "start": sched["start"], "end": sched["end"], "frequency": sched["frequency"],
            "schedule_note": sched["text"],
            "stops": json.dumps(sched["stops"], ensure_ascii=False) if sched["stops"] else None,
            "target_users": r["target_users"], "how_to_apply": r["how_to_apply"],
            "payment_methods": "、".join(r["payment_methods"]), "notes": r["notes"],
            "last_verified": r["last_verified"],
        }
        if not public:
            values |= {
                "visibility": "公開" if res.visibility == "public" else "非公開",
                "staff_fields": "、".join(STAFF_FIELD_LABELS[f] for f in res.staff_fields),
                "coordinator": res.coordinator, "area": res.area, "source": res.source,
                "staff_notes": res.staff_notes,
            }
        else:
            values["area"] = r["area"]
        rows.append({HEADER_ALIASES[k][0]: ("" if v is None else v) for k, v in values.items()})
    return rows


def resources_geojson(resources: Iterable[Resource], *, public: bool = True) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection (lon/lat); resources without a location get null
    geometry. ``public`` applies the public view."""
    features = []
    for res in resources:
        r = public_view(res) if public else res.model_dump(mode="json")
        if r is None:
            continue
        geometry = ({"type": "Point", "coordinates": [r["lon"], r["lat"]]}
                    if r["lon"] is not None else None)
        features.append({"type": "Feature", "id": res.id, "geometry": geometry,
                         "properties": {"id": res.id, **r}})
    return {"type": "FeatureCollection", "features": features}


ExportFormat = Literal["csv", "xlsx", "geojson"]
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}


def export_bytes(resources: Iterable[Resource], fmt: ExportFormat, *, public: bool = True,
                 encoding: str = "utf-8-sig",
                 layers: Mapping[str, AreaLayer] | None = None) -> bytes:
    """The resources as CSV (UTF-8 with BOM, or ``cp932``), Excel or GeoJSON bytes.

    ``public`` (default) keeps only what the public may see (see
    :func:`~geo_service.registry.resources.public_view`). CSV and Excel cells never run as formulas
    and hold no control character (:func:`~geo_service.outputs.spreadsheet_cell`; the
    importer removes the quote it adds, so an export imports as it was).
    """
    resources = list(resources)
    if fmt == "geojson":
        return json.dumps(resources_geojson(resources, public=public), ensure_ascii=False,
                          indent=1).encode("utf-8")
    headers = [HEADER_ALIASES[k][0] for k in HEADER_ALIASES
               if not public or k not in _EXPORT_STAFF_ONLY]
    frame = spreadsheet_safe(pd.DataFrame(export_rows(resources, public=public, layers=layers),
                                          columns=headers))
    buffer = io.BytesIO()
    if fmt == "csv":
        buffer.write(frame.to_csv(index=False).encode(encoding, errors="strict"))
    elif fmt == "xlsx":
        frame.to_excel(buffer, index=False, engine="openpyxl")
    else:
        raise InputError("unsupported export format (csv, xlsx or geojson)", value=fmt)
    return buffer.getvalue()


def export_resources(resources: Iterable[Resource], path: str | Path, *,
                     public: bool = True, encoding: str = "utf-8-sig",
                     layers: Mapping[str, AreaLayer] | None = None) -> Path:
    """Write resources to ``path``; the suffix (.csv, .xlsx, .geojson) picks the format."""
    path = Path(path)
    fmt = {".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson"}.get(
        path.suffix.lower())
    if fmt is None:
        raise InputError("unsupported export format (use .csv, .xlsx or .geojson)",
                         file=path, value=path.suffix)
    path.write_bytes(export_bytes(resources, fmt, public=public, encoding=encoding,  # type: ignore[arg-type]
                                  layers=layers))
    return path
