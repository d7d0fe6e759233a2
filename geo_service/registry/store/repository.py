"""The resource store: CRUD with history, soft delete and undo, filtered and spatial lists.

One :class:`ResourceStore` wraps one SQLAlchemy engine. On SQLite the spatial predicates
are a bounding-box pre-filter in SQL (indexed ``lon``/``lat`` and service-area bbox
columns) followed by an exact shapely test; on PostGIS they are ``ST_Within``,
``ST_Covers`` and ``&&`` on GiST-indexed geometry columns. Both give the same answers
(the storage tests run on both).

Every write goes through one transaction and appends to ``resource_history`` (who, when,
before, after); ``delete`` only sets a flag and :meth:`ResourceStore.undo` reverts the last
change of a resource, whatever it was. A change reads the resource and writes it back in
that transaction with the row locked (PostgreSQL ``SELECT … FOR UPDATE``; on SQLite the
transaction takes the database's write lock before it reads, ``BEGIN IMMEDIATE``), so two
simultaneous edits of one resource both land. Each resource has a version, one more after
every change, that a writer may require (optimistic concurrency, e.g. HTTP ``If-Match``).
"""

from __future__ import annotations

import builtins
import unicodedata
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import shapely
from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from geo_service._errors import ConflictError, DuplicateIdError, InputError
from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.resources import (
    STORED,
    WEEKDAYS,
    Resource,
    ResourceFields,
    Weekday,
    check_area_in_region,
    check_in_region,
    new_resource_id,
    public_view,
    service_area_geometry,
    validate_resource,
)
from geo_service.registry.store.schema import (
    history,
    login_attempts,
    registry_region,
    resources,
    users,
)

Role = Literal["coordinator", "admin"]
#: a check of a change (the resource before, and after with its new area) run inside the
#: write transaction with the row locked; it raises to refuse (nothing is written)
Authorize = Callable[["Resource", "Resource"], None]

_ID_CHUNK = 500  # ids per IN (…) list: within every backend's limit of bound values
_ORDER = (func.coalesce(resources.c.kana, resources.c.name), resources.c.id)  # of lists
_PAGE_COLUMNS = {"refs": (resources.c.id, resources.c.updated_at),
                 "data": (resources.c.id, resources.c.data, resources.c.version)}


class RegionMismatchError(InputError):
    """The registry holds another region's resources than the region it is served with."""


class NotFoundError(LookupError):
    """No (live) resource or user with that id."""

    def __init__(self, what: str, key: str, message: str | None = None) -> None:
        self.what, self.key = what, key
        super().__init__(message or f"no {what} with id {key!r}")


class RegistryBusyError(RuntimeError):
    """A write waited longer than the busy timeout for another to finish (SQLite's write
    lock, held by an import say) and gave up: nothing was written; try again shortly."""


class PreconditionFailedError(RuntimeError):
    """A write required versions of a resource that it no longer has (nothing written)."""

    def __init__(self, resource_id: str, current: int, expected: Collection[int]) -> None:
        self.resource_id, self.current, self.expected = resource_id, current, expected
        asked = ", ".join(str(v) for v in sorted(expected)) or "none"
        super().__init__(f"resource {resource_id!r} is at version {current}, not {asked}: "
                         "it was changed meanwhile; read it again and reapply your change")


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
    #: moves on at every deactivation: tokens carry the generation they were issued in
    token_generation: int = field(default=0, repr=False)


_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_username(username: str) -> str:
    """``username`` in Unicode NFKC (full-width ｓａｔｏ → sato); raise :class:`InputError`
    (naming the field) for an empty or over-long name, surrounding spaces, and control,
    format (zero-width, bidi) or unassigned characters."""
    name = unicodedata.normalize("NFKC", username)
    if not name or max(len(name), len(username_key(name))) > 100:  # ß folds to ss
        reason = "ユーザー名は1〜100文字です (user name must have 1–100 characters)"
    elif name != name.strip():
        reason = ("ユーザー名の前後に空白は使えません (user name must not begin or end with "
                  "a space)")
    elif any(unicodedata.category(ch) in _NOT_IN_NAMES for ch in name):
        reason = ("ユーザー名に制御文字・書式文字は使えません (user name must not contain "
                  "control or invisible characters)")
    else:
        return name
    raise InputError(reason, column="username", value=username)


