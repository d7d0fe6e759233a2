"""Request and response schemas, split by role so staff-only data cannot leak.

``ResourcePublic`` has exactly the fields the public may see and forbids any other, so a
staff record can never validate as a public one; ``ResourceStaff`` adds the staff-only
fields and requires them. Every route declares its ``response_model``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, model_validator

from geo_service._errors import InputError
from geo_service.i18n import msg
from geo_service.registry.resources import (
    Contact,
    Fee,
    ResourceFields,
    Schedule,
    SensitiveField,
    ServiceArea,
)
from geo_service.registry.store import HistoryEntry

HistoryOut = HistoryEntry  # the store's frozen dataclass of plain values: who, when, before, after


class ResourcePublic(BaseModel):
    """What anyone may see of a public resource (staff-only fields blanked)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    kana: str | None
    category: str
    category_label: str
    description: str | None
    operator: str | None
    operator_type: str | None
    address: str | None
    lon: float | None
    lat: float | None  # null when not shown: none recorded, or staff-only (not said which)
    service_area: ServiceArea
    schedule: Schedule
    fee: Fee
    target_users: str | None
    how_to_apply: str | None
    contact: Contact
    payment_methods: list[str]
    notes: str | None
    last_verified: date | None
    area: str | None


class ResourceStaff(ResourcePublic):
    """A resource as logged-in staff see it: everything."""

    needs_location: bool  # no location recorded yet (a staff work list: ?needs_location=)
    visibility: Literal["public", "staff"]
    staff_fields: list[SensitiveField]
    coordinator: str | None
    source: str | None
    staff_notes: str | None
    created_at: AwareDatetime | None
    updated_at: AwareDatetime | None
    version: int | None = Field(description="1 when created, one more after every change; "
                                            "the ETag of the resource's responses")
    deleted: bool


class ResourceCreate(ResourceFields):
    """A new resource; ``id`` may be given (unique), otherwise one is made."""

    id: str | None = Field(default=None, min_length=1, max_length=64,
                           pattern=r"^[A-Za-z0-9_.:\-]+$")


T = TypeVar("T")


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


#: a field of :class:`ResourceUpdate` that every resource has: it may be left out (then it
#: is kept) but not emptied, so its schema is not nullable and a ``null`` is refused
Kept = Annotated[T, Field(default=None, json_schema_extra=_without_default)]


class ResourceUpdate(BaseModel):
    """A partial update: only the fields given are changed (then all are validated).
    Fields that every resource has (:data:`Kept`) cannot be set to null."""

    model_config = ConfigDict(extra="forbid")

    name: Kept[str]
    kana: str | None = None
    category: Kept[str]
    description: str | None = None
    operator: str | None = None
    operator_type: str | None = None
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    service_area: Kept[ServiceArea]
    schedule: Kept[Schedule]
    fee: Kept[Fee]
    target_users: str | None = None
    how_to_apply: str | None = None
    contact: Kept[Contact]
    payment_methods: Kept[list[str]]
    notes: str | None = None
    visibility: Kept[Literal["public", "staff"]]
    staff_fields: Kept[list[SensitiveField]]
    last_verified: date | None = None
    coordinator: str | None = None
    area: str | None = None
    source: str | None = None
    staff_notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_emptied(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                if field.json_schema_extra is _without_default and name in data and (
                        data[name] is None):
                    raise InputError(msg("cannot be emptied (null); leave the field out to "
                                         "keep it as it is"), column=name)
        return data


P = TypeVar("P")


class PointGeometry(BaseModel):
    """A GeoJSON Point in lon/lat (RFC 7946)."""

    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float]


class Feature(BaseModel, Generic[P]):
    """A GeoJSON Feature whose geometry is the resource's location (or null)."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry | None
    properties: P


class FeatureCollection(BaseModel, Generic[P]):
    """A GeoJSON FeatureCollection with paging as foreign members."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature[P]]
    total: int
    limit: int
    offset: int


class RowProblemOut(BaseModel):
    """One rejected import row: the row (header = 1), column and value, and why."""

    row: int
    column: str | None
    value: Any
    reason: str = Field(description="why, in English")
    reason_ja: str | None = Field(default=None, description="why, in Japanese, where the "
                                  "service words it so (the page shows it in Japanese)")


class ImportReportOut(BaseModel):
    """What an import did (or would do, on a dry run)."""

    file: str
    encoding: str
    rows: int
    valid: int
    written: int
    dry_run: bool
    needs_location_rows: list[int]
    ignored_columns: list[str]
    problems: list[RowProblemOut]


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class UserOut(BaseModel):
    """A user as an admin sees it (never the password hash)."""

    model_config = ConfigDict(extra="forbid")

    username: str
    role: Literal["coordinator", "admin"]
    areas: list[str]
    active: bool


