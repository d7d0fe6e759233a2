"""The resource store: CRUD with history, soft delete and undo, and bulk imports.

One :class:`ResourceStore` wraps one SQLAlchemy engine. It holds the writes itself and is
composed of the store's other parts: the region and responsible areas
(:mod:`~geo_service.registry.store.areas`), users and login attempts
(:mod:`~geo_service.registry.store.users`), filtered and spatial reads
(:mod:`~geo_service.registry.store.queries`) and the history
(:mod:`~geo_service.registry.store.history`).

Every write goes through one transaction and appends to ``resource_history`` (who, when,
before, after); ``delete`` only sets a flag and :meth:`ResourceStore.undo` reverts the last
change of a resource, whatever it was. A change reads the resource and writes it back in
that transaction with the row locked (PostgreSQL ``SELECT … FOR UPDATE``; on SQLite the
transaction takes the database's write lock before it reads, ``BEGIN IMMEDIATE``), so two
simultaneous edits of one resource both land. Each resource has a version, one more after
every change, that a writer may require (optimistic concurrency, e.g. HTTP ``If-Match``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from geo_service._errors import DuplicateIdError, InputError
from geo_service.i18n import msg
from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.resources import (
    Resource,
    ResourceFields,
    new_resource_id,
    validate_resource,
)
from geo_service.registry.store.base import (
    NotFoundError,
    PreconditionFailedError,
    RegistryBusyError,
    now_utc,
)
from geo_service.registry.store.history import (
    ResourceHistory,
    history_row,
    log_change,
    undone,
)
from geo_service.registry.store.queries import ResourceQueries
from geo_service.registry.store.rows import resource_row, stored_resource, stored_resources
from geo_service.registry.store.schema import history, resources
from geo_service.registry.store.users import UserAccounts

#: a check of a change (the resource before, and after with its new area) run inside the
#: write transaction with the row locked; it raises to refuse (nothing is written)
Authorize = Callable[["Resource", "Resource"], None]

_log = logging.getLogger(__name__)
_ID_CHUNK = 500  # ids per IN (…) list: within every backend's limit of bound values


def _without_id(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values but its id (what an UPDATE sets)."""
    return {k: v for k, v in row.items() if k != "id"}