def username_key(username: str) -> str:
    """What makes two user names the same: NFKC, case-folded, without surrounding spaces
    (Sato, SATO, ｓａｔｏ and " sato" are one user), for uniqueness and for looking a user
    up."""
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def _user(row: Any) -> User:
    return User(row.username, row.role, tuple(row.areas), row.active, row.password_hash,
                row.token_generation)


@dataclass(frozen=True)
class LoginRecord:
    """Login attempts counted under one key (an account at an address, or an address):
    failures since the last success, when the last attempt was (epoch seconds), and
    whether the account has logged in from that address before."""

    failures: int
    last_at: float
    known: bool


def _now() -> datetime:
    return datetime.now(UTC)


def _search_text(r: ResourceFields) -> str:
    parts = [r.name, r.kana or "", r.description or ""]
    return unicodedata.normalize("NFKC", " ".join(parts)).lower()


def _weekday_mask(schedule: Mapping[str, Any]) -> int:
    days = {*schedule["weekdays"], *(stop["weekday"] for stop in schedule["stops"])}
    return sum(1 << WEEKDAYS.index(d) for d in days)


def public_filter_values(r: Resource) -> dict[str, Any]:
    """The values the public's ``weekday`` and ``fee`` filters match, taken from the
    resource's public view (:func:`~geo_service.registry.resources.public_view`): a staff-only
    schedule or fee, and the stops of a route whose location is staff-only, are not in it.
    A resource the public does not see has none (no day, fee ``unknown``)."""
    view = public_view(r)
    if view is None:
        return {"public_weekday_mask": 0, "public_fee_kind": "unknown"}
    return {"public_weekday_mask": _weekday_mask(view["schedule"]),
            "public_fee_kind": view["fee"]["kind"]}


def public_area(r: Resource) -> str | None:
    """The responsible area the public's ``?area=`` matches: the public view's, so none
    for a resource the public does not see or whose area would reveal a staff-only
    place (:func:`~geo_service.registry.resources.area_reveals_hidden_place`)."""
    view = public_view(r)
    return None if view is None else view["area"]


