"""The community-resource (地域資源) model: fields, vocabulary and validation (its public view
is :mod:`geo_service.registry.visibility`, its service area's outline
:mod:`geo_service.registry.service_areas`).

A :class:`Resource` is what a coordinator's directory records about one service or place,
with the fields the best Japanese directories keep (川西市 サポートナビ, 酒田市 社会資源ファイル,
介護サービス情報公表): 名称・カナ, category, operator, address, location, **service area**,
**schedule** (for 移動販売 a list of stops), fee, target users, how to apply, contact, payment
methods, notes, **visibility**, last verified date, responsible coordinator and area, source.

Everything is validated here, once, where it enters (API bodies, import rows): an invalid
value raises a :class:`~geo_service._errors.InputError` subclass naming the field and value,
which pydantic reports with the field's location.

Module settings
---------------
- ``SENSITIVE_FIELDS``: the fields that may be marked staff-only one by one.
- ``STAFF_ONLY_ALWAYS``: fields never shown to the public (coordinator, staff notes, source,
  the staff-field list itself).
- The category vocabulary is read from ``layers/resource_categories.toml``
  (:func:`geo_service.layers.load_vocabulary`); nothing else in the code lists categories.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal, TypeVar, overload

import numpy as np
import shapely
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from shapely.geometry import mapping

from geo_service._chars import NOT_TEXT
from geo_service._errors import (
    InputError,
    ServiceAreaError,
    SwappedCoordinatesError,
)
from geo_service.i18n import Term, msg, msg_n, text_of
from geo_service.inputs.crs import in_japan
from geo_service.layers import ResourceLayer, load_vocabulary
from geo_service.registry.polygons import (
    MAX_POLYGON_VERTICES,
    check_polygon_geojson,
    polygon_from_geojson,
    short_value,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_JA: dict[str, str] = dict(zip(WEEKDAYS, "月火水木金土日", strict=True))

SensitiveField = Literal[
    "address", "location", "operator", "contact.tel", "contact.fax", "contact.email",
    "contact.url", "schedule", "fee", "target_users", "how_to_apply", "payment_methods",
    "notes",
]
SENSITIVE_FIELDS: tuple[str, ...] = SensitiveField.__args__  # type: ignore[attr-defined]
STAFF_ONLY_ALWAYS: tuple[str, ...] = (
    "coordinator", "staff_notes", "source", "staff_fields", "visibility", "deleted",
    "created_at", "updated_at", "version",
)
ServiceAreaKind = Literal["none", "polygon", "areas", "radius", "walk", "municipality"]
#: the free-text fields that may hold several lines (tab, line feed and carriage return);
#: every other text field holds one line, without any C0 control character
MULTILINE_FIELDS: frozenset[str] = frozenset({
    "description", "target_users", "how_to_apply", "notes", "staff_notes", "text",
})

#: the longest source (出典) a resource records (an import records its file's name)
MAX_SOURCE_CHARS = 500

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_CONTROL = re.compile(r"[\x00-\x1f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NOT_TEXT = re.compile(NOT_TEXT)


# --------------------------------------------------------------------------- value parts


def check_no_control(value: str, *, column: str, multiline: bool = False) -> str:
    """Return ``value`` unless it holds a C0 control character (U+0000–U+001F; tab, line
    feed and carriage return are allowed when ``multiline``), a noncharacter (U+FFFE,
    U+FFFF, U+FDD0–U+FDEF, U+nFFFE/U+nFFFF) or a lone surrogate; raise naming the
    character.

    Such characters are invisible, break spreadsheet exports (an Excel file is XML 1.0,
    which cannot hold them) and are never meant: they come from copy-paste or broken files.
    """
    found = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if found is not None:
        code = f"U+{ord(found.group()):04X}"
        reason = (msg("control character {code} is not allowed (tab and line breaks are "
                      "allowed here)", code=code) if multiline
                  else msg("control character {code} is not allowed", code=code))
        raise InputError(reason, column=column, value=short_value(value))
    found = _NOT_TEXT.search(value)
    if found is not None:
        code = f"U+{ord(found.group()):04X}"
        raise InputError(msg("character {code} is not allowed (a Unicode noncharacter or "
                             "lone surrogate: no text holds one)", code=code), column=column,
                         value=short_value(value))
    return value


class _Checked(BaseModel):
    """A part of a resource whose text fields are checked for control characters when the
    data enters (:func:`validate_resource`); stored data is read as it is."""

    @field_validator("*")
    @classmethod
    def _no_control(cls, v: Any, info: ValidationInfo) -> Any:
        if not (info.context or {}).get("input"):
            return v
        multiline = info.field_name in MULTILINE_FIELDS
        for text in v if isinstance(v, list) else [v]:
            if isinstance(text, str):
                check_no_control(text, column=str(info.field_name), multiline=multiline)
        return v


_DAYS_EN = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_SPLIT = re.compile(r"[、,，・/／\s]+")
_DAY_RANGE = re.compile(r"^([月火水木金土日])[～〜~\-－ーから]+([月火水木金土日])$")


def parse_weekday(text: str, *, column: str = "weekday") -> Weekday:
    """One weekday, written any usual way → its key: ``水``, ``水曜``, ``水曜日``, ``wed``,
    ``Wed``, ``Wednesday`` (full-width too) → ``wed``. The one parser of single weekdays
    (API filters, schedule and stop bodies, import cells via :func:`parse_weekdays`)."""
    t = unicodedata.normalize("NFKC", str(text)).strip().lower()
    t = t.removesuffix("曜日").removesuffix("曜")
    for key, ja, en in zip(WEEKDAYS, "月火水木金土日", _DAYS_EN, strict=True):
        if t in (key, ja, en) or (t.isascii() and len(t) >= 3 and en.startswith(t)):
            return key
    raise InputError(msg("unknown weekday (月 … 日, 月曜, 月曜日, mon … sun, monday …)"),
                     column=column, value=text)


def parse_weekdays(text: str, *, column: str = "weekdays") -> list[Weekday]:
    """Weekdays in a cell: 「月・水・金」「月～金」「平日」「毎日」「月火水」「mon,wed」
    「水曜日」 → weekday keys in week order (single days by :func:`parse_weekday`)."""
    t = unicodedata.normalize("NFKC", text).strip()
    t = t.replace("曜日", "").replace("曜", "").replace("祝日", "").replace("祝", "")
    out: list[Weekday] = []
    for day in (p for p in _DAY_SPLIT.split(t) if p):
        if day in ("毎日", "全日", "年中無休", "無休"):
            out += WEEKDAYS
        elif day == "平日":
            out += WEEKDAYS[:5]
        elif day in ("土日", "週末"):
            out += ["sat", "sun"]
        elif m := _DAY_RANGE.match(day):
            a, b = "月火水木金土日".index(m.group(1)), "月火水木金土日".index(m.group(2))
            if b < a:
                raise InputError(msg("weekday range runs backwards"), column=column,
                                 value=text)
            out += WEEKDAYS[a: b + 1]
        elif len(day) > 1 and all(ch in "月火水木金土日" for ch in day):
            out += [WEEKDAYS["月火水木金土日".index(ch)] for ch in day]
        else:
            out.append(parse_weekday(day, column=column))
    return sorted(set(out), key=WEEKDAYS.index)


def normalise_time(value: str, *, column: str = "time") -> str:
    """Return ``HH:MM`` for a clock time such as ``9:00`` or ``９：００``; 24:00 is allowed."""
    text = unicodedata.normalize("NFKC", str(value)).strip().replace("時", ":").rstrip("分")
    if text.endswith(":"):
        text += "00"
    m = _TIME.match(text)
    if m is None:
        raise InputError(msg("not a clock time (expected HH:MM)"), column=column, value=value)
    h, mi = int(m.group(1)), int(m.group(2))
    if h > 24 or mi > 59 or (h == 24 and mi > 0):
        raise InputError(msg("impossible clock time"), column=column, value=value)
    return f"{h:02d}:{mi:02d}"


def check_lonlat(lon: float, lat: float, *, column: str = "location") -> None:
    """Raise unless (lon, lat) is a plausible geographic coordinate; detect swapped pairs."""
    if not (np.isfinite(lon) and np.isfinite(lat)):
        raise InputError(msg("coordinate is not a finite number"), column=column,
                         value=(lon, lat))
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        if -90 <= lon <= 90 and -180 <= lat <= 180:
            raise SwappedCoordinatesError(
                msg("latitude and longitude appear swapped"), column=column,
                value={"lon": lon, "lat": lat},
            )
        raise InputError(msg("coordinate outside ±180/±90"), column=column, value=(lon, lat))
    if in_japan(lat, lon) and not in_japan(lon, lat):
        raise SwappedCoordinatesError(
            msg("latitude and longitude appear swapped (the pair lies in Japan the other way "
                "round)"), column=column, value={"lon": lon, "lat": lat},
        )


class OutsideRegionError(InputError):
    """A location lies outside the loaded region."""


def check_in_region(lon: float, lat: float, bounds: tuple[float, float, float, float] | None,
                    *, column: str = "location") -> None:
    """Raise unless (lon, lat) lies within ``bounds`` (west, south, east, north); say so
    when the point would lie inside with latitude and longitude exchanged."""
    if bounds is None:
        return
    w, s, e, n = bounds
    if w <= lon <= e and s <= lat <= n:
        return
    if w <= lat <= e and s <= lon <= n:
        raise OutsideRegionError(msg("the point lies outside the region, but inside it with "
                                     "lat and lon swapped"), column=column,
                                 value={"lon": lon, "lat": lat})
    raise OutsideRegionError(msg("the point lies outside the region ({w:.4f}, {s:.4f}, "
                                 "{e:.4f}, {n:.4f})", w=w, s=s, e=e, n=n), column=column,
                             value={"lon": lon, "lat": lat})


def check_area_in_region(area: shapely.Geometry | None,
                         bounds: tuple[float, float, float, float] | None) -> None:
    """Raise unless a service ``area`` (lon/lat) reaches into ``bounds`` (west, south, east,
    north): an area wholly outside the region serves no one in it (a polygon drawn or
    pasted for another town)."""
    if area is None or bounds is None or shapely.box(*bounds).intersects(area):
        return
    w, s, e, n = bounds
    raise OutsideRegionError(
        msg("the service area lies wholly outside the region ({w:.4f}, {s:.4f}, {e:.4f}, "
            "{n:.4f}); draw it where the service is offered", w=w, s=s, e=e, n=n),
        column="service_area.geometry", value=[round(v, 4) for v in area.bounds])


class Stop(_Checked):
    """One stop of a mobile-sales (移動販売) route."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    lon: float
    lat: float
    weekday: Weekday = Field(description="mon … sun (月, 水曜, wed, Wednesday … accepted)")
    time: str = Field(description="arrival time HH:MM")

    @field_validator("weekday", mode="before")
    @classmethod
    def _weekday(cls, v: Any) -> Any:
        return parse_weekday(v) if isinstance(v, str) else v
    minutes: int | None = Field(default=None, ge=0, le=24 * 60, description="stay in minutes")

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        return normalise_time(v, column="time")

    @model_validator(mode="after")
    def _coords(self) -> Stop:
        check_lonlat(self.lon, self.lat, column="stop")
        return self


