"""One row of an imported resource list → a resource, or the row's problems.

:func:`parse_row` reads the row's cells by field group (category, location, service
area, id, schedule, contact and texts, visibility), collects every problem with its
column, validates the resource, and finds its responsible area as a single edit would
(:class:`AreaRules`), checking that the importing coordinator may write it there.
:func:`merge_import` is what an update row (the yearly round) makes of the stored resource.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from geo_service._errors import InputError
from geo_service.inputs.boundaries import AreaLayer
from geo_service.layers import load_vocabulary
from geo_service.registry.cells import (
    parse_date,
    parse_fee,
    parse_hours,
    parse_json,
    parse_number,
    parse_staff_fields,
    parse_visibility,
    split_list,
)
from geo_service.registry.columns import BARRIER_FREE_COLUMNS, HEADER_ALIASES
from geo_service.registry.resources import (
    WEEKDAYS,
    Resource,
    ResourceFields,
    ResourceValidationError,
    check_in_region,
    check_lonlat,
    normalise_time,
    parse_weekdays,
    validate_resource,
)
from geo_service.registry.service_areas import parse_service_area_text


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

    def text(self, lang: str = "en") -> str:
        """The problem in ``lang``, as an :class:`InputError` of the row says it."""
        return InputError(self.reason, file=self.file, row=self.row, column=self.column,
                          value=None if self.value == "" else self.value,
                          reason_ja=self.reason_ja).text(lang)



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
        """The cell of field ``fld`` (empty when the file lacks the column)."""
        header = self.columns.get(fld)
        return self.cells.get(header, "") if header else ""

    def parse(self, fld: str, parser: Callable[[str], Any], default: Any = None) -> Any:
        """The cell of ``fld`` read by ``parser``; ``default`` when the cell is empty, or
        refused (a problem of the row then)."""
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


def _field_of(loc: str) -> str:
    """The field (file column) of a validation error's location, e.g. contact.tel → tel."""
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


# --------------------------------------------------------------------------- field groups


def _category(row: _Row, default: str | None) -> str | None:
    """The category key of the row's カテゴリ cell, else of the default category."""
    text = row.get("category") or default
    if not text:
        row.problem("category", "", "category missing (no column or empty cell, and no "
                                    "default category given)",
                    "カテゴリがありません（列がないか空欄で、既定のカテゴリも指定されていません）")
        return None
    try:
        return load_vocabulary().category_key(text)
    except InputError as e:
        row.failed("category", text, e)
        return None


def _location(row: _Row, ctx: ImportContext) -> tuple[float | None, float | None]:
    """(lon, lat) of the row: both cells, within the region; else the geocoder's answer
    for the address, if there is a geocoder; else none."""
    lon = row.parse("lon", lambda t: parse_number(t, column="lon"))
    lat = row.parse("lat", lambda t: parse_number(t, column="lat"))
    if lon is not None and lat is not None:
        try:
            check_lonlat(lon, lat)
            check_in_region(lon, lat, ctx.region_bounds)
        except InputError as e:
            row.failed("lat", f"{lat}, {lon}", e)
            return None, None
    elif (lon is None) != (lat is None):
        row.problem("lat" if lat is None else "lon", "", "latitude and longitude must both "
                    "be given, or neither", "緯度と経度は両方書くか、両方空欄にしてください")
    elif ctx.geocoder is not None and row.get("address"):
        found = ctx.geocoder(row.get("address"))
        if found is not None:
            return found
    return lon, lat


def _service_area(row: _Row, layers: Mapping[str, AreaLayer]) -> dict[str, Any]:
    """The service area: a GeoJSON polygon cell, else the 対応エリア text resolved against
    the boundary layers (「○○小学校区」「市内全域」「半径500m」); none without either."""
    area_text = row.get("service_area")
    if row.get("service_area_geojson"):
        geometry = row.parse("service_area_geojson",
                             lambda t: parse_json(t, column="service_area_geojson"))
        return {"kind": "polygon", "geometry": geometry, "text": area_text or None}
    if area_text:
        try:
            return parse_service_area_text(area_text, layers).model_dump()
        except InputError as e:
            row.failed("service_area", area_text, e)
    return {}


def _resource_id(row: _Row, ctx: ImportContext) -> str | None:
    """The row's id, if it has one; a problem when it is taken and this is no update."""
    rid = row.get("id") or None
    if rid and not ctx.update and ctx.existing_ids is not None and ctx.existing_ids(rid):
        row.problem("id", rid, "a resource with this id already exists in the registry "
                               "(use update mode to refresh existing resources)",
                    "この ID の資源はすでに登録されています（登録済みの資源を更新するときは"
                    "更新モードで取り込んでください）")
    return rid