class ResourceStore(UserAccounts, ResourceQueries, ResourceHistory):
    """Persistence of resources, their history and users on SQLite or PostGIS.

    The writes are this class's own; the rest it inherits from its parts:
    :class:`~geo_service.registry.store.users.UserAccounts` (built on
    :class:`~geo_service.registry.store.areas.RegionAreas`),
    :class:`~geo_service.registry.store.queries.ResourceQueries` and
    :class:`~geo_service.registry.store.history.ResourceHistory`.

    Parameters
    ----------
    engine
        A SQLAlchemy engine whose schema is at the latest migration (see :func:`open_store`).
    layers
        Boundary layers by name, used to draw ``areas`` service areas for spatial queries.
    """

    def __init__(self, engine: Engine, *, layers: Mapping[str, AreaLayer] | None = None) -> None:
        super().__init__(engine, layers=layers)
        self._listeners: list[Callable[[], None]] = []

    def refresh_areas(self, *, user: str = "system") -> int:
        """Bring every stored resource's area in step with :meth:`responsible_area` (after
        the region or its area layer was set, e.g. on a registry written before areas came
        from geography), in one transaction, each change in the history (action
        ``area``); return how many changed. An unresolvable hand-written area is left."""
        at = now_utc()
        changed = 0
        with self.writing() as conn:
            rows = list(conn.execute(select(resources.c.data, resources.c.version)).all())
            for r in stored_resources(rows):
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

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every committed change of a resource (in this process)."""
        self._listeners.append(listener)

    def changed_elsewhere(self) -> None:
        """Tell this process's listeners (:meth:`on_change`) of a change another process
        committed to the registry (e.g. an import written by a process of its own)."""
        self._changed()

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # ------------------------------------------------------------------ writing

    def _row_values(self, r: Resource) -> dict[str, Any]:
        return resource_row(r, layers=self.layers, bounds=self.bounds,
                            walking_speed_mps=self.walking_speed_mps)

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
                raise DuplicateIdError(msg("the same id is given twice"), column="id",
                                       value=rid)
            seen.add(rid)
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start:start + _ID_CHUNK]
            taken = set(conn.scalars(select(resources.c.id).where(resources.c.id.in_(chunk))))
            if taken:
                raise DuplicateIdError(msg("a resource with this id already exists"), column="id",
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

    def add(self, fields: ResourceFields, *, user: str | None = None) -> Resource:
        """Store a new resource (a :class:`Resource` keeps its id, otherwise one is made)."""
        at = now_utc()
        res, row = self._new(fields, at)
        with self.writing() as conn:
            self._refuse_taken_ids(conn, [res.id])
            conn.execute(insert(resources).values(**row))
            log_change(conn, res.id, "create", user, None, res, at)
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
        at = now_utc()
        prepared = [self._new(it, at) for it in new]
        with self.reader.connect() as conn:
            planned = {rid: self._changed_row(before, change(before), at)
                       for rid, change in changes
                       for before in [self._fetch(conn, rid, include_deleted=True)]}
        added = [res for res, _ in prepared]
        logged = [history_row(res.id, action, user, None, res, at) for res in added]
        logged_changes = [history_row(before.id, "import-update", user, before, after, at)
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
                with self.writing(conn):
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
            raise DuplicateIdError(msg("id conflict while importing: {error}",
                                       error=e.orig)) from None
        updated = [redone.get(rid) or planned[rid][1] for rid, _ in changes]
        if len(added) + len(updated) >= 100:
            try:
                self.analyze()
            except RegistryBusyError:  # written: the statistics wait for the next import
                _log.warning("the registry's statistics were not refreshed: it was busy")
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
        :meth:`writing` transaction); :class:`PreconditionFailedError` when its version
        is not one of ``expected_versions`` (None: any)."""
        stmt = select(resources.c.data, resources.c.version, resources.c.deleted).where(
            resources.c.id == resource_id)
        row = conn.execute(stmt.with_for_update() if lock else stmt).first()
        if row is None or (row.deleted and not include_deleted):
            raise NotFoundError("resource", resource_id)
        if expected_versions is not None and row.version not in expected_versions:
            raise PreconditionFailedError(resource_id, row.version, expected_versions)
        return stored_resource(row)

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
        log_change(conn, before.id, action, user, before, after, at)
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
            raise InputError(msg("the id of a resource cannot be changed"), column="id",
                             value=changes["id"])
        with self.writing() as conn:
            before = self._fetch(conn, resource_id, include_deleted=False, lock=True,
                                 expected_versions=expected_versions)
            data = before.model_dump()
            data.update({k: v for k, v in changes.items()
                         if k not in ("created_at", "updated_at", "deleted", "version")})
            after = validate_resource(data)
            res = self._replace(conn, before, after, "update", user, now_utc(), authorize)
        self._changed()
        return res

    def delete(self, resource_id: str, *, user: str | None = None,
               expected_versions: Collection[int] | None = None,
               authorize: Authorize | None = None) -> Resource:
        """Soft-delete a resource: hidden from every list, restorable with :meth:`undo`."""
        with self.writing() as conn:
            before = self._fetch(conn, resource_id, include_deleted=False, lock=True,
                                 expected_versions=expected_versions)
            after = before.model_copy(update={"deleted": True})
            res = self._replace(conn, before, after, "delete", user, now_utc(), authorize)
        self._changed()
        return res

    def undo(self, resource_id: str, *, user: str | None = None,
             expected_versions: Collection[int] | None = None,
             authorize: Authorize | None = None) -> Resource:
        """Revert the last change of a resource (undelete, un-update, or un-create).

        The revert is itself a change in the history (action ``undo``), so undoing twice
        restores the state before the first undo.
        """
        with self.writing() as conn:
            current, target = self._undo_target(conn, resource_id, lock=True,
                                                expected_versions=expected_versions)
            res = self._replace(conn, current, target, "undo", user, now_utc(), authorize)
        self._changed()
        return res

    def _undo_target(self, conn: Connection, resource_id: str, *, lock: bool,
                     expected_versions: Collection[int] | None = None
                     ) -> tuple[Resource, Resource]:
        """The resource now (locked when ``lock``) and as :meth:`undo` would make it."""
        current = self._fetch(conn, resource_id, include_deleted=True, lock=lock,
                              expected_versions=expected_versions)
        return current, undone(conn, current)

    def get(self, resource_id: str, *, include_deleted: bool = False) -> Resource:
        """The resource with this id; raise :class:`NotFoundError` if absent or deleted."""
        with self.reader.connect() as conn:
            return self._fetch(conn, resource_id, include_deleted=include_deleted)