class Schedule(_Checked):
    """When a resource runs: weekdays, opening times, frequency, and stops for 移動販売."""

    model_config = ConfigDict(extra="forbid")

    weekdays: list[Weekday] = Field(default_factory=list)
    start: str | None = None
    end: str | None = None
    frequency: str | None = Field(default=None, max_length=200, description="e.g. 毎週, 第1・3水曜")
    text: str | None = Field(default=None, max_length=1000, description="as written (定休日 …)")
    stops: list[Stop] = Field(default_factory=list)

    @field_validator("start", "end")
    @classmethod
    def _times(cls, v: str | None, info: Any) -> str | None:
        return None if v in (None, "") else normalise_time(v, column=info.field_name)

    @field_validator("weekdays", mode="before")
    @classmethod
    def _parse_weekdays(cls, v: Any) -> Any:
        if isinstance(v, str):  # 「月・水・金」, 「平日」 … as in an import cell
            return parse_weekdays(v)
        return [parse_weekday(d, column="weekdays") if isinstance(d, str) else d
                for d in v] if isinstance(v, list) else v

    @field_validator("weekdays")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return sorted(set(v), key=WEEKDAYS.index)

    @model_validator(mode="after")
    def _order(self) -> Schedule:
        if self.start and self.end and self.end <= self.start:
            raise InputError(msg("end time is not after start time"), column="end",
                             value=self.end)
        return self

    def runs_on(self, day: Weekday) -> bool:
        """Whether the resource runs (or a stop is served) on ``day``."""
        return day in self.weekdays or any(s.weekday == day for s in self.stops)