class UserCreate(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100, description=(
        "kept in Unicode NFKC; unique whatever its case or width (sato = SATO = ｓａｔｏ); "
        "no surrounding spaces, control or invisible characters"))
    password: str = Field(description="checked by geo_service.registry.auth.check_password")
    role: Literal["coordinator", "admin"] = "coordinator"
    areas: list[str] = Field(default_factory=list)


class UserUpdate(BaseModel):
    """Changes to a user."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None,
                                 description="checked by geo_service.registry.auth.check_password")
    role: Literal["coordinator", "admin"] | None = None
    areas: list[str] | None = None
    active: StrictBool | None = None


class Health(BaseModel):
    """Liveness and what the service has loaded."""

    status: Literal["ok"]
    version: str
    database: Literal["sqlite", "postgis"]
    resources: int
    region: str | None
    walk_nodes: int | None


class _WalkFigures(BaseModel):
    """The quickest walk from the query point, as properties (GIS tools drop foreign
    members): its time (slope-aware where elevation is known) and its length (on slopes it
    may be longer than the shortest way)."""

    walk_distance_m: float = Field(description="length of the quickest walk (m)")
    walk_minutes: float = Field(description="walking time (min)")


class NearbyPublic(_WalkFigures, ResourcePublic):
    """A public resource's properties with the walk there (``walk_*`` last)."""


class NearbyStaff(_WalkFigures, ResourceStaff):
    """A resource's properties as staff see them, with the walk there (``walk_*`` last)."""


class NearbyCollection(BaseModel, Generic[P]):
    """Resources reachable on foot, nearest first; ``P`` is :class:`NearbyPublic` or
    :class:`NearbyStaff`."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    origin: PointGeometry
    minutes: float
    features: list[Feature[P]]


class CategoryReach(BaseModel):
    """One category seen from a point: how many of its resources lie within the walking
    threshold, and the nearest one — also beyond the threshold, up to the answer's
    ``search_limit_m`` (``within_threshold`` says which; all None when none is that near)."""

    category: str
    category_label: str
    count: int = Field(description="resources within the walking threshold")
    nearest_id: str | None
    nearest_name: str | None
    distance_m: float | None = Field(description="walk to the nearest (m)")
    minutes: float | None = Field(
        description="walking time to the nearest (min); None where steep ground makes it "
                    "longer than twice the flat time")
    within_threshold: bool = Field(description="whether the nearest lies within the "
                                               "walking threshold")


class ReachCollection(BaseModel, Generic[P]):
    """Everything that serves a point: services covering it, and walkable resources."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    origin: PointGeometry
    threshold_m: float
    search_limit_m: float = Field(description="how far the nearest of each category is "
                                              "looked for (m)")
    features: list[Feature[P]] = Field(description="services whose service area covers it")
    walkable: list[CategoryReach]


class BandProperties(BaseModel):
    """One reach band: walking minutes (None for a drawn service area) and people 65+."""

    minutes: float | None
    pop_65plus: float


class BandFeature(BaseModel):
    """A reach polygon (lon/lat)."""

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None
    properties: BandProperties


class ResourceReach(BaseModel):
    """How far one resource reaches: a service area, isochrones, or stop catchments."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    resource_id: str
    kind: Literal["service_area", "isochrones", "stops"]
    features: list[BandFeature]


class CategoryCoverage(BaseModel):
    """Per area and category: resources in it, services covering it, walkable 65+ share."""

    label: str
    located: list[str]
    covering: list[str]
    share_65plus_within_walk: float | None


class AreaProperties(BaseModel):
    """Coverage of one area."""

    area_id: str
    name: str
    pop_65plus: float
    categories: dict[str, CategoryCoverage]


class AreaFeature(BaseModel):
    """An area polygon (lon/lat) with its coverage."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: AreaProperties


class AreaLayerInfo(BaseModel):
    """One area layer of the region: ``/areas/{name}`` and ``/areas/{id}`` both answer."""

    name: str = Field(description="the layer's name, e.g. 小学校区")
    id: str = Field(description="its ASCII id, e.g. elementary, junior_high, mesh250")
    areas: int = Field(description="number of areas")


class AreaCollection(BaseModel):
    """Coverage of every area of a layer."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    layer: str
    threshold_m: float
    features: list[AreaFeature]


class IndicatorCollection(BaseModel):
    """The engine's shopping-difficulty indicators per area (GeoJSON)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    layer: str
    threshold_m: float
    stores_source: Literal["registry", "region", "none"] = Field(
        description="where the food stores came from: the registry's public located "
                    "食料品店, or (when it has none) the region's food-store layer; none: "
                    "the region has no food stores, every indicator that walks to one "
                    "is null (the areas and their people 65+ are given)")
    note: str | None = Field(None, description="why the indicators are null (none), in "
                                               "the request's language")
    stores: int = Field(description="number of food stores counted")
    features: list[dict[str, Any]]
