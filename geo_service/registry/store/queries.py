"""Reading resources: what a :class:`ResourceFilter` selects, as SQL, and the lists,
pages and counts built on it.

A filter's conditions are named by its *shape* (which criteria it has) and bound by
name, so that each shape's statement is built once and reused
(:meth:`ResourceQueries._statement`). On SQLite the spatial criteria are bounding-box tests
in SQL followed by an exact shapely test; on PostGIS they are ``ST_Within``,
``ST_Covers`` and ``&&`` on GiST-indexed geometry columns.
"""

from __future__ import annotations

import builtins
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

import shapely
from sqlalchemy import (
    ColumnElement,
    Date,
    Engine,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.engine import Connection, Row

from geo_service.layers import load_vocabulary
from geo_service.registry.resources import WEEKDAYS, Resource, Weekday
from geo_service.registry.store.base import StoreBase, as_utc
from geo_service.registry.store.rows import stored_resources
from geo_service.registry.store.schema import resources

_ORDER = (func.coalesce(resources.c.kana, resources.c.name), resources.c.id)  # of lists


def list_key(r: Resource) -> str:
    """What a resource is listed by (:data:`_ORDER`'s first key, as SQL's ``coalesce``
    gives it: an empty カナ is a カナ, not a missing one)."""
    return r.kana if r.kana is not None else r.name

#: the orders a list may be sorted in (:meth:`ResourceQueries.list`'s ``sort``)
SortKey = Literal["name", "category", "area", "last_verified", "updated_at"]
SORT_KEYS: tuple[str, ...] = SortKey.__args__  # type: ignore[attr-defined]
_PAGE_COLUMNS = {"refs": (resources.c.id, resources.c.updated_at),
                 "data": (resources.c.id, resources.c.data, resources.c.version)}


class Change(NamedTuple):
    """A row as :meth:`ResourceQueries.changes` gives it: which version of a resource,
    whether it is deleted, when it was written, and its service area (kind, polygon)."""

    id: str
    version: int
    deleted: bool
    updated_at: datetime
    sa_kind: str
    service_geom: shapely.Geometry | None


@dataclass(frozen=True)
class ResourceFilter:
    """What :meth:`ResourceStore.list` selects; every criterion is optional.

    ``area`` matches the responsible area or an area of an ``areas`` service area;
    ``responsible_areas`` the responsible area only (a coordinator's own areas);
    ``keyword`` searches 名称, カナ and 内容 (NFKC, case-insensitive; for staff also 住所
    and 運営主体) and the category's label and aliases; ``bbox`` and ``within`` select by
    location (lon/lat); ``serves`` selects services whose service area covers the point
    (whole-municipality services always do); ``visibility`` (staff) public or staff-only
    resources; ``unverified_since`` those never verified or last verified before the date.
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
    responsible_areas: tuple[str, ...] | None = None
    visibility: Literal["public", "staff"] | None = None
    unverified_since: date | None = None
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


def _order(sort: str, descending: bool) -> tuple[Any, ...]:
    """ORDER BY of a list sorted by ``sort`` (:data:`SORT_KEYS`): that column (categories
    in the vocabulary's order; no value first, ascending), then カナ/名称 and id."""
    c = resources.c
    if sort not in SORT_KEYS:
        raise ValueError(f"sort by one of {', '.join(SORT_KEYS)}")
    keys: list[Any] = []
    if sort == "category":
        ranks = {k: i for i, k in enumerate(load_vocabulary().by_id)}
        keys.append(case(ranks, value=c.category, else_=len(ranks)))
    elif sort != "name":
        keys.append(getattr(c, sort))
    keys += _ORDER
    if descending:
        return tuple(k.desc().nulls_last() for k in keys)
    return tuple(k.asc().nulls_first() for k in keys)


def months_before(months: int, today: date | None = None) -> date:
    """The day ``months`` months before ``today`` (a 29th–31st taken as the 28th): a
    resource last verified before it is due for verification."""
    today = today or date.today()
    y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
    return date(y, m + 1, min(today.day, 28))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ResourceQueries(StoreBase):
    """The reading part of :class:`~geo_service.registry.store.ResourceStore`: lists, pages,
    ids and counts of the resources a filter selects."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._statements: dict[tuple[Any, ...], Any] = {}  # see _statement

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
            if f.bbox or f.within is not None:  # nor may a search by location reveal
                shape.append("location_shown")  # a staff-only location
        if f.category:
            shape.append("category")
            values["category"] = f.category
        if f.categories is not None:
            shape.append("categories")
            values["categories"] = list(f.categories)
        if f.area:  # the public's: the area its view shows (public_area)
            shape.append("area" if f.include_staff else "public_area")
            values.update(area=f.area, area_pattern="%," + _like_escape(f.area) + ",%")
        # the public's filters match what the public view shows (public_filter_values)
        if f.weekday:
            shape.append("weekday" if f.include_staff else "public_weekday")
            values["weekday_bit"] = 1 << WEEKDAYS.index(f.weekday)
        if f.fee:
            shape.append("fee" if f.include_staff else "public_fee")
            values["fee"] = f.fee
        if f.keyword:
            shape.append("keyword" if f.include_staff else "public_keyword")
            kw = unicodedata.normalize("NFKC", f.keyword).strip().lower()
            values["keyword_pattern"] = "%" + _like_escape(kw) + "%"
            values["keyword_categories"] = load_vocabulary().categories_named(kw)
        if f.responsible_areas is not None:
            shape.append("responsible_areas")
            values["responsible_areas"] = list(f.responsible_areas)
        if f.visibility and f.include_staff:
            shape.append("visibility")
            values["visibility"] = f.visibility
        if f.unverified_since is not None:
            shape.append("unverified")
            values["unverified_since"] = f.unverified_since
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
            if not f.include_staff:  # a circle around a hidden location would reveal it
                shape.append("area_not_around_hidden_location")
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
        if "public_area" in shape:
            cond.append(or_(c.public_area == p("area"),
                            c.sa_areas.like(p("area_pattern"), escape="\\")))
        if "weekday" in shape:
            cond.append(c.weekday_mask.op("&")(p("weekday_bit")) != 0)
        if "public_weekday" in shape:
            cond.append(c.public_weekday_mask.op("&")(p("weekday_bit")) != 0)
        if "fee" in shape:
            cond.append(c.fee_kind == p("fee"))
        if "public_fee" in shape:
            cond.append(c.public_fee_kind == p("fee"))
        if "keyword" in shape or "public_keyword" in shape:
            text = c.staff_search_text if "keyword" in shape else c.search_text
            cond.append(or_(text.like(p("keyword_pattern"), escape="\\"),
                            c.category.in_(p("keyword_categories", expanding=True))))
        if "responsible_areas" in shape:
            cond.append(c.area.in_(p("responsible_areas", expanding=True)))
        if "visibility" in shape:
            cond.append(c.visibility == p("visibility"))
        if "unverified" in shape:
            cond.append(or_(c.last_verified.is_(None),
                            c.last_verified < p("unverified_since", type_=Date)))
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
        if "area_not_around_hidden_location" in shape:
            cond.append(or_(c.location_hidden.is_(False), c.sa_kind.not_in(("radius", "walk"))))
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

    def _exact_ids(self, conn: Connection, f: ResourceFilter,
                   order: tuple[Any, ...] = _ORDER) -> list[str]:
        c = resources.c
        rows = conn.execute(select(c.id, c.lon, c.lat, c.sa_kind, c.service_geom)
                            .where(*self._conditions(f)).order_by(*order)).all()
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
              offset: int, sort: str = "name", descending: bool = False
              ) -> tuple[list[Row[Any, Any]], int]:
        """One page of the resources matching ``f``, ordered as :meth:`list`, as rows of
        ``_PAGE_COLUMNS[columns]``, and the number matching.

        One query when the page itself gives the total (it is not full, and not empty past
        the first page); a count query otherwise.
        """
        cols = _PAGE_COLUMNS[columns]
        with self.reader.connect() as conn:
            order = _order(sort, descending)
            if self._needs_exact_test(f):
                ids = self._exact_ids(conn, f, order)
                page_ids = ids[offset: offset + limit]
                by_id = {r.id: r for r in conn.execute(
                    select(*cols).where(resources.c.id.in_(page_ids)))}
                return [by_id[i] for i in page_ids], len(ids)
            shape, values = self._criteria(f)
            page = self._statement(("page", columns, shape, sort, descending), lambda: (
                select(*cols).where(*self._where(shape)).order_by(*order)
                .limit(bindparam("limit", type_=Integer))
                .offset(bindparam("offset", type_=Integer))))
            rows = list(conn.execute(page, {**values, "limit": limit, "offset": offset}).all())
            if len(rows) < limit and (rows or offset == 0):
                return rows, offset + len(rows)
            count = self._statement(("count", shape), lambda: (
                select(func.count()).select_from(resources).where(*self._where(shape))))
            return rows, conn.execute(count, values).scalar_one()

    def page_refs(self, f: ResourceFilter | None = None, *, limit: int = 50,
                  offset: int = 0, sort: str = "name", descending: bool = False
                  ) -> tuple[list[tuple[str, datetime]], int]:
        """The page :meth:`list` gives as (id, ``updated_at``) pairs, and the total.

        ``updated_at`` equals the resource's :attr:`Resource.updated_at` (UTC): every change
        sets a new one, so the pair names one version of a resource, e.g. for caches of
        what is derived from it (load the resources with :meth:`get_many`).
        """
        rows, total = self._page(f or ResourceFilter(), "refs", limit, offset, sort,
                                 descending)
        return [(r.id, as_utc(r.updated_at)) for r in rows], total

    def get_many(self, ids: Sequence[str]) -> list[Resource]:
        """The resources with these ids, deleted ones too, in no particular order (ids with
        no resource are left out)."""
        c = resources.c
        stmt = self._statement(("get_many",), lambda: select(c.data, c.version).where(
            c.id.in_(bindparam("ids", expanding=True))))
        with self.reader.connect() as conn:
            rows = list(conn.execute(stmt, {"ids": list(ids)}).all())
        return stored_resources(rows)

    def list(self, f: ResourceFilter | None = None, *, limit: int = 50,
             offset: int = 0, sort: str = "name", descending: bool = False) -> Page:
        """Resources matching ``f``, one page at a time: ordered by カナ/名称 then id, or
        first by ``sort`` (:data:`SORT_KEYS`; ``descending`` reverses the whole order)."""
        rows, total = self._page(f or ResourceFilter(), "data", limit, offset, sort,
                                 descending)
        return Page(stored_resources(rows), total, limit, offset)

    def all(self, f: ResourceFilter | None = None) -> builtins.list[Resource]:
        """Every resource matching ``f`` (no paging), e.g. for exports."""
        page = self.list(f, limit=10**9)
        return page.items

    def unverified(self, *, months: int = 12, today: date | None = None,
                   include_staff: bool = True) -> builtins.list[Resource]:
        """Live resources not verified for ``months`` months (or never), oldest first."""
        cutoff = months_before(months, today)
        c = resources.c
        f = ResourceFilter(include_staff=include_staff)
        with self.reader.connect() as conn:
            rows = list(conn.execute(select(c.data, c.version).where(
                *self._conditions(f), or_(c.last_verified.is_(None), c.last_verified < cutoff))
                .order_by(c.last_verified.nulls_first(), c.id)).all())
        return stored_resources(rows)

    def changes(self, since: datetime | None
                ) -> tuple[builtins.list[Change], tuple[int, int]]:
        """Every row (deleted ones too) with ``updated_at`` at or after ``since`` (None:
        every row) as :class:`Change`, and the number of rows and the sum of their
        versions: a change renews ``updated_at`` and raises the version by one, so a change
        missed by ``since`` (one written with an earlier time that committed later) shows
        as a sum other than the reader's."""
        c = resources.c
        stmt = select(c.id, c.version, c.deleted, c.updated_at, c.sa_kind, c.service_geom)
        if since is not None:
            stmt = stmt.where(c.updated_at >= since)
        with self.reader.connect() as conn:
            rows = conn.execute(stmt).all()
            n, total = conn.execute(select(func.count(), func.coalesce(func.sum(c.version), 0))
                                    .select_from(resources)).one()
        return ([Change(r.id, r.version, bool(r.deleted), as_utc(r.updated_at), r.sa_kind,
                        r.service_geom) for r in rows], (int(n), int(total)))

    def state_token(self) -> tuple[int, str]:
        """Changes whenever any resource is added or changed (for caches of derived data)."""
        with self.reader.connect() as conn:
            n, last = conn.execute(select(func.count(), func.max(resources.c.updated_at))
                                   .select_from(resources)).one()
        return int(n), str(last)

    def count(self, *, include_staff: bool = True) -> int:
        """Number of live (not deleted) resources: public and staff-only ones, or with
        ``include_staff=False`` the public ones."""
        f = ResourceFilter(include_staff=include_staff)
        with self.reader.connect() as conn:
            return conn.execute(select(func.count()).select_from(resources)
                                .where(*self._conditions(f))).scalar_one()