class Fee(_Checked):
    """Free or paid, an amount in yen where known, and the fee as written."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["free", "paid", "unknown"] = "unknown"
    amount_yen: int | None = Field(default=None, ge=0)
    text: str | None = Field(default=None, max_length=500)


class Contact(_Checked):
    """TEL, FAX, email and web address."""

    model_config = ConfigDict(extra="forbid")

    tel: str | None = Field(default=None, max_length=50)
    fax: str | None = Field(default=None, max_length=50)
    email: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=500)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
            raise InputError(msg("not an email address"), column="email", value=v)
        return v or None


class ServiceArea(_Checked):
    """Where a service is offered: one of the kinds below.

    - ``polygon``: a GeoJSON Polygon/MultiPolygon in lon/lat (``geometry``);
    - ``areas``: ids of areas of a boundary layer (``layer``, ``area_ids``), e.g. 小学校区;
    - ``radius``: ``radius_m`` metres around the resource's location;
    - ``walk``: ``minutes`` of walking from the location (resolved by the engine);
    - ``municipality``: the whole municipality (市内全域);
    - ``none``: not recorded (a place people go to).
    """

    model_config = ConfigDict(extra="forbid")

    kind: ServiceAreaKind = "none"
    geometry: dict[str, Any] | None = None
    layer: str | None = None
    area_ids: list[str] = Field(default_factory=list)
    radius_m: float | None = Field(default=None, gt=0, le=100_000)
    minutes: float | None = Field(default=None, gt=0, le=180)
    text: str | None = Field(default=None, max_length=1000, description="as written")

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ServiceArea:
        needs = {"polygon": "geometry", "radius": "radius_m", "walk": "minutes"}
        if self.kind in needs and getattr(self, needs[self.kind]) is None:
            raise ServiceAreaError(msg("a {kind!r} service area needs {field!r}",
                                       kind=self.kind, field=needs[self.kind]),
                                   column="service_area")
        if self.kind == "areas" and (not self.layer or not self.area_ids):
            raise ServiceAreaError(msg("an 'areas' service area needs a layer and area_ids"),
                                   column="service_area")
        if self.kind == "polygon":
            stored = (info.context or {}).get("stored", False)
            if not stored:  # what the registry holds was written by mapping() below
                check_polygon_geojson(self.geometry)
            self.geometry = mapping(polygon_from_geojson(
                self.geometry, max_vertices=None if stored else MAX_POLYGON_VERTICES))
        return self


STORED = {"stored": True}  # validation context of resources read back from the registry


def stored_context() -> dict[str, Any]:
    """The validation context of many resources read back from the registry at once:
    :data:`STORED` with the category vocabulary read once for all of them (each
    :func:`~geo_service.layers.load_vocabulary` looks at the file's time, a system call
    that lets go of Python's lock: once per row, a server's requests waited behind a
    40,000-row read for up to 0.3 s at a time, the lock going back to the reading
    thread before a waiting one could take it)."""
    return {**STORED, "vocabulary": load_vocabulary()}


def _vocabulary(info: ValidationInfo) -> ResourceLayer:
    """The vocabulary given in the validation context (:func:`stored_context`), else the
    file's."""
    return (info.context or {}).get("vocabulary") or load_vocabulary()