def _without_id(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values but its id (what an UPDATE sets)."""
    return {k: v for k, v in row.items() if k != "id"}


def _resource(row: Any) -> Resource:
    """The resource of a row with (at least) its ``data`` and ``version`` columns."""
    return Resource.model_validate({**row.data, "version": row.version}, context=STORED)


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
        self.area_layer: str | None = None  # the layer whose areas coordinators are responsible for
        self._listeners: list[Callable[[], None]] = []
        self._statements: dict[tuple[Any, ...], Any] = {}  # see _statement

    def use_region(self, layers: Mapping[str, AreaLayer],
                   bounds: tuple[float, float, float, float], walking_speed_mps: float, *,
                   area_layer: str | None = None) -> None:
        """Serve a region: its boundary layers draw ``areas`` service areas, locations
        must lie within ``bounds`` (lon/lat), walking-time service areas are drawn at the
        region's walking speed, and a resource's responsible area is the area of
        ``area_layer`` that holds it (:meth:`responsible_area`)."""
        if area_layer is not None and area_layer not in layers:
            raise InputError(f"no area layer {area_layer!r} in the region; layers: "
                             f"{', '.join(layers)}", column="area_layer", value=area_layer)
        self.layers.update(layers)
        self.bounds = bounds
        self.walking_speed_mps = walking_speed_mps
        self.area_layer = area_layer

    def resolve_area(self, text: str, *, column: str = "area") -> str:
        """The id of the responsible-area layer's area called ``text`` (id or name, with or
        without 校区/地区 …); the text itself when no area layer is set.

        Raises
        ------
        InputError
            Naming the value and the layer's areas when no area matches.
        """
        layer = self.layers.get(self.area_layer or "")
        if layer is None:
            return text
        found = layer.resolve_name(text)
        if found is None:
            known = "、".join(f"{n} ({i})" for i, n in zip(layer.ids, layer.names, strict=True))
            raise InputError(f"no such area in layer {layer.name!r}; areas: {known}",
                             column=column, value=text)
        return found

    def area_names(self) -> dict[str, str]:
        """Name of every area of the responsible-area layer, by id (none without one)."""
        layer = self.layers.get(self.area_layer or "")
        return {} if layer is None else dict(zip(layer.ids, layer.names, strict=True))

    def responsible_area(self, r: ResourceFields) -> str | None:
        """The area a resource belongs to, for coordinators' permissions and ``?area=``.

        With a responsible-area layer (:meth:`use_region`): the area holding the
        resource's location, or for a mobile-sales route without one its first stop's;
        a resource with neither keeps its given area, resolved by id or name. Without
        such a layer: the area as given.
        """
        layer = self.layers.get(self.area_layer or "")
        if layer is None:
            return r.area
        if r.lon is not None and r.lat is not None:
            return layer.area_at(r.lon, r.lat)
        if r.schedule.stops:
            return layer.area_at(r.schedule.stops[0].lon, r.schedule.stops[0].lat)
        return None if r.area is None else self.resolve_area(r.area)

    def refresh_areas(self, *, user: str = "system") -> int:
        """Bring every stored resource's area in step with :meth:`responsible_area` (after
        the region or its area layer was set, e.g. on a registry written before areas came
        from geography), in one transaction, each change in the history (action
        ``area``); return how many changed. An unresolvable hand-written area is left."""
        at = _now()
        changed = 0
        with self._writing() as conn:
            rows = conn.execute(select(resources.c.data, resources.c.version)).all()
            for row in rows:
                r = _resource(row)
                try:
                    area = self.responsible_area(r)
                except InputError:
                    continue
                if area != r.area:
                    self._replace(conn, r, r.model_copy(update={"area": area}), "area", user,
                                  at)
                    changed += 1
        if changed:
            self._changed()
        return changed

    def _with_area(self, r: Resource) -> Resource:
        area = self.responsible_area(r)
        return r if area == r.area else r.model_copy(update={"area": area})

    def region(self) -> tuple[str, str] | None:
        """(key, name) of the region this registry holds, or None before it is first served
        with one."""
        with self.reader.connect() as conn:
            row = conn.execute(select(registry_region.c.region_key,
                                      registry_region.c.region_name)).first()
        return (row.region_key, row.region_name) if row else None

    def bind_region(self, key: str, name: str) -> None:
        """Record that this registry holds region ``key`` (on first use); refuse another.

        Raises
        ------
        RegionMismatchError
            When the registry already holds a different region: one registry per region,
            so that one town's services never answer for another town.
        """
        with self.engine.begin() as conn:
            row = conn.execute(select(registry_region.c.region_key,
                                      registry_region.c.region_name)).first()
            if row is None:
                conn.execute(insert(registry_region).values(
                    id=1, region_key=key, region_name=name, bound_at=_now()))
                return
        if row.region_key != key:
            where = self.engine.url.render_as_string(hide_password=True)
            raise RegionMismatchError(
                f"this registry ({where}) holds the resources of region {row.region_name!r} "
                f"({row.region_key}), not of {name!r} ({key}); give each region its own "
                "registry (GEO_SERVICE_DATABASE_URL or --database-url)", value=name)

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
        check_area_in_region(geom, self.bounds)
        bbox = geom.bounds if geom is not None else (None,) * 4
        data = r.model_dump(mode="json", exclude={"version"})  # the column has it
        sa = r.service_area
        return {
            "id": r.id, "name": r.name, "kana": r.kana, "category": r.category,
            "area": r.area, "coordinator": r.coordinator, "visibility": r.visibility,
            "deleted": r.deleted, "lon": r.lon, "lat": r.lat,
            "location_hidden": "location" in r.staff_fields,
            "needs_location": r.needs_location, "weekday_mask": _weekday_mask(data["schedule"]),
            "fee_kind": r.fee.kind, "search_text": _search_text(r),
            "last_verified": r.last_verified, "sa_kind": sa.kind, "sa_layer": sa.layer,
            "sa_areas": "," + ",".join(sa.area_ids) + "," if sa.area_ids else None,
            "sa_minx": bbox[0], "sa_miny": bbox[1], "sa_maxx": bbox[2], "sa_maxy": bbox[3],
            "location": shapely.Point(r.lon, r.lat) if r.lon is not None else None,
            "service_geom": geom, "data": data, **public_filter_values(r),
            "public_area": public_area(r),
            "created_at": r.created_at, "updated_at": r.updated_at,
        }

    @staticmethod
    def _history_row(resource_id: str, action: str, user: str | None,
                     before: Resource | None, after: Resource | None,
                     at: datetime) -> dict[str, Any]:
        return {"resource_id": resource_id, "action": action, "username": user, "at": at,
                "before": before.model_dump(mode="json") if before else None,
                "after": after.model_dump(mode="json") if after else None}

    def _log(self, conn: Connection, resource_id: str, action: str, user: str | None,
             before: Resource | None, after: Resource | None, at: datetime) -> None:
        conn.execute(insert(history).values(
            **self._history_row(resource_id, action, user, before, after, at)))

    def _new(self, fields: ResourceFields, at: datetime) -> tuple[Resource, dict[str, Any]]:
        """A new resource made from ``fields`` (validated, its id made if absent, its area
        derived) and its table row: all the work of an insert that needs no lock."""
        data = fields.model_dump()
        data["id"] = data.get("id") or new_resource_id()
        data.update(created_at=at, updated_at=at, deleted=False, version=1)
        res = self._with_area(validate_resource(data))
        return res, {**self._row_values(res), "version": res.version}

    @staticmethod
    def _refuse_taken_ids(conn: Connection, ids: Sequence[str]) -> None:
        """Raise :class:`DuplicateIdError` naming the first of ``ids`` that is given twice or
        already stored (one query per :data:`_ID_CHUNK` ids)."""
        seen: set[str] = set()
        for rid in ids:
            if rid in seen:
                raise DuplicateIdError("the same id is given twice", column="id", value=rid)
            seen.add(rid)
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start:start + _ID_CHUNK]
            taken = set(conn.scalars(select(resources.c.id).where(resources.c.id.in_(chunk))))
            if taken:
                raise DuplicateIdError("a resource with this id already exists", column="id",
                                       value=next(rid for rid in chunk if rid in taken))

    @contextmanager
    def _staged(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                key: str = "id", replace: bool = False
                ) -> Iterator[Callable[[Connection, Collection[str]], None]]:
        """Make ready to write ``rows`` into ``table`` in a write transaction to come: yield
        the function ``write(tx, skip)`` that inserts them there — or, with ``replace``,
        sets the rows of the same ``id`` to them — except those whose ``key`` is in ``skip``.

        On SQLite the rows are bound (JSON, geometry) and written at once into a temporary
        table — private to ``conn``, so no lock on the database — which the transaction
        copies with one ``INSERT … SELECT`` (``UPDATE … FROM``): the write lock is held for
        the copy (well under a second for 40,000 resources), not for the Python work of
        every row. Elsewhere (row locks only) they are written as they are.
        """
        if self.postgis or not rows:
            def write_rows(tx: Connection, skip: Collection[str]) -> None:
                kept = [r for r in rows if r[key] not in skip]
                if kept and replace:
                    tx.execute(update(table).where(table.c.id == bindparam("_rid")),
                               [{**_without_id(r), "_rid": r["id"]} for r in kept])
                elif kept:
                    tx.execute(insert(table), kept)

            yield write_rows
            return
        columns = [Column(c.name, c.type) for c in table.c if c.name in rows[0]]
        name = f"staged_{table.name}_{uuid.uuid4().hex[:12]}"  # one per staging
        staged = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
        staged.create(conn)
        conn.execute(insert(staged), list(rows))

        def copy_rows(tx: Connection, skip: Collection[str]) -> None:
            skipped = list(skip)
            for start in range(0, len(skipped), _ID_CHUNK):
                tx.execute(delete(staged).where(
                    staged.c[key].in_(skipped[start:start + _ID_CHUNK])))
            if replace:
                tx.execute(update(table).where(table.c.id == staged.c.id).values(
                    {c.name: c for c in staged.c if c.name != "id"}))
            else:
                tx.execute(insert(table).from_select([c.name for c in columns],
                                                     select(staged)))

        try:
            yield copy_rows
        finally:
            staged.drop(conn)

    @contextmanager
    def _writing(self, conn: Connection | None = None) -> Iterator[Connection]:
        """A write transaction (on ``conn``, if given, which must be outside one).

        On SQLite it holds the database's write lock from its start (``BEGIN IMMEDIATE``;
        the driver would begin only at the first write, after the reads), so what it reads
        stays current until it commits; on PostgreSQL the rows to change are locked as
        they are read (:meth:`_fetch` with ``lock``)."""
        with (self.engine.connect() if conn is None else nullcontext(conn)) as conn, \
                conn.begin():
            if not self.postgis:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    def add(self, fields: ResourceFields, *, user: str | None = None) -> Resource:
        """Store a new resource (a :class:`Resource` keeps its id, otherwise one is made)."""
        at = _now()
        res, row = self._new(fields, at)
        with self._writing() as conn:
            self._refuse_taken_ids(conn, [res.id])
            conn.execute(insert(resources).values(**row))
            self._log(conn, res.id, "create", user, None, res, at)
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

        The rows are validated and built before the transaction begins (the changes from
        the resources as they are then) and staged (:meth:`_staged`); inside it, a change
        whose resource has moved on meanwhile is computed again from its locked current
        version. So the write lock — the whole database's, on SQLite — is held for a few
        statements, not for the validation of every row: a 40,000-row import does not hold
        up other edits.
        """
        at = _now()
        prepared = [self._new(it, at) for it in new]
        with self.reader.connect() as conn:
            planned = {rid: self._changed_row(before, change(before), at)
                       for rid, change in changes
                       for before in [self._fetch(conn, rid, include_deleted=True)]}
        added = [res for res, _ in prepared]
        logged = [self._history_row(res.id, action, user, None, res, at) for res in added]
        logged_changes = [self._history_row(before.id, "import-update", user, before, after, at)
                          for before, after, _ in planned.values()]
        try:
            with (self.engine.connect() as conn,
                  self._staged(conn, resources, [row for _, row in prepared]) as insert_new,
                  self._staged(conn, history, logged, key="resource_id") as log_new,
                  self._staged(conn, resources, [row for _, _, row in planned.values()],
                               replace=True) as apply_changes,
                  self._staged(conn, history, logged_changes,
                               key="resource_id") as log_changes):
                conn.commit()  # the staged rows, in temporary tables: no lock held
                with self._writing(conn):
                    self._refuse_taken_ids(conn, [res.id for res in added])
                    insert_new(conn, ())
                    log_new(conn, ())
                    stale = self._moved_on(conn, planned)
                    apply_changes(conn, stale)
                    log_changes(conn, stale)
                    redone = {}
                    for rid, change in changes:
                        if rid in stale:
                            before = self._fetch(conn, rid, include_deleted=True, lock=True)
                            redone[rid] = self._replace(conn, before, change(before),
                                                        "import-update", user, at)
        except IntegrityError as e:  # a concurrent writer took an id
            raise DuplicateIdError(f"id conflict while importing: {e.orig}") from None
        updated = [redone.get(rid) or planned[rid][1] for rid, _ in changes]
        if len(added) + len(updated) >= 100:
            self.analyze()
        self._changed()
        return added, updated

    @staticmethod
    def _moved_on(conn: Connection, planned: Mapping[str, tuple[Resource, Resource, Any]]
                  ) -> set[str]:
        """The ids of ``planned`` changes whose resource has another version now than the
        one they were computed from (read, and locked, in the write transaction)."""
        ids = list(planned)
        current: dict[str, int] = {}
        for start in range(0, len(ids), _ID_CHUNK):
            rows = conn.execute(select(resources.c.id, resources.c.version).where(
                resources.c.id.in_(ids[start:start + _ID_CHUNK])).with_for_update())
            current.update((row.id, row.version) for row in rows)
        return {rid for rid, (before, _, _) in planned.items()
                if current.get(rid) != before.version}

    def analyze(self) -> None:
        """Refresh the query planner's statistics (after bulk imports).

        Without them SQLite may pick an index that matches nearly every row (live,
        public) over the selective one (category, location), and run 30× slower.
        """
        with self.engine.begin() as conn:
            conn.execute(text("ANALYZE resources"))

    def _fetch(self, conn: Connection, resource_id: str, *, include_deleted: bool,
               lock: bool = False, expected_versions: Collection[int] | None = None
               ) -> Resource:
        """The resource (row locked until the transaction ends when ``lock``, in a
        :meth:`_writing` transaction); :class:`PreconditionFailedError` when its version
        is not one of ``expected_versions`` (None: any)."""
        stmt = select(resources.c.data, resources.c.version, resources.c.deleted).where(
            resources.c.id == resource_id)
        row = conn.execute(stmt.with_for_update() if lock else stmt).first()
        if row is None or (row.deleted and not include_deleted):
            raise NotFoundError("resource", resource_id)
        if expected_versions is not None and row.version not in expected_versions:
            raise PreconditionFailedError(resource_id, row.version, expected_versions)
        return _resource(row)

    def _changed_row(self, before: Resource, after: Resource, at: datetime
                     ) -> tuple[Resource, Resource, dict[str, Any]]:
        """(before, after, the row's values) of a change at ``at``: ``after`` gets its area,
        times and next version."""
        assert before.version is not None  # read by _fetch
        after = self._with_area(after).model_copy(
            update={"updated_at": at, "created_at": before.created_at,
                    "version": before.version + 1})
        return before, after, {**self._row_values(after), "version": after.version}

    def _replace(self, conn: Connection, before: Resource, after: Resource, action: str,
                 user: str | None, at: datetime, authorize: Authorize | None = None
                 ) -> Resource:
        before, after, values = self._changed_row(before, after, at)
        if authorize is not None:
            authorize(before, after)
        conn.execute(update(resources).where(resources.c.id == before.id)
                     .values(**_without_id(values)))
        self._log(conn, before.id, action, user, before, after, at)
        return after

    def update(self, resource_id: str, changes: Mapping[str, Any], *,
               user: str | None = None,
               expected_versions: Collection[int] | None = None,
               authorize: Authorize | None = None) -> Resource:
        """Apply ``changes`` (field → new value), validate the result, keep the history.

        With ``expected_versions``, change the resource only if its version is one of
        them, and raise :class:`PreconditionFailedError` otherwise. ``authorize`` (e.g.
        whether the user may edit the old and the new area) is called with the resource
        before and after, while its row is locked, so that no concurrent change (an admin
        moving it into another area) slips in between the check and the write. The same
        for :meth:`delete` and :meth:`undo`.
        """
        if "id" in changes and changes["id"] != resource_id:
            raise InputError("the id of a resource cannot be changed", column="id",
                             value=changes["id"])
        with self._writing() as conn:
            before = self._fetch(conn, resource_id, include_deleted=False, lock=True,
                                 expected_versions=expected_versions)
            data = before.model_dump()
            data.update({k: v for k, v in changes.items()
                         if k not in ("created_at", "updated_at", "deleted", "version")})
            after = validate_resource(data)
            res = self._replace(conn, before, after, "update", user, _now(), authorize)
        self._changed()
        return res

    def delete(self, resource_id: str, *, user: str | None = None,
               expected_versions: Collection[int] | None = None,
               authorize: Authorize | None = None) -> Resource:
        """Soft-delete a resource: hidden from every list, restorable with :meth:`undo`."""
        with self._writing() as conn:
            before = self._fetch(conn, resource_id, include_deleted=False, lock=True,
                                 expected_versions=expected_versions)
            after = before.model_copy(update={"deleted": True})
            res = self._replace(conn, before, after, "delete", user, _now(), authorize)
        self._changed()
        return res

    def undo(self, resource_id: str, *, user: str | None = None,
             expected_versions: Collection[int] | None = None,
             authorize: Authorize | None = None) -> Resource:
        """Revert the last change of a resource (undelete, un-update, or un-create).

        The revert is itself a change in the history (action ``undo``), so undoing twice
        restores the state before the first undo.
        """
        with self._writing() as conn:
            current, target = self._undo_target(conn, resource_id, lock=True,
                                                expected_versions=expected_versions)
            res = self._replace(conn, current, target, "undo", user, _now(), authorize)
        self._changed()
        return res

    def _undo_target(self, conn: Connection, resource_id: str, *, lock: bool,
                     expected_versions: Collection[int] | None = None
                     ) -> tuple[Resource, Resource]:
        """The resource now (locked when ``lock``) and as :meth:`undo` would make it."""
        current = self._fetch(conn, resource_id, include_deleted=True, lock=lock,
                              expected_versions=expected_versions)
        last = conn.execute(
            select(history).where(history.c.resource_id == resource_id)
            .order_by(history.c.id.desc()).limit(1)
        ).one()  # a stored resource has at least its creation
        if last.before is None:  # the last change created it: undo = delete
            return current, current.model_copy(update={"deleted": True})
        return current, Resource.model_validate(last.before, context=STORED)

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
        return [HistoryEntry(r.id, r.resource_id, r.action, r.username, _utc(r.at), r.before,
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
        stmt = self._statement(("get_many",), lambda: select(c.data, c.version).where(
            c.id.in_(bindparam("ids", expanding=True))))
        with self.reader.connect() as conn:
            rows = conn.execute(stmt, {"ids": list(ids)}).all()
        return [_resource(r) for r in rows]

    def list(self, f: ResourceFilter | None = None, *, limit: int = 50,
             offset: int = 0) -> Page:
        """Resources matching ``f``, ordered by カナ/名称 then id, one page at a time."""
        rows, total = self._page(f or ResourceFilter(), "data", limit, offset)
        return Page([_resource(r) for r in rows], total, limit, offset)

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
            rows = conn.execute(select(c.data, c.version).where(
                *self._conditions(f), or_(c.last_verified.is_(None), c.last_verified < cutoff))
                .order_by(c.last_verified.nulls_first(), c.id)).all()
        return [_resource(r) for r in rows]

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

    # ------------------------------------------------------------------ users

    def _user_areas(self, areas: Iterable[str]) -> builtins.list[str]:
        """Area ids of the responsible-area layer for a user's ``areas`` (ids or names).

        Raises
        ------
        InputError
            For an unknown area; and when this registry holds a region that was not
            loaded (:meth:`use_region`; a configured database opened without ``--region``):
            a name such as 川西 could then not be turned into the id its resources carry.
        """
        areas = builtins.list(areas)
        if areas and self.bounds is None and (bound := self.region()) is not None:
            raise InputError(
                f"担当圏域を確かめるには地域 {bound[1]!r} が必要です。--region か "
                "GEO_SERVICE_REGION_DIR で地域を指定してください (this registry holds region "
                f"{bound[1]!r}: give it with --region or GEO_SERVICE_REGION_DIR, so that the "
                "areas can be checked)", column="areas", value="、".join(areas))
        return [self.resolve_area(a, column="areas") for a in areas]

    def add_user(self, username: str, password_hash: str, *, role: Role,
                 areas: Iterable[str] = ()) -> User:
        """Create a user; raise :class:`DuplicateIdError` if the name is taken, in any case
        or width (:func:`username_key`), and :class:`InputError` for a name that
        :func:`check_username` refuses."""
        if role not in ("coordinator", "admin"):
            raise InputError("unknown role (coordinator or admin)", column="role", value=role)
        username = check_username(username)
        key = username_key(username)
        areas = self._user_areas(areas)
        try:
            with self.engine.begin() as conn:
                taken = conn.execute(select(users.c.username)
                                     .where(users.c.username_key == key)).first()
                if taken:
                    raise DuplicateIdError(f"user already exists (as {taken.username!r})",
                                           column="username", value=username)
                conn.execute(insert(users).values(
                    username=username, username_key=key, password_hash=password_hash,
                    role=role, areas=areas, active=True, token_generation=0,
                    created_at=_now()))
        except IntegrityError:  # added meanwhile by another request
            raise DuplicateIdError("user already exists", column="username",
                                   value=username) from None
        return self.get_user(username)

    def get_user(self, username: str) -> User:
        """The user with this name, in any case or width, surrounding spaces ignored
        (:func:`username_key`); raise :class:`NotFoundError` if there is none."""
        with self.reader.connect() as conn:
            row = conn.execute(select(users).where(
                users.c.username_key == username_key(username))).first()
        if row is None:
            raise NotFoundError("user", username)
        return _user(row)

    def list_users(self) -> builtins.list[User]:
        """All users, by name."""
        with self.reader.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [_user(r) for r in rows]

    def update_user(self, username: str, *, password_hash: str | None = None,
                    role: Role | None = None, areas: Iterable[str] | None = None,
                    active: bool | None = None) -> User:
        """Change a user's password hash, role, areas or active flag.

        Deactivating a user ends every token issued before (its token generation moves on),
        so reactivating them later does not revive those tokens.
        """
        values: dict[str, Any] = {}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if role is not None:
            if role not in ("coordinator", "admin"):
                raise InputError("unknown role (coordinator or admin)", column="role",
                                 value=role)
            values["role"] = role
        if areas is not None:
            values["areas"] = self._user_areas(areas)
        if active is not None:
            values["active"] = active
        if active is False:
            values["token_generation"] = users.c.token_generation + 1
        name = self.get_user(username).username
        if values:
            with self.engine.begin() as conn:
                if values.get("role", "admin") != "admin" or values.get("active") is False:
                    self._keep_an_admin(conn, name)
                conn.execute(update(users).where(users.c.username == name).values(**values))
        return self.get_user(name)

    def delete_user(self, username: str) -> None:
        """Remove a user (their past changes stay in the history under their name)."""
        name = self.get_user(username).username
        with self.engine.begin() as conn:
            self._keep_an_admin(conn, name)
            conn.execute(delete(users).where(users.c.username == name))

    def _keep_an_admin(self, conn: Connection, username: str) -> None:
        """Refuse to demote, deactivate or delete the last active admin (nobody could
        manage users any more)."""
        others = conn.execute(select(func.count()).select_from(users).where(
            users.c.role == "admin", users.c.active.is_(True),
            users.c.username != username)).scalar_one()
        me = conn.execute(select(users.c.role, users.c.active)
                          .where(users.c.username == username)).one()
        if me.role == "admin" and me.active and others == 0:
            raise ConflictError("the last active admin cannot be demoted, deactivated or "
                                   "removed; make another user admin first", column="username",
                                   value=username,
                                   reason_ja="最後の有効な管理者は、降格・無効化・削除できません。"
                                             "先にほかの利用者を管理者にしてください")

    # ------------------------------------------------------------------ login attempts

    def count_login_attempt(self, keys: Sequence[str], *, now: float, forget_before: float,
                            admit: Callable[[Mapping[str, LoginRecord]], None]) -> None:
        """Count a login attempt under each of ``keys`` (one failure more, at ``now``),
        unless ``admit`` refuses it by raising.

        ``admit`` gets each key's record, failures before ``forget_before`` forgotten. It
        all happens in one write transaction with the keys' rows locked: every worker
        process sharing the database sees one count, and simultaneous attempts are counted
        one after another. Records not touched since ``forget_before`` are removed, except
        those of an account that logged in from an address (``known``).
        """
        t = login_attempts.c
        keys = sorted(set(keys))  # one order of locking, so that two attempts never deadlock
        with self._writing() as conn:
            conn.execute(delete(login_attempts).where(t.last_at < forget_before,
                                                      t.known.is_(False)))
            insert_new = (pg_insert if self.postgis else sqlite_insert)(login_attempts)
            conn.execute(insert_new.on_conflict_do_nothing(),
                         [{"key": k, "failures": 0, "last_at": now, "known": False}
                          for k in keys])
            rows = conn.execute(select(login_attempts).where(t.key.in_(keys))
                                .order_by(t.key).with_for_update()).all()
            records = {r.key: LoginRecord(r.failures if r.last_at >= forget_before else 0,
                                          r.last_at, r.known) for r in rows}
            admit(records)
            for key, record in records.items():
                conn.execute(update(login_attempts).where(t.key == key)
                             .values(failures=record.failures + 1, last_at=now))

    def login_succeeded(self, account_key: str, address_key: str) -> None:
        """An attempt counted by :meth:`count_login_attempt` logged in: the account's record
        at that address is cleared and marked ``known``; the address's own loses the
        attempt."""
        t = login_attempts.c
        with self._writing() as conn:
            conn.execute(update(login_attempts).where(t.key == account_key)
                         .values(failures=0, known=True))
            conn.execute(update(login_attempts).where(t.key == address_key, t.failures > 0)
                         .values(failures=t.failures - 1))
