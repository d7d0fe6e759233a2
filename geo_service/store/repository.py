"""The resource store: CRUD with history, soft delete and undo, filtered and spatial lists.

One :class:`ResourceStore` wraps one SQLAlchemy engine. On SQLite the spatial predicates
are a bounding-box pre-filter in SQL (indexed ``lon``/``lat`` and service-area bbox
columns) followed by an exact shapely test; on PostGIS they are ``ST_Within``,
``ST_Covers`` and ``&&`` on GiST-indexed geometry columns. Both give the same answers
(the storage tests run on both).

Every write goes through one transaction and appends to ``resource_history`` (who, when,
before, after); ``delete`` only sets a flag and :meth:`ResourceStore.undo` reverts the last
change of a resource, whatever it was.
"""

from __future__ import annotations

import builtins
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import shapely
from sqlalchemy import (
    ColumnElement,
    Engine,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from geo_service._errors import DuplicateIdError, InputError
from geo_service.boundaries import AreaLayer
from geo_service.resources import (
    WEEKDAYS,
    Resource,
    ResourceFields,
    Weekday,
    check_in_region,
    new_resource_id,
    service_area_geometry,
    validate_resource,
)
from geo_service.store.schema import history, resources, users

Role = Literal["coordinator", "admin"]

_ORDER = (func.coalesce(resources.c.kana, resources.c.name), resources.c.id)  # of lists
_PAGE_COLUMNS = {"refs": (resources.c.id, resources.c.updated_at),
                 "data": (resources.c.id, resources.c.data)}


class NotFoundError(LookupError):
    """No (live) resource or user with that id."""

    def __init__(self, what: str, key: str, message: str | None = None) -> None:
        self.what, self.key = what, key
        super().__init__(message or f"no {what} with id {key!r}")


@dataclass(frozen=True)
class ResourceFilter:
    """What :meth:`ResourceStore.list` selects; every criterion is optional.

    ``area`` matches the responsible area or an area of an ``areas`` service area;
    ``keyword`` searches 名称, カナ and 内容 (NFKC, case-insensitive); ``bbox`` and
    ``within`` select by location (lon/lat); ``serves`` selects services whose service
    area covers the point (whole-municipality services always do).
    """

    category: str | None = None
    categories: tuple[str, ...] | None = None
    area: str | None = None
    weekday: Weekday | None = None
    fee: Literal["free", "paid", "unknown"] | None = None
    keyword: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    within: shapely.Geometry | None = None
    serves: tuple[float, float] | None = None
    needs_location: bool | None = None
    include_staff: bool = False
    include_deleted: bool = False
    only_deleted: bool = False  # the soft-deleted ones, e.g. to find what to restore


@dataclass
class Page:
    """One page of a list: the resources and the total number matching."""

    items: list[Resource]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class HistoryEntry:
    """One change: what, who, when, and the resource before and after (JSON)."""

    id: int
    resource_id: str
    action: str
    username: str | None
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class User:
    """A staff user; coordinators edit the resources of ``areas`` only."""

    username: str
    role: Role
    areas: tuple[str, ...]
    active: bool = True
    password_hash: str = field(default="", repr=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _search_text(r: ResourceFields) -> str:
    parts = [r.name, r.kana or "", r.description or ""]
    return unicodedata.normalize("NFKC", " ".join(parts)).lower()


def _weekday_mask(days: Iterable[str]) -> int:
    return sum(1 << WEEKDAYS.index(d) for d in set(days))


def _utc(at: datetime) -> datetime:
    # SQLite keeps the UTC time without its zone
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ResourceStore:
    """Persistence of resources, their history and users on SQLite or PostGIS.

    Parameters
    ----------
    engine
        A SQLAlchemy engine whose schema is at the latest migration (see :func:`open_store`).
    layers
        Boundary layers by name, used to draw ``areas`` service areas for spatial queries.
    """

    def __init__(self, engine: Engine, *, layers: Mapping[str, AreaLayer] | None = None) -> None:
        self.engine = engine
        #: the same pool for reads outside a transaction: on PostgreSQL a read is then one
        #: round trip instead of BEGIN, query, ROLLBACK (each statement there sees its own
        #: snapshot either way, under READ COMMITTED; SQLite starts no transaction for reads)
        self.reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.layers: dict[str, AreaLayer] = dict(layers or {})
        self.bounds: tuple[float, float, float, float] | None = None  # of the region served
        self.walking_speed_mps: float | None = None  # the region's, for walking-time areas
        self._listeners: list[Callable[[], None]] = []
        self._statements: dict[tuple[Any, ...], Any] = {}  # see _statement

    def use_region(self, layers: Mapping[str, AreaLayer],
                   bounds: tuple[float, float, float, float], walking_speed_mps: float) -> None:
        """Serve a region: its boundary layers draw ``areas`` service areas, locations
        must lie within ``bounds`` (lon/lat), and walking-time service areas are drawn at
        the region's walking speed."""
        self.layers.update(layers)
        self.bounds = bounds
        self.walking_speed_mps = walking_speed_mps

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every committed change of a resource (in this process)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    @property
    def postgis(self) -> bool:
        """Whether the backend is PostgreSQL with PostGIS."""
        return self.engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ writing

    def _row_values(self, r: Resource) -> dict[str, Any]:
        if r.lon is not None and r.lat is not None:
            check_in_region(r.lon, r.lat, self.bounds)
        for stop in r.schedule.stops:
            check_in_region(stop.lon, stop.lat, self.bounds, column="schedule.stops")
        geom = service_area_geometry(r, self.layers, walking_speed_mps=self.walking_speed_mps)
        bbox = geom.bounds if geom is not None else (None,) * 4
        days = [*r.schedule.weekdays, *(s.weekday for s in r.schedule.stops)]
        sa = r.service_area
        return {
            "id": r.id, "name": r.name, "kana": r.kana, "category": r.category,
            "area": r.area, "coordinator": r.coordinator, "visibility": r.visibility,
            "deleted": r.deleted, "lon": r.lon, "lat": r.lat,
            "location_hidden": "location" in r.staff_fields,
            "needs_location": r.needs_location, "weekday_mask": _weekday_mask(days),
            "fee_kind": r.fee.kind, "search_text": _search_text(r),
            "last_verified": r.last_verified, "sa_kind": sa.kind, "sa_layer": sa.layer,
            "sa_areas": "," + ",".join(sa.area_ids) + "," if sa.area_ids else None,
            "sa_minx": bbox[0], "sa_miny": bbox[1], "sa_maxx": bbox[2], "sa_maxy": bbox[3],
            "location": shapely.Point(r.lon, r.lat) if r.lon is not None else None,
            "service_geom": geom,
            "data": r.model_dump(mode="json"),
            "created_at": r.created_at, "updated_at": r.updated_at,
        }

    def _log(self, conn: Connection, resource_id: str, action: str, user: str | None,
             before: Resource | None, after: Resource | None, at: datetime) -> None:
        conn.execute(insert(history).values(
            resource_id=resource_id, action=action, username=user, at=at,
            before=before.model_dump(mode="json") if before else None,
            after=after.model_dump(mode="json") if after else None,
        ))

    def _insert(self, conn: Connection, fields: ResourceFields, user: str | None,
                action: str, at: datetime) -> Resource:
        data = fields.model_dump()
        data.setdefault("id", None)
        data["id"] = data["id"] or new_resource_id()
        data.update(created_at=at, updated_at=at, deleted=False)
        res = validate_resource(data)
        exists = conn.execute(select(resources.c.id).where(resources.c.id == res.id)).first()
        if exists:
            raise DuplicateIdError("a resource with this id already exists", column="id",
                                   value=res.id)
        conn.execute(insert(resources).values(**self._row_values(res), version=1))
        self._log(conn, res.id, action, user, None, res, at)
        return res

    def add(self, fields: ResourceFields, *, user: str | None = None) -> Resource:
        """Store a new resource (a :class:`Resource` keeps its id, otherwise one is made)."""
        with self.engine.begin() as conn:
            res = self._insert(conn, fields, user, "create", _now())
        self._changed()
        return res

    def add_many(self, items: Sequence[ResourceFields], *, user: str | None = None,
                 action: str = "import") -> list[Resource]:
        """Store many resources in one transaction: all of them or, on any error, none."""
        return self.import_many(items, [], user=user, action=action)[0]

    def import_many(self, new: Sequence[ResourceFields],
                    changes: Sequence[tuple[str, Callable[[Resource], Resource]]], *,
                    user: str | None = None, action: str = "import"
                    ) -> tuple[list[Resource], list[Resource]]:
        """Insert ``new`` and apply ``changes`` (id → function of the current resource)
        in one transaction: all of them or, on any error, none. Returns (added, updated).
        """
        at = _now()
        try:
            with self.engine.begin() as conn:
                added = [self._insert(conn, it, user, action, at) for it in new]
                updated = []
                for rid, change in changes:
                    before = self._fetch(conn, rid, include_deleted=True)
                    updated.append(self._replace(conn, before, change(before),
                                                 "import-update", user, at))
        except IntegrityError as e:  # a concurrent writer took an id
            raise DuplicateIdError(f"id conflict while importing: {e.orig}") from None
        if len(added) + len(updated) >= 100:
            self.analyze()
        self._changed()
        return added, updated

    def analyze(self) -> None:
        """Refresh the query planner's statistics (after bulk imports).

        Without them SQLite may pick an index that matches nearly every row (live,
        public) over the selective one (category, location), and run 30× slower.
        """
        with self.engine.begin() as conn:
            conn.execute(text("ANALYZE resources"))

    def _fetch(self, conn: Connection, resource_id: str, *, include_deleted: bool) -> Resource:
        row = conn.execute(select(resources.c.data, resources.c.deleted)
                           .where(resources.c.id == resource_id)).first()
        if row is None or (row.deleted and not include_deleted):
            raise NotFoundError("resource", resource_id)
        return Resource.model_validate(row.data)

    def _replace(self, conn: Connection, before: Resource, after: Resource, action: str,
                 user: str | None, at: datetime) -> Resource:
        after = after.model_copy(update={"updated_at": at, "created_at": before.created_at})
        values = self._row_values(after)
        values.pop("id")
        conn.execute(update(resources).where(resources.c.id == before.id)
                     .values(**values, version=resources.c.version + 1))
        self._log(conn, before.id, action, user, before, after, at)
        return after

    def update(self, resource_id: str, changes: Mapping[str, Any], *,
               user: str | None = None) -> Resource:
        """Apply ``changes`` (field → new value), validate the result, keep the history."""
        if "id" in changes and changes["id"] != resource_id:
            raise InputError("the id of a resource cannot be changed", column="id",
                             value=changes["id"])
        with self.engine.begin() as conn:
            before = self._fetch(conn, resource_id, include_deleted=False)
            data = before.model_dump()
            data.update({k: v for k, v in changes.items()
                         if k not in ("created_at", "updated_at", "deleted")})
            after = validate_resource(data)
            res = self._replace(conn, before, after, "update", user, _now())
        self._changed()
        return res

    def delete(self, resource_id: str, *, user: str | None = None) -> Resource:
        """Soft-delete a resource: hidden from every list, restorable with :meth:`undo`."""
        with self.engine.begin() as conn:
            before = self._fetch(conn, resource_id, include_deleted=False)
            after = before.model_copy(update={"deleted": True})
            res = self._replace(conn, before, after, "delete", user, _now())
        self._changed()
        return res

    def undo(self, resource_id: str, *, user: str | None = None) -> Resource:
        """Revert the last change of a resource (undelete, un-update, or un-create).

        The revert is itself a change in the history (action ``undo``), so undoing twice
        restores the state before the first undo.
        """
        with self.engine.begin() as conn:
            last = conn.execute(
                select(history).where(history.c.resource_id == resource_id)
                .order_by(history.c.id.desc()).limit(1)
            ).first()
            if last is None:
                raise NotFoundError("resource", resource_id)
            current = self._fetch(conn, resource_id, include_deleted=True)
            if last.before is None:  # the last change created it: undo = delete
                target = current.model_copy(update={"deleted": True})
            else:
                target = Resource.model_validate(last.before)
            res = self._replace(conn, current, target, "undo", user, _now())
        self._changed()
        return res

    # ------------------------------------------------------------------ reading

    def get(self, resource_id: str, *, include_deleted: bool = False) -> Resource:
        """The resource with this id; raise :class:`NotFoundError` if absent or deleted."""
        with self.reader.connect() as conn:
            return self._fetch(conn, resource_id, include_deleted=include_deleted)

    def history(self, resource_id: str) -> list[HistoryEntry]:
        """All recorded changes of a resource, oldest first."""
        with self.reader.connect() as conn:
            rows = conn.execute(select(history).where(history.c.resource_id == resource_id)
                                .order_by(history.c.id)).all()
        return [HistoryEntry(r.id, r.resource_id, r.action, r.username, r.at, r.before,
                             r.after) for r in rows]

    def _criteria(self, f: ResourceFilter) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The conditions ``f`` needs, named (its shape: the key of cached statements, see
        :meth:`_where`), and the values of their bind parameters."""
        shape: list[str] = []
        values: dict[str, Any] = {}
        if f.only_deleted:
            shape.append("deleted")
        elif not f.include_deleted:
            shape.append("live")
        if not f.include_staff:
            shape.append("public")
            if f.bbox or f.within is not None:  # a location search must not reveal it
                shape.append("location_shown")
        if f.category:
            shape.append("category")
            values["category"] = f.category
        if f.categories is not None:
            shape.append("categories")
            values["categories"] = list(f.categories)
        if f.area:
            shape.append("area")
            values.update(area=f.area, area_pattern="%," + _like_escape(f.area) + ",%")
        if f.weekday:
            shape.append("weekday")
            values["weekday_bit"] = 1 << WEEKDAYS.index(f.weekday)
        if f.fee:
            shape.append("fee")
            values["fee"] = f.fee
        if f.keyword:
            shape.append("keyword")
            kw = unicodedata.normalize("NFKC", f.keyword).strip().lower()
            values["keyword_pattern"] = "%" + _like_escape(kw) + "%"
        if f.needs_location is not None:
            shape.append("needs_location" if f.needs_location else "location_not_needed")
        if f.bbox:
            shape.append("bbox")
            values.update(zip(("bbox_w", "bbox_s", "bbox_e", "bbox_n"), f.bbox, strict=True))
        if f.within is not None:
            shape.append("within")
            if self.postgis:
                values["within_wkt"] = shapely.to_wkt(f.within)
            else:
                values.update(zip(("within_w", "within_s", "within_e", "within_n"),
                                  f.within.bounds, strict=True))
        if f.serves is not None:
            shape.append("serves")
            values["serves_x"], values["serves_y"] = f.serves
        return tuple(shape), values

    def _where(self, shape: tuple[str, ...],
               values: dict[str, Any] | None = None) -> list[Any]:
        """The conditions of a filter's shape (see :meth:`_criteria`), as named bind
        parameters: bound to ``values``, or to be given when the statement is executed.

        On SQLite the spatial ones are bounding-box tests (``within`` and ``serves`` then
        need the exact test of :meth:`_exact`).
        """
        c = resources.c

        def p(key: str, **kw: Any) -> Any:
            return bindparam(key, values[key], **kw) if values is not None else bindparam(
                key, **kw)

        cond: list[Any] = []
        if "deleted" in shape:
            cond.append(c.deleted.is_(True))
        if "live" in shape:
            cond.append(c.deleted.is_(False))
        if "public" in shape:
            cond.append(c.visibility == "public")
        if "location_shown" in shape:
            cond.append(c.location_hidden.is_(False))
        if "category" in shape:
            cond.append(c.category == p("category"))
        if "categories" in shape:
            cond.append(c.category.in_(p("categories", expanding=True)))
        if "area" in shape:
            cond.append(or_(c.area == p("area"),
                            c.sa_areas.like(p("area_pattern"), escape="\\")))
        if "weekday" in shape:
            cond.append(c.weekday_mask.op("&")(p("weekday_bit")) != 0)
        if "fee" in shape:
            cond.append(c.fee_kind == p("fee"))
        if "keyword" in shape:
            cond.append(c.search_text.like(p("keyword_pattern"), escape="\\"))
        if "needs_location" in shape:
            cond.append(c.needs_location.is_(True))
        if "location_not_needed" in shape:
            cond.append(c.needs_location.is_(False))
        if "bbox" in shape:
            minx, miny, maxx, maxy = (p(k, type_=Float) for k in ("bbox_w", "bbox_s", "bbox_e",
                                                                  "bbox_n"))
            if self.postgis:
                cond.append(c.location.op("&&")(func.ST_MakeEnvelope(minx, miny, maxx, maxy,
                                                                      4326)))
            cond.append(and_(c.lon.between(minx, maxx), c.lat.between(miny, maxy)))
        if "within" in shape:
            if self.postgis:
                cond.append(func.ST_Within(c.location, func.ST_GeomFromText(
                    p("within_wkt", type_=String), 4326)))
            else:
                minx, miny, maxx, maxy = (p(k, type_=Float) for k in (
                    "within_w", "within_s", "within_e", "within_n"))
                cond.append(and_(c.lon.between(minx, maxx), c.lat.between(miny, maxy)))
        if "serves" in shape:
            x, y = p("serves_x", type_=Float), p("serves_y", type_=Float)
            cover: ColumnElement[bool]
            if self.postgis:
                cover = func.ST_Covers(c.service_geom, func.ST_SetSRID(func.ST_MakePoint(x, y),
                                                                        4326))
            else:
                cover = and_(c.sa_minx <= x, c.sa_maxx >= x, c.sa_miny <= y, c.sa_maxy >= y)
            cond.append(or_(c.sa_kind == "municipality", cover))
        return cond

    def _conditions(self, f: ResourceFilter) -> list[Any]:
        """The WHERE conditions selecting what ``f`` selects (values bound)."""
        return self._where(*self._criteria(f))

    def _statement(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """A statement built once per ``key``: SQLAlchemy computes a built statement's cache
        key once, whereas building the same statement again costs more than the query."""
        stmt = self._statements.get(key)
        if stmt is None:
            stmt = self._statements.setdefault(key, make())
        return stmt

    def _needs_exact_test(self, f: ResourceFilter) -> bool:
        return not self.postgis and (f.within is not None or f.serves is not None)

    def _exact(self, f: ResourceFilter, row: Row[Any, Any, Any, Any, Any]) -> bool:
        # row: id, lon, lat, sa_kind, service_geom (as _exact_ids selects them)
        if f.within is not None and not f.within.covers(shapely.Point(row.lon, row.lat)):
            return False
        if f.serves is not None and row.sa_kind != "municipality":
            return bool(row.service_geom is not None
                        and row.service_geom.covers(shapely.Point(*f.serves)))
        return True

    def _exact_ids(self, conn: Connection, f: ResourceFilter) -> list[str]:
        c = resources.c
        rows = conn.execute(select(c.id, c.lon, c.lat, c.sa_kind, c.service_geom)
                            .where(*self._conditions(f)).order_by(*_ORDER)).all()
        return [r.id for r in rows if self._exact(f, r)]

    def ids(self, f: ResourceFilter | None = None) -> list[str]:
        """Ids of every resource matching ``f`` (ordered as :meth:`list`), read cheaply."""
        f = f or ResourceFilter()
        c = resources.c
        with self.reader.connect() as conn:
            if self._needs_exact_test(f):
                return self._exact_ids(conn, f)
            return list(conn.execute(select(c.id).where(*self._conditions(f))
                                     .order_by(*_ORDER)).scalars())

    def _page(self, f: ResourceFilter, columns: str, limit: int,
              offset: int) -> tuple[Sequence[Row[Any, Any]], int]:
        """One page of the resources matching ``f``, ordered as :meth:`list`, as rows of
        ``_PAGE_COLUMNS[columns]``, and the number matching.

        One query when the page itself gives the total (it is not full, and not empty past
        the first page); a count query otherwise.
        """
        cols = _PAGE_COLUMNS[columns]
        with self.reader.connect() as conn:
            if self._needs_exact_test(f):
                ids = self._exact_ids(conn, f)
                page_ids = ids[offset: offset + limit]
                by_id = {r.id: r for r in conn.execute(
                    select(*cols).where(resources.c.id.in_(page_ids)))}
                return [by_id[i] for i in page_ids], len(ids)
            shape, values = self._criteria(f)
            page = self._statement(("page", columns, shape), lambda: (
                select(*cols).where(*self._where(shape)).order_by(*_ORDER)
                .limit(bindparam("limit", type_=Integer))
                .offset(bindparam("offset", type_=Integer))))
            rows = conn.execute(page, {**values, "limit": limit, "offset": offset}).all()
            if len(rows) < limit and (rows or offset == 0):
                return rows, offset + len(rows)
            count = self._statement(("count", shape), lambda: (
                select(func.count()).select_from(resources).where(*self._where(shape))))
            return rows, conn.execute(count, values).scalar_one()

    def page_refs(self, f: ResourceFilter | None = None, *, limit: int = 50,
                  offset: int = 0) -> tuple[list[tuple[str, datetime]], int]:
        """The page :meth:`list` gives as (id, ``updated_at``) pairs, and the total.

        ``updated_at`` equals the resource's :attr:`Resource.updated_at` (UTC): every change
        sets a new one, so the pair names one version of a resource, e.g. for caches of
        what is derived from it (load the resources with :meth:`get_many`).
        """
        rows, total = self._page(f or ResourceFilter(), "refs", limit, offset)
        return [(r.id, _utc(r.updated_at)) for r in rows], total

    def get_many(self, ids: Sequence[str]) -> list[Resource]:
        """The resources with these ids, deleted ones too, in no particular order (ids with
        no resource are left out)."""
        c = resources.c
        stmt = self._statement(("get_many",), lambda: select(c.data).where(
            c.id.in_(bindparam("ids", expanding=True))))
        with self.reader.connect() as conn:
            data = conn.execute(stmt, {"ids": list(ids)}).scalars().all()
        return [Resource.model_validate(d) for d in data]

    def list(self, f: ResourceFilter | None = None, *, limit: int = 50,
             offset: int = 0) -> Page:
        """Resources matching ``f``, ordered by カナ/名称 then id, one page at a time."""
        rows, total = self._page(f or ResourceFilter(), "data", limit, offset)
        return Page([Resource.model_validate(r.data) for r in rows], total, limit, offset)

    def all(self, f: ResourceFilter | None = None) -> builtins.list[Resource]:
        """Every resource matching ``f`` (no paging), e.g. for exports."""
        page = self.list(f, limit=10**9)
        return page.items

    def service_areas(self, f: ResourceFilter | None = None
                      ) -> builtins.list[tuple[str, str, shapely.Geometry | None]]:
        """(id, service-area kind, lon/lat polygon or None) of every resource matching
        ``f``, ordered as :meth:`list`: the polygons the ``serves`` filter tests (whole-
        municipality services cover every point without one)."""
        c = resources.c
        with self.reader.connect() as conn:
            rows = conn.execute(select(c.id, c.sa_kind, c.service_geom)
                                .where(*self._conditions(f or ResourceFilter()))
                                .order_by(*_ORDER)).all()
        return [(r.id, r.sa_kind, r.service_geom) for r in rows]

    def unverified(self, *, months: int = 12, today: date | None = None,
                   include_staff: bool = True) -> builtins.list[Resource]:
        """Live resources not verified for ``months`` months (or never), oldest first."""
        today = today or date.today()
        y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
        day = min(today.day, 28)
        cutoff = date(y, m + 1, day)
        c = resources.c
        f = ResourceFilter(include_staff=include_staff)
        with self.reader.connect() as conn:
            data = conn.execute(select(c.data).where(
                *self._conditions(f), or_(c.last_verified.is_(None), c.last_verified < cutoff))
                .order_by(c.last_verified.nulls_first(), c.id)).scalars().all()
        return [Resource.model_validate(d) for d in data]

    def state_token(self) -> tuple[int, str]:
        """Changes whenever any resource is added or changed (for caches of derived data)."""
        with self.reader.connect() as conn:
            n, last = conn.execute(select(func.count(), func.max(resources.c.updated_at))
                                   .select_from(resources)).one()
        return int(n), str(last)

    def count(self) -> int:
        """Number of live (not deleted) resources, public and staff."""
        with self.reader.connect() as conn:
            return conn.execute(select(func.count()).select_from(resources)
                                .where(resources.c.deleted.is_(False))).scalar_one()

    # ------------------------------------------------------------------ users

    def add_user(self, username: str, password_hash: str, *, role: Role,
                 areas: Iterable[str] = ()) -> User:
        """Create a user; raise :class:`DuplicateIdError` if the name is taken."""
        if role not in ("coordinator", "admin"):
            raise InputError("unknown role (coordinator or admin)", column="role", value=role)
        if not username or len(username) > 100:
            raise InputError("user name must have 1–100 characters", column="username",
                             value=username)
        with self.engine.begin() as conn:
            if conn.execute(select(users.c.username)
                            .where(users.c.username == username)).first():
                raise DuplicateIdError("user already exists", column="username", value=username)
            conn.execute(insert(users).values(username=username, password_hash=password_hash,
                                              role=role, areas=list(areas), active=True,
                                              created_at=_now()))
        return self.get_user(username)

    def get_user(self, username: str) -> User:
        """The user with this name; raise :class:`NotFoundError` if there is none."""
        with self.reader.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise NotFoundError("user", username)
        return User(row.username, row.role, tuple(row.areas), row.active, row.password_hash)

    def list_users(self) -> builtins.list[User]:
        """All users, by name."""
        with self.reader.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [User(r.username, r.role, tuple(r.areas), r.active, r.password_hash)
                for r in rows]

    def update_user(self, username: str, *, password_hash: str | None = None,
                    role: Role | None = None, areas: Iterable[str] | None = None,
                    active: bool | None = None) -> User:
        """Change a user's password hash, role, areas or active flag."""
        values: dict[str, Any] = {}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if role is not None:
            if role not in ("coordinator", "admin"):
                raise InputError("unknown role (coordinator or admin)", column="role",
                                 value=role)
            values["role"] = role
        if areas is not None:
            values["areas"] = list(areas)
        if active is not None:
            values["active"] = active
        self.get_user(username)
        if values:
            with self.engine.begin() as conn:
                conn.execute(update(users).where(users.c.username == username).values(**values))
        return self.get_user(username)

    def delete_user(self, username: str) -> None:
        """Remove a user (their past changes stay in the history under their name)."""
        self.get_user(username)
        with self.engine.begin() as conn:
            conn.execute(delete(users).where(users.c.username == username))