# --------------------------------------------------------------------------- the resource


class ResourceFields(_Checked):
    """The editable content of a resource (what a create or import row carries)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, description="名称")
    kana: str | None = Field(default=None, max_length=200, description="カナ")
    category: str = Field(description="category key, label or alias (layers/resource_categories)")
    description: str | None = Field(default=None, max_length=4000, description="内容・活動概要")
    operator: str | None = Field(default=None, max_length=200, description="運営主体")
    operator_type: str | None = Field(default=None, description="運営主体の種別")
    address: str | None = Field(default=None, max_length=300, description="住所")
    lon: float | None = None
    lat: float | None = None
    service_area: ServiceArea = Field(default_factory=ServiceArea)
    schedule: Schedule = Field(default_factory=Schedule)
    fee: Fee = Field(default_factory=Fee)
    target_users: str | None = Field(default=None, max_length=1000, description="対象者")
    how_to_apply: str | None = Field(default=None, max_length=1000, description="申し込み方法")
    contact: Contact = Field(default_factory=Contact)
    payment_methods: list[str] = Field(default_factory=list)
    notes: str | None = Field(default=None, max_length=4000, description="備考")
    visibility: Literal["public", "staff"] = "public"
    staff_fields: list[SensitiveField] = Field(default_factory=list)
    last_verified: date | None = Field(default=None, description="最終確認日")
    coordinator: str | None = Field(default=None, max_length=100, description="担当")
    area: str | None = Field(default=None, max_length=100, description="responsible area id")
    source: str | None = Field(default=None, max_length=MAX_SOURCE_CHARS)
    staff_notes: str | None = Field(default=None, max_length=4000)

    @field_validator("category")
    @classmethod
    def _category(cls, v: str, info: ValidationInfo) -> str:
        return _vocabulary(info).category_key(v)

    @field_validator("operator_type")
    @classmethod
    def _operator_type(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if not v else _vocabulary(info).operator_type_key(v)

    @field_validator("staff_fields")
    @classmethod
    def _staff_fields(cls, v: list[str]) -> list[str]:
        return sorted(set(v))

    @model_validator(mode="after")
    def _location(self) -> ResourceFields:
        if (self.lon is None) != (self.lat is None):
            raise InputError(msg("give both lon and lat, or neither"), column="location",
                             value={"lon": self.lon, "lat": self.lat})
        if self.lon is not None and self.lat is not None:
            check_lonlat(self.lon, self.lat)
        if self.service_area.kind in ("radius", "walk") and self.lon is None:
            raise ServiceAreaError(msg("a {kind!r} service area needs the resource's "
                                       "location", kind=self.service_area.kind),
                                   column="service_area")
        return self

    @property
    def needs_location(self) -> bool:
        """True when the resource has no coordinates yet (to be geocoded or placed by hand)."""
        return self.lon is None


class Resource(ResourceFields):
    """A stored resource: the fields plus id, timestamps, version and the soft-delete flag.

    ``version`` is 1 when the resource is created and one more after every change (the
    store sets it; None for a resource not stored yet).
    """

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int | None = None
    deleted: bool = False


class ResourceValidationError(InputError):
    """A resource failed validation; ``errors`` lists every problem (field, value, reason),
    ``reasons_ja`` their reasons in Japanese where worded so (else None), in that order."""

    def __init__(self, errors: list[tuple[str, Any, str]],
                 reasons_ja: list[str | None] | None = None) -> None:
        self.errors = errors
        self.reasons_ja = reasons_ja or [None] * len(errors)
        field_name, value, reason = errors[0]
        n = len(errors) - 1
        more = msg_n(" (and {n} more problem)", " (and {n} more problems)", n) if n else ""
        first_ja = self.reasons_ja[0]  # (none: a reason worded in English only)
        super().__init__(msg("{reason}{more}", reason=Term(first_ja, reason), more=more)
                         if first_ja else reason + text_of(more, "en"),
                         column=field_name, value=value)


def validation_problems(error: ValidationError) -> list[tuple[str, Any, str]]:
    """(field path, value, reason) for each error of a pydantic ValidationError."""
    out = []
    for e in error.errors():
        loc = ".".join(str(p) for p in e["loc"])
        ctx_error = (e.get("ctx") or {}).get("error")
        value = e.get("input")
        if isinstance(ctx_error, InputError):
            reason = ctx_error.reason
            column = ctx_error.column
            if column and column.startswith(loc):  # a model-level check names it precisely
                loc = column
                value = ctx_error.value if ctx_error.value is not None else value
        else:
            reason = e["msg"]
        out.append((loc or "resource", value, reason))
    return out


#: the Japanese of pydantic's own reasons, by error type ({…} from the error's context)
_PYDANTIC_JA: dict[str, str] = {
    "missing": "必須です",
    "string_too_short": "空欄にはできません",
    "string_too_long": "{max_length} 文字までです",
    "string_type": "文字列で指定してください",
    "float_parsing": "数値ではありません",
    "float_type": "数値で指定してください",
    "int_parsing": "整数ではありません",
    "literal_error": "使える値ではありません（{expected}）",
    "greater_than": "{gt} より大きい値にしてください",
    "less_than_equal": "{le} 以下にしてください",
    "extra_forbidden": "この項目はありません",
    "date_from_datetime_parsing": "日付として読めません",
}


def validation_reasons_ja(error: ValidationError) -> list[str | None]:
    """The reasons of :func:`validation_problems` in Japanese where worded so (else
    None), in the same order."""
    out: list[str | None] = []
    for e in error.errors():
        ctx = e.get("ctx") or {}
        cause = ctx.get("error")
        if isinstance(cause, InputError):
            out.append(cause.reason_ja)
        else:
            out.append(_pydantic_ja(e["type"], ctx))
    return out


def _pydantic_ja(kind: str, ctx: Mapping[str, Any]) -> str | None:
    try:
        return _PYDANTIC_JA[kind].format_map({k: str(v) for k, v in ctx.items()})
    except KeyError:  # a type not worded, or a context without the value named
        return None


_Fields = TypeVar("_Fields", bound=ResourceFields)


@overload
def validate_resource(data: Mapping[str, Any], model: None = None) -> Resource: ...


@overload
def validate_resource(data: Mapping[str, Any], model: type[_Fields]) -> _Fields: ...


def validate_resource(data: Mapping[str, Any], model: type[ResourceFields] | None = None
                      ) -> ResourceFields:
    """Validate ``data`` as ``model`` (default :class:`Resource`), raising a typed error.

    This is where data enters, so text fields are also checked for control characters
    (:func:`check_no_control`); ``model_validate`` of stored data skips that check.

    Raises
    ------
    ResourceValidationError
        Naming every field at fault, its value and the reason.
    """
    model = model or Resource
    try:
        return model.model_validate(data, context={"input": True})
    except ValidationError as e:
        raise ResourceValidationError(validation_problems(e),
                                      validation_reasons_ja(e)) from None


def new_resource_id() -> str:
    """A fresh, unguessable resource id (``r-`` and 12 hex digits)."""
    return "r-" + uuid.uuid4().hex[:12]