def _open_weekdays(row: _Row, notes: list[str]) -> list[str]:
    """The days it is open: 利用可能曜日, else the days 定休日 leaves (a 定休日 that names no
    days, 「年末年始」 say, stays in the notes as text)."""
    weekdays = row.parse("weekdays", parse_weekdays, [])
    closed = row.get("closed_days")
    if closed:
        try:
            days = parse_weekdays(closed, column="closed_days")
            if not row.get("weekdays"):
                weekdays = [d for d in WEEKDAYS if d not in days]
        except InputError:
            pass  # 「年末年始」 and the like: kept as text below
        notes.append(f"定休日: {closed}")
    return weekdays


def _times(row: _Row, notes: list[str]) -> tuple[str | None, str | None]:
    """(start, end): 開始時間 and 終了時間, else the span 営業時間 gives (kept in the
    notes as text too)."""
    start = row.parse("start", lambda t: normalise_time(t, column="start"))
    end = row.parse("end", lambda t: normalise_time(t, column="end"))
    hours = row.get("hours")
    if hours:
        if not start and not end:
            try:
                span = parse_hours(hours)
            except InputError as e:
                row.failed("hours", hours, e)
            else:
                start, end = span or (start, end)
        notes.append(f"時間: {hours}")
    return start, end


def _stops(row: _Row, region_bounds: tuple[float, float, float, float] | None) -> Any:
    """The 移動販売 stops (a JSON list); a problem for each stop outside the region."""
    stops = row.parse("stops", lambda t: parse_json(t, column="stops"), [])
    for k, stop in enumerate(stops if isinstance(stops, list) else []):
        lon, lat = (stop.get("lon"), stop.get("lat")) if isinstance(stop, dict) else (None, None)
        if isinstance(lon, int | float) and isinstance(lat, int | float):
            try:
                check_in_region(float(lon), float(lat), region_bounds, column="stops")
            except InputError as e:
                row.failed("stops", f"stop {k + 1}: {lat}, {lon}", e)
    return stops


def _schedule(row: _Row, region_bounds: tuple[float, float, float, float] | None
              ) -> dict[str, Any]:
    """The schedule: days, times, stops, frequency, and what is kept as text."""
    notes = [t for t in (row.get("schedule_note"),) if t]
    weekdays = _open_weekdays(row, notes)
    start, end = _times(row, notes)
    stops = _stops(row, region_bounds)
    return {"weekdays": weekdays, "start": start, "end": end, "stops": stops,
            "frequency": row.get("frequency") or None, "text": " / ".join(notes) or None}


def _notes(row: _Row) -> str | None:
    """備考, and the barrier-free columns' values (「バリアフリー: 車椅子可 有、…」)."""
    facts = [f"{c} {v}" for c in BARRIER_FREE_COLUMNS if (v := row.get(f"barrier_free:{c}"))]
    parts = [row.get("notes"), "バリアフリー: " + "、".join(facts) if facts else ""]
    return "\n".join(p for p in parts if p) or None


def _text(row: _Row, fld: str) -> str | None:
    """A text cell as it is; None when empty."""
    return row.get(fld) or None


def parse_row(number: int, cells: Mapping[str, str], columns: Mapping[str, str],
              ctx: ImportContext) -> tuple[ResourceFields | None, list[RowProblem]]:
    """Parse and validate one row; return the resource (or None) and its problems."""
    row = _Row(number, cells, columns)
    category = _category(row, ctx.default_category)
    lon, lat = _location(row, ctx)
    service_area = _service_area(row, ctx.layers)
    rid = _resource_id(row, ctx)
    data: dict[str, Any] = {
        "name": row.get("name"),
        "kana": unicodedata.normalize("NFKC", row.get("kana")).strip() or None,
        "category": category or "",
        "description": _text(row, "description"),
        "operator": _text(row, "operator"),
        "operator_type": _text(row, "operator_type"),
        "address": _text(row, "address"),
        "lon": lon, "lat": lat,
        "service_area": service_area,
        "schedule": _schedule(row, ctx.region_bounds),
        "fee": parse_fee(row.get("fee")),
        "target_users": _text(row, "target_users"),
        "how_to_apply": _text(row, "how_to_apply"),
        "contact": {k: _text(row, k) for k in ("tel", "fax", "email", "url")},
        "payment_methods": split_list(row.get("payment_methods")),
        "notes": _notes(row),
        "visibility": row.parse("visibility", parse_visibility, "public"),
        "staff_fields": row.parse("staff_fields", parse_staff_fields, []),
        "last_verified": row.parse("last_verified", parse_date),
        "coordinator": _text(row, "coordinator"),
        "area": _text(row, "area"),
        "source": row.get("source") or ctx.source,
        "staff_notes": _text(row, "staff_notes"),
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


# --------------------------------------------------------------------------- areas


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


# --------------------------------------------------------------------------- updates


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
